package fwd

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lispd/lispd/testing/tshark"
)

// validFlagSets lists every combination of N, L, E, V, I that RFC 9300
// allows (E needs N; N excludes V).
func validFlagSets() []HeaderFields {
	var out []HeaderFields
	for bits := 0; bits < 32; bits++ {
		f := HeaderFields{N: bits&1 != 0, L: bits&2 != 0, E: bits&4 != 0, V: bits&8 != 0, I: bits&16 != 0}
		if f.E && !f.N || f.N && f.V {
			continue
		}
		if f.N {
			f.Nonce = 0x100000 + uint32(bits)
		}
		if f.V {
			f.SrcMapVersion, f.DstMapVersion = 0x123, 0xabc
		}
		if f.I {
			f.InstanceID = 1000 + uint32(bits)
		}
		if f.L {
			f.LSBs = 3
		}
		out = append(out, f)
	}
	return out
}

// TestPcapDataHeaders writes one LISP data packet per legal flag
// combination, built by Header.Encode, plus packets from the Encapsulator
// itself, and has tshark judge them: no malformed frame, no expert warning,
// and the fields tshark decodes equal ours.
func TestPcapDataHeaders(t *testing.T) {
	tshark.Require(t)
	sets := validFlagSets()
	if len(sets) != 16 {
		t.Fatalf("%d legal flag sets, want 16", len(sets))
	}
	inner := buildPacket(t, pktSpec{src: "198.51.100.1", dst: "198.51.100.200", proto: protoICMP, ttl: 63, payloadLen: 12})
	var frames [][]byte
	for i, f := range sets {
		payload := lispPacket(f, inner)
		fr, err := tshark.UDPFrame(netip.MustParseAddrPort(fmt.Sprintf("192.0.2.1:%d", SourcePortMin+i)), netip.MustParseAddrPort("192.0.2.2:4341"), payload)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, fr)
	}
	// The encapsulator's own output: IPv4 and IPv6 EIDs over IPv4 and IPv6 RLOCs.
	f := newEncapFixture(t, 1000, nil)
	insert(t, f.cache, MappingSpec{InstanceID: 1000, Prefix: netip.MustParsePrefix("2001:db8:3::/48"), RLOCs: []RLOCSpec{rlocSpec("192.0.2.2", 1, 100)}})
	insert(t, f.cache, MappingSpec{InstanceID: 1000, Prefix: netip.MustParsePrefix("198.51.100.0/26"), RLOCs: []RLOCSpec{rlocSpec("2001:db8:ffff::2", 1, 100)}})
	for _, s := range []pktSpec{
		{src: "198.51.100.100", dst: "198.51.100.200", proto: protoTCP, sport: 1234, dport: 80, payloadLen: 20},
		{src: "2001:db8:1::1", dst: "2001:db8:2::1", proto: protoUDP, sport: 40000, dport: 40001, payloadLen: 20},
		{src: "2001:db8:1::1", dst: "2001:db8:3::1", proto: protoICMPv6},
		{src: "198.51.100.100", dst: "198.51.100.1", proto: protoICMP},
	} {
		v, res, _, _ := f.encapOne(buildPacket(t, s))
		if v != VerdictSend {
			t.Fatalf("%v: verdict %d (%v)", s.dst, v, res.Reason)
		}
		src := netip.MustParseAddr("192.0.2.1")
		if res.Dst.Addr().Is6() {
			src = netip.MustParseAddr("2001:db8:ffff::1")
		}
		fr, err := tshark.UDPFrame(netip.AddrPortFrom(src, SourcePort(res.Hash)), res.Dst, res.Pkt)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, fr)
	}
	path := filepath.Join(t.TempDir(), "data.pcap")
	if err := tshark.WriteFile(path, tshark.LinkTypeEthernet, frames); err != nil {
		t.Fatal(err)
	}
	tshark.Check(t, path)

	rows := tshark.Fields(t, path, "", []string{"frame.protocols", "lisp-data.flags.nonce", "lisp-data.flags.lsb", "lisp-data.flags.enr", "lisp-data.flags.mv", "lisp-data.flags.iid", "lisp-data.nonce", "lisp-data.iid", "lisp-data.srcmapver", "lisp-data.dstmapver"})
	if len(rows) != len(frames) {
		t.Fatalf("tshark read %d frames, wrote %d", len(rows), len(frames))
	}
	for i, f := range sets {
		r := rows[i]
		if !strings.Contains(r[0], "lisp-data:ip:icmp") {
			t.Errorf("frame %d: protocols %s", i+1, r[0])
		}
		bit := func(s string) bool { return s == "1" || s == "True" }
		if bit(r[1]) != f.N || bit(r[2]) != f.L || bit(r[3]) != f.E || bit(r[4]) != f.V || bit(r[5]) != f.I {
			t.Errorf("frame %d: tshark flags %v, ours %+v", i+1, r[1:6], f)
		}
		if f.N && parseNum(r[6]) != f.Nonce || f.I && parseNum(r[7]) != f.InstanceID || f.V && (parseNum(r[8]) != uint32(f.SrcMapVersion) || parseNum(r[9]) != uint32(f.DstMapVersion)) {
			t.Errorf("frame %d: tshark nonce/iid/mapver %v, ours %+v", i+1, r[6:], f)
		}
	}
	for _, r := range rows[len(sets):] {
		if !strings.Contains(r[0], "lisp-data:ip") || r[7] != "1000" {
			t.Errorf("encapsulator frame: protocols %s iid %s", r[0], r[7])
		}
	}
}

func parseNum(s string) uint32 {
	v, err := strconv.ParseUint(s, 0, 32)
	if err != nil {
		return 1<<32 - 1
	}
	return uint32(v)
}

// TestPcapICMPErrors has tshark decode the ICMP errors the data plane
// writes back into the TUN: checksums right, no expert warnings.
func TestPcapICMPErrors(t *testing.T) {
	tshark.Require(t)
	var frames [][]byte
	for _, c := range []struct {
		s    pktSpec
		kind ICMPKind
		mtu  int
	}{
		{pktSpec{src: "198.51.100.1", dst: "198.51.100.200", proto: protoUDP, df: true, sport: 5, dport: 6, payloadLen: 1400}, ICMPTooBig, 1364},
		{pktSpec{src: "198.51.100.1", dst: "198.51.100.200", proto: protoTCP, sport: 5, dport: 6}, ICMPHostUnreachable, 0},
		{pktSpec{src: "198.51.100.1", dst: "198.51.100.200", proto: protoICMP}, ICMPAdminProhibited, 0},
		{pktSpec{src: "2001:db8:1::1", dst: "2001:db8:2::1", proto: protoUDP, sport: 5, dport: 6, payloadLen: 1400}, ICMPTooBig, 1344},
		{pktSpec{src: "2001:db8:1::1", dst: "2001:db8:2::1", proto: protoTCP, sport: 5, dport: 6}, ICMPHostUnreachable, 0},
		{pktSpec{src: "2001:db8:1::1", dst: "2001:db8:2::1", proto: protoICMPv6}, ICMPAdminProhibited, 0},
	} {
		orig := buildPacket(t, c.s)
		var p Packet
		if err := ParsePacket(orig, &p); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, ICMPBufLen)
		n := BuildICMPError(buf, orig, &p, c.kind, c.mtu, netip.Addr{})
		if n == 0 {
			t.Fatalf("no ICMP error for %+v", c.s)
		}
		frames = append(frames, tshark.EthernetFrame(buf[:n]))
	}
	path := filepath.Join(t.TempDir(), "icmp.pcap")
	if err := tshark.WriteFile(path, tshark.LinkTypeEthernet, frames); err != nil {
		t.Fatal(err)
	}
	tshark.Check(t, path)
	rows := tshark.Fields(t, path, "", []string{"icmp.type", "icmp.code", "icmp.mtu", "icmpv6.type", "icmpv6.code", "icmpv6.mtu", "icmp.checksum.status", "icmpv6.checksum.status"})
	want := [][2]string{{"3", "4"}, {"3", "1"}, {"3", "13"}, {"2", "0"}, {"1", "3"}, {"1", "1"}}
	for i, r := range rows {
		for j := range r { // the first occurrence: the error, not the quoted packet
			r[j], _, _ = strings.Cut(r[j], ";")
		}
		typ, code := r[0], r[1]
		if i >= 3 {
			typ, code = r[3], r[4]
		}
		if typ != want[i][0] || !strings.HasPrefix(code, want[i][1]) {
			t.Errorf("frame %d: type/code %s/%s, want %v (%v)", i+1, typ, code, want[i], r)
		}
		if i == 0 && r[2] != "1364" || i == 3 && r[5] != "1344" {
			t.Errorf("frame %d: MTU %v", i+1, r)
		}
		if r[6] != "1" && r[7] != "1" { // 1 = good
			t.Errorf("frame %d: checksum status %q %q", i+1, r[6], r[7])
		}
	}
}
