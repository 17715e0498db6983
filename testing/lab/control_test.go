package lab

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lispd/lispd/testing/netns"
)

// TestControlLabAdditions checks what the control-plane tests add to the
// lab: a host attached to the core bridge reaches the xTRs and the
// Map-Server (and AddCoreHost refuses labs without a bridge and taken
// addresses), and the configurations with a Map-Server timeout, a wider
// eid_space, proxy ETRs and a wrong key pass `lispd check`.
func TestControlLabAdditions(t *testing.T) {
	l, err := Build(netns.New(t), Options{Core: CoreBridge, TxChecksumOff: true})
	if err != nil {
		t.Fatal(err)
	}
	h, wan, err := l.AddCoreHost("petr", 20)
	if err != nil {
		t.Fatal(err)
	}
	if want := netip.MustParseAddr("192.0.2.20"); wan.Addr4() != want {
		t.Errorf("core host at %s, want %s", wan.Addr4(), want)
	}
	if want := netip.MustParseAddr("2001:db8:ff::14"); wan.Addr6() != want {
		t.Errorf("core host at %s, want %s", wan.Addr6(), want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, dst := range []netip.Addr{l.RLOC1v4, l.RLOC2v6, l.MSv4} {
		if err := h.Run(ctx, "ping", "-c", "1", "-W", "2", dst.String()); err != nil {
			t.Errorf("core host → %s: %v", dst, err)
		}
	}
	for _, n := range []int{1, 10, 255} {
		if _, _, err := l.AddCoreHost("x", n); err == nil {
			t.Errorf("AddCoreHost at .%d: no error", n)
		}
	}
	if _, _, err := (&Lab{}).AddCoreHost("x", 30); err == nil {
		t.Errorf("AddCoreHost without a bridge: no error")
	}

	if l.MapServerTOML() != l.MapServerTOMLWith(MapServerConfig{}) {
		t.Errorf("MapServerTOML differs from MapServerTOMLWith with no options")
	}
	space := append([]netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}, EIDSpace...)
	configs := map[string]string{
		"ms-fast": l.MapServerTOMLWith(MapServerConfig{RegistrationTimeout: "6s"}),
		"xtr1-petr": l.XTRTOML(XTRConfig{Side: 1, MapServer: true, EIDSpace: space,
			ProxyETRs: []netip.Addr{wan.Addr4(), wan.Addr6()},
			Extra:     "register_interval = \"2s\"\nmap_request_timeout = \"500ms\"\nrecord_ttl = \"7m\""}),
		"xtr2-wrongkey": l.XTRTOML(XTRConfig{Side: 2, MapServer: true, MapServerKey: "wrong"}),
	}
	for name, want := range map[string]string{
		"ms-fast":       `registration_timeout = "6s"`,
		"xtr1-petr":     `"203.0.113.0/24"`,
		"xtr2-wrongkey": `key = "wrong"`,
	} {
		if !strings.Contains(configs[name], want) {
			t.Errorf("%s lacks %s:\n%s", name, want, configs[name])
		}
	}
	if !strings.Contains(configs["xtr1-petr"], `proxy_etrs = [{ address = "192.0.2.20"`) {
		t.Errorf("xtr1-petr lacks the proxy ETRs:\n%s", configs["xtr1-petr"])
	}
	bin, err := BuildLispd(t.TempDir())
	if err != nil {
		t.Skipf("lispd does not build yet: %v", err)
	}
	for name, text := range configs {
		path, err := l.WriteConfig(name, text)
		if err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(bin, "check", "-c", path).CombinedOutput(); err != nil {
			b, _ := os.ReadFile(path)
			t.Errorf("lispd check %s: %v\n%s\nconfig:\n%s", name, err, out, b)
		}
	}
}
