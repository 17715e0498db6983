package e2e

import (
	"net/netip"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/admin"
	"github.com/lispd/lispd/testing/lab"
	"github.com/lispd/lispd/testing/netns"
	"github.com/lispd/lispd/testing/tshark"
)

// TestPETR gives xTR1 a proxy ETR (a bare namespace on the core at
// 192.0.2.20 that only receives) and an eid_space widened by 203.0.113.0/24,
// which no site registers. Host A's packets to 203.0.113.77 make xTR1 ask
// the Map-Resolver, whose negative Map-Reply (Natively-Forward) sends them
// to the PETR: the PETR's link must see LISP data from xTR1 carrying them.
// The control: traffic to host B (a registered site) still goes to xTR2,
// not to the PETR.
func TestPETR(t *testing.T) {
	tshark.Require(t)
	target := netip.MustParseAddr("203.0.113.77")
	space := append([]netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}, lab.EIDSpace...)
	// AddCoreHost puts host n at 192.0.2.n: the PETR's address is known
	// before the xTR's configuration is written.
	petrAddr := netip.MustParseAddr("192.0.2.20")
	var petrCap *netns.Capture
	s := startControl(t, ctlOptions{
		lab: lab.Options{TxChecksumOff: true},
		before: func(l *lab.Lab) {
			petr, wan, err := l.AddCoreHost("petr", 20)
			if err != nil {
				t.Fatal(err)
			}
			if wan.Addr4() != petrAddr {
				t.Fatalf("premise: the PETR host is at %s, want %s", wan.Addr4(), petrAddr)
			}
			petrCap = capture(t, petr, "wan", "udp")
		},
		x1: lab.XTRConfig{EIDSpace: space, ProxyETRs: []netip.Addr{petrAddr}},
	})
	waitRegistered(t, s.X1, s.X2)
	reachable(t, s.A, lab.HostB4, 10*time.Second)
	ping(t, s.A, target, "-c", "5", "-i", "0.2", "-W", "1")
	path := stop(t, petrCap)

	fs := frames(t, path)
	toPETR := countFrames(fs, func(f frame) bool { return f.data(s.RLOC1v4, petrAddr, target) })
	if toPETR == 0 {
		t.Fatalf("no LISP data from xTR1 (%s) to the PETR (%s) carrying host A's packets to %s among the %d frame(s) the PETR received",
			s.RLOC1v4, petrAddr, target, len(fs))
	}
	t.Logf("%d of 5 echo requests to %s reached the PETR encapsulated", toPETR, target)
	if n := countFrames(fs, func(f frame) bool { return f.data(s.RLOC1v4, petrAddr, lab.HostB4) }); n != 0 {
		t.Errorf("control: %d packet(s) for the registered host B went to the PETR", n)
	}

	// xTR1's map-cache holds the Map-Resolver's negative answer for space
	// outside every site (TTL 15 minutes): negative, native-forward (the
	// PETR comes from xTR1's own configuration, not from the reply).
	e, ok := mapCacheEntry(t, s.X1, target)
	if !ok {
		t.Fatalf("xTR1's map-cache has no entry covering %s", target)
	}
	t.Logf("xTR1's entry for %s: %s state %s action %q TTL %d s RLOCs %+v", target, e.EIDPrefix, e.State, e.Action, e.TTL, e.RLOCs)
	if e.State != admin.StateNegative || e.Action != "native-forward" {
		t.Errorf("xTR1's entry for %s: state %q action %q, want negative native-forward", target, e.State, e.Action)
	}
	if e.Origin != admin.OriginLearned || e.TTL != 15*60 {
		t.Errorf("xTR1's entry for %s: origin %q TTL %d s; want learned from the Map-Resolver's negative reply, 900 s (outside every site)", target, e.Origin, e.TTL)
	}
	if e.EIDPrefix.Contains(lab.HostB4) || e.EIDPrefix.Contains(lab.HostA4) {
		t.Errorf("the negative entry %s covers a registered site", e.EIDPrefix)
	}
}
