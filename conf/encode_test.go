package conf

import (
	"bytes"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// roundTrip encodes cfg, parses the result and returns it.
func roundTrip(t *testing.T, cfg *Config) (*Config, string) {
	t.Helper()
	var buf bytes.Buffer
	if err := Encode(&buf, cfg); err != nil {
		t.Fatal(err)
	}
	back, err := Parse(cfg.Path, buf.Bytes())
	if err != nil {
		t.Fatalf("encoded config does not parse:\n%v\n%s", err, buf.String())
	}
	return back, buf.String()
}

func TestEncodeRoundTripExample(t *testing.T) {
	cfg, err := Parse("x.toml", Example)
	if err != nil {
		t.Fatal(err)
	}
	back, text := roundTrip(t, cfg)
	if !reflect.DeepEqual(cfg, back) {
		t.Fatalf("round trip changed the config:\n%s", text)
	}
}

// TestEncodeRoundTripBuilt builds a Config in code the way the UCI renderer
// does, with values unlike the defaults, and checks Encode keeps all of them.
func TestEncodeRoundTripBuilt(t *testing.T) {
	cfg := Default()
	cfg.Path = "uci.toml"
	cfg.LogLevel = "debug"
	x := &XTR{}
	x.SetDefaults()
	x.TUN = "lisp1"
	x.MTU = 1400
	x.InstanceID = 42
	x.EIDPrefixes = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/25"), netip.MustParsePrefix("2001:db8:1::/48")}
	x.MapResolvers = []netip.Addr{netip.MustParseAddr("2001:db8:ffff::10")}
	x.ProxyETRs = []Locator{{Address: netip.MustParseAddr("203.0.113.20"), Priority: 0, Weight: 0}}
	x.RLOCs = []LocalRLOC{{Interface: "wan", Priority: 0, Weight: 7}, {Address: netip.MustParseAddr("203.0.113.5"), Priority: 255, Weight: 100}}
	no := false
	x.MapServers = []MapServerRef{{Address: netip.MustParseAddr("192.0.2.10"), Key: `a "quoted" key \ with # and spaces`, KeyType: "sha1", WantMapNotify: &no}}
	iid := uint32(9)
	x.MapCache = []StaticMapping{
		{EIDPrefix: netip.MustParsePrefix("203.0.113.128/25"), InstanceID: &iid, RLOCs: []Locator{{Address: netip.MustParseAddr("192.0.2.2"), Priority: 3, Weight: 4}}},
		{EIDPrefix: netip.MustParsePrefix("2001:db8:ff::/48"), InstanceID: &x.InstanceID, Action: "native-forward"},
	}
	x.RegisterInterval = Duration{90 * time.Second}
	x.MapRequestTimeout = Duration{250 * time.Millisecond}
	x.MapRequestRetries = 0
	x.RecordTTL = Duration{2 * time.Minute}
	x.ProbeInterval = Duration{time.Second}
	x.NATTraversal = "off"
	x.TUNOffload = "off"
	cfg.XTR = x
	cfg.MapServer = &MapServer{Enabled: true, Listen: []netip.Addr{netip.MustParseAddr("192.0.2.10")}, RegistrationTimeout: Duration{time.Hour},
		Sites: []Site{{Name: "site one", Key: "k", KeyType: "sha256", InstanceID: 42, EIDPrefixes: x.EIDPrefixes, MaxRegistrations: 5}}}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("built config invalid: %v", err)
	}
	back, text := roundTrip(t, cfg)
	if !reflect.DeepEqual(cfg, back) {
		t.Fatalf("round trip changed the config:\n%s\nbefore %+v\nafter  %+v", text, cfg.XTR, back.XTR)
	}
}

func TestDurationString(t *testing.T) {
	cases := map[time.Duration]string{
		24 * time.Hour: "24h", time.Minute: "1m", 90 * time.Second: "1m30s", 90 * time.Minute: "1h30m",
		500 * time.Millisecond: "500ms", 0: "0s", time.Hour + 5*time.Second: "1h0m5s", 10 * time.Minute: "10m",
	}
	for d, want := range cases {
		if got := (Duration{d}).String(); got != want {
			t.Errorf("%v: got %q, want %q", time.Duration(d), got, want)
		}
		var back Duration
		if err := back.UnmarshalText([]byte(want)); err != nil || back.Duration != d {
			t.Errorf("%q does not parse back to %v", want, d)
		}
	}
}

func TestRedacted(t *testing.T) {
	cfg, err := Parse("x.toml", Example)
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Redacted()
	var buf bytes.Buffer
	if err := Encode(&buf, r); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"secret", "another-secret"} {
		if strings.Contains(buf.String(), `"`+secret+`"`) {
			t.Errorf("key %q survives redaction", secret)
		}
	}
	if n := strings.Count(buf.String(), RedactedKey); n != 3 {
		t.Errorf("%d keys redacted, want 3", n)
	}
	// The original is untouched, and the copy shares nothing with it.
	if cfg.XTR.MapServers[0].Key != "secret" || cfg.MapServer.Sites[1].Key != "another-secret" {
		t.Fatal("Redacted changed the original")
	}
	*r.XTR.MapServers[0].WantMapNotify = false
	r.XTR.EIDPrefixes[0] = netip.Prefix{}
	*r.XTR.MapCache[0].InstanceID = 5
	if !cfg.XTR.MapServers[0].WantsMapNotify() || !cfg.XTR.EIDPrefixes[0].IsValid() || *cfg.XTR.MapCache[0].InstanceID != 0 {
		t.Fatal("Redacted copy shares memory with the original")
	}
}

func TestSummary(t *testing.T) {
	cfg, err := Parse("x.toml", Example)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := cfg.Summary(&buf); err != nil {
		t.Fatal(err)
	}
	s := buf.String()
	for _, want := range []string{"xTR", "lisp0", "198.51.100.0/25", "2001:db8::/32", "eth1 1/100", "203.0.113.5 2/100",
		"192.0.2.10 (sha256, map-notify)", "203.0.113.20 1/100", "198.51.100.128/25 [0] -> 192.0.2.2 1/50", "-> drop",
		"site branch2", "registration timeout 3m", "probe 1s x2"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "secret") {
		t.Errorf("summary shows a key:\n%s", s)
	}
	if n := strings.Count(s, "\n"); n > 40 {
		t.Errorf("summary is %d lines, more than a screen", n)
	}
}
