//go:build !nokernelpath

package fwd

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/lispd/lispd/fwd/kpath"
)

// locals4 returns n up IPv4 local locators of priority 1 and weight 50,
// 192.0.2.11... on interfaces 11...
func locals4(n int) []LocalLocator {
	var ls []LocalLocator
	for i := range n {
		ls = append(ls, LocalLocator{Addr: netip.AddrFrom4([4]byte{192, 0, 2, byte(11 + i)}), Priority: 1, Weight: 50, Up: true, Link: 11 + i})
	}
	return ls
}

// locals6 returns n up IPv6 local locators of priority 1 and weight 50,
// 2001:db8::11... on interfaces 21...
func locals6(n int) []LocalLocator {
	var ls []LocalLocator
	for i := range n {
		a := netip.MustParseAddr("2001:db8::").As16()
		a[15] = byte(0x11 + i)
		ls = append(ls, LocalLocator{Addr: netip.AddrFrom16(a), Priority: 1, Weight: 50, Up: true, Link: 21 + i})
	}
	return ls
}

// tableShares returns the slots of each local RLOC of the locals table t
// by address, and fails on a slot that names an unset local or a local
// whose interface is not the one of its locator in ls.
func tableShares(t *testing.T, tab kpath.EncapLocals, ls []LocalLocator) map[netip.Addr]int {
	t.Helper()
	for i, l := range tab.Locals {
		if l.IfIndex == 0 {
			continue
		}
		j := slices.IndexFunc(ls, func(x LocalLocator) bool { return x.Addr.Unmap() == l.Src })
		if j < 0 || ls[j].link() != l.IfIndex {
			t.Fatalf("local %d: %v on ifindex %d, which is no locator of %+v", i, l.Src, l.IfIndex, ls)
		}
	}
	shares := map[netip.Addr]int{}
	for j, i := range tab.Slots {
		l := tab.Locals[i]
		if l.IfIndex == 0 {
			t.Fatalf("slot %d names local %d, which is unset: %+v", j, i, tab)
		}
		shares[l.Src]++
	}
	return shares
}

// TestMirrorLocals checks the locals table the mirror builds from the
// local locators: the IPv4 ones the userspace path picks among (up, of the
// best priority, none of priority 255), each with its interface, the slots
// shared by weight as the RLOCs' are; none (the empty table, and no
// mapping eligible) when they cannot all be in it.
func TestMirrorLocals(t *testing.T) {
	a, b, c := netip.MustParseAddr("192.0.2.11"), netip.MustParseAddr("192.0.2.12"), netip.MustParseAddr("192.0.2.13")
	lo := func(addr netip.Addr, prio, weight uint8, up bool, link int) LocalLocator {
		return LocalLocator{Addr: addr, Priority: prio, Weight: weight, Up: up, Link: link}
	}
	tests := []struct {
		name   string
		ls     []LocalLocator
		shares map[netip.Addr]int // nil: the empty table
	}{
		{"one", []LocalLocator{lo(a, 1, 100, true, 7)}, map[netip.Addr]int{a: 64}},
		{"IfIndex stands for Link", []LocalLocator{{Addr: a, Priority: 1, Up: true, IfIndex: 7}}, map[netip.Addr]int{a: 64}},
		{"50/50", []LocalLocator{lo(a, 1, 50, true, 7), lo(b, 1, 50, true, 8)}, map[netip.Addr]int{a: 32, b: 32}},
		{"3:1", []LocalLocator{lo(a, 1, 75, true, 7), lo(b, 1, 25, true, 8)}, map[netip.Addr]int{a: 48, b: 16}},
		{"weights all zero: equal", []LocalLocator{lo(a, 1, 0, true, 7), lo(b, 1, 0, true, 8)}, map[netip.Addr]int{a: 32, b: 32}},
		{"weight zero beside a weight", []LocalLocator{lo(a, 1, 0, true, 7), lo(b, 1, 10, true, 8)}, map[netip.Addr]int{b: 64}},
		{"priority-2 backup carries nothing", []LocalLocator{lo(a, 1, 50, true, 7), lo(b, 2, 50, true, 8)}, map[netip.Addr]int{a: 64}},
		{"the backup once the primary is down", []LocalLocator{lo(a, 1, 50, false, 7), lo(b, 2, 50, true, 8)}, map[netip.Addr]int{b: 64}},
		{"1/2/1 and a backup", []LocalLocator{lo(a, 1, 25, true, 7), lo(b, 1, 50, true, 8), lo(c, 1, 25, true, 9), lo(netip.MustParseAddr("192.0.2.14"), 2, 100, true, 10)},
			map[netip.Addr]int{a: 16, b: 32, c: 16}},
		{"IPv6 locators are not IPv4 sources", []LocalLocator{lo(a, 1, 50, true, 7), lo(kLocal6, 1, 50, true, 8)}, map[netip.Addr]int{a: 64}},
		{"four", locals4(4), map[netip.Addr]int{a: 16, b: 16, c: 16, netip.MustParseAddr("192.0.2.14"): 16}},
		{"five: userspace", locals4(5), nil},
		{"five, one down", func() []LocalLocator { ls := locals4(5); ls[4].Up = false; return ls }(),
			map[netip.Addr]int{a: 16, b: 16, c: 16, netip.MustParseAddr("192.0.2.14"): 16}},
		{"priority 255 never sends", []LocalLocator{lo(a, 255, 50, true, 7)}, nil},
		{"all down", []LocalLocator{lo(a, 1, 50, false, 7), lo(b, 2, 50, false, 8)}, nil},
		{"one without interface", []LocalLocator{lo(a, 1, 50, true, 7), lo(b, 1, 50, true, 0)}, nil},
		{"none", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mc := mirrorConfig{}
			if tt.ls != nil {
				mc.local = newLocalSel(tt.ls)
			}
			tab := mc.locals(false, &kpath.EncapLocals{})
			if _, err := tab.AppendValue(nil); err != nil {
				t.Fatal(err)
			}
			if tt.shares == nil {
				if tab != (kpath.EncapLocals{}) || mc.sources(false) != nil {
					t.Fatalf("table %+v (sources %v), want the empty one", tab, mc.sources(false))
				}
				return
			}
			if mc.sources(false) == nil {
				t.Fatal("sources(false) nil: no mapping would be mirrored")
			}
			if got := tableShares(t, tab, tt.ls); !maps4Equal(got, tt.shares) {
				t.Errorf("slots per local RLOC %v, want %v", got, tt.shares)
			}
		})
	}
}

func maps4Equal(a, b map[netip.Addr]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestMirrorLocalsSync follows a site with three uplinks through the
// mirror: the locals table is written before the entries; a change of the
// local locators (an uplink down and back, new weights) rewrites the table
// alone, keeping each locator at its index and the flows of the ones that
// stay on them; more locators than the table holds empty it first and take
// the entries out (userspace), and a table the kernel refuses does too.
func TestMirrorLocalsSync(t *testing.T) {
	c := NewMapCache(16)
	c.Tick(time.Now())
	pfx := netip.MustParsePrefix("203.0.113.0/24")
	if _, err := c.Insert(MappingSpec{Prefix: pfx, RLOCs: []RLOCSpec{{Addr: kRLOC1, Priority: 1, Weight: 50}, {Addr: kRLOC2, Priority: 1, Weight: 50}}}); err != nil {
		t.Fatal(err)
	}
	enc := newFakeEncap()
	k := newKernelPathWith(enc, &fakeDecap{locals: map[netip.Addr]kpath.DecapEntry{}}, 42)
	ls := locals4(3)
	a, b, x := ls[0].Addr, ls[1].Addr, ls[2].Addr
	sync := func() {
		t.Helper()
		mc := mirrorConfig{pathMTU: 1500, lsbs: 3, now: c.now.Load(), local: newLocalSel(ls)}
		k.syncMirror(&mc, c.snap.Load(), false, t.Logf)
	}
	indexOf := func(addr netip.Addr) int {
		return slices.IndexFunc(enc.locals.Locals[:], func(l kpath.EncapLocal) bool { return l.Src == addr && l.IfIndex > 0 })
	}
	slotsOf := func(addr netip.Addr) []int {
		var js []int
		for j, i := range enc.locals.Slots {
			if enc.locals.Locals[i].Src == addr && enc.locals.Locals[i].IfIndex > 0 {
				js = append(js, j)
			}
		}
		return js
	}
	// kept fails unless every slot of js is still addr's.
	kept := func(what string, addr netip.Addr, js []int) {
		t.Helper()
		for _, j := range js {
			if l := enc.locals.Locals[enc.locals.Slots[j]]; l.Src != addr {
				t.Errorf("%s: slot %d moved from %v to %v", what, j, addr, l.Src)
			}
		}
	}

	sync()
	if _, ok := enc.get(pfx); !ok || !slices.Equal(enc.ops, []string{"locals", "set"}) {
		t.Fatalf("writes %v, want the locals table, then the entry", enc.ops)
	}
	if s := tableShares(t, enc.locals, ls); s[a] != 22 || s[b] != 21 || s[x] != 21 {
		t.Fatalf("slots per local RLOC %v, want 22/21/21", s)
	}
	ia, ib := indexOf(a), indexOf(b)
	slotsA, slotsB := slotsOf(a), slotsOf(b)
	sync()
	if enc.localSets != 1 || enc.sets != 1 {
		t.Errorf("%d table and %d entry writes after a resync without change, want 1 and 1", enc.localSets, enc.sets)
	}

	// Uplink x fails: its slots go to a and b, which keep their indices
	// and their flows; the entry is not rewritten.
	ls[2].Up = false
	sync()
	if s := tableShares(t, enc.locals, ls); s[a] != 32 || s[b] != 32 || s[x] != 0 {
		t.Errorf("with x down: slots per local RLOC %v, want 32 on a and b", s)
	}
	kept("x down", a, slotsA)
	kept("x down", b, slotsB)
	if indexOf(a) != ia || indexOf(b) != ib || indexOf(x) >= 0 || enc.localSets != 2 || enc.sets != 1 {
		t.Errorf("with x down: a at %d (was %d), b at %d (was %d), x at %d; %d table and %d entry writes, want 2 and 1",
			indexOf(a), ia, indexOf(b), ib, indexOf(x), enc.localSets, enc.sets)
	}
	// Back up: x takes back its share from slots a and b had; a and b
	// move no flow between them.
	before := slices.Clone(enc.locals.Slots[:])
	prev := enc.locals
	ls[2].Up = true
	sync()
	if s := tableShares(t, enc.locals, ls); s[a] != 22 || s[b] != 21 || s[x] != 21 {
		t.Errorf("x back: slots per local RLOC %v, want 22/21/21", s)
	}
	for j, i := range enc.locals.Slots {
		if now, was := enc.locals.Locals[i].Src, prev.Locals[before[j]].Src; now != x && now != was {
			t.Errorf("x back: slot %d moved from %v to %v", j, was, now)
		}
	}
	// New weights a 50, b 25, x 25: a grows and keeps every slot it had.
	slotsA = slotsOf(a)
	ls[0].Weight, ls[1].Weight, ls[2].Weight = 50, 25, 25
	sync()
	if s := tableShares(t, enc.locals, ls); s[a] != 32 || s[b] != 16 || s[x] != 16 {
		t.Errorf("2:1:1: slots per local RLOC %v, want 32/16/16", s)
	}
	kept("2:1:1", a, slotsA)
	if enc.sets != 1 || indexOf(a) != ia || indexOf(b) != ib {
		t.Errorf("%d entry writes after local changes alone (want 1); a at %d, b at %d (were %d, %d)", enc.sets, indexOf(a), indexOf(b), ia, ib)
	}

	// Five uplinks of one priority: more than the table holds. The
	// table empties first, then the entry goes.
	ls = locals4(5)
	enc.ops = nil
	sync()
	if _, ok := enc.get(pfx); ok || enc.locals != (kpath.EncapLocals{}) || !slices.Equal(enc.ops, []string{"locals", "delete"}) {
		t.Fatalf("with five uplinks: writes %v, table %+v; want the emptied table, then the entry deleted", enc.ops, enc.locals)
	}
	// Back to two: the table, then the entry.
	ls = locals4(2)
	a = ls[0].Addr
	enc.ops = nil
	sync()
	if _, ok := enc.get(pfx); !ok || !slices.Equal(enc.ops, []string{"locals", "set"}) {
		t.Fatalf("back to two uplinks: writes %v, want the locals table, then the entry", enc.ops)
	}

	// The kernel refuses a new table: the entries are punted to the TUN
	// (they would send from the old locators), and come back once it
	// takes one.
	enc.failLocals = true
	ls[1].Up = false
	sync()
	if e, ok := enc.get(pfx); !ok || e != puntEntry || k.errors.Load() == 0 {
		t.Errorf("entry %+v (errors %d) with a locals table the kernel refused, want the punt entry", e, k.errors.Load())
	}
	enc.failLocals = false
	sync()
	if e, ok := enc.get(pfx); !ok || e == puntEntry {
		t.Errorf("entry not back once the table was written")
	}
	if s := tableShares(t, enc.locals, ls); s[a] != 64 {
		t.Errorf("slots per local RLOC %v, want all 64 on a", s)
	}
}

// TestMirrorLocals6 follows a site with two IPv6 uplinks and one IPv4 one
// through the mirror: a mapping with IPv6 RLOCs is mirrored with the IPv6
// locals table written first, the two IPv6 locators sharing its slots
// 32/32 each on its own interface, the IPv4 table holding the IPv4
// locator alone; an IPv6 uplink failure rewrites the IPv6 table alone
// (its slots to the other uplink, whose flows stay; no entry written, the
// IPv4 table untouched); an IPv6 table the kernel refuses takes the
// IPv6-RLOC mappings out, not the IPv4 ones.
func TestMirrorLocals6(t *testing.T) {
	c := NewMapCache(16)
	c.Tick(time.Now())
	pfx6 := netip.MustParsePrefix("2001:db8:99::/48")
	pfx4 := netip.MustParsePrefix("203.0.113.0/24")
	for _, spec := range []MappingSpec{
		{Prefix: pfx6, RLOCs: []RLOCSpec{{Addr: kRLOC6, Priority: 1, Weight: 100}}},
		{Prefix: pfx4, RLOCs: []RLOCSpec{{Addr: kRLOC1, Priority: 1, Weight: 100}}},
	} {
		if _, err := c.Insert(spec); err != nil {
			t.Fatal(err)
		}
	}
	enc := newFakeEncap()
	k := newKernelPathWith(enc, &fakeDecap{locals: map[netip.Addr]kpath.DecapEntry{}}, 42)
	ls := append(locals6(2), locals4(1)...)
	a, b := ls[0].Addr, ls[1].Addr
	sync := func() {
		t.Helper()
		mc := mirrorConfig{pathMTU: 1500, lsbs: 1, now: c.now.Load(), local: newLocalSel(ls)}
		k.syncMirror(&mc, c.snap.Load(), false, t.Logf)
	}

	sync()
	e6, ok6 := enc.get(pfx6)
	if _, ok4 := enc.get(pfx4); !ok6 || !ok4 || !e6.Dst.Is6() {
		t.Fatalf("mirrored: IPv6 mapping %v (%+v), IPv4 mapping %v; want both", ok6, e6, ok4)
	}
	if i := slices.Index(enc.ops, "locals6"); i < 0 || i > slices.Index(enc.ops, "set") {
		t.Errorf("writes %v, want the IPv6 locals table before the entries", enc.ops)
	}
	if s := tableShares(t, enc.locals6, ls); s[a] != 32 || s[b] != 32 {
		t.Fatalf("IPv6 table: slots per local RLOC %v, want 32/32", s)
	}
	if s := tableShares(t, enc.locals, ls); s[ls[2].Addr] != 64 {
		t.Fatalf("IPv4 table: slots per local RLOC %v, want all 64 on the IPv4 locator", s)
	}
	slotsB := []int{}
	for j, i := range enc.locals6.Slots {
		if enc.locals6.Locals[i].Src == b {
			slotsB = append(slotsB, j)
		}
	}
	v4, sets, localSets := enc.locals, enc.sets, enc.localSets

	// Uplink a fails: one write of the IPv6 table, b takes every slot and
	// keeps its own.
	ls[0].Up = false
	sync()
	if s := tableShares(t, enc.locals6, ls); s[b] != 64 {
		t.Errorf("with a down: slots per local RLOC %v, want all 64 on b", s)
	}
	for _, j := range slotsB {
		if enc.locals6.Locals[enc.locals6.Slots[j]].Src != b {
			t.Errorf("slot %d moved off b", j)
		}
	}
	if enc.sets != sets || enc.localSets != localSets+1 || enc.locals != v4 {
		t.Errorf("%d entry and %d table writes for an IPv6 uplink failure (want 0 and 1), IPv4 table %+v (was %+v)",
			enc.sets-sets, enc.localSets-localSets, enc.locals, v4)
	}
	if _, ok := enc.get(pfx6); !ok {
		t.Error("the IPv6 mapping left the kernel with one IPv6 uplink still up")
	}

	// The kernel refuses the next IPv6 table: the IPv6 mapping goes to
	// userspace (a punt entry, so that its packets cannot match a less
	// specific mapping), the IPv4 one stays.
	enc.fail6 = true
	ls[0].Up = true
	sync()
	e6, _ = enc.get(pfx6)
	if e4, ok4 := enc.get(pfx4); e6 != puntEntry || !ok4 || e4 == puntEntry || k.errors.Load() == 0 {
		t.Errorf("IPv6 table refused: IPv6 entry %+v, IPv4 mapping kept %v, errors %d; want the punt entry, true, >0", e6, ok4, k.errors.Load())
	}
	enc.fail6 = false
	sync()
	if e, ok := enc.get(pfx6); !ok || e == puntEntry {
		t.Error("IPv6 mapping not back once the table was written")
	}
	if s := tableShares(t, enc.locals6, ls); s[a] != 32 || s[b] != 32 {
		t.Errorf("a back: slots per local RLOC %v, want 32/32", s)
	}
}
