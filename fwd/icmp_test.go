package fwd

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

func TestBuildICMPError(t *testing.T) {
	tests := []struct {
		name     string
		pkt      pktSpec
		kind     ICMPKind
		mtu      int
		src      string
		wantLen  int // 0 = no error may be sent
		typ, cod uint8
		from     string
	}{
		{name: "v4 frag needed", pkt: pktSpec{src: "198.51.100.1", dst: "198.51.100.200", proto: protoUDP, df: true, payloadLen: 1400}, kind: ICMPTooBig, mtu: 1364, wantLen: 576, typ: 3, cod: 4, from: "198.51.100.200"},
		{name: "v4 from configured source", pkt: pktSpec{src: "198.51.100.1", dst: "198.51.100.200", proto: protoUDP, payloadLen: 10}, kind: ICMPHostUnreachable, src: "192.0.2.1", wantLen: 28 + 20 + 8 + 10, typ: 3, cod: 1, from: "192.0.2.1"},
		{name: "v4 source of the other family ignored", pkt: pktSpec{src: "198.51.100.1", dst: "198.51.100.200", proto: protoUDP}, kind: ICMPAdminProhibited, src: "2001:db8::1", wantLen: 28 + 28, typ: 3, cod: 13, from: "198.51.100.200"},
		{name: "v6 packet too big", pkt: pktSpec{src: "2001:db8:1::1", dst: "2001:db8:2::1", proto: protoTCP, payloadLen: 1500}, kind: ICMPTooBig, mtu: 1344, wantLen: 1280, typ: 2, cod: 0, from: "2001:db8:2::1"},
		{name: "v6 unreachable", pkt: pktSpec{src: "2001:db8:1::1", dst: "2001:db8:2::1", proto: protoUDP}, kind: ICMPHostUnreachable, wantLen: 48 + 48, typ: 1, cod: 3, from: "2001:db8:2::1"},
		{name: "v6 admin", pkt: pktSpec{src: "2001:db8:1::1", dst: "2001:db8:2::1", proto: protoUDP}, kind: ICMPAdminProhibited, src: "2001:db8::99", wantLen: 48 + 48, typ: 1, cod: 1, from: "2001:db8::99"},
		{name: "not about an ICMP error", pkt: pktSpec{src: "198.51.100.1", dst: "198.51.100.200", proto: protoICMP, icmpType: 11}, kind: ICMPHostUnreachable},
		{name: "about an echo", pkt: pktSpec{src: "198.51.100.1", dst: "198.51.100.200", proto: protoICMP}, kind: ICMPHostUnreachable, wantLen: 28 + 28, typ: 3, cod: 1, from: "198.51.100.200"},
		{name: "not about an ICMPv6 error", pkt: pktSpec{src: "2001:db8:1::1", dst: "2001:db8:2::1", proto: protoICMPv6, icmpType: 1}, kind: ICMPTooBig},
		{name: "not to a multicast source", pkt: pktSpec{src: "224.0.0.1", dst: "198.51.100.200", proto: protoUDP}, kind: ICMPHostUnreachable},
		{name: "not to unspecified", pkt: pktSpec{src: "::", dst: "2001:db8:2::1", proto: protoUDP}, kind: ICMPHostUnreachable},
		{name: "not about a later fragment", pkt: pktSpec{src: "198.51.100.1", dst: "198.51.100.200", proto: protoUDP, frag: 100}, kind: ICMPTooBig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := buildPacket(t, tt.pkt)
			var p Packet
			if err := ParsePacket(orig, &p); err != nil {
				t.Fatal(err)
			}
			var src netip.Addr
			if tt.src != "" {
				src = netip.MustParseAddr(tt.src)
			}
			buf := make([]byte, ICMPBufLen)
			n := BuildICMPError(buf, orig, &p, tt.kind, tt.mtu, src)
			if n != tt.wantLen {
				t.Fatalf("length %d, want %d", n, tt.wantLen)
			}
			if n == 0 {
				return
			}
			b := buf[:n]
			var rp Packet
			if err := ParsePacket(b, &rp); err != nil {
				t.Fatal(err)
			}
			if rp.Len != n || rp.Src.String() != tt.from || rp.Dst != p.Src || rp.TTL != 64 {
				t.Fatalf("reply %v -> %v len %d ttl %d", rp.Src, rp.Dst, rp.Len, rp.TTL)
			}
			if !ipChecksumOK(b) || !l4ChecksumOK(b) {
				t.Fatal("checksum wrong")
			}
			ic := b[rp.HdrLen:]
			if ic[0] != tt.typ || ic[1] != tt.cod {
				t.Fatalf("type/code %d/%d, want %d/%d", ic[0], ic[1], tt.typ, tt.cod)
			}
			if tt.kind == ICMPTooBig {
				got := int(binary.BigEndian.Uint32(ic[4:8]))
				if got != tt.mtu {
					t.Fatalf("MTU %d, want %d", got, tt.mtu)
				}
			}
			// The quoted packet starts with the original header.
			if string(ic[8:8+20]) != string(orig[:20]) {
				t.Fatal("original header not quoted")
			}
		})
	}
	var p Packet
	orig := buildPacket(t, pktSpec{src: "2001:db8:1::1", dst: "2001:db8:2::1", proto: protoTCP, payloadLen: 1500})
	_ = ParsePacket(orig, &p)
	buf := make([]byte, ICMPBufLen)
	if n := testing.AllocsPerRun(100, func() { BuildICMPError(buf, orig, &p, ICMPTooBig, 1280, netip.Addr{}) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

func TestUpdateChecksum(t *testing.T) {
	b := buildPacket(t, pktSpec{src: "198.51.100.1", dst: "198.51.100.200", proto: protoUDP, ttl: 200, tos: 0x12})
	for ttl := 0; ttl < 256; ttl += 17 {
		c := append([]byte(nil), b...)
		cs := binary.BigEndian.Uint16(c[10:])
		cs = updateChecksum16(cs, uint16(c[8])<<8|uint16(c[9]), uint16(ttl)<<8|uint16(c[9]))
		c[8] = byte(ttl)
		binary.BigEndian.PutUint16(c[10:], cs)
		if !ipChecksumOK(c) {
			t.Fatalf("ttl %d: checksum %#04x wrong", ttl, cs)
		}
	}
}

func TestRateLimit(t *testing.T) {
	l := newRateLimit(3, 5)
	n := 0
	for i := 0; i < 10; i++ {
		if l.allow(100) {
			n++
		}
	}
	if n != 5 {
		t.Fatalf("burst allowed %d, want 5", n)
	}
	n = 0
	for i := 0; i < 10; i++ {
		if l.allow(101) {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("after a second allowed %d, want 3", n)
	}
}
