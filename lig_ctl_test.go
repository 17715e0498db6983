package main

import (
	"context"
	"net"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl"
	"github.com/lispd/lispd/internal/logx"
)

// nopDataPlane is the data plane an ETR-only test node needs: it installs
// nothing.
type nopDataPlane struct{}

func (nopDataPlane) Install(ctl.Mapping) error                        { return nil }
func (nopDataPlane) ResolveFailed(uint32, netip.Addr)                 {}
func (nopDataPlane) Remove(uint32, netip.Prefix)                      {}
func (nopDataPlane) Lookup(uint32, netip.Addr) (ctl.CacheEntry, bool) { return ctl.CacheEntry{}, false }
func (nopDataPlane) InUse(time.Time) []ctl.CacheEntry                 { return nil }
func (nopDataPlane) SetLocatorState(uint32, netip.Prefix, netip.Addr, ctl.LocatorState) {
}

// freeUDPPort returns a UDP port free on both addresses (a small race
// with other processes is acceptable in a test).
func freeUDPPort(t *testing.T, addrs ...string) uint16 {
	t.Helper()
	for range 20 {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(addrs[0])})
		if err != nil {
			t.Fatal(err)
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		ok := true
		for _, a := range addrs[1:] {
			c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(a), Port: port})
			if err != nil {
				ok = false
				break
			}
			c.Close()
		}
		if ok {
			return uint16(port)
		}
	}
	t.Fatal("no free UDP port")
	return 0
}

// TestLigAgainstBuiltInMapServer runs lig against lispd's own Map-Resolver
// (ctl), on loopback: the registered EID is answered by the ETR with its
// RLOCs; an unregistered one gets the resolver's negative reply.
func TestLigAgainstBuiltInMapServer(t *testing.T) {
	systemPaths(t)
	msAddr, etrAddr := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.3")
	if c, err := net.ListenUDP("udp", &net.UDPAddr{IP: etrAddr.AsSlice()}); err != nil {
		t.Skipf("cannot bind %v: %v", etrAddr, err)
	} else {
		c.Close()
	}
	port := freeUDPPort(t, msAddr.String(), etrAddr.String())
	quiet := logx.Discard()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	ms, err := ctl.New(ctl.Options{Port: port, Listen: []netip.Addr{msAddr}, Logger: quiet, MapServer: &ctl.MapServerOptions{
		Sites: []ctl.SiteOptions{{Name: "branch1", Key: "secret", KeyType: ctl.KeySHA256,
			EIDPrefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}}},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	etr, err := ctl.New(ctl.Options{Port: port, Listen: []netip.Addr{etrAddr}, Logger: quiet, XTR: &ctl.XTROptions{
		EIDPrefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/25")},
		RLOCs:       []ctl.LocalLocator{{Addr: etrAddr, Priority: 1, Weight: 100}},
		MapServers:  []ctl.MapServerPeer{{Addr: msAddr, Key: "secret", KeyType: ctl.KeySHA256, WantMapNotify: true}},
	}}, nopDataPlane{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*ctl.Node{ms, etr} {
		if err := n.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer n.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(ms.Registrations().Registrations) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the ETR did not register within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}

	resolver := netip.AddrPortFrom(msAddr, port).String()
	out, errOut, code := capture(t, runLig, "198.51.100.10", "-m", resolver, "-t", "5")
	if code != 0 {
		t.Fatalf("registered EID: exit %d: %s\n%s", code, errOut, out)
	}
	if !strings.Contains(out, "Received map-reply from 127.0.0.3 with rtt") {
		t.Errorf("the reply did not come from the ETR:\n%s", out)
	}
	if !strings.Contains(out, "198.51.100.0/25, record ttl: 1440, auth,") {
		t.Errorf("record line missing:\n%s", out)
	}
	if got, want := row(t, out, "127.0.0.3"), []string{"127.0.0.3", "up, local", "1/100"}; !reflect.DeepEqual(got, want) {
		t.Errorf("locator row %q, want %q", got, want)
	}

	out, errOut, code = capture(t, runLig, "-m", resolver, "-t", "5", "198.51.100.200")
	if code != 0 {
		t.Fatalf("unregistered EID: exit %d: %s\n%s", code, errOut, out)
	}
	if !strings.Contains(out, "Received map-reply from 127.0.0.1 with rtt") ||
		!strings.Contains(out, "Negative cache entry, action: Natively-Forward") ||
		!strings.Contains(out, ", record ttl: "+strconv.Itoa(int(ctl.NegativeTTLUnregistered/time.Minute))+", auth") {
		t.Errorf("negative reply:\n%s", out)
	}
}
