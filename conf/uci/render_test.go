package uci

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/lispd/lispd/conf"
)

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRenderFull renders a UCI file using every option, reads the written
// TOML back with conf.Load (the same code as `lispd check`) and compares
// every value with the UCI text.
func TestRenderFull(t *testing.T) {
	out := filepath.Join(t.TempDir(), "var", "etc", "lispd.toml")
	var log bytes.Buffer
	check, err := Run(readTestdata(t, "full.uci"), out, Options{Devices: map[string]string{"wan": "pppoe-wan"}}, &log)
	if err != nil {
		t.Fatal(err)
	}
	if check != out {
		t.Errorf("check path %q, want the rendered file %q", check, out)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600 (the file holds Map-Server keys)", fi.Mode().Perm())
	}
	c, err := conf.Load(out)
	if err != nil {
		t.Fatalf("rendered file fails conf validation: %v", err)
	}
	x := c.XTR
	if x == nil {
		t.Fatal("no [xtr]")
	}
	pfx := func(s ...string) []netip.Prefix {
		var ps []netip.Prefix
		for _, v := range s {
			ps = append(ps, netip.MustParsePrefix(v))
		}
		return ps
	}
	addr := netip.MustParseAddr
	f := false
	wantMS := []conf.MapServerRef{
		{Address: addr("192.0.2.10"), Key: `it's a "secret" with spaces \ and a backslash`, KeyType: "sha1", WantMapNotify: &f},
		{Address: addr("2001:db8:ff::10"), Key: "plain", KeyType: "sha256"},
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"log_level", c.LogLevel, "debug"},
		{"tun", x.TUN, "lisp9"},
		{"instance_id", x.InstanceID, uint32(4096)},
		{"eid_prefixes", x.EIDPrefixes, pfx("198.51.100.0/25", "2001:db8:1::/48")},
		{"eid_space", x.EIDSpace, pfx("198.51.100.0/24", "2001:db8:1::/48")},
		{"map_resolvers", x.MapResolvers, []netip.Addr{addr("192.0.2.10"), addr("2001:db8:ff::10")}},
		{"proxy_etrs", x.ProxyETRs, []conf.Locator{{Address: addr("192.0.2.20"), Priority: 5, Weight: 50}}},
		{"rloc", x.RLOCs, []conf.LocalRLOC{{Interface: "pppoe-wan", Priority: 1, Weight: 60}, {Address: addr("203.0.113.7"), Priority: 2, Weight: 40}}},
	}
	for _, ck := range checks {
		if !equal(ck.got, ck.want) {
			t.Errorf("%s: got %v, want %v", ck.name, ck.got, ck.want)
		}
	}
	if len(x.MapServers) != len(wantMS) {
		t.Fatalf("map servers: got %d, want %d", len(x.MapServers), len(wantMS))
	}
	for i, w := range wantMS {
		g := x.MapServers[i]
		if g.Address != w.Address || g.Key != w.Key || g.KeyType != w.KeyType || g.WantsMapNotify() != w.WantsMapNotify() {
			t.Errorf("map_server[%d]: got %+v (notify %v), want %+v (notify %v)", i, g, g.WantsMapNotify(), w, w.WantsMapNotify())
		}
	}
	if !strings.Contains(log.String(), "rendered") {
		t.Errorf("log does not say what was done: %q", log.String())
	}
}

func equal(a, b any) bool {
	switch a := a.(type) {
	case []netip.Prefix:
		return slices.Equal(a, b.([]netip.Prefix))
	case []netip.Addr:
		return slices.Equal(a, b.([]netip.Addr))
	case []conf.Locator:
		return slices.Equal(a, b.([]conf.Locator))
	case []conf.LocalRLOC:
		return reflect.DeepEqual(a, b.([]conf.LocalRLOC))
	}
	return a == b
}

// TestRenderTrickyKeys renders every tricky value as a Map-Server key and
// checks that conf reads back exactly that key.
func TestRenderTrickyKeys(t *testing.T) {
	dir := t.TempDir()
	for i, key := range tricky {
		if key == "" {
			continue // an empty key is invalid; see TestRenderInvalid
		}
		text := "package lispd\nconfig lispd main\n\toption enabled 1\nconfig eid\n\tlist prefix '198.51.100.0/25'\n" +
			"config rloc\n\toption device 'eth1'\nconfig map_server\n\toption address '192.0.2.10'\n\toption key " + Quote(key) + "\n"
		out := filepath.Join(dir, "out.toml")
		if _, err := Run(text, out, Options{}, &bytes.Buffer{}); err != nil {
			t.Fatalf("%d %q: %v", i, key, err)
		}
		c, err := conf.Load(out)
		if err != nil {
			t.Fatalf("%q: %v", key, err)
		}
		if got := c.XTR.MapServers[0].Key; got != key {
			t.Errorf("key: got %q, want %q", got, key)
		}
	}
}

func TestRenderInvalid(t *testing.T) {
	base := "package lispd\nconfig lispd main\n\toption enabled 1\nconfig eid\n\tlist prefix '198.51.100.0/25'\nconfig rloc\n\toption interface wan\n"
	ms := "config map_server\n\toption address '192.0.2.10'\n\toption key k\n"
	for _, tc := range []struct{ name, text, want string }{
		{"key_type", base + ms + "\toption key_type md5\n", `lispd.@map_server[0].key_type: must be sha1 or sha256 (got "md5")`},
		{"empty key", base + "config map_server\n\toption address '192.0.2.10'\n\toption key ''\n", "lispd.@map_server[0].key: missing"},
		{"ms address", base + "config map_server\n\toption address 'ms.example'\n\toption key k\n", `lispd.@map_server[0].address: "ms.example" is not an IP address`},
		{"multicast", base + "config map_resolver\n\tlist address 224.0.0.1\n", "lispd.@map_resolver[0].address: 224.0.0.1 is not a unicast address"},
		{"host bits", base + "config eid\n\tlist prefix '198.51.100.1/24'\n", `lispd.@eid[1].prefix: "198.51.100.1/24" has host bits set (did you mean 198.51.100.0/24?)`},
		{"not prefix", base + "config eid\n\tlist prefix 'x y'\n", `lispd.@eid[1].prefix: "x y" is not an IP prefix`},
		{"priority", base + "config rloc\n\toption device eth2\n\toption priority 256\n", `lispd.@rloc[1].priority: must be an integer from 0 to 255 (got "256")`},
		{"weight", base + "config petr\n\toption address 192.0.2.20\n\toption weight 101\n", `lispd.@petr[0].weight: must be an integer from 0 to 100 (got "101")`},
		{"rloc none", base + "config rloc\n\toption priority 1\n", "lispd.@rloc[1]: needs exactly one of interface"},
		{"rloc two", base + "config rloc\n\toption device eth2\n\toption address 192.0.2.1\n", "lispd.@rloc[1]: needs exactly one of interface"},
		{"unresolved", strings.Replace(base, "interface wan", "interface wan6", 1), `lispd.@rloc[0].interface: logical interface "wan6" has no kernel device`},
		{"log_level", strings.Replace(base, "enabled 1", "enabled 1\n\toption log_level verbose", 1), `lispd.main.log_level: must be debug, info, warn or error (got "verbose")`},
		{"enabled", strings.Replace(base, "enabled 1", "enabled maybe", 1), `lispd.main.enabled: must be 0 or 1 (got "maybe")`},
		{"instance_id", strings.Replace(base, "enabled 1", "enabled 1\n\toption instance_id 16777215", 1), "lispd.main.instance_id: must be an integer from 0 to 16777214"},
		{"tun", strings.Replace(base, "enabled 1", "enabled 1\n\toption tun 'a b'", 1), "lispd.main.tun: must be a network device name"},
		{"config path", strings.Replace(base, "enabled 1", "enabled 1\n\toption config 'etc/x.toml'", 1), "lispd.main.config: must be a clean absolute path"},
		{"unknown option", base + ms + "\toption keytype sha1\n", "lispd.@map_server[0].keytype: unknown option"},
		{"unknown section", base + "config mapserver\n", `lispd.@mapserver[0]: unknown section type "mapserver"`},
		{"list for option", base + ms + "\tlist key a\n", "given both as option and as list"},
		{"list not allowed", base + "config petr\n\tlist address 192.0.2.20\n", "lispd.@petr[0].address: must be a single option, not a list"},
		{"unnamed lispd", strings.Replace(base, "config lispd main", "config lispd", 1), `lispd.@lispd[0]: the lispd section must be named "main"`},
		{"no lispd", "package lispd\nconfig eid\n\tlist prefix '198.51.100.0/25'\n", "lispd.@lispd[0]: no `config lispd` section"},
		{"xtr key in flash mode", "package lispd\nconfig lispd main\n\toption tun lisp1\n", "lispd.main.tun: only used when rendering from UCI sections"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(tc.text, filepath.Join(t.TempDir(), "out.toml"), Options{Devices: map[string]string{"wan": "eth1"}}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v\nwant %q", err, tc.want)
			}
		})
	}
}

// TestRenderAllProblems: every invalid value is reported, not just the first.
func TestRenderAllProblems(t *testing.T) {
	text := "package lispd\nconfig lispd main\n\toption log_level loud\nconfig map_server\n\toption address x\n\toption key_type md5\n"
	_, err := Run(text, filepath.Join(t.TempDir(), "o"), Options{}, &bytes.Buffer{})
	for _, want := range []string{"lispd.main.log_level", "lispd.@map_server[0].address", "lispd.@map_server[0].key:", "lispd.@map_server[0].key_type"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %s in %v", want, err)
		}
	}
}

// TestFlashMode: without eid/rloc/map_server/map_resolver/petr sections the
// flash TOML is used as is (-o becomes a symlink to it), or with UCI's
// log_level when that is set.
func TestFlashMode(t *testing.T) {
	dir := t.TempDir()
	flash := filepath.Join(dir, "flash.toml")
	if err := os.WriteFile(flash, conf.Example, 0o600); err != nil {
		t.Fatal(err)
	}
	want, err := conf.Load(flash)
	if err != nil {
		t.Fatalf("conf example: %v", err)
	}
	out := filepath.Join(dir, "run", "lispd.toml")
	text := strings.Replace(readTestdata(t, "flash.uci"), "/etc/lispd/lispd.toml", flash, 1)

	var log bytes.Buffer
	check, err := Run(text, out, Options{}, &log)
	if err != nil {
		t.Fatal(err)
	}
	if check != flash {
		t.Errorf("check path %q, want the flash TOML %q", check, flash)
	}
	if target, err := os.Readlink(out); err != nil || target != flash {
		t.Errorf("%s: link to %q (%v), want a symlink to %s", out, target, err, flash)
	}
	if !strings.Contains(log.String(), "using the flash TOML") {
		t.Errorf("log: %q", log.String())
	}

	// With log_level in UCI: a regular 0600 file equal to the flash TOML but
	// for log_level. It replaces the symlink, never the flash file.
	text = strings.Replace(text, "option enabled '1'", "option enabled '1'\n\toption log_level 'error'", 1)
	if _, err := Run(text, out, Options{}, &log); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(out)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v %v, want a regular 0600 file", out, fi.Mode(), err)
	}
	got, err := conf.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if got.LogLevel != "error" {
		t.Errorf("log_level %q, want error", got.LogLevel)
	}
	got.LogLevel, got.Path = want.LogLevel, want.Path
	var a, b bytes.Buffer
	if err := conf.Encode(&a, want); err != nil {
		t.Fatal(err)
	}
	if err := conf.Encode(&b, got); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() {
		t.Errorf("flash copy differs beyond log_level:\n%s\n---\n%s", a.String(), b.String())
	}
	if flashNow, _ := os.ReadFile(flash); !bytes.Equal(flashNow, conf.Example) {
		t.Error("the flash TOML was modified")
	}
}

func TestCommandExitCodes(t *testing.T) {
	dir := t.TempDir()
	full := filepath.Join("testdata", "full.uci")
	for _, tc := range []struct {
		args  []string
		stdin string
		code  int
		out   string
	}{
		{[]string{"-i", full, "-o", filepath.Join(dir, "a.toml"), "--device", "wan=eth1"}, "", ExitOK, filepath.Join(dir, "a.toml") + "\n"},
		{[]string{"-o", filepath.Join(dir, "b.toml"), "--device", "wan=eth1"}, readTestdata(t, "full.uci"), ExitOK, filepath.Join(dir, "b.toml") + "\n"},
		{[]string{"-i", full, "-o", filepath.Join(dir, "c.toml")}, "", ExitInvalid, ""}, // wan unresolved
		{[]string{"--device", "noequals"}, "", ExitUsage, ""},
		{[]string{"extra"}, "", ExitUsage, ""},
	} {
		var stdout, stderr bytes.Buffer
		code := Command(tc.args, strings.NewReader(tc.stdin), &stdout, &stderr)
		if code != tc.code || stdout.String() != tc.out {
			t.Errorf("%v: exit %d stdout %q stderr %q; want exit %d stdout %q", tc.args, code, stdout.String(), stderr.String(), tc.code, tc.out)
		}
	}
}
