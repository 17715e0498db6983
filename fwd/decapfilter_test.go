package fwd

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/lispd/lispd/fwd/netio"
)

func TestDecapSourcesContains(t *testing.T) {
	s := new(decapSources)
	for _, p := range mustPrefixes("192.0.2.2/32", "192.0.2.9/32", "2001:db8::2/128", "203.0.113.0/28", "2001:db8:ff::/48") {
		s.Insert(p, nil)
	}
	tests := []struct {
		addr string
		want bool
	}{
		{"192.0.2.2", true},
		{"192.0.2.9", true},
		{"192.0.2.3", false},
		{"192.0.2.1", false},
		{"2001:db8::2", true},
		{"2001:db8::3", false},
		{"203.0.113.15", true},
		{"203.0.113.16", false},
		{"2001:db8:ff::1", true},
		{"2001:db8:fe::1", false},
		{"0.0.0.0", false},
	}
	for _, tt := range tests {
		if got := knownSource(s, netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("contains(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	var memo srcMemo
	if !memo.known(netip.Addr{}) {
		t.Error("filter off refused a source")
	}
	memo.set = s
	if memo.known(netip.Addr{}) {
		t.Error("the zero address (the memo's initial value) was accepted")
	}
}

// decapMisses records the misses reported to it.
type decapMisses struct{ got []decapMiss }

type decapMiss struct{ src, dst netip.Addr }

func (m *decapMisses) Miss(_ uint32, src, dst netip.Addr) { m.got = append(m.got, decapMiss{src, dst}) }

// filterFixture is a plane with the decapsulation filter on: local EIDs
// 198.51.100.0/25, eid_space 198.51.100.0/24, a mapping 198.51.100.128/26
// at 192.0.2.2, a proxy ETR 192.0.2.9 and decap_allow 203.0.113.0/28.
func filterFixture(t *testing.T) (*decapWorker, *fakeTUN, *decapMisses) {
	t.Helper()
	w, tun, miss := filterPlane(t, Options{
		ProxyETRs: []RLOCSpec{rlocSpec("192.0.2.9", 1, 100)}, PendingPackets: -1,
		DecapAllow: mustPrefixes("203.0.113.0/28"),
	})
	p := w.p
	if _, err := p.MapCache().Insert(MappingSpec{Prefix: netip.MustParsePrefix("198.51.100.128/26"), RLOCs: []RLOCSpec{rlocSpec("192.0.2.2", 1, 100)}}); err != nil {
		t.Fatal(err)
	}
	p.rebuildSources() // sourcesLoop's work, without Run
	return w, tun, miss
}

// filterPlane is a plane with o's options and the decapsulation filter on,
// local EIDs 198.51.100.0/25 and eid_space 198.51.100.0/24, with a
// decapsulating worker, its TUN and its miss handler.
func filterPlane(t *testing.T, o Options) (*decapWorker, *fakeTUN, *decapMisses) {
	t.Helper()
	var n fakeNet
	c := n.listen("192.0.2.1:4341")
	c.discard = true
	tun := newFakeTUN(1464)
	miss := &decapMisses{}
	o.LocalEIDs, o.EIDSpace = mustPrefixes("198.51.100.0/25"), mustPrefixes("198.51.100.0/24")
	o.MissHandler, o.DecapFilter = miss, true
	p, err := New(o, tun, Sockets{Recv: []BatchConn{c}, Send4: []BatchConn{c}})
	if err != nil {
		t.Fatal(err)
	}
	p.rebuildSources() // sourcesLoop's work, without Run
	return p.newDecapWorker(c), tun, miss
}

// setMsg puts a LISP packet (header hdr, inner src -> dst) from "from" into
// message i of w.
func setMsg(t *testing.T, w *decapWorker, i int, from string, hdr HeaderFields, src, dst string) {
	b := lispPacket(hdr, buildPacket(t, pktSpec{src: src, dst: dst, proto: protoUDP, sport: 1, dport: 2}))
	w.msgs[i] = netio.Message{Buf: w.bufs[i], N: copy(w.bufs[i], b), Addr: netip.AddrPortFrom(netip.MustParseAddr(from), 4341), TTL: 64}
}

func TestDecapFilter(t *testing.T) {
	nl := HeaderFields{N: true, L: true, LSBs: 1}
	tests := []struct {
		name     string
		from     string
		hdr      HeaderFields
		src, dst string
		reason   DropReason // 0: delivered
		miss     string     // inner source reported as a miss
	}{
		{name: "mapping RLOC", from: "192.0.2.2", hdr: nl, src: "198.51.100.130", dst: "198.51.100.5"},
		{name: "mapping RLOC v4-mapped", from: "::ffff:192.0.2.2", hdr: nl, src: "198.51.100.130", dst: "198.51.100.5"},
		{name: "proxy ETR", from: "192.0.2.9", hdr: nl, src: "192.0.2.200", dst: "198.51.100.5"},
		{name: "decap_allow", from: "203.0.113.15", hdr: nl, src: "198.51.100.250", dst: "198.51.100.5"},
		{name: "unknown: resolve the remote source", from: "203.0.113.16", hdr: nl, src: "198.51.100.250", dst: "198.51.100.5", reason: DropUnknownSource, miss: "198.51.100.250"},
		{name: "unknown: source already mapped (asked again, once)", from: "192.0.2.3", hdr: nl, src: "198.51.100.130", dst: "198.51.100.5", reason: DropUnknownSource, miss: "198.51.100.130"},
		{name: "unknown: source outside eid_space", from: "192.0.2.3", hdr: nl, src: "192.0.2.77", dst: "198.51.100.5", reason: DropUnknownSource},
		{name: "unknown: source ours", from: "192.0.2.3", hdr: nl, src: "198.51.100.6", dst: "198.51.100.5", reason: DropUnknownSource},
		{name: "unknown: destination not ours", from: "192.0.2.3", hdr: nl, src: "198.51.100.250", dst: "198.51.100.200", reason: DropUnknownSource},
		{name: "unknown: other instance", from: "192.0.2.3", hdr: HeaderFields{N: true, I: true, InstanceID: 7}, src: "198.51.100.250", dst: "198.51.100.5", reason: DropUnknownSource},
		{name: "known but spoofed", from: "192.0.2.2", hdr: nl, src: "198.51.100.6", dst: "198.51.100.5", reason: DropSpoofedSource},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, tun, miss := filterFixture(t)
			const k = 3 // the same datagram three times: one miss per second
			for i := 0; i < k; i++ {
				setMsg(t, w, i, tt.from, tt.hdr, tt.src, tt.dst)
			}
			w.process(k)
			st := w.p.Stats()
			if tt.reason == 0 {
				if got := st.DecapPackets.Load(); got != k || len(tun.out) != k {
					t.Fatalf("delivered %d (TUN %d), want %d: %+v", got, len(tun.out), k, st.Snapshot().Drops)
				}
				if r := w.p.RecentITRs(60e9); len(r) != 1 {
					t.Errorf("recent ITRs %v, want the sender", r)
				}
			} else {
				if got := st.Drops(tt.reason); got != k || len(tun.out) != 0 || st.DecapPackets.Load() != 0 {
					t.Fatalf("%v drops %d, TUN %d, want %d drops and nothing delivered", tt.reason, got, len(tun.out), k)
				}
				if tt.reason == DropUnknownSource {
					if r := w.p.RecentITRs(60e9); len(r) != 0 {
						t.Errorf("an unknown source became a recent ITR (SMR target): %v", r)
					}
				}
			}
			var want []decapMiss
			if tt.miss != "" {
				want = []decapMiss{{netip.MustParseAddr(tt.dst), netip.MustParseAddr(tt.miss)}}
			}
			if len(miss.got) != len(want) || len(want) == 1 && miss.got[0] != want[0] {
				t.Errorf("misses %v, want %v", miss.got, want)
			}
			if got := st.Misses.Load(); got != uint64(len(want)) {
				t.Errorf("misses counted %d, want %d", got, len(want))
			}
		})
	}
}

// Control messages on the data port (NAT traversal) are authenticated by the
// control plane: the filter leaves them to Divert.
func TestDecapFilterDivertsControl(t *testing.T) {
	w, tun, _ := filterFixture(t)
	var diverted int
	w.p.opts.Divert = func([]byte, netip.AddrPort) { diverted++ }
	setMsg(t, w, 0, "192.0.2.3", HeaderFields{N: true, I: true, InstanceID: NATInstanceID}, "198.51.100.250", "198.51.100.5")
	w.process(1)
	if diverted != 1 || w.p.Stats().Drops(DropUnknownSource) != 0 || len(tun.out) != 0 {
		t.Fatalf("diverted %d, unknown-source %d, TUN %d; want the Data-Map-Notify diverted", diverted, w.p.Stats().Drops(DropUnknownSource), len(tun.out))
	}
}

// The known sources follow the map-cache (sourcesLoop, woken by each new
// snapshot) and SetDecapAllow; a remote site's flow passes once its mapping
// is installed.
func TestDecapFilterFollowsMapCache(t *testing.T) {
	w, tun, miss := filterFixture(t)
	p := w.p
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); p.sourcesLoop(ctx) }()
	defer func() { cancel(); <-done }()

	send := func() {
		setMsg(t, w, 0, "192.0.2.77", HeaderFields{N: true}, "198.51.100.250", "198.51.100.5")
		w.process(1)
	}
	send()
	if len(tun.out) != 0 || len(miss.got) != 1 {
		t.Fatalf("before resolution: TUN %d, misses %v", len(tun.out), miss.got)
	}
	prefix := netip.MustParsePrefix("198.51.100.192/26")
	if _, err := p.MapCache().Insert(MappingSpec{Prefix: prefix, RLOCs: []RLOCSpec{rlocSpec("192.0.2.77", 1, 100)}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new RLOC known", func() bool { return knownSource(p.srcs.Load(), netip.MustParseAddr("192.0.2.77")) })
	send()
	if len(tun.out) != 1 {
		t.Fatalf("after resolution: TUN %d, drops %v", len(tun.out), p.Stats().Snapshot().Drops)
	}
	p.MapCache().Delete(0, prefix)
	waitFor(t, "the RLOC forgotten", func() bool { return !knownSource(p.srcs.Load(), netip.MustParseAddr("192.0.2.77")) })
	send()
	if len(tun.out) != 1 || p.Stats().Drops(DropUnknownSource) != 2 {
		t.Fatalf("after delete: TUN %d, unknown-source %d", len(tun.out), p.Stats().Drops(DropUnknownSource))
	}
	p.SetDecapAllow(mustPrefixes("192.0.2.64/27"))
	send()
	if len(tun.out) != 2 {
		t.Fatalf("after SetDecapAllow: TUN %d", len(tun.out))
	}
	p.SetDecapAllow(nil)
	setMsg(t, w, 0, "203.0.113.1", HeaderFields{N: true}, "198.51.100.250", "198.51.100.5")
	w.process(1)
	if len(tun.out) != 2 {
		t.Fatal("decap_allow removed, its source still accepted")
	}
}

type decapMissCount struct{ n int }

func (c *decapMissCount) Miss(uint32, netip.Addr, netip.Addr) { c.n++ }

func TestDecapFilterAllocs(t *testing.T) {
	for _, from := range []string{"192.0.2.2", "192.0.2.3"} {
		w, tun, _ := filterFixture(t)
		tun.discard = true
		w.p.opts.MissHandler = &decapMissCount{}
		for i := range w.msgs {
			setMsg(t, w, i, from, HeaderFields{N: true}, "198.51.100.250", "198.51.100.5")
		}
		n := len(w.msgs)
		if a := testing.AllocsPerRun(50, func() { w.process(n) }); a != 0 {
			t.Errorf("decapsulating a batch from %s with the filter on: %v allocations", from, a)
		}
	}
}

func BenchmarkDecapBatchFiltered(b *testing.B) {
	_, dw, n := batchFixture(b)
	p := dw.p
	p.srcWake = make(chan struct{}, 1)
	p.SetDecapAllow(nil)
	for i := 0; i < n; i++ {
		dw.msgs[i].Addr = netip.MustParseAddrPort("192.0.2.2:4341")
	}
	b.ReportAllocs()
	b.SetBytes(int64(n * 1000))
	for b.Loop() {
		dw.process(n)
	}
	if p.Stats().Drops(DropUnknownSource) != 0 {
		b.Fatal("dropped")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/packet")
}

// The first packets from a site we have no mapping for are held, not
// lost: delivered once its mapping (with the sender among its RLOCs) is
// installed, counted as queued and flushed. A held packet whose sender is
// still unknown after the wait (an attacker naming a real site as inner
// source) is dropped as unknown-source; the slots are bounded.
func TestDecapFilterHolds(t *testing.T) {
	nl := HeaderFields{N: true, L: true, LSBs: 1}
	w, tun, miss := filterPlane(t, Options{})
	p := w.p
	now := p.cache.now.Load()
	st := p.Stats()

	// A site's first packet, and an attacker's packet naming the same site.
	setMsg(t, w, 0, "203.0.113.16", nl, "198.51.100.250", "198.51.100.5")
	setMsg(t, w, 1, "203.0.113.99", nl, "198.51.100.250", "198.51.100.6")
	w.process(2)
	if got := st.Queued.Load(); got != 2 || len(tun.out) != 0 || st.Drops(DropUnknownSource) != 0 {
		t.Fatalf("queued %d, TUN %d, unknown-source %d; want 2 held, nothing delivered or dropped", got, len(tun.out), st.Drops(DropUnknownSource))
	}
	if len(miss.got) != 1 || miss.got[0].dst != netip.MustParseAddr("198.51.100.250") {
		t.Fatalf("misses %v, want one for 198.51.100.250", miss.got)
	}
	p.releaseHeld(now, heldWait) // nothing known yet: both stay
	if len(tun.out) != 0 || p.held.n.Load() != 2 {
		t.Fatalf("released before the mapping: TUN %d, held %d", len(tun.out), p.held.n.Load())
	}

	// The site's mapping arrives: its packet is delivered, the attacker's stays.
	if _, err := p.MapCache().Insert(MappingSpec{Prefix: netip.MustParsePrefix("198.51.100.250/32"), RLOCs: []RLOCSpec{rlocSpec("203.0.113.16", 1, 100)}}); err != nil {
		t.Fatal(err)
	}
	p.rebuildSources()
	p.releaseHeld(now, heldWait)
	if len(tun.out) != 1 || st.Flushed.Load() != 1 || st.DecapPackets.Load() != 1 || p.held.n.Load() != 1 {
		t.Fatalf("after the mapping: TUN %d, flushed %d, decap %d, held %d; want 1, 1, 1, 1", len(tun.out), st.Flushed.Load(), st.DecapPackets.Load(), p.held.n.Load())
	}
	if inner := <-tun.out; len(inner) < 20 || netip.AddrFrom4([4]byte(inner[16:20])) != netip.MustParseAddr("198.51.100.5") {
		t.Errorf("delivered %x, want the packet to 198.51.100.5", inner)
	}
	p.releaseHeld(now+2, heldWait)
	if p.held.n.Load() != 1 || st.Drops(DropUnknownSource) != 0 {
		t.Fatalf("dropped before the wait: held %d", p.held.n.Load())
	}
	p.releaseHeld(now+3, heldWait)
	if p.held.n.Load() != 0 || st.Drops(DropUnknownSource) != 1 || len(tun.out) != 0 {
		t.Fatalf("after the wait: held %d, unknown-source %d, TUN %d; want 0, 1, 0", p.held.n.Load(), st.Drops(DropUnknownSource), len(tun.out))
	}

	// The site renumbers: its packets now come from an RLOC its installed
	// mapping does not list. They are held and the mapping asked for
	// again (once a minute, not once a packet), and delivered once the new
	// mapping is in.
	now += 4 // the coarse clock moves on
	p.cache.now.Store(now)
	missed := len(miss.got)
	for i := range 2 {
		setMsg(t, w, i, "203.0.113.17", nl, "198.51.100.250", "198.51.100.5")
	}
	w.process(2)
	if len(miss.got) != missed+1 || p.held.n.Load() != 2 {
		t.Fatalf("renumbered site: %d new misses, %d held; want 1 and 2", len(miss.got)-missed, p.held.n.Load())
	}
	if _, err := p.MapCache().Insert(MappingSpec{Prefix: netip.MustParsePrefix("198.51.100.250/32"), RLOCs: []RLOCSpec{rlocSpec("203.0.113.17", 1, 100)}}); err != nil {
		t.Fatal(err)
	}
	p.rebuildSources()
	p.releaseHeld(now, heldWait)
	if len(tun.out) != 2 || p.held.n.Load() != 0 {
		t.Fatalf("renumbered site after its new mapping: TUN %d, held %d; want 2 and 0", len(tun.out), p.held.n.Load())
	}
	for range 2 {
		<-tun.out
	}
	// The answer replaced the mapping; the minute runs on: a sender it does
	// not name (an attacker) gets neither a hold nor another Map-Request.
	now += heldWait
	p.cache.now.Store(now)
	missed, unknown := len(miss.got), st.Drops(DropUnknownSource)
	setMsg(t, w, 0, "203.0.113.99", nl, "198.51.100.250", "198.51.100.5")
	w.process(1)
	if len(miss.got) != missed || p.held.n.Load() != 0 || st.Drops(DropUnknownSource) != unknown+1 {
		t.Fatalf("within the minute: %d new misses, %d held, %d dropped; want 0, 0, 1", len(miss.got)-missed, p.held.n.Load(), st.Drops(DropUnknownSource)-unknown)
	}

	// Bounded: of more packets than slots, the rest are dropped at once.
	unknown = st.Drops(DropUnknownSource)
	for i := range heldSlots + 2 {
		setMsg(t, w, i, "203.0.113.99", nl, fmt.Sprintf("198.51.100.%d", 200+i), "198.51.100.5")
	}
	w.process(heldSlots + 2)
	if p.held.n.Load() != heldSlots || st.Drops(DropUnknownSource) != unknown+2 {
		t.Fatalf("held %d, unknown-source %d more; want %d and 2", p.held.n.Load(), st.Drops(DropUnknownSource)-unknown, heldSlots)
	}
}

// FuzzDecapFilter feeds arbitrary datagrams from an unknown sender (and
// from a known one) through the decapsulating worker with the filter on:
// the held-packet path parses, holds and releases them. Never a panic,
// never more held than the slots, nothing held delivered while its sender
// stays unknown.
func FuzzDecapFilter(f *testing.F) {
	pos, neg := dataVectors(f)
	for _, v := range append(pos, neg...) {
		f.Add(mustHex(f, v.Payload), false)
	}
	nl := HeaderFields{N: true, L: true, LSBs: 1}
	f.Add(lispPacket(nl, buildPacket(f, pktSpec{src: "198.51.100.250", dst: "198.51.100.5", proto: protoUDP, sport: 1, dport: 2})), false)
	f.Fuzz(func(t *testing.T, b []byte, known bool) {
		w, tun, _ := filterPlane(t, Options{})
		from := "203.0.113.99"
		if known {
			from = "192.0.2.2"
			if _, err := w.p.MapCache().Insert(MappingSpec{Prefix: netip.MustParsePrefix("198.51.100.128/26"), RLOCs: []RLOCSpec{rlocSpec(from, 1, 100)}}); err != nil {
				t.Fatal(err)
			}
			w.p.rebuildSources()
		}
		for i := range 2 {
			w.msgs[i] = netio.Message{Buf: w.bufs[i], N: copy(w.bufs[i], b), Addr: netip.AddrPortFrom(netip.MustParseAddr(from), 4341), TTL: 64}
		}
		w.process(2)
		if n := w.p.held.n.Load(); n < 0 || n > heldSlots {
			t.Fatalf("%d held", n)
		}
		delivered := len(tun.out)
		now := w.p.cache.now.Load()
		w.p.releaseHeld(now, heldWait)
		if !known && len(tun.out) != delivered {
			t.Fatalf("a held packet from an unknown sender was delivered")
		}
		w.p.releaseHeld(now+heldWait, heldWait)
		if n := w.p.held.n.Load(); n != 0 {
			t.Fatalf("%d still held after the wait", n)
		}
	})
}
