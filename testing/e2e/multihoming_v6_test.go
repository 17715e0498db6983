package e2e

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/lispd/lispd/testing/lab"
)

// TestMultihomingLocalFailoverIPv6 is the local failover over IPv6
// locators, with both EID families riding on them (IPv6 over IPv6 B → A,
// IPv4 over IPv6 A → B). xTR1's locators are P1 (wan2's IPv6 address,
// priority 1) and P2 (wan's, priority 2); xTR2's is its IPv6 address; the
// Map-Server is reached over IPv4.
//
// IPv6 differs from IPv4 where a router notices it: a link going down
// flushes its IPv6 addresses (net.ipv6.conf.*.keep_addr_on_down is 0 by
// default), so the locator is lost as an address, not only as a link, and
// coming back needs the address added again, as OpenWrt's netifd does on
// ifup. The source of xTR1's packets to xTR2 must follow the locator
// (IPV6_PKTINFO with the uplink's ifindex): both uplinks are on one /64,
// so the kernel's route alone would pick either.
func TestMultihomingLocalFailoverIPv6(t *testing.T) {
	m := startMultihomedWith(t, mhOptions{prio1: 1, weight1: 100, prio2: 2, weight2: 100, rloc6: true})
	l := m.Lab
	wan := l.XTR1WAN.Name
	if !m.p1.Is6() || !m.p2.Is6() {
		t.Fatalf("locators P1 %v, P2 %v: want IPv6", m.p1, m.p2)
	}
	cnt := countUplinks(t, l.XTR1, "wan2", wan)

	ba := startSeqFlow(t, l.B, l.A, lab.HostA6, 9000) // IPv6 EIDs over IPv6 RLOCs
	ab := startSeqFlow(t, l.A, l.B, lab.HostB4, 9001) // IPv4 EIDs over IPv6 RLOCs
	ba.flowing(t, 0, 15*time.Second, "B → A flow (IPv6 EID)")
	ab.flowing(t, 0, 15*time.Second, "A → B flow (IPv4 EID)")
	m.waitOnP1(t, lab.HostA6)
	cnt.carries(t, "before the failure (priority-1 uplink wan2, P1)", "wan2", wan, 5)

	// Local failure: the priority-1 link goes down and takes its IPv6
	// address with it.
	baMark, abMark := int(ba.sent.Load()), int(ab.sent.Load())
	if err := l.XTR1.IP("link", "set", "wan2", "down"); err != nil {
		t.Fatal(err)
	}
	seen := eventually(t, 5*time.Second, "xTR1 shows P1 down (netlink)", func() error {
		r, err := localRLOC(t, m.X1, m.p1)
		if err != nil {
			return err
		}
		if r.Up || (r.Reason != "interface down" && r.Reason != "address not on any interface") {
			return fmt.Errorf("P1 %+v", r)
		}
		return nil
	})
	ba.flowing(t, baMark, 10*time.Second, "B → A flow over P2")
	ab.flowing(t, abMark, 10*time.Second, "A → B flow over wan")
	checkOutages(t, fmt.Sprintf("local failure of IPv6 P1 (wan2 down, seen by xTR1 after %v)", seen.Round(time.Millisecond)), ba, ab, baMark, abMark)
	eventually(t, 5*time.Second, "xTR2 sees P1 down, P2 up", func() error {
		r1, r2, err := m.xtr2Locators(t, lab.HostA6)
		if err != nil {
			return err
		}
		if r1.Up || !r2.Up {
			return fmt.Errorf("P1 %+v, P2 %+v: want P1 down, P2 up", r1, r2)
		}
		return nil
	})
	cnt.carries(t, "during the failure (the other uplink, P2)", wan, "wan2", 0)

	// Recovery as netifd does it: the link comes up and the address is
	// configured again.
	baMark, abMark = int(ba.sent.Load()), int(ab.sent.Load())
	if err := l.XTR1.IP("link", "set", "wan2", "up"); err != nil {
		t.Fatal(err)
	}
	if err := l.XTR1.IP("addr", "replace", netip.PrefixFrom(m.p1, 64).String(), "dev", "wan2", "nodad"); err != nil {
		t.Fatal(err)
	}
	back := m.waitBackOnP1(t, lab.HostA6)
	time.Sleep(500 * time.Millisecond)
	cnt.carries(t, fmt.Sprintf("after recovery (%v), back on wan2 (P1)", back.Round(time.Millisecond)), "wan2", wan, 5)
	checkOutages(t, "recovery", ba, ab, baMark, abMark)
}
