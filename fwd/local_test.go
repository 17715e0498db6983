package fwd

import (
	"net/netip"
	"testing"
)

func TestLocalSelection(t *testing.T) {
	a1, a2 := netip.MustParseAddr("192.0.2.11"), netip.MustParseAddr("192.0.2.1")
	a6 := netip.MustParseAddr("2001:db8::1")
	tests := []struct {
		name  string
		ls    []LocalLocator
		v6    bool
		share map[netip.Addr]float64 // expected share of the hash space
	}{
		{"priority 1 up", []LocalLocator{{a1, 3, 1, 100, true, 0}, {a2, 2, 2, 100, true, 0}}, false, map[netip.Addr]float64{a1: 1}},
		{"priority 1 down", []LocalLocator{{a1, 3, 1, 100, false, 0}, {a2, 2, 2, 100, true, 0}}, false, map[netip.Addr]float64{a2: 1}},
		{"50/50", []LocalLocator{{a1, 3, 1, 50, true, 0}, {a2, 2, 1, 50, true, 0}}, false, map[netip.Addr]float64{a1: .5, a2: .5}},
		{"75/25", []LocalLocator{{a1, 3, 1, 75, true, 0}, {a2, 2, 1, 25, true, 0}}, false, map[netip.Addr]float64{a1: .75, a2: .25}},
		{"weights 0 share equally", []LocalLocator{{a1, 3, 1, 0, true, 0}, {a2, 2, 1, 0, true, 0}}, false, map[netip.Addr]float64{a1: .5, a2: .5}},
		{"weight 0 beside weighted", []LocalLocator{{a1, 3, 1, 0, true, 0}, {a2, 2, 1, 10, true, 0}}, false, map[netip.Addr]float64{a2: 1}},
		{"priority 255 never", []LocalLocator{{a1, 3, 255, 100, true, 0}}, false, nil},
		{"other family", []LocalLocator{{a1, 3, 1, 100, true, 0}}, true, nil},
		{"ipv6", []LocalLocator{{a1, 3, 1, 100, true, 0}, {a6, 4, 1, 100, true, 0}}, true, map[netip.Addr]float64{a6: 1}},
		{"all down", []LocalLocator{{a1, 3, 1, 100, false, 0}, {a2, 2, 2, 100, false, 0}}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newLocalSel(tt.ls)
			got := map[netip.Addr]int{}
			ifx := map[netip.Addr]int{}
			for _, l := range tt.ls {
				ifx[l.Addr] = l.IfIndex
			}
			for h := uint32(0); h < 1<<16; h++ {
				a, i, ok := s.pick(tt.v6, h)
				if !ok {
					if tt.share != nil {
						t.Fatalf("hash %d: no source", h)
					}
					continue
				}
				if tt.share == nil {
					t.Fatalf("hash %d: source %v, want none", h, a)
				}
				if i != ifx[a] {
					t.Fatalf("%v: interface %d, want %d", a, i, ifx[a])
				}
				got[a]++
			}
			for a, want := range tt.share {
				if f := float64(got[a]) / (1 << 16); f < want-0.01 || f > want+0.01 {
					t.Errorf("%v: share %.3f, want %.2f", a, f, want)
				}
			}
			if len(got) != len(tt.share) {
				t.Errorf("sources %v, want %v", got, tt.share)
			}
		})
	}
}

// TestEncapLocalSource: an encapsulated packet carries the source and
// interface of the local locator chosen; without local locators, none.
func TestEncapLocalSource(t *testing.T) {
	f := newEncapFixture(t, 0, nil)
	var local localPtr
	f.enc.withLocal(&local)
	pkt := buildPacket(t, pktSpec{src: "198.51.100.1", dst: "198.51.100.200", proto: protoUDP, sport: 1000, dport: 53, payloadLen: 10})
	if v, res, _, _ := f.encapOne(pkt); v != VerdictSend || res.Src.IsValid() || res.IfIndex != 0 {
		t.Fatalf("no local locators: verdict %v, src %v if %d", v, res.Src, res.IfIndex)
	}
	a1, a2 := netip.MustParseAddr("192.0.2.11"), netip.MustParseAddr("192.0.2.1")
	local.Store(newLocalSel([]LocalLocator{{a1, 7, 1, 100, true, 0}, {a2, 8, 2, 100, true, 0}}))
	if _, res, _, _ := f.encapOne(pkt); res.Src != a1 || res.IfIndex != 7 {
		t.Errorf("priority-1 up: src %v if %d, want %v if 7", res.Src, res.IfIndex, a1)
	}
	local.Store(newLocalSel([]LocalLocator{{a1, 7, 1, 100, false, 0}, {a2, 8, 2, 100, true, 0}}))
	if _, res, _, _ := f.encapOne(pkt); res.Src != a2 || res.IfIndex != 8 {
		t.Errorf("priority-1 down: src %v if %d, want %v if 8", res.Src, res.IfIndex, a2)
	}
	// One flow, one locator; many flows, both.
	local.Store(newLocalSel([]LocalLocator{{a1, 7, 1, 50, true, 0}, {a2, 8, 1, 50, true, 0}}))
	count := map[netip.Addr]int{}
	for port := uint16(1000); port < 1400; port++ {
		p := buildPacket(t, pktSpec{src: "198.51.100.1", dst: "198.51.100.200", proto: protoUDP, sport: port, dport: 53, payloadLen: 10})
		_, first, _, _ := f.encapOne(p)
		for range 3 {
			if _, again, _, _ := f.encapOne(p); again.Src != first.Src {
				t.Fatalf("flow from port %d moved from %v to %v", port, first.Src, again.Src)
			}
		}
		count[first.Src]++
	}
	if count[a1] < 150 || count[a2] < 150 {
		t.Errorf("400 flows over two equal locators: %v", count)
	}
}

func TestRecentITRs(t *testing.T) {
	var tab recentITRs
	itr := netip.MustParseAddr("192.0.2.2")
	tab.note(itr, 10)
	tab.note(itr, 11)
	if got := tab.since(11); len(got) != 1 || got[0] != itr {
		t.Fatalf("since 11: %v", got)
	}
	// Bounded: the least recently seen makes room.
	for i := range RecentITRCap + 10 {
		tab.note(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), uint32(20+i))
	}
	if tab.n != RecentITRCap {
		t.Fatalf("%d entries, want the cap %d", tab.n, RecentITRCap)
	}
	for _, a := range tab.since(0) {
		if a == itr {
			t.Errorf("the oldest ITR %v survived %d newer ones", itr, RecentITRCap+10)
		}
	}
	if got := tab.since(uint32(20 + RecentITRCap + 5)); len(got) != 5 {
		t.Errorf("seen since the last 5: %v", got)
	}
}

// TestDecapRecordsITRs: decapsulated packets record their outer source as
// a recent ITR, and a locator-status bit going down is reported once.
func TestDecapRecordsITRs(t *testing.T) {
	_, dw, n := batchFixture(t)
	type change struct {
		itr, src netip.Addr
		old, new uint32
	}
	var got []change
	dw.p.opts.LSBChanged = func(itr, src netip.Addr, old, new uint32) { got = append(got, change{itr, src, old, new}) }
	itr := netip.MustParseAddrPort("192.0.2.2:49152")
	for i := 0; i < n; i++ {
		dw.msgs[i].Addr = itr
	}
	dw.process(n)
	if r := dw.p.RecentITRs(60e9); len(r) != 1 || r[0] != itr.Addr() {
		t.Fatalf("recent ITRs %v, want [%v]", r, itr.Addr())
	}
	if len(got) != 0 {
		t.Fatalf("changes reported with steady bits: %+v", got)
	}
	// The same site's packets from another ITR address (its uplink
	// failed over) with LSB 0: bit 0 went down, reported once.
	itr2 := netip.MustParseAddrPort("192.0.2.3:49152")
	for i := 0; i < n; i++ {
		Header(dw.msgs[i].Buf).SetLSBs(0)
		dw.msgs[i].Addr = itr2
	}
	dw.process(n)
	if len(got) != 1 || got[0].itr != itr2.Addr() || got[0].old != 1 || got[0].new != 0 || got[0].src != netip.MustParseAddr("198.51.100.200") {
		t.Fatalf("changes %+v, want one: bit 0 cleared by %v for 198.51.100.200", got, itr2.Addr())
	}
	// A bit coming back up is no reason to probe.
	for i := 0; i < n; i++ {
		Header(dw.msgs[i].Buf).SetLSBs(1)
	}
	dw.process(n)
	if len(got) != 1 {
		t.Errorf("a bit going up reported: %+v", got[1:])
	}
	if a := testing.AllocsPerRun(50, func() { dw.process(n) }); a != 0 {
		t.Errorf("decapsulating with the ITR table: %v allocations", a)
	}
}

// A replaced entry keeps the received locator-status bits while its
// locators are the same, in the same order (a re-resolution triggered by
// an SMR must not hide the next change); not when they differ.
func TestMappingKeepsReceivedLSBs(t *testing.T) {
	c := NewMapCache(10)
	pfx := netip.MustParsePrefix("198.51.100.0/25")
	ins := func(rlocs ...RLOCSpec) *Mapping {
		m, err := c.Insert(MappingSpec{Prefix: pfx, RLOCs: rlocs})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := ins(rlocSpec("192.0.2.11", 1, 100), rlocSpec("192.0.2.1", 2, 100))
	m.lsbs.Store(lsbPresent | 0b11)
	m2 := ins(rlocSpec("192.0.2.11", 1, 100), RLOCSpec{Addr: netip.MustParseAddr("192.0.2.1"), Priority: 2, Weight: 100, Down: true})
	if got := m2.lsbs.Load(); got != lsbPresent|0b11 {
		t.Errorf("same locators: bits %x, want kept", got)
	}
	m3 := ins(rlocSpec("192.0.2.1", 2, 100), rlocSpec("192.0.2.11", 1, 100))
	if got := m3.lsbs.Load(); got != 0 {
		t.Errorf("locators reordered: bits %x, want none", got)
	}
	// Same addresses in the same order, at other positions of the record
	// (a locator before them now left out): the bits mean others.
	m3.lsbs.Store(lsbPresent | 0b11)
	at := func(s RLOCSpec, pos int) RLOCSpec { s.Position = pos; return s }
	m4 := ins(at(rlocSpec("192.0.2.1", 2, 100), 2), at(rlocSpec("192.0.2.11", 1, 100), 3))
	if got := m4.lsbs.Load(); got != 0 {
		t.Errorf("locators at new positions: bits %x, want none", got)
	}
}

// An RLOC's locator-status bit is its position in the received record
// when given, else its index in the entry.
func TestRLOCStatusBit(t *testing.T) {
	m, err := NewMapping(MappingSpec{Prefix: netip.MustParsePrefix("198.51.100.0/25"), RLOCs: []RLOCSpec{
		{Addr: netip.MustParseAddr("192.0.2.12"), Priority: 1, Weight: 50, Position: 2},
		{Addr: netip.MustParseAddr("192.0.2.14"), Priority: 1, Weight: 50, Position: 4},
		{Addr: netip.MustParseAddr("192.0.2.15"), Priority: 1, Weight: 50},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{1, 3, 2} {
		if got := m.RLOCs[i].StatusBit(); got != want {
			t.Errorf("RLOC %d: status bit %d, want %d", i, got, want)
		}
	}
}

// Bits received before the sender's entry exists are compared once it
// does (the memo retries the lookup each second).
func TestDecapLSBsBeforeEntry(t *testing.T) {
	_, dw, n := batchFixture(t)
	var got int
	dw.p.opts.LSBChanged = func(_, _ netip.Addr, _, _ uint32) { got++ }
	src := netip.MustParsePrefix("198.51.100.128/25")
	dw.p.MapCache().Delete(0, src)
	dw.process(n) // bits 1, no entry yet
	if _, err := dw.p.MapCache().Insert(MappingSpec{Prefix: src, RLOCs: []RLOCSpec{rlocSpec("192.0.2.2", 1, 100)}}); err != nil {
		t.Fatal(err)
	}
	dw.p.cache.now.Add(1) // a second later
	dw.process(n)         // bits 1 recorded on the entry
	for i := 0; i < n; i++ {
		Header(dw.msgs[i].Buf).SetLSBs(0)
	}
	dw.process(n)
	if got != 1 {
		t.Errorf("%d changes reported, want 1", got)
	}
}
