package e2e

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/admin"
	"github.com/lispd/lispd/testing/lab"
)

// TestKernelPathLocalLoadSharing: xTR1 is multihomed over two IPv4 uplinks,
// wan2 (P1) and wan (P2), of one priority and equal weights, with the
// kernel path. Many A → B flows (xTR1 chooses the uplink per flow) must
// be encapsulated by xTR1's kernel (lispd's own encapsulation ≈ nothing)
// and leave by both uplinks (counted by their link statistics: the
// kernel's packets pass no nftables hook); when wan2 fails, wan carries
// every flow, still in the kernel, and each flow resumes within the
// outage bound; when it comes back, both carry again.
func TestKernelPathLocalLoadSharing(t *testing.T) { kernelLocalLoadSharing(t, false) }

// TestKernelPathLocalLoadSharingIPv6 is TestKernelPathLocalLoadSharing
// with IPv6 RLOCs (P1 and P2 are the uplinks' IPv6 addresses): xTR1's
// kernel takes the outer source and the uplink of each flow from its IPv6
// locals table, shares the flows between the two IPv6 uplinks, and when
// one fails the rewritten table moves its flows to the other, still in the
// kernel.
func TestKernelPathLocalLoadSharingIPv6(t *testing.T) { kernelLocalLoadSharing(t, true) }

func kernelLocalLoadSharing(t *testing.T, rloc6 bool) {
	m := startMultihomedWith(t, mhOptions{prio1: 1, weight1: 50, prio2: 1, weight2: 50, kernelPath: "auto", rloc6: rloc6})
	l, s := m.Lab, m.ctlSetup
	wan := l.XTR1WAN.Name
	cnt := countUplinks(t, l.XTR1, "wan2", wan)
	cnt.links = true

	// 16 flows (ports 9300-9315): the chance that all hash onto one
	// uplink is 2^-15.
	const nflows = 16
	var flows []*seqFlow
	for i := range nflows {
		flows = append(flows, startSeqFlow(t, l.A, l.B, lab.HostB4, uint16(9300+i)))
	}
	for i, f := range flows {
		f.flowing(t, 0, 15*time.Second, fmt.Sprintf("A → B flow %d", i))
	}
	eventually(t, 10*time.Second, "xTR1 mirrors site 2's mapping", func() error {
		ks := readStats(t, s.X1)
		if m := ks.get(t, admin.GroupKernelPath, "mirrored-mappings"); m < 1 {
			return fmt.Errorf("%d mappings mirrored", m)
		}
		return nil
	})
	// sent returns the datagrams the flows sent so far.
	sent := func() (n uint64) {
		for _, f := range flows {
			n += uint64(f.sent.Load())
		}
		return n
	}
	// measure checks 3 s of the flows: all arriving, encapsulated by the
	// kernel, leaving by the uplinks want (at least 150 packets each:
	// half a flow's 3 s) and by no other (at most the link noise).
	measure := func(phase string, want ...string) {
		t.Helper()
		b := readStats(t, s.X1)
		c0, s0 := cnt.snapshot(t), sent()
		time.Sleep(3 * time.Second) // ~300 datagrams a flow; counters folded once a second
		d, flowSent := delta(c0, cnt.snapshot(t)), sent()-s0
		for i, f := range flows {
			end := int(f.sent.Load()) - 10
			if got := f.received(end-200, end); got < 190 {
				t.Errorf("%s: flow %d: %d of its last 200 datagrams arrived", phase, i, got)
			}
		}
		a := readStats(t, s.X1)
		kEnc := a.get(t, admin.GroupKernelPath, "encap-packets") - b.get(t, admin.GroupKernelPath, "encap-packets")
		uEnc := a.get(t, admin.GroupDataPlane, "encap-packets") - b.get(t, admin.GroupDataPlane, "encap-packets")
		t.Logf("%s, xtr1 over 3 s: the flows sent %d datagrams, the kernel encapsulated %d packets (folded once a second), lispd %d; wan2 sent %d, %s %d",
			phase, flowSent, kEnc, uEnc, d["tx_wan2"], wan, d["tx_"+wan])
		// Folded once a second: 3 s hold 2 to 4 folds.
		if kEnc < nflows*150 || uEnc > kEnc/100 {
			t.Errorf("%s: kernel encapsulated %d packets, lispd %d: want the %d flows (~%d datagrams) in the kernel", phase, kEnc, uEnc, nflows, nflows*300)
		}
		var out uint64
		for _, i := range []string{"wan2", wan} {
			out += d["tx_"+i]
			carries := false
			for _, w := range want {
				carries = carries || w == i
			}
			if carries && d["tx_"+i] < 150 {
				t.Errorf("%s: uplink %s sent %d packets, want ≥ 150 (its share of the flows)", phase, i, d["tx_"+i])
			}
			if !carries && d["tx_"+i] > 20 {
				t.Errorf("%s: uplink %s sent %d packets, want none of the flows'", phase, i, d["tx_"+i])
			}
		}
		if out < flowSent*9/10 {
			t.Errorf("%s: the uplinks sent %d packets for the %d datagrams of the flows", phase, out, flowSent)
		}
	}
	measure("both uplinks up", "wan2", wan)

	// wan2 fails: the mirror's table sends every flow by wan.
	marks := make([]int, nflows)
	for i, f := range flows {
		marks[i] = int(f.sent.Load())
	}
	if err := l.XTR1.IP("link", "set", "wan2", "down"); err != nil {
		t.Fatal(err)
	}
	seen := eventually(t, 5*time.Second, "xTR1 shows P1 down (netlink)", func() error {
		r, err := localRLOC(t, m.X1, m.p1)
		if err != nil {
			return err
		}
		if r.Up {
			return fmt.Errorf("P1 %+v", r)
		}
		return nil
	})
	for i, f := range flows {
		f.flowing(t, marks[i], 10*time.Second, fmt.Sprintf("A → B flow %d over wan", i))
	}
	var worst time.Duration
	for i, f := range flows {
		out, lost := f.outage(marks[i])
		worst = max(worst, out)
		if out > outageBound {
			t.Errorf("flow %d: outage %v (%d lost) after wan2 failed, want within %v", i, out, lost, outageBound)
		}
	}
	t.Logf("wan2 down (seen by xTR1 after %v): longest outage of the flows %v", seen.Round(time.Millisecond), worst)
	measure("wan2 down", wan)

	// wan2 back: both uplinks carry again. (A link going down flushes
	// its IPv6 addresses: back up, the address is configured again, as
	// OpenWrt's netifd does; see TestMultihomingLocalFailoverIPv6.)
	if err := l.XTR1.IP("link", "set", "wan2", "up"); err != nil {
		t.Fatal(err)
	}
	if rloc6 {
		if err := l.XTR1.IP("addr", "replace", netip.PrefixFrom(m.p1, 64).String(), "dev", "wan2", "nodad"); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "xTR1 shows P1 up again", func() error {
		r, err := localRLOC(t, m.X1, m.p1)
		if err != nil {
			return err
		}
		if !r.Up {
			return fmt.Errorf("P1 %+v", r)
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond)
	measure("wan2 back", "wan2", wan)
}
