package conf

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExampleIsValid(t *testing.T) {
	cfg, err := Parse("lispd.example.toml", Example)
	if err != nil {
		t.Fatalf("the example config is invalid:\n%v", err)
	}
	onDisk, err := os.ReadFile("lispd.example.toml")
	if err != nil || string(onDisk) != string(Example) {
		t.Fatalf("conf.Example differs from lispd.example.toml (%v)", err)
	}
	if cfg.XTR == nil || len(cfg.XTR.RLOCs) != 2 || cfg.MapServer == nil || len(cfg.MapServer.Sites) != 2 || cfg.RTR == nil {
		t.Fatalf("example not fully decoded: %+v", cfg)
	}
}

// TestExampleDocumentsEveryKey walks the schema and requires every TOML key
// to appear, assigned, in the example.
func TestExampleDocumentsEveryKey(t *testing.T) {
	written := writtenKeys(Example)
	keys := schemaKeys()
	if len(keys) < 50 {
		t.Fatalf("schema walk found only %d keys", len(keys))
	}
	for _, key := range keys {
		if !written[key] {
			t.Errorf("example does not set %q", key)
		}
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := Parse("d.toml", []byte(minXTR+"[[xtr.map_server]]\naddress = \"192.0.2.10\"\nkey = \"k\"\n"+
		"[[xtr.map_cache]]\neid_prefix = \"203.0.113.0/24\"\nrlocs = [{ address = \"192.0.2.2\" }]\n"+
		"[map_server]\n[[map_server.site]]\nname = \"s\"\nkey = \"k\"\neid_prefixes = [\"198.51.100.0/25\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	x := cfg.XTR
	checks := []struct {
		name      string
		got, want any
	}{
		{"log_level", cfg.LogLevel, "info"},
		{"control_socket", cfg.ControlSocket, "/var/run/lispd.sock"},
		{"tun", x.TUN, "lisp0"},
		{"mtu", x.MTU, 0},
		{"map_cache_limit", x.MapCacheLimit, 10000},
		{"register_interval", x.RegisterInterval.Duration, 60 * time.Second},
		{"map_request_timeout", x.MapRequestTimeout.Duration, time.Second},
		{"map_request_retries", x.MapRequestRetries, 3},
		{"map_request_rate", x.MapRequestRate, 100},
		{"record_ttl", x.RecordTTL.Duration, 24 * time.Hour},
		{"pending_packets", x.PendingPackets, 8},
		{"pending_total", x.PendingTotal, 1024},
		{"probe_interval", x.ProbeInterval.Duration, time.Second},
		{"probe_retries", x.ProbeRetries, 2},
		{"idle_timeout", x.IdleTimeout.Duration, 5 * time.Minute},
		{"nat_traversal", x.NATTraversal, "auto"},
		{"nat_keepalive", x.NATKeepalive.Duration, 20 * time.Second},
		{"tun_offload", x.TUNOffload, "auto"},
		{"kernel_path", x.KernelPath, "off"},
		{"decap_filter", x.DecapFilter, "known"},
		{"rloc priority", x.RLOCs[0].Priority, 1},
		{"rloc weight", x.RLOCs[0].Weight, 100},
		{"map_server key_type", x.MapServers[0].KeyType, "sha256"},
		{"want_map_notify", x.MapServers[0].WantMapNotify != nil && *x.MapServers[0].WantMapNotify, true},
		{"map_cache instance_id", x.MapCache[0].InstanceID != nil && *x.MapCache[0].InstanceID == 0, true},
		{"map_cache rloc priority", x.MapCache[0].RLOCs[0].Priority, 1},
		{"map_cache rloc weight", x.MapCache[0].RLOCs[0].Weight, 100},
		{"map_server enabled", cfg.MapServer.Enabled, false},
		{"registration_timeout", cfg.MapServer.RegistrationTimeout.Duration, 3 * time.Minute},
		{"site key_type", cfg.MapServer.Sites[0].KeyType, "sha256"},
		{"site max_registrations", cfg.MapServer.Sites[0].MaxRegistrations, 64},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestExplicitValuesOverrideDefaults(t *testing.T) {
	src := "[xtr]\ninstance_id = 7\neid_prefixes = [\"198.51.100.0/25\"]\nmtu = 1400\nrecord_ttl = \"1m\"\nnat_traversal = \"off\"\n" +
		"[[xtr.rloc]]\naddress = \"192.0.2.1\"\npriority = 0\nweight = 0\n" +
		"[[xtr.map_server]]\naddress = \"192.0.2.10\"\nkey = \"k\"\nkey_type = \"sha1\"\nwant_map_notify = false\n" +
		"[[xtr.map_cache]]\neid_prefix = \"203.0.113.0/24\"\naction = \"drop\"\n"
	cfg, err := Parse("o.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	x := cfg.XTR
	if x.MTU != 1400 || x.RecordTTL.Duration != time.Minute || x.NATTraversal != "off" || x.RLOCs[0].Priority != 0 ||
		x.RLOCs[0].Weight != 0 || x.MapServers[0].KeyType != "sha1" || x.MapServers[0].WantsMapNotify() ||
		*x.MapCache[0].InstanceID != 7 || x.RLOCs[0].Address != netip.MustParseAddr("192.0.2.1") {
		t.Fatalf("explicit values lost: %+v", x)
	}
	if cfg.Path != "o.toml" {
		t.Errorf("Path = %q", cfg.Path)
	}
}

// TestThreeMistakes is the acceptance case: three different
// mistakes, all reported, each with its line and column.
func TestThreeMistakes(t *testing.T) {
	src := `log_level = "info"

[xtr]
eid_prefixes = ["198.51.100.1/25"]
map_resolvers = ["192.0.2.10"]

[[xtr.rloc]]
interface = "eth1"

[[xtr.rloc]]
address = "203.0.113.5"
priority = 300

[[xtr.map_server]]
address = "192.0.2.10"
key = "secret"
key_type = "md5"
`
	errs := problems(t, src)
	want := []string{
		`t.toml:4:17: xtr.eid_prefixes[0]: 198.51.100.1/25 has host bits set: did you mean 198.51.100.0/25?`,
		`t.toml:12:1: xtr.rloc[1].priority: 300 is out of range 0..255 (255 = never used for unicast)`,
		`t.toml:17:1: xtr.map_server[0].key_type: "md5" is not one of sha1, sha256`,
	}
	got := strings.ReplaceAll(errs.Error(), "test.toml", "t.toml")
	if got != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}

// TestLineEndingsAndBOM checks positions survive CRLF line ends and a BOM.
func TestLineEndingsAndBOM(t *testing.T) {
	src := minXTR + "[[xtr.rloc]]\ninterface = \"eth1\"\nweight = 101\n"
	for name, text := range map[string]string{
		"crlf": strings.ReplaceAll(src, "\n", "\r\n"),
		"bom":  "\ufeff" + src,
	} {
		errs := problems(t, text)
		if len(errs) != 1 || errs[0].Key != "xtr.rloc[1].weight" || errs[0].Line != 7 || errs[0].Col != 1 {
			t.Errorf("%s: got %v", name, errs)
		}
	}
	if _, err := Parse("crlf.toml", bytes.ReplaceAll(Example, []byte("\n"), []byte("\r\n"))); err != nil {
		t.Errorf("example with CRLF line ends: %v", err)
	}
}

func TestSyntaxError(t *testing.T) {
	tests := []struct {
		name, src string
		line, col int
		key, msg  string // key of the problem; substring of its message
	}{
		{"value missing", "log_level = \"info\"\n[xtr]\ntun = \n", 3, 7, "", ""},
		{"duplicate key", "[xtr]\ntun = \"a\"\ntun = \"b\"\n", 3, 1, "xtr.tun", "defined twice (first at line 2)"},
		{"duplicate table", "[xtr]\ntun = \"a\"\n[xtr]\n", 3, 2, "xtr", "defined twice (first at line 1)"},
		// A missing ] is at the end of the header's line, not past it or
		// on the next line.
		{"table ] missing", "[xtr\ntun = \"a\"\n", 1, 5, "", "got '\\n'"},
		{"array of tables ] missing", "[[xtr.rloc]\naddress = \"192.0.2.1\"\n", 1, 12, "", "got '\\n'"},
		{"table ] missing at end", "log_level = \"info\"\n[xtr", 2, 4, "", ""},
		{"crlf", "[xtr\r\ntun = \"a\"\r\n", 1, 5, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := problems(t, tt.src)
			if len(errs) != 1 {
				t.Fatalf("got %d problems: %v", len(errs), errs)
			}
			p := errs[0]
			if p.Line != tt.line || p.Col != tt.col || p.Key != tt.key || !strings.Contains(p.Msg, tt.msg) || p.File != "test.toml" {
				t.Errorf("got %q (%+v), want %d:%d key %q message containing %q", p.Error(), p, tt.line, tt.col, tt.key, tt.msg)
			}
			if strings.Contains(p.Msg, "has already been defined") {
				t.Errorf("the TOML library's wording leaks: %q", p.Msg)
			}
		})
	}
}

func TestErrorsCollectEverything(t *testing.T) {
	// Type errors, unknown keys and validation problems together, in file order.
	src := "log_level = 1\nbogus = true\n[xtr]\nmtu = \"x\"\neid_prefixes = [\"198.51.100.0/25\"]\n" +
		"[[xtr.rloc]]\naddress = \"192.0.2.1\"\nweight = 101\n[[xtr.rloc]]\ninterface = \"eth1\"\nweihgt = 5\n"
	errs := problems(t, src)
	var keys []string
	for _, p := range errs {
		keys = append(keys, p.Key)
	}
	want := "log_level bogus xtr.mtu xtr.rloc[0].weight xtr.rloc[1].weihgt"
	if strings.Join(keys, " ") != want {
		t.Fatalf("keys %q, want %q\n%v", strings.Join(keys, " "), want, errs)
	}
	for _, p := range errs {
		if p.Line == 0 || p.Col == 0 {
			t.Errorf("no position: %v", p)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lispd.toml")
	if err := os.WriteFile(path, Example, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil || cfg.Path != path {
		t.Fatalf("Load: %v", err)
	}
	_, err = Load(filepath.Join(dir, "missing.toml"))
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 1 || !strings.Contains(err.Error(), "missing.toml") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestValidateInCode(t *testing.T) {
	cfg := Default()
	x := &XTR{}
	x.SetDefaults()
	x.EIDPrefixes = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/25")}
	r := LocalRLOC{Interface: "eth1"}
	r.SetDefaults()
	x.RLOCs = []LocalRLOC{r}
	cfg.XTR = x
	if err := cfg.Validate(); err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
	cfg.XTR.RLOCs[0].Weight = 200
	err := cfg.Validate()
	if err == nil || err.Error() != "xtr.rloc[0].weight: 200 is out of range 0..100" {
		t.Fatalf("got %v", err)
	}
}

func TestProblemFormat(t *testing.T) {
	cases := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "f", Line: 3, Col: 4, Key: "a.b", Msg: "m"}, "f:3:4: a.b: m"},
		{Problem{File: "f", Line: 3, Col: 4, Msg: "m"}, "f:3:4: m"},
		{Problem{File: "f", Key: "k", Msg: "m"}, "f: k: m"},
		{Problem{Key: "k", Msg: "m"}, "k: m"},
	}
	for _, c := range cases {
		if got := c.p.Error(); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}

func BenchmarkParseExample(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Parse("x.toml", Example); err != nil {
			b.Fatal(err)
		}
	}
}
