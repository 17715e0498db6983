package fwd

import (
	"testing"
)

func TestFlowHash(t *testing.T) {
	const seed = 42
	hash := func(s pktSpec) uint32 {
		b := buildPacket(t, s)
		var p Packet
		if err := ParsePacket(b, &p); err != nil {
			t.Fatal(err)
		}
		return FlowHash(b, &p, seed)
	}
	base4 := pktSpec{src: "198.51.100.1", dst: "198.51.100.200", proto: protoUDP, sport: 1000, dport: 53, payloadLen: 10}
	base6 := pktSpec{src: "2001:db8:1::1", dst: "2001:db8:2::1", proto: protoTCP, sport: 40000, dport: 443}
	same := []struct {
		name string
		a, b pktSpec
	}{
		{"v4 payload and ttl do not count", base4, func() pktSpec { s := base4; s.payloadLen, s.ttl, s.tos = 100, 3, 0xb8; return s }()},
		{"v4 fragments ignore ports", pktSpec{src: "198.51.100.1", dst: "198.51.100.2", proto: protoUDP, sport: 1, dport: 2, frag: 0x2000},
			pktSpec{src: "198.51.100.1", dst: "198.51.100.2", proto: protoUDP, sport: 3, dport: 4, frag: 0x2000}},
		{"v6 payload does not count", base6, func() pktSpec { s := base6; s.payloadLen = 500; return s }()},
	}
	for _, tt := range same {
		if hash(tt.a) != hash(tt.b) {
			t.Errorf("%s: hashes differ", tt.name)
		}
	}
	differ := []struct {
		name string
		a, b pktSpec
	}{
		{"v4 source port", base4, func() pktSpec { s := base4; s.sport++; return s }()},
		{"v4 dest port", base4, func() pktSpec { s := base4; s.dport++; return s }()},
		{"v4 source", base4, func() pktSpec { s := base4; s.src = "198.51.100.2"; return s }()},
		{"v4 proto", base4, func() pktSpec { s := base4; s.proto = protoTCP; return s }()},
		{"v6 source port", base6, func() pktSpec { s := base6; s.sport++; return s }()},
		{"v6 dest", base6, func() pktSpec { s := base6; s.dst = "2001:db8:2::2"; return s }()},
	}
	for _, tt := range differ {
		if hash(tt.a) == hash(tt.b) {
			t.Errorf("%s: hashes equal", tt.name)
		}
	}
	// Source ports spread over the range.
	ports := map[uint16]bool{}
	for i := 0; i < 1000; i++ {
		s := base4
		s.sport = uint16(i)
		p := SourcePort(hash(s))
		if p < SourcePortMin {
			t.Fatalf("port %d below range", p)
		}
		ports[p] = true
	}
	if len(ports) < 900 {
		t.Fatalf("1000 flows used only %d source ports", len(ports))
	}
	b := buildPacket(t, base6)
	var p Packet
	_ = ParsePacket(b, &p)
	if n := testing.AllocsPerRun(1000, func() { _ = FlowHash(b, &p, seed) }); n != 0 {
		t.Fatalf("FlowHash: %v allocations", n)
	}
}

func TestParsePacket(t *testing.T) {
	v4 := buildPacket(t, pktSpec{src: "198.51.100.1", dst: "203.0.113.5", proto: protoTCP, tos: 0xb9, ttl: 17, df: true, sport: 1, dport: 2})
	v6 := buildPacket(t, pktSpec{src: "2001:db8::1", dst: "2001:db8::2", proto: protoUDP, tos: 0x2a, ttl: 9, payloadLen: 3})
	var p Packet
	if err := ParsePacket(append(v4, 0, 0, 0), &p); err != nil {
		t.Fatal(err)
	}
	if p.Src.String() != "198.51.100.1" || p.Dst.String() != "203.0.113.5" || p.Proto != protoTCP || p.TOS != 0xb9 || p.TTL != 17 || !p.DF || p.Frag || p.Is6 || p.Len != len(v4) || p.HdrLen != 20 {
		t.Fatalf("v4: %+v", p)
	}
	if err := ParsePacket(v6, &p); err != nil {
		t.Fatal(err)
	}
	if p.Src.String() != "2001:db8::1" || p.Dst.String() != "2001:db8::2" || p.Proto != protoUDP || p.TOS != 0x2a || p.TTL != 9 || !p.Is6 || p.Len != len(v6) {
		t.Fatalf("v6: %+v", p)
	}
	bad := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrInnerEmpty},
		{"version 5", []byte{0x50}, ErrInnerVersion},
		{"short v4", v4[:19], ErrInnerShort4},
		{"ihl 4", func() []byte { b := append([]byte(nil), v4...); b[0] = 0x44; return b }(), ErrInnerIHL},
		{"ihl beyond", func() []byte { b := append([]byte(nil), v4[:24]...); b[0] = 0x47; return b }(), ErrInnerIHL},
		{"total length beyond", v4[:len(v4)-1], ErrInnerTotalLen4},
		{"short v6", v6[:39], ErrInnerShort6},
		{"payload beyond", v6[:len(v6)-1], ErrInnerPayloadLen},
	}
	for _, tt := range bad {
		if err := ParsePacket(tt.b, &p); err != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

func FuzzParsePacket(f *testing.F) {
	pos, neg := dataVectors(f)
	for _, v := range append(pos, neg...) {
		f.Add(mustHex(f, v.Payload)[HeaderLen:])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Packet
		if ParsePacket(b, &p) != nil {
			return
		}
		if p.Len > len(b) || p.HdrLen > p.Len {
			t.Fatalf("lengths %d/%d beyond %d bytes", p.HdrLen, p.Len, len(b))
		}
		_ = FlowHash(b[:p.Len], &p, 1)
	})
}

func BenchmarkFlowHash(b *testing.B) {
	pkt := buildPacket(b, pktSpec{src: "198.51.100.1", dst: "198.51.100.200", proto: protoTCP, sport: 1000, dport: 80})
	var p Packet
	b.ReportAllocs()
	var sink uint32
	for b.Loop() {
		_ = ParsePacket(pkt, &p)
		sink += FlowHash(pkt, &p, 7)
	}
	_ = sink
}
