package kpath

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/lispd/lispd/testing/tshark"
)

// Test runs of the decapsulating programs over packets with an outer IPv6
// header (IPv6 RLOCs).

var (
	testRLOC6   = netip.MustParseAddr("2001:db8:ff::2")
	testRemote6 = netip.MustParseAddr("2001:db8:ff::1")
)

// lispFrame6 returns an Ethernet frame: outer IPv6/UDP from testRemote6
// to dst:port (hop limit 64, a computed UDP checksum), the 8-byte LISP
// header hdr, then inner.
func lispFrame6(t *testing.T, dst netip.Addr, port uint16, hdr [8]byte, inner []byte) []byte {
	t.Helper()
	f, err := tshark.UDPFrame(netip.AddrPortFrom(testRemote6, 50000), netip.AddrPortFrom(dst, port), append(hdr[:], inner...))
	if err != nil {
		t.Fatal(err)
	}
	if binary.BigEndian.Uint16(f[12:]) != 0x86dd || binary.BigEndian.Uint16(f[60:]) == 0 {
		t.Fatalf("not an IPv6 frame with a UDP checksum: % x", f[:70])
	}
	return f
}

// newTestDecap6 is newTestDecap with testRLOC6 local too (instance-id 7).
func newTestDecap6(t *testing.T) *Decap {
	t.Helper()
	d := newTestDecap(t)
	if err := d.SetLocal(testRLOC6, DecapEntry{TUNIfIndex: 1, InstanceID: 7}); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDecapIPv6RLOCs runs the decapsulating program (TC) over frames with
// an outer IPv6 header: accepted with or without a UDP checksum, inner
// IPv4 or IPv6 (the inner TTL or hop limit min(inner, outer hop limit)),
// counted in the IPv6 RLOC's entry and its sender recorded under its IPv6
// address; left to the stack and counted when the port, the instance-id,
// the destination, an extension header, the outer ECN or hop limit, or the
// length say so.
func TestDecapIPv6RLOCs(t *testing.T) {
	d := newTestDecap6(t)
	iid7 := [8]byte{0xc8, 1, 2, 3, 0, 0, 7, 1}
	iid8 := [8]byte{0xc8, 1, 2, 3, 0, 0, 8, 1}
	zeroCsum := func(f []byte) []byte { f[60], f[61] = 0, 0; return f }
	hops := func(f []byte, h byte) []byte { f[21] = h; return f }
	ecn := func(f []byte, e byte) []byte { f[15] = f[15]&^0x30 | e<<4; return f }
	// extHdr inserts an 8-byte destination options header (PadN).
	extHdr := func(f []byte) []byte {
		g := append(append(append([]byte(nil), f[:54]...), 17, 0, 1, 4, 0, 0, 0, 0), f[54:]...)
		g[20] = 60
		binary.BigEndian.PutUint16(g[18:], binary.BigEndian.Uint16(g[18:])+8)
		return g
	}
	tests := []struct {
		name  string
		frame []byte
		ret   uint32
		stat  int
	}{
		{"inner IPv4", lispFrame6(t, testRLOC6, DataPort, iid7, innerPacket(t, false)), ActRedirect, redirected},
		{"inner IPv6", lispFrame6(t, testRLOC6, DataPort, iid7, innerPacket(t, true)), ActRedirect, redirected},
		{"zero UDP checksum", zeroCsum(lispFrame6(t, testRLOC6, DataPort, iid7, innerPacket(t, false))), ActRedirect, redirected},
		{"zero UDP checksum, inner IPv6", zeroCsum(lispFrame6(t, testRLOC6, DataPort, iid7, innerPacket(t, true))), ActRedirect, redirected},
		{"wrong UDP checksum (not verified)", func() []byte {
			f := lispFrame6(t, testRLOC6, DataPort, iid7, innerPacket(t, false))
			f[60] ^= 0x5a
			return f
		}(), ActRedirect, redirected},
		{"outer hop limit below the inner TTL", hops(lispFrame6(t, testRLOC6, DataPort, iid7, innerPacket(t, false)), 9), ActRedirect, redirected},
		{"outer hop limit below the inner one", hops(lispFrame6(t, testRLOC6, DataPort, iid7, innerPacket(t, true)), 3), ActRedirect, redirected},
		{"outer ECT(0) over inner Not-ECT", ecn(lispFrame6(t, testRLOC6, DataPort, iid7, innerPacket(t, false)), 2), ActRedirect, redirected},
		{"outer hop limit 0", hops(lispFrame6(t, testRLOC6, DataPort, iid7, innerPacket(t, false)), 0), ActOK, StatDecapTTL},
		{"outer CE", ecn(lispFrame6(t, testRLOC6, DataPort, iid7, innerPacket(t, false)), 3), ActOK, StatDecapECN},
		{"outer CE, inner IPv6", ecn(lispFrame6(t, testRLOC6, DataPort, iid7, innerPacket(t, true)), 3), ActOK, StatDecapECN},
		{"wrong instance-id", lispFrame6(t, testRLOC6, DataPort, iid8, innerPacket(t, false)), ActOK, StatDecapBad},
		{"other UDP port", lispFrame6(t, testRLOC6, 4342, iid7, innerPacket(t, false)), ActOK, StatDecapPass},
		{"not a local RLOC", lispFrame6(t, netip.MustParseAddr("2001:db8:ff::9"), DataPort, iid7, innerPacket(t, false)), ActOK, StatDecapPass},
		{"an IPv4 local RLOC's bytes in an IPv6 address", func() []byte {
			f := lispFrame6(t, testRLOC6, DataPort, iid7, innerPacket(t, false))
			a := netip.MustParseAddr("::ffff:192.0.2.2").As16()
			copy(f[38:54], a[:])
			return f
		}(), ActOK, StatDecapPass},
		{"extension header", extHdr(lispFrame6(t, testRLOC6, DataPort, iid7, innerPacket(t, false))), ActOK, StatDecapPass},
		{"truncated", lispFrame6(t, testRLOC6, DataPort, iid7, innerPacket(t, false))[:80], ActOK, StatDecapPass},
		{"inner IPv6 header cut short", lispFrame6(t, testRLOC6, DataPort, iid7, innerPacket(t, true)[:30]), ActOK, StatDecapPass},
		{"inner neither IPv4 nor IPv6", func() []byte {
			in := innerPacket(t, false)
			in[0] = 0x55
			return lispFrame6(t, testRLOC6, DataPort, iid7, in)
		}(), ActOK, StatDecapNotIP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c40, _ := d.Counters(testRLOC)
			checkTCRun(t, d, tt.frame, testRLOC6, tt.ret, tt.stat, Overhead6, tt.frame[21])
			if c4, _ := d.Counters(testRLOC); c4 != c40 {
				t.Errorf("the IPv4 RLOC's counters moved")
			}
		})
	}
	ss, err := d.Senders(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 1 || ss[0].ITR != testRemote6 || ss[0].LSBs != 1 || !ss[0].HasLSBs {
		t.Errorf("senders %+v, want %v alone with LSBs 1", ss, testRemote6)
	}
	// The IPv4 path is untouched by the IPv6 RLOC: still decapsulated.
	out := make([]byte, 2048)
	if ret, _, err := d.prog.TestRun(lispFrame(t, testRLOCIID, DataPort, iid7, innerPacket(t, false)), out); err != nil || ret != ActRedirect {
		t.Errorf("IPv4 RLOC: verdict %d, %v", ret, err)
	}
	if err := d.DeleteLocal(testRLOC6); err != nil {
		t.Fatal(err)
	}
	if ret, _, err := d.prog.TestRun(lispFrame6(t, testRLOC6, DataPort, iid7, innerPacket(t, false)), out); err != nil || ret != ActOK {
		t.Errorf("after DeleteLocal: verdict %d, %v", ret, err)
	}
}

// TestDecapXDPMarkIPv6RLOC runs the XDP program over frames with an outer
// IPv6 header: a packet it decapsulates comes out behind decapMark6 and
// the 16 bytes of the local RLOC, its Ethernet header moved up with the
// inner family's EtherType, counted once; others go on unchanged. (The
// TC program's side, which a test run cannot hand metadata, is in the e2e
// transfers over veth: TestKernelPathIPv6RLOCs.)
func TestDecapXDPMarkIPv6RLOC(t *testing.T) {
	d := newTestDecap6(t)
	xdp := loadXDP(t, d)
	iid7 := [8]byte{0xc8, 1, 2, 3, 0, 0, 7, 1}
	iid8 := [8]byte{0xc8, 1, 2, 3, 0, 0, 8, 1}
	tests := []struct {
		name  string
		frame []byte
		decap bool
	}{
		{"inner IPv4", lispFrame6(t, testRLOC6, DataPort, iid7, innerPacket(t, false)), true},
		{"inner IPv6", lispFrame6(t, testRLOC6, DataPort, iid7, innerPacket(t, true)), true},
		{"wrong instance-id", lispFrame6(t, testRLOC6, DataPort, iid8, innerPacket(t, false)), false},
		{"not a local RLOC", lispFrame6(t, netip.MustParseAddr("2001:db8:ff::9"), DataPort, iid7, innerPacket(t, false)), false},
		{"control port", lispFrame6(t, testRLOC6, 4342, iid7, innerPacket(t, false)), false},
		{"truncated", lispFrame6(t, testRLOC6, DataPort, iid7, innerPacket(t, false))[:80], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkXDPRun(t, d, xdp, tt.frame, testRLOC6, tt.decap, decapMark6, Overhead6, tt.frame[21])
		})
	}
}
