package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/admin"
	"github.com/lispd/lispd/testing/lab"
)

// TestKernelPathLoadSharing: site 1 is multihomed over two uplinks, RLOCs
// P1 (192.0.2.11) and P2 (192.0.2.1) of one priority and equal weights,
// registered through the Map-Server; xTR2 runs the kernel path. Several
// UDP flows from B to A must all arrive, be encapsulated by xTR2's kernel
// (lispd's own encapsulation ≈ nothing: the mapping with both RLOCs is
// mirrored), and reach both RLOCs: each RLOC's counters in xTR2's
// map-cache, folded from the kernel's per-RLOC counters, must exceed all
// that lispd encapsulated itself.
func TestKernelPathLoadSharing(t *testing.T) { kernelLoadSharing(t, false) }

// TestKernelPathLoadSharingIPv6 is TestKernelPathLoadSharing with IPv6
// RLOCs (P1 and P2 are the uplinks' IPv6 addresses): xTR2's kernel shares
// the flows between the two under outer IPv6, and xTR1's decapsulating
// programs on both uplinks take them.
func TestKernelPathLoadSharingIPv6(t *testing.T) { kernelLoadSharing(t, true) }

func kernelLoadSharing(t *testing.T, rloc6 bool) {
	m := startMultihomedWith(t, mhOptions{prio1: 1, weight1: 50, prio2: 1, weight2: 50, kernelPath: "auto", rloc6: rloc6})
	l, s, p1, p2 := m.Lab, m.ctlSetup, m.p1, m.p2

	// 16 flows (ports 9000-9015): the chance that all hash onto one RLOC
	// is 2^-15.
	const nflows = 16
	var flows []*seqFlow
	for i := range nflows {
		flows = append(flows, startSeqFlow(t, l.B, l.A, lab.HostA4, uint16(9000+i)))
	}
	for i, f := range flows {
		f.flowing(t, 0, 15*time.Second, fmt.Sprintf("B → A flow %d", i))
	}
	eventually(t, 10*time.Second, "xTR2 mirrors site 1's mapping with both RLOCs", func() error {
		r1, r2, err := locators(t, s.X2, lab.HostA4, p1, p2)
		if err != nil {
			return err
		}
		if !r1.Up || !r2.Up || r1.Priority != r2.Priority {
			return fmt.Errorf("P1 %+v, P2 %+v: want both up, of one priority", r1, r2)
		}
		ks := readStats(t, s.X2)
		if m := ks.get(t, admin.GroupKernelPath, "mirrored-mappings"); m < 1 {
			return fmt.Errorf("%d mappings mirrored", m)
		}
		return nil
	})
	b, bx1 := readStats(t, s.X2), readStats(t, s.X1)
	b1, b2, err := locators(t, s.X2, lab.HostA4, p1, p2)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // ~300 datagrams a flow; counters folded once a second
	for i, f := range flows {
		end := int(f.sent.Load()) - 10
		if got := f.received(end-200, end); got < 190 {
			t.Errorf("flow %d: %d of its last 200 datagrams arrived", i, got)
		}
	}
	a, ax1 := readStats(t, s.X2), readStats(t, s.X1)
	a1, a2, err := locators(t, s.X2, lab.HostA4, p1, p2)
	if err != nil {
		t.Fatal(err)
	}
	kEnc := a.get(t, admin.GroupKernelPath, "encap-packets") - b.get(t, admin.GroupKernelPath, "encap-packets")
	uEnc := a.get(t, admin.GroupDataPlane, "encap-packets") - b.get(t, admin.GroupDataPlane, "encap-packets")
	d1, d2 := a1.Packets-b1.Packets, a2.Packets-b2.Packets
	t.Logf("xtr2 over 3 s: kernel encapsulated %d packets, lispd %d; P1 %d packets, P2 %d", kEnc, uEnc, d1, d2)
	if kEnc < nflows*200 || uEnc > kEnc/100 {
		t.Errorf("xtr2: kernel encapsulated %d packets, lispd %d: want the %d flows (~%d datagrams) in the kernel", kEnc, uEnc, nflows, nflows*300)
	}
	kDec := ax1.get(t, admin.GroupKernelPath, "decap-packets") - bx1.get(t, admin.GroupKernelPath, "decap-packets")
	uDec := ax1.get(t, admin.GroupDataPlane, "decap-packets") - bx1.get(t, admin.GroupDataPlane, "decap-packets")
	t.Logf("xtr1 over 3 s: kernel decapsulated %d packets, lispd %d", kDec, uDec)
	// Both read once a second by their daemons: the windows differ by up
	// to a second of the ~3.
	if kDec < kEnc/2 || uDec > kDec/100 {
		t.Errorf("xtr1: kernel decapsulated %d packets, lispd %d, of %d: want them in the kernel", kDec, uDec, kEnc)
	}
	// The RLOCs' counters and the kernel path's move together, once a
	// second, but are read one after the other: a fold between the two
	// reads skews the windows by up to a second of the ~3.
	if d1 <= uEnc || d2 <= uEnc || d1+d2 < kEnc/2 {
		t.Errorf("xtr2: P1 counted %d packets, P2 %d, for %d from the kernel and %d from lispd: want both RLOCs used by the kernel", d1, d2, kEnc, uEnc)
	}
}
