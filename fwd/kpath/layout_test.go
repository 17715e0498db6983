package kpath

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

// TestMapLayouts checks the keys and values Go writes against the offsets
// the programs read (documented with EncapEntryLen and DecapEntryLen).
func TestMapLayouts(t *testing.T) {
	ne := func(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	src, dst := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	src6, dst6 := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	no6 := make([]byte, MaxEncapRLOCs*16) // an IPv4 entry's IPv6 area
	tests := []struct {
		name string
		got  func() ([]byte, error)
		want []byte
	}{
		{"IPv4 key", func() ([]byte, error) { return AppendEncapKey(nil, netip.MustParsePrefix("198.51.100.130/25")) },
			cat(ne(25), []byte{198, 51, 100, 128})},
		{"IPv6 key", func() ([]byte, error) { return AppendEncapKey(nil, netip.MustParsePrefix("2001:db8:2::1/48")) },
			cat(ne(48), netip.MustParseAddr("2001:db8:2::").AsSlice())},
		{"encap value with instance-id", func() ([]byte, error) {
			return EncapEntry{Dst: dst, MTU: 1500, Flags: 0xc8, InstanceID: 0x123456, LSBs: 1}.AppendValue(nil)
		}, cat(make([]byte, 8), []byte{0xc8, 0, 0, 0, 0x12, 0x34, 0x56, 1}, make([]byte, EncapSlots),
			[]byte{192, 0, 2, 2}, ne(1500), make([]byte, 24), make([]byte, 3*32), no6)},
		{"encap value without", func() ([]byte, error) {
			return EncapEntry{Dst: dst, MTU: 1500, Flags: 0xc0, LSBs: 0x80000001}.AppendValue(nil)
		}, cat(make([]byte, 8), []byte{0xc0, 0, 0, 0, 0x80, 0, 0, 1}, make([]byte, EncapSlots),
			[]byte{192, 0, 2, 2}, ne(1500), make([]byte, 24), make([]byte, 3*32), no6)},
		{"encap value with two RLOCs", func() ([]byte, error) {
			e := EncapEntry{Dst: dst, MTU: 1500, Flags: 0xc0, LSBs: 3}
			e.Alt[0] = EncapRLOC{Dst: netip.MustParseAddr("192.0.2.9"), MTU: 1400}
			for i := range e.Slots {
				e.Slots[i] = uint8(i % 2)
			}
			return e.AppendValue(nil)
		}, cat(make([]byte, 8), []byte{0xc0, 0, 0, 0, 0, 0, 0, 3}, bytes.Repeat([]byte{0, 1}, EncapSlots/2),
			[]byte{192, 0, 2, 2}, ne(1500), make([]byte, 24), []byte{192, 0, 2, 9}, ne(1400), make([]byte, 24), make([]byte, 2*32), no6)},
		{"encap value with two IPv6 RLOCs", func() ([]byte, error) {
			e := EncapEntry{Dst: dst6, MTU: 1500, Flags: 0xc8, InstanceID: 7, LSBs: 3}
			e.Alt[0] = EncapRLOC{Dst: netip.MustParseAddr("2001:db8::9"), MTU: 1400}
			e.Slots[63] = 1
			return e.AppendValue(nil)
		}, cat(make([]byte, 8), []byte{0xc8, 6, 0, 0, 0, 0, 7, 3}, make([]byte, EncapSlots-1), []byte{1},
			make([]byte, 4), ne(1500), make([]byte, 24), make([]byte, 4), ne(1400), make([]byte, 24), make([]byte, 2*32),
			dst6.AsSlice(), netip.MustParseAddr("2001:db8::9").AsSlice(), make([]byte, 2*16))},
		{"locals table", func() ([]byte, error) {
			l := EncapLocals{Locals: [MaxEncapLocals]EncapLocal{{Src: src, IfIndex: 3}, {Src: dst, IfIndex: 9}}}
			for i := range l.Slots {
				l.Slots[i] = uint8(i % 2)
			}
			return l.AppendValue(nil)
		}, cat([]byte{192, 0, 2, 1}, ne(3), []byte{192, 0, 2, 2}, ne(9), make([]byte, 2*8), bytes.Repeat([]byte{0, 1}, EncapSlots/2))},
		{"empty locals table", func() ([]byte, error) { return EncapLocals{}.AppendValue(nil) }, make([]byte, EncapLocalsLen)},
		{"IPv6 locals table", func() ([]byte, error) {
			l := EncapLocals{Locals: [MaxEncapLocals]EncapLocal{2: {Src: src6, IfIndex: 3}, 3: {Src: dst6, IfIndex: 9}}}
			for i := range l.Slots {
				l.Slots[i] = uint8(2 + i%2)
			}
			return l.AppendValue6(nil)
		}, cat(make([]byte, 2*32), src6.AsSlice(), ne(3), make([]byte, 12), dst6.AsSlice(), ne(9), make([]byte, 12),
			bytes.Repeat([]byte{2, 3}, EncapSlots/2))},
		{"empty IPv6 locals table", func() ([]byte, error) { return EncapLocals{}.AppendValue6(nil) }, make([]byte, EncapLocalsLen6)},
		{"decap key", func() ([]byte, error) { return AppendDecapKey(nil, dst) }, []byte{192, 0, 2, 2}},
		{"decap value", func() ([]byte, error) {
			return DecapEntry{TUNIfIndex: 9, InstanceID: 0x1234567}.AppendValue(nil), nil
		}, cat(ne(9), ne(0), ne(0x234567), make([]byte, 20))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.got()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("got  % x\nwant % x", got, tt.want)
			}
		})
	}
	if n := len(tests[2].want); n != EncapEntryLen {
		t.Errorf("encap value %d bytes, EncapEntryLen %d", n, EncapEntryLen)
	}
	for _, d := range []netip.Addr{{}, netip.MustParseAddr("::ffff:192.0.2.2")} {
		if _, err := (EncapEntry{Dst: d}).AppendValue(nil); err == nil {
			t.Errorf("RLOC %v accepted", d)
		}
	}
	bad := []struct {
		name string
		f    func(*EncapEntry)
	}{
		{"IPv6 second RLOC", func(e *EncapEntry) { e.Alt[0].Dst = netip.MustParseAddr("2001:db8::2"); e.Slots[1] = 1 }},
		{"IPv4 second RLOC of IPv6 ones", func(e *EncapEntry) {
			e.Dst = dst6
			e.Alt[0].Dst = netip.MustParseAddr("192.0.2.9")
			e.Slots[1] = 1
		}},
		{"slot names an unset RLOC", func(e *EncapEntry) { e.Slots[5] = 2 }},
		{"slot beyond MaxEncapRLOCs", func(e *EncapEntry) { e.Slots[63] = MaxEncapRLOCs }},
	}
	for _, b := range bad {
		e := EncapEntry{Dst: dst, MTU: 1500}
		b.f(&e)
		if _, err := e.AppendValue(nil); err == nil {
			t.Errorf("%s: accepted", b.name)
		}
	}
	for _, b := range []struct {
		name string
		v6   bool // the IPv6 table's
		f    func(*EncapLocals)
	}{
		{"IPv6 local RLOC", false, func(l *EncapLocals) { l.Locals[1] = EncapLocal{Src: netip.MustParseAddr("2001:db8::2"), IfIndex: 4} }},
		{"local RLOC without an address", false, func(l *EncapLocals) { l.Locals[1] = EncapLocal{IfIndex: 4} }},
		{"negative ifindex", false, func(l *EncapLocals) { l.Locals[1] = EncapLocal{Src: dst, IfIndex: -1} }},
		{"slot beyond MaxEncapLocals", false, func(l *EncapLocals) { l.Slots[63] = MaxEncapLocals }},
		{"IPv4 local RLOC in the IPv6 table", true, func(l *EncapLocals) { l.Locals[1] = EncapLocal{Src: dst, IfIndex: 4} }},
		{"IPv4-mapped local RLOC", true, func(l *EncapLocals) {
			l.Locals[1] = EncapLocal{Src: netip.MustParseAddr("::ffff:192.0.2.2"), IfIndex: 4}
		}},
		{"IPv6 local RLOC without an address", true, func(l *EncapLocals) { l.Locals[1] = EncapLocal{IfIndex: 4} }},
		{"IPv6 negative ifindex", true, func(l *EncapLocals) { l.Locals[1] = EncapLocal{Src: dst6, IfIndex: -1} }},
		{"IPv6 slot beyond MaxEncapLocals", true, func(l *EncapLocals) { l.Slots[63] = MaxEncapLocals }},
		// What the program takes for a record being cleared.
		{"local RLOC 0.0.0.0", false, func(l *EncapLocals) { l.Locals[1] = EncapLocal{Src: netip.IPv4Unspecified(), IfIndex: 4} }},
		{"IPv6 local RLOC in ::/32", true, func(l *EncapLocals) { l.Locals[1] = EncapLocal{Src: netip.MustParseAddr("::1"), IfIndex: 4} }},
	} {
		l := EncapLocals{Locals: [MaxEncapLocals]EncapLocal{{Src: src, IfIndex: 3}}}
		if b.v6 {
			l.Locals[0].Src = src6
		}
		b.f(&l)
		app := l.AppendValue
		if b.v6 {
			app = l.AppendValue6
		}
		if _, err := app(nil); err == nil {
			t.Errorf("%s: accepted", b.name)
		}
	}
	if k, err := AppendDecapKey(nil, dst6); err != nil || !bytes.Equal(k, dst6.AsSlice()) {
		t.Errorf("IPv6 decap key % x, %v", k, err)
	}
	for _, a := range []netip.Addr{{}, netip.MustParseAddr("::ffff:192.0.2.1")} {
		if _, err := AppendDecapKey(nil, a); err == nil {
			t.Errorf("local RLOC %v accepted", a)
		}
	}
}
