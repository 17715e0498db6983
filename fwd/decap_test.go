package fwd

import (
	"testing"
)

func newTestDecap(iid uint32) (*Decapsulator, *Stats) {
	s := &Stats{}
	return newDecapsulator(decapConfig{iid: iid, local: mustPrefixes("198.51.100.128/25", "2001:db8:2::/48")}, s), s
}

// lispPacket puts a LISP header with fields f in front of inner.
func lispPacket(f HeaderFields, inner []byte) []byte {
	b := make([]byte, HeaderLen+len(inner))
	Header(b).Encode(&f)
	copy(b[HeaderLen:], inner)
	return b
}

func TestDecap(t *testing.T) {
	v4 := pktSpec{src: "198.51.100.1", dst: "198.51.100.200", proto: protoICMP, ttl: 60, tos: 0xb8 | ecnECT0}
	v6 := pktSpec{src: "2001:db8:1::1", dst: "2001:db8:2::9", proto: protoUDP, ttl: 60, tos: 0x28 | ecnECT1}
	nl := HeaderFields{N: true, L: true, Nonce: 9, LSBs: 1}
	tests := []struct {
		name     string
		iid      uint32
		hdr      HeaderFields
		pkt      pktSpec
		raw      []byte // instead of hdr+pkt
		outerTTL uint8
		outerTOS uint8
		reason   DropReason // 0 with ok
		ok       bool
		ttl      uint8
		tos      uint8
	}{
		{name: "v4", hdr: nl, pkt: v4, outerTTL: 64, ok: true, ttl: 60, tos: v4.tos},
		{name: "v4 outer ttl lower", hdr: nl, pkt: v4, outerTTL: 12, ok: true, ttl: 12, tos: v4.tos},
		{name: "v4 outer unknown", hdr: nl, pkt: v4, ok: true, ttl: 60, tos: v4.tos},
		{name: "v4 CE outer marks inner", hdr: nl, pkt: v4, outerTTL: 64, outerTOS: ecnCE, ok: true, ttl: 60, tos: 0xb8 | ecnCE},
		{name: "v6", hdr: nl, pkt: v6, outerTTL: 5, outerTOS: ecnCE, ok: true, ttl: 5, tos: 0x28 | ecnCE},
		{name: "iid", iid: 1000, hdr: HeaderFields{N: true, I: true, InstanceID: 1000}, pkt: v4, outerTTL: 64, ok: true, ttl: 60, tos: v4.tos},
		{name: "iid mismatch", iid: 1000, hdr: HeaderFields{N: true, I: true, InstanceID: 1001}, pkt: v4, reason: DropIIDMismatch},
		{name: "iid missing", iid: 1000, hdr: nl, pkt: v4, reason: DropIIDMismatch},
		{name: "unexpected iid", hdr: HeaderFields{I: true, InstanceID: 5}, pkt: v4, reason: DropIIDMismatch},
		{name: "not local", hdr: nl, pkt: pktSpec{src: "198.51.100.200", dst: "198.51.100.1", proto: protoUDP}, reason: DropNotLocalEID},
		{name: "not local v6", hdr: nl, pkt: pktSpec{src: "2001:db8:2::1", dst: "2001:db8:3::1", proto: protoUDP}, reason: DropNotLocalEID},
		// A remote ITR never sends our own EIDs to us (finding 1: a spoofed
		// LAN source would reach the LAN through the firewall's lisp->lan).
		{name: "spoofed source", hdr: nl, pkt: pktSpec{src: "198.51.100.130", dst: "198.51.100.200", proto: protoUDP}, reason: DropSpoofedSource},
		{name: "spoofed source v6", hdr: nl, pkt: pktSpec{src: "2001:db8:2::7", dst: "2001:db8:2::9", proto: protoUDP}, reason: DropSpoofedSource},
		{name: "source next to ours", hdr: nl, pkt: pktSpec{src: "198.51.100.127", dst: "198.51.100.200", proto: protoUDP}, outerTTL: 64, ok: true, ttl: 64},
		{name: "CE over not-ECT", hdr: nl, pkt: pktSpec{src: "198.51.100.1", dst: "198.51.100.200", proto: protoUDP}, outerTOS: ecnCE, reason: DropECN},
		{name: "ttl zero", hdr: nl, pkt: v4, outerTTL: 0, raw: nil, reason: 0, ok: true, ttl: 60, tos: v4.tos},
		// RFC 9300 section 5.3: E without N is ignored, N with V read as a nonce.
		{name: "E without N", hdr: HeaderFields{E: true, L: true, LSBs: 1}, pkt: v4, outerTTL: 64, ok: true, ttl: 60, tos: v4.tos},
		{name: "N and V", hdr: HeaderFields{N: true, V: true, Nonce: 7}, pkt: v4, outerTTL: 64, ok: true, ttl: 60, tos: v4.tos},
		{name: "short", raw: []byte{0x80, 0, 0}, reason: DropMalformed},
		{name: "bad inner", raw: []byte{0x80, 0, 0, 0, 0, 0, 0, 0, 0x45, 0}, reason: DropMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, st := newTestDecap(tt.iid)
			b := tt.raw
			var inner0 []byte
			if b == nil {
				inner0 = buildPacket(t, tt.pkt)
				b = lispPacket(tt.hdr, inner0)
			}
			inner, reason, ok := d.Decap(b, tt.outerTTL, tt.outerTOS)
			d.End()
			if ok != tt.ok || reason != tt.reason {
				t.Fatalf("Decap = %v %v, want %v %v", reason, ok, tt.reason, tt.ok)
			}
			if !ok {
				if st.Drops(tt.reason) != 1 || st.DecapPackets.Load() != 0 {
					t.Fatalf("drop counter %d, decap %d", st.Drops(tt.reason), st.DecapPackets.Load())
				}
				return
			}
			if &inner[0] != &b[HeaderLen] || len(inner) != len(inner0) {
				t.Fatal("inner packet not in place")
			}
			var p Packet
			if err := ParsePacket(inner, &p); err != nil {
				t.Fatal(err)
			}
			if p.TTL != tt.ttl || p.TOS != tt.tos {
				t.Fatalf("inner TTL/TOS %d/%#x, want %d/%#x", p.TTL, p.TOS, tt.ttl, tt.tos)
			}
			if !ipChecksumOK(inner) {
				t.Fatal("IPv4 header checksum wrong after the update")
			}
			if p.Is6 && (inner[0]>>4 != 6 || inner[1]&0x0f != inner0[1]&0x0f) {
				t.Fatalf("IPv6 version/flow label damaged: %x vs %x", inner[:4], inner0[:4])
			}
			if st.DecapPackets.Load() != 1 || st.DecapBytes.Load() != uint64(len(inner0)) {
				t.Fatalf("counters %d/%d", st.DecapPackets.Load(), st.DecapBytes.Load())
			}
		})
	}
}

func TestCombineECN(t *testing.T) {
	// RFC 6040 section 4.2, Figure 4: rows inner, columns outer
	// (Not-ECT, ECT(0), ECT(1), CE); 0xff = drop.
	const drop = 0xff
	names := []uint8{ecnNotECT, ecnECT0, ecnECT1, ecnCE}
	table := [4][4]uint8{
		{ecnNotECT, ecnNotECT, ecnNotECT, drop},
		{ecnECT0, ecnECT0, ecnECT1, ecnCE},
		{ecnECT1, ecnECT1, ecnECT1, ecnCE},
		{ecnCE, ecnCE, ecnCE, ecnCE},
	}
	for i, in := range names {
		for j, out := range names {
			got, ok := combineECN(0xa0|in, 0x40|out)
			want := table[i][j]
			if want == drop {
				if ok {
					t.Errorf("inner %d outer %d: %#x, want drop", in, out, got)
				}
				continue
			}
			if !ok || got != 0xa0|want {
				t.Errorf("inner %d outer %d: %#x %v, want %#x", in, out, got, ok, 0xa0|want)
			}
		}
	}
}

func TestDecapVectors(t *testing.T) {
	pos, neg := dataVectors(t)
	for _, v := range pos {
		b := mustHex(t, v.Payload)
		iid := uint32(0)
		if Header(b).I() {
			iid = Header(b).InstanceID()
		}
		d := newDecapsulator(decapConfig{iid: iid, local: mustPrefixes("10.1.0.0/24", "2001:db8:1::/48")}, &Stats{})
		if _, r, ok := d.Decap(b, 64, 0); !ok {
			t.Errorf("%s: dropped (%v)", v.Name, r)
		}
	}
	// The negative vectors break sender rules (E without N, N with V) that
	// RFC 9300 section 5.3 has the ETR read past: delivered, not dropped.
	for _, v := range neg {
		d := newDecapsulator(decapConfig{local: mustPrefixes("10.1.0.0/24")}, &Stats{})
		b := mustHex(t, v.Payload)
		inner, r, ok := d.Decap(b, 64, 0)
		if !ok || len(inner) != len(b)-HeaderLen {
			t.Errorf("%s: %v %v (inner %d bytes), want delivered", v.Name, r, ok, len(inner))
		}
	}
}

func FuzzDecap(f *testing.F) {
	pos, neg := dataVectors(f)
	for _, v := range append(pos, neg...) {
		f.Add(mustHex(f, v.Payload), uint8(64), uint8(3))
	}
	f.Fuzz(func(t *testing.T, b []byte, ttl, tos uint8) {
		d := newDecapsulator(decapConfig{iid: 0, local: mustPrefixes("10.1.0.0/16", "0.0.0.0/0", "::/0")}, &Stats{})
		in := append([]byte(nil), b...)
		inner, _, ok := d.Decap(in, ttl, tos)
		if !ok {
			return
		}
		if len(inner) > len(b)-HeaderLen {
			t.Fatalf("inner %d bytes from %d", len(inner), len(b))
		}
		if inner[0]>>4 == 4 {
			// The incremental update keeps a valid checksum valid.
			orig := b[HeaderLen:]
			if checksum(orig[:int(orig[0]&0x0f)*4], 0) == 0 && !ipChecksumOK(inner) {
				t.Fatalf("checksum broken: %x -> %x", orig[:20], inner[:20])
			}
		}
	})
}
