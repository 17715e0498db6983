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
	if uDec > kDec/100 {
		t.Errorf("xtr1: kernel decapsulated %d packets, lispd %d: want them in the kernel", kDec, uDec)
	}
	if d1 <= uEnc || d2 <= uEnc {
		t.Errorf("xtr2: P1 counted %d packets, P2 %d, lispd encapsulated %d: want both RLOCs used by the kernel", d1, d2, uEnc)
	}

	// The kernel's counters reach the daemons once a second, each read
	// after the other: with the flows stopped and two folds done, the
	// totals must agree. Every packet xTR2's kernel sent is counted on one
	// of the RLOCs (which count lispd's own too), and xTR1's kernel
	// decapsulated all of them but the few lost on the way.
	for _, f := range flows {
		f.halt()
	}
	time.Sleep(2500 * time.Millisecond)
	z, zx1 := readStats(t, s.X2), readStats(t, s.X1)
	z1, z2, err := locators(t, s.X2, lab.HostA4, p1, p2)
	if err != nil {
		t.Fatal(err)
	}
	kEncAll := z.get(t, admin.GroupKernelPath, "encap-packets")
	kDecAll := zx1.get(t, admin.GroupKernelPath, "decap-packets")
	t.Logf("totals: xtr2's kernel encapsulated %d packets, its RLOCs counted %d + %d; xtr1's kernel decapsulated %d",
		kEncAll, z1.Packets, z2.Packets, kDecAll)
	if z1.Packets+z2.Packets < kEncAll {
		t.Errorf("xtr2: its RLOCs counted %d + %d packets, fewer than the %d its kernel sent", z1.Packets, z2.Packets, kEncAll)
	}
	if kDecAll < kEncAll*95/100 {
		t.Errorf("xtr1: its kernel decapsulated %d packets of the %d xtr2's kernel sent", kDecAll, kEncAll)
	}
}
