package kpath

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lispd/lispd/testing/tshark"
)

// Test runs of the encapsulating program with IPv6 RLOCs (outer IPv6); the
// test run's artefacts are those described in encap_linux_test.go.

var (
	enc6Src   = netip.MustParseAddr("2001:db8:ff::1")
	enc6RLOCs = []netip.Addr{netip.MustParseAddr("2001:db8:ff::2"), netip.MustParseAddr("2001:db8:ff::3")}
)

// oneLocal6 is the IPv6 locals table of a site with one uplink: enc6Src,
// sent from ifindex 1.
var oneLocal6 = EncapLocals{Locals: [MaxEncapLocals]EncapLocal{{Src: enc6Src, IfIndex: 1}}}

// entry6 returns an entry over the first n of enc6RLOCs, flows shared
// alternately.
func entry6(n int) EncapEntry {
	e := EncapEntry{Dst: enc6RLOCs[0], MTU: 1500, Flags: 0xc8, InstanceID: 0x123456, LSBs: 3}
	for i := 1; i < n; i++ {
		e.Alt[i-1] = EncapRLOC{Dst: enc6RLOCs[i], MTU: 1500}
	}
	for i := range e.Slots {
		e.Slots[i] = uint8(i % n)
	}
	return e
}

// wantOuter6 returns the Ethernet header (zero addresses) and outer IPv6,
// UDP and LISP headers the program must write in front of inner from the
// local RLOC src toward RLOC dst of ent, for the flow hash hash, but for
// the LISP nonce (bytes 63-65), which is random.
func wantOuter6(ent EncapEntry, src, dst netip.Addr, inner []byte, hash uint32) []byte {
	b := make([]byte, 14+Overhead6)
	binary.BigEndian.PutUint16(b[12:], 0x86dd)
	tc, hops := inner[1], inner[8]
	if inner[0]>>4 == 6 {
		tc, hops = inner[0]<<4|inner[1]>>4, inner[7]
	}
	ip := b[14:]
	binary.BigEndian.PutUint32(ip, 6<<28|uint32(tc)<<20|hash>>12&0xfffff)
	binary.BigEndian.PutUint16(ip[4:], uint16(8+8+len(inner)))
	ip[6], ip[7] = 17, hops
	copy(ip[8:], src.AsSlice())
	copy(ip[24:], dst.AsSlice())
	udp := ip[40:]
	binary.BigEndian.PutUint16(udp, uint16(hash>>7&0x3fff|sourcePortMin))
	binary.BigEndian.PutUint16(udp[2:], DataPort)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+8+len(inner)))
	lisp := udp[8:]
	lisp[0] = ent.Flags
	binary.BigEndian.PutUint32(lisp[4:], ent.InstanceID<<8|ent.LSBs&0xff)
	return b
}

// tcpPacket returns an IPv4 (or IPv6) TCP segment between EIDs with n
// bytes of payload (checksums zero: the program does not look at them).
func tcpPacket(v6 bool, n int) []byte {
	var p []byte
	if v6 {
		p = make([]byte, 40+20+n)
		p[0] = 0x60
		binary.BigEndian.PutUint16(p[4:], uint16(20+n))
		p[6], p[7] = 6, 64
		copy(p[8:], netip.MustParseAddr("2001:db8:86dd::1").AsSlice())
		copy(p[24:], netip.MustParseAddr("2001:db8:2::10").AsSlice())
	} else {
		p = make([]byte, 20+20+n)
		p[0], p[1] = 0x45, 0x02
		binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
		p[8], p[9] = 64, 6
		copy(p[12:], []byte{8, 0, 0, 1})
		copy(p[16:], []byte{198, 51, 100, 138})
	}
	t := p[len(p)-20-n:]
	binary.BigEndian.PutUint16(t, 40000)
	binary.BigEndian.PutUint16(t[2:], 5201)
	t[12] = 5 << 4
	t[13] = 0x10 // ACK
	return p
}

// TestEncapIPv6RLOCs runs the encapsulating program over packets toward
// mappings with IPv6 RLOCs: the outer IPv6 header byte for byte (flow
// label and source port from the flow hash the test sets, traffic class
// and hop limit the inner packet's, zero UDP checksum), the RLOC the slot
// names, the per-RLOC counters, and the packets left to the TUN because
// they would not fit with the 56 bytes of outer headers (where 36 would
// have). The frames decode in
// tshark as LISP data without errors.
func TestEncapIPv6RLOCs(t *testing.T) {
	ent := entry6(2)
	e := newTestEncap(t, ent, oneLocal6)
	setter := hashSetter(t, e.prog)
	var frames [][]byte
	var want [MaxEncapRLOCs]Counters
	run := func(name string, inner []byte, hash uint32) {
		t.Helper()
		out := make([]byte, 4096)
		ret, n, _, err := testRunMark(setter, inner, out, hash)
		if err != nil {
			t.Fatal(err)
		}
		if ret != ActRedirect {
			t.Fatalf("%s: verdict %d, want %d (redirect)", name, ret, ActRedirect)
		}
		out = out[:n]
		r := int(ent.Slots[hash&(EncapSlots-1)])
		dst, _ := ent.RLOC(r)
		w := wantOuter6(ent, enc6Src, dst, inner, hash)
		if len(out) != len(w)+len(inner) {
			t.Fatalf("%s: output of %d bytes for an inner packet of %d", name, len(out), len(inner))
		}
		got := bytes.Clone(out[:len(w)])
		got[63], got[64], got[65] = 0, 0, 0 // the nonce
		if !bytes.Equal(got, w) {
			t.Errorf("%s: outer headers\ngot  % x\nwant % x", name, got, w)
		}
		if string(out[len(w):len(w)+14]) != string(make([]byte, 14)) || string(out[len(w)+14:]) != string(inner[14:]) {
			t.Errorf("%s: inner packet\ngot  % x\nwant 14 zeros then % x", name, out[len(w):], inner[14:])
		}
		// The frame as it would leave: the inner packet whole.
		frames = append(frames, append(bytes.Clone(out[:len(w)]), inner...))
		want[r].Packets++
		want[r].Bytes += uint64(len(inner))
	}
	for _, v6 := range []bool{false, true} {
		for s := range uint32(8) {
			inner := encapFlow(t, v6, int(s))
			if v6 {
				inner[0], inner[1] = 0x6b, 0x80 // traffic class 0xb8
			} else {
				inner[1] = 0xb8
				inner[10], inner[11] = 0, 0
				binary.BigEndian.PutUint16(inner[10:], tshark.Checksum(inner[:20], 0))
			}
			run("plain", inner, s*0x9e3779b9&^63|s)
		}
	}
	for i := range MaxEncapRLOCs {
		c4, err := e.RLOCCounters(encEID4)
		if err != nil {
			t.Fatal(err)
		}
		c6, err := e.RLOCCounters(encEID6)
		if err != nil {
			t.Fatal(err)
		}
		if got := (Counters{c4[i].Packets + c6[i].Packets, c4[i].Bytes + c6[i].Bytes}); got != want[i] {
			t.Errorf("RLOC %d counted %+v, want %+v", i, got, want[i])
		}
	}
	if want[0].Packets == 0 || want[1].Packets == 0 {
		t.Errorf("the flows went to one RLOC only: %+v", want)
	}
	st0, err := e.Stats()
	if err != nil {
		t.Fatal(err)
	}
	// Too big with IPv6 RLOCs, small enough with IPv4 ones: to the TUN.
	// (A GSO packet's segments are checked alike, but a test run cannot
	// make one that bpf_skb_adjust_room takes: its skb has no gso_type.
	// The e2e transfers cover them, TestKernelPathIPv6RLOCs.)
	for _, v6 := range []bool{false, true} {
		l3 := 20
		if v6 {
			l3 = 40
		}
		inner := tcpPacket(v6, 1500-Overhead6+1-l3-20)
		if len(inner)+Overhead4 > 1500 || len(inner)+Overhead6 != 1501 {
			t.Fatalf("test packet of %d bytes", len(inner))
		}
		out := make([]byte, 4096)
		ret, n, _, err := testRunMark(setter, inner, out, 1)
		if err != nil {
			t.Fatal(err)
		}
		if ret != ActOK || !bytes.Equal(out[:n], inner) {
			t.Errorf("v6=%v: one byte too big: verdict %d, %d bytes out; want the packet to the TUN unchanged", v6, ret, n)
		}
	}
	st1, err := e.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if d := st1[StatEncapSkip] - st0[StatEncapSkip]; d != 2 {
		t.Errorf("%d packets counted as skipped, want 2", d)
	}

	tshark.Require(t)
	pcap := filepath.Join(t.TempDir(), "encap6.pcap")
	if err := tshark.WriteFile(pcap, tshark.LinkTypeEthernet, frames); err != nil {
		t.Fatal(err)
	}
	args := []string{"-o", "udp.ignore_ipv6_zero_checksum:TRUE", "-d", "tcp.port==1-65535,data"}
	tshark.CheckWith(t, pcap, tshark.Options{ExtraArgs: args})
	rows := tshark.Fields(t, pcap, "", []string{"frame.protocols", "ipv6.src", "udp.dstport", "udp.checksum", "lisp-data.iid"}, args...)
	if len(rows) != len(frames) {
		t.Fatalf("tshark decoded %d frames of %d", len(rows), len(frames))
	}
	for _, r := range rows {
		// The outer header's fields first (an inner IPv6 or UDP header
		// adds its own after a ';').
		outer := func(i int) string { return strings.Split(r[i], ";")[0] }
		if !strings.HasPrefix(r[0], "eth:ethertype:ipv6:udp:lisp-data:ip") || outer(1) != enc6Src.String() ||
			outer(2) != "4341" || outer(3) != "0x0000" || r[4] != "1193046" {
			t.Errorf("tshark: %q", r)
		}
	}
}

// localsOf6 returns an IPv6 locals table over n local RLOCs
// 2001:db8:ff::11... on ifindex 11..., with the slots shared out as
// slot(i) says.
func localsOf6(n int, slot func(i int) uint8) EncapLocals {
	l := localsOf(n, slot)
	for i := range n {
		a := enc6Src.As16()
		a[15] = byte(0x11 + i)
		l.Locals[i].Src = netip.AddrFrom16(a)
	}
	return l
}

// TestEncapIPv6LocalSharing checks that an entry with IPv6 RLOCs takes its
// outer source and interface from the IPv6 locals table, never from the
// IPv4 one (set here to other locals and other slots): two IPv6 local
// RLOCs share the flows (the kernel's flow hash) about half and half, each
// packet leaves by the interface of its outer source, a flow keeps its
// local RLOC; with the hash set, slot hash>>26 of the table names the
// local, and the outer headers are those from it byte for byte; an uplink
// failure is one table write that moves its flows to the other; the
// emptied table sends every packet to the TUN.
func TestEncapIPv6LocalSharing(t *testing.T) {
	ent := entry6(2)
	locs := localsOf6(2, func(i int) uint8 { return uint8(i % 2) })
	e := newTestEncap(t, ent, locs)
	if err := e.SetLocals(localsOf(3, func(i int) uint8 { return 2 })); err != nil {
		t.Fatal(err)
	}
	rec := recordingEncap(t, e)
	setter := hashSetter(t, rec)
	// run test-runs p over inner with mark (the hash for setter) and
	// returns the local RLOC the packet came from (by its outer source,
	// checked against the redirect's ifindex) and the frame.
	run := func(p *Program, locs EncapLocals, inner []byte, mark uint32) (int, []byte) {
		t.Helper()
		out := make([]byte, 2048)
		ret, n, ifindex, err := testRunMark(p, inner, out, mark)
		if err != nil {
			t.Fatal(err)
		}
		if ret != ActRedirect || n != 14+Overhead6+len(inner) || binary.BigEndian.Uint16(out[12:]) != 0x86dd {
			t.Fatalf("verdict %d, %d bytes out for an inner packet of %d; want it encapsulated in IPv6 and redirected", ret, n, len(inner))
		}
		src := netip.AddrFrom16([16]byte(out[14+8 : 14+24]))
		l := -1
		for i, x := range locs.Locals {
			if x.IfIndex > 0 && x.Src == src {
				l = i
			}
		}
		if l < 0 {
			t.Fatalf("outer source %v is none of the IPv6 local RLOCs %v", src, locs.Locals)
		}
		if ifindex != uint32(locs.Locals[l].IfIndex) {
			t.Fatalf("outer source %v (local %d) redirected to ifindex %d, want %d", src, l, ifindex, locs.Locals[l].IfIndex)
		}
		return l, out[:n]
	}

	const flows = 1024
	var nflows [MaxEncapLocals]int
	for i := range flows {
		inner := encapFlow(t, true, i)
		l, _ := run(rec, locs, inner, 0)
		nflows[l]++
		if i%64 == 0 { // a flow stays where it is
			for range 8 {
				if l2, _ := run(rec, locs, inner, 0); l2 != l {
					t.Fatalf("flow %d left from local %d, then from %d", i, l, l2)
				}
			}
		}
	}
	t.Logf("flows per IPv6 local RLOC: %v", nflows)
	for i := range 2 {
		if got := float64(nflows[i]) / flows; got < 0.4 || got > 0.6 {
			t.Errorf("IPv6 local RLOC %d took %.3f of the flows, want 0.40..0.60", i, got)
		}
	}

	for _, v6 := range []bool{false, true} {
		for s := range EncapSlots {
			hash := uint32(s)<<encapLocalHash | uint32(s)*0x9e3779b9&(1<<encapLocalHash-1)
			inner := encapFlow(t, v6, s)
			l, out := run(setter, locs, inner, hash)
			if want := int(locs.Slots[s]); l != want {
				t.Errorf("v6=%v hash %#x: local RLOC %d, the table says %d", v6, hash, l, want)
			}
			dst, _ := ent.RLOC(int(ent.Slots[hash&(EncapSlots-1)]))
			w := wantOuter6(ent, locs.Locals[l].Src, dst, inner, hash)
			got := bytes.Clone(out[:len(w)])
			got[63], got[64], got[65] = 0, 0, 0 // the nonce
			if !bytes.Equal(got, w) {
				t.Errorf("v6=%v hash %#x: outer headers\ngot  % x\nwant % x", v6, hash, got, w)
			}
		}
	}

	// The uplink of local 0 fails: its slots go to local 1, at once.
	moved := locs
	moved.Locals[0] = EncapLocal{}
	moved.Slots = [EncapSlots]uint8{}
	for i := range moved.Slots {
		moved.Slots[i] = 1
	}
	if err := e.SetLocals6(moved); err != nil {
		t.Fatal(err)
	}
	for s := range EncapSlots {
		if l, _ := run(setter, moved, encapFlow(t, true, s), uint32(s)<<encapLocalHash); l != 1 {
			t.Errorf("slot %d: local RLOC %d after local 0 went, want 1", s, l)
		}
	}
	// No IPv6 local RLOC (the IPv4 table still set): everything to the TUN.
	if err := e.SetLocals6(EncapLocals{}); err != nil {
		t.Fatal(err)
	}
	for s := range EncapSlots {
		inner := encapFlow(t, s%2 == 0, s)
		out := make([]byte, 2048)
		ret, n, _, err := testRunMark(setter, inner, out, uint32(s)<<encapLocalHash)
		if err != nil {
			t.Fatal(err)
		}
		if ret != ActOK || !bytes.Equal(out[:n], inner) {
			t.Fatalf("slot %d: with no IPv6 local RLOC: verdict %d, %d bytes out; want the packet to the TUN unchanged", s, ret, n)
		}
	}
}
