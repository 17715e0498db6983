package kpath

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/lispd/lispd/testing/tshark"
)

var (
	testRLOC    = netip.MustParseAddr("192.0.2.2")
	testRLOCIID = netip.MustParseAddr("192.0.2.3") // a local RLOC that checks the instance-id
	testRemote  = netip.MustParseAddr("192.0.2.1")
)

// lispFrame returns an Ethernet frame: outer IPv4/UDP from 192.0.2.1 to
// dst:port, the 8-byte LISP header hdr, then inner.
func lispFrame(t *testing.T, dst netip.Addr, port uint16, hdr [8]byte, inner []byte) []byte {
	t.Helper()
	f, err := tshark.UDPFrame(netip.AddrPortFrom(testRemote, 50000), netip.AddrPortFrom(dst, port), append(hdr[:], inner...))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// innerPacket returns a small IPv4 (or IPv6) UDP packet between EIDs.
func innerPacket(t *testing.T, v6 bool) []byte {
	t.Helper()
	src, dst := netip.MustParseAddrPort("198.51.100.10:1000"), netip.MustParseAddrPort("198.51.100.138:2000")
	if v6 {
		src, dst = netip.MustParseAddrPort("[2001:db8:1::10]:1000"), netip.MustParseAddrPort("[2001:db8:2::10]:2000")
	}
	p, err := tshark.UDPPacket(src, dst, []byte("inner payload 0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fixIPCsum recomputes the outer IPv4 header checksum of an Ethernet frame.
func fixIPCsum(f []byte) {
	f[24], f[25] = 0, 0
	binary.BigEndian.PutUint16(f[24:], tshark.Checksum(f[14:14+int(f[14]&0x0f)*4], 0))
}

// wantInnerTTL sets the TTL (hop limit) of the inner packet p to
// min(its own, outer) as the userspace ETR does, recomputing an IPv4 header
// checksum.
func wantInnerTTL(p []byte, outer byte) {
	if p[0]>>4 == 6 {
		p[7] = min(p[7], outer)
		return
	}
	p[8] = min(p[8], outer)
	p[10], p[11] = 0, 0
	binary.BigEndian.PutUint16(p[10:], tshark.Checksum(p[:20], 0))
}

// newTestDecap returns a Decap with testRLOC (instance-id 0) and
// testRLOCIID (instance-id 7) local, the site's EID prefixes
// 198.51.100.128/25 and 2001:db8:2::/48; it is closed when the test ends.
func newTestDecap(t *testing.T) *Decap {
	t.Helper()
	needBPF(t)
	d, err := NewDecap(4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.SetLocal(testRLOC, DecapEntry{TUNIfIndex: 1}); err != nil {
		t.Fatal(err)
	}
	if err := d.SetLocal(testRLOCIID, DecapEntry{TUNIfIndex: 1, InstanceID: 7}); err != nil {
		t.Fatal(err)
	}
	if err := d.SetLocalEIDs([]netip.Prefix{netip.MustParsePrefix("198.51.100.128/25"), netip.MustParsePrefix("2001:db8:2::/48")}); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDecapVerdicts runs the decapsulating program over crafted frames
// (BPF_PROG_TEST_RUN) and checks its verdict, the packet it leaves and the
// counter it moves.
func TestDecapVerdicts(t *testing.T) {
	d := newTestDecap(t)
	// The inner packets go to 198.51.100.138 and 2001:db8:2::10; another
	// set and back, so that SetLocalEIDs's deletions are exercised too.
	if err := d.SetLocalEIDs([]netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8::/32")}); err != nil {
		t.Fatal(err)
	}
	if err := d.SetLocalEIDs([]netip.Prefix{netip.MustParsePrefix("198.51.100.128/25"), netip.MustParsePrefix("2001:db8:2::/48")}); err != nil {
		t.Fatal(err)
	}
	inner := innerPacket(t, false)
	// withOuter sets the outer TTL and TOS of a frame.
	withOuter := func(f []byte, ttl, tos byte) []byte {
		f[22], f[15] = ttl, tos
		fixIPCsum(f)
		return f
	}
	// withInner sets the inner TTL (hop limit) and ECN of a frame's inner
	// packet, keeping an IPv4 header checksum right.
	withInner := func(f []byte, ttl, ecn byte) []byte {
		in := f[14+Overhead4:]
		if in[0]>>4 == 6 {
			in[7] = ttl
			in[1] = in[1]&^0x30 | ecn<<4
			return f
		}
		in[8] = ttl
		in[1] = in[1]&^3 | ecn
		in[10], in[11] = 0, 0
		binary.BigEndian.PutUint16(in[10:], tshark.Checksum(in[:20], 0))
		return f
	}
	foreign4, err := tshark.UDPPacket(netip.MustParseAddrPort("198.51.100.138:1000"), netip.MustParseAddrPort("198.51.100.10:2000"), []byte("to a host that is not ours....."))
	if err != nil {
		t.Fatal(err)
	}
	foreign6, err := tshark.UDPPacket(netip.MustParseAddrPort("[2001:db8:2::10]:1000"), netip.MustParseAddrPort("[2001:db8:3::10]:2000"), []byte("to a host that is not ours"))
	if err != nil {
		t.Fatal(err)
	}
	// 29 bytes: decapsulated in the kernel like any other packet (a
	// daemon could not finish a checksum a kernel ITR left partial).
	small4, err := tshark.UDPPacket(netip.MustParseAddrPort("198.51.100.10:1000"), netip.MustParseAddrPort("198.51.100.138:2000"), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	nl := [8]byte{0xc0, 1, 2, 3, 0, 0, 0, 1}   // N, L, nonce, LSBs
	iid7 := [8]byte{0xc8, 1, 2, 3, 0, 0, 7, 1} // N, L, I, iid 7
	iid8 := [8]byte{0xc8, 1, 2, 3, 0, 0, 8, 1} // iid 8
	iid0 := [8]byte{0xc8, 1, 2, 3, 0, 0, 0, 1} // I bit, iid 0
	tests := []struct {
		name  string
		frame func() []byte
		ret   uint32
		stat  int // the counter that moves; redirected: the entry's
	}{
		{"LISP data to a local RLOC", func() []byte { return lispFrame(t, testRLOC, DataPort, nl, inner) }, ActRedirect, redirected},
		{"instance-id as required", func() []byte { return lispFrame(t, testRLOCIID, DataPort, iid7, inner) }, ActRedirect, redirected},
		{"instance-id 8 where 0 is configured", func() []byte { return lispFrame(t, testRLOC, DataPort, iid8, inner) }, ActOK, StatDecapBad},
		{"I bit with instance-id 0 where 0 is configured", func() []byte { return lispFrame(t, testRLOC, DataPort, iid0, inner) }, ActRedirect, redirected},
		{"wrong instance-id", func() []byte { return lispFrame(t, testRLOCIID, DataPort, iid8, inner) }, ActOK, StatDecapBad},
		{"no instance-id where required", func() []byte { return lispFrame(t, testRLOCIID, DataPort, nl, inner) }, ActOK, StatDecapBad},
		{"N and V", func() []byte { return lispFrame(t, testRLOC, DataPort, [8]byte{0x90}, inner) }, ActOK, StatDecapBad},
		{"E without N", func() []byte { return lispFrame(t, testRLOC, DataPort, [8]byte{0x20}, inner) }, ActOK, StatDecapBad},
		{"other UDP port", func() []byte { return lispFrame(t, testRLOC, 4342, nl, inner) }, ActOK, StatDecapPass},
		{"not a local RLOC", func() []byte { return lispFrame(t, netip.MustParseAddr("192.0.2.9"), DataPort, nl, inner) }, ActOK, StatDecapPass},
		{"bad outer header checksum", func() []byte {
			f := lispFrame(t, testRLOC, DataPort, nl, inner)
			f[24] ^= 0xff
			return f
		}, ActOK, StatDecapBad},
		{"outer fragment", func() []byte {
			f := lispFrame(t, testRLOC, DataPort, nl, inner)
			f[20] |= 0x20 // MF
			fixIPCsum(f)
			return f
		}, ActOK, StatDecapPass},
		{"outer IP options", func() []byte {
			f := lispFrame(t, testRLOC, DataPort, nl, inner)
			// Insert a 4-byte NOP option word after the outer header.
			g := append(append(append([]byte(nil), f[:34]...), 1, 1, 1, 1), f[34:]...)
			g[14] = 0x46
			binary.BigEndian.PutUint16(g[16:], binary.BigEndian.Uint16(g[16:])+4)
			fixIPCsum(g)
			return g
		}, ActOK, StatDecapPass},
		{"inner IPv6", func() []byte { return lispFrame(t, testRLOC, DataPort, nl, innerPacket(t, true)) }, ActRedirect, redirected},
		{"inner neither IPv4 nor IPv6", func() []byte {
			in := innerPacket(t, false)
			in[0] = 0x55
			return lispFrame(t, testRLOC, DataPort, nl, in)
		}, ActOK, StatDecapNotIP},
		{"truncated", func() []byte { return lispFrame(t, testRLOC, DataPort, nl, inner)[:60] }, ActOK, StatDecapPass},
		{"small inner IPv4 datagram", func() []byte { return lispFrame(t, testRLOC, DataPort, nl, small4) }, ActRedirect, redirected},
		{"inner IPv6 header cut short", func() []byte { return lispFrame(t, testRLOC, DataPort, nl, innerPacket(t, true)[:30]) }, ActOK, StatDecapPass},
		{"inner IPv4 to a foreign EID", func() []byte { return lispFrame(t, testRLOC, DataPort, nl, foreign4) }, ActOK, StatDecapForeign},
		{"inner IPv6 to a foreign EID", func() []byte { return lispFrame(t, testRLOC, DataPort, nl, foreign6) }, ActOK, StatDecapForeign},
		{"outer TTL below the inner one", func() []byte { return withOuter(lispFrame(t, testRLOC, DataPort, nl, inner), 9, 0) }, ActRedirect, redirected},
		{"outer TTL 1", func() []byte { return withOuter(lispFrame(t, testRLOC, DataPort, nl, inner), 1, 0) }, ActRedirect, redirected},
		{"outer TTL above the inner one", func() []byte {
			return withInner(withOuter(lispFrame(t, testRLOC, DataPort, nl, inner), 200, 0), 7, 0)
		}, ActRedirect, redirected},
		{"outer hop limit below the inner one", func() []byte {
			return withOuter(lispFrame(t, testRLOC, DataPort, nl, innerPacket(t, true)), 3, 0)
		}, ActRedirect, redirected},
		{"outer TTL 0", func() []byte { return withOuter(lispFrame(t, testRLOC, DataPort, nl, inner), 0, 0) }, ActOK, StatDecapTTL},
		{"inner TTL 0", func() []byte { return withInner(lispFrame(t, testRLOC, DataPort, nl, inner), 0, 0) }, ActOK, StatDecapTTL},
		{"inner hop limit 0", func() []byte { return withInner(lispFrame(t, testRLOC, DataPort, nl, innerPacket(t, true)), 0, 0) }, ActOK, StatDecapTTL},
		{"outer CE", func() []byte { return withOuter(lispFrame(t, testRLOC, DataPort, nl, inner), 64, 3) }, ActOK, StatDecapECN},
		{"outer CE, inner IPv6", func() []byte {
			return withOuter(lispFrame(t, testRLOC, DataPort, nl, innerPacket(t, true)), 64, 0xb8|3)
		}, ActOK, StatDecapECN},
		{"outer ECT(1) over inner ECT(0)", func() []byte {
			return withInner(withOuter(lispFrame(t, testRLOC, DataPort, nl, inner), 64, 1), 64, 2)
		}, ActOK, StatDecapECN},
		{"outer ECT(1) over inner IPv6 ECT(0)", func() []byte {
			return withInner(withOuter(lispFrame(t, testRLOC, DataPort, nl, innerPacket(t, true)), 64, 1), 64, 2)
		}, ActOK, StatDecapECN},
		{"outer ECT(0) over inner ECT(1): inner stays", func() []byte {
			return withInner(withOuter(lispFrame(t, testRLOC, DataPort, nl, inner), 64, 2), 64, 1)
		}, ActRedirect, redirected},
		{"outer ECT(0) over inner CE: inner stays", func() []byte {
			return withInner(withOuter(lispFrame(t, testRLOC, DataPort, nl, innerPacket(t, true)), 64, 2), 64, 3)
		}, ActRedirect, redirected},
		{"ARP", func() []byte {
			f := lispFrame(t, testRLOC, DataPort, nl, inner)
			f[12], f[13] = 0x08, 0x06
			return f
		}, ActOK, StatDecapPass},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.frame()
			local := testRLOC
			if bytes.Equal(in[30:34], testRLOCIID.AsSlice()) {
				local = testRLOCIID
			}
			checkTCRun(t, d, in, local, tt.ret, tt.stat, Overhead4, in[22])
		})
	}
}

// redirected is the stat checkTCRun expects for a packet decapsulated (no
// per-reason stat counts it: its local RLOC's entry does).
const redirected = -1

// checkTCRun test-runs d's TC decapsulating program over the frame in to
// the local RLOC local (outer IPv4 or IPv6: overhead) and checks the
// verdict ret and what it did: with stat redirected, no per-reason stat
// moved, the packet counted once on local's entry, the outer headers gone
// behind the Ethernet header and the inner TTL lowered to outerTTL where
// that is less; otherwise the stat slot stat alone counted one, local's
// entry unchanged and the frame as it was.
func checkTCRun(t *testing.T, d *Decap, in []byte, local netip.Addr, ret uint32, stat int, overhead int, outerTTL byte) {
	t.Helper()
	s0, err := d.Stats()
	if err != nil {
		t.Fatal(err)
	}
	c0, _ := d.Counters(local)
	out := make([]byte, 2048)
	got, n, err := d.prog.TestRun(in, out)
	if err != nil {
		t.Fatal(err)
	}
	if got != ret {
		t.Fatalf("verdict %d, want %d", got, ret)
	}
	s1, err := d.Stats()
	if err != nil {
		t.Fatal(err)
	}
	c1, _ := d.Counters(local)
	if stat == redirected {
		if s1 != s0 {
			t.Errorf("stats moved: %v → %v", s0, s1)
		}
		if c1.Packets != c0.Packets+1 || c1.Bytes != c0.Bytes+uint64(len(in)-14-overhead) {
			t.Errorf("entry counters %+v → %+v, want one more packet of %d bytes", c0, c1, len(in)-14-overhead)
		}
		// The Ethernet header stays, the outer headers are gone, the
		// inner TTL is min(inner, outer) (the IPv4 checksum recomputed
		// here from scratch).
		want := append(append([]byte(nil), in[:14]...), in[14+overhead:]...)
		wantInnerTTL(want[14:], outerTTL)
		if !bytes.Equal(out[:n], want) {
			t.Errorf("packet after the run:\n% x\nwant\n% x", out[:n], want)
		}
		return
	}
	for i := range s1 {
		want := s0[i]
		if i == stat {
			want++
		}
		if s1[i] != want {
			t.Errorf("stat %d: %d → %d, want %d", i, s0[i], s1[i], want)
		}
	}
	if c1 != c0 {
		t.Errorf("entry counters moved: %+v → %+v", c0, c1)
	}
	if !bytes.Equal(out[:n], in) {
		t.Errorf("packet changed on a pass")
	}
}
