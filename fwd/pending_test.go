package fwd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// missLog records MissHandler calls.
type missLog struct {
	mu   sync.Mutex
	dsts []netip.Addr
	iids []uint32
}

func (m *missLog) Miss(iid uint32, _, dst netip.Addr) {
	m.mu.Lock()
	m.dsts = append(m.dsts, dst)
	m.iids = append(m.iids, iid)
	m.mu.Unlock()
}

func (m *missLog) count(dst netip.Addr) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, d := range m.dsts {
		if d == dst {
			n++
		}
	}
	return n
}

// fakeNative is a NativeForwarder that keeps copies of what it forwards.
type fakeNative struct {
	mu   sync.Mutex
	pkts [][]byte
	err  error
}

func (f *fakeNative) Forward(pkt []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.pkts = append(f.pkts, append([]byte(nil), pkt...))
	return nil
}

func (f *fakeNative) got() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.pkts...)
}

// pendFixture is a plane over in-memory devices whose encapsulating worker
// the test drives batch by batch.
type pendFixture struct {
	p            *Plane
	w            *encapWorker
	tun          *fakeTUN
	peer4, peer6 *fakeConn
	miss         *missLog
	native       *fakeNative
}

var (
	rloc4 = netip.MustParseAddr("192.0.2.2")
	rloc6 = netip.MustParseAddr("2001:db8:ff::2")
)

func newPendFixture(t testing.TB, opts Options) *pendFixture {
	t.Helper()
	var n fakeNet
	c4, c6 := n.listen("192.0.2.1:4341"), n.listen("[2001:db8:ff::1]:4341")
	f := &pendFixture{tun: newFakeTUN(1464), miss: &missLog{}, native: &fakeNative{}}
	f.peer4, f.peer6 = n.listen(netip.AddrPortFrom(rloc4, DataPort).String()), n.listen(netip.AddrPortFrom(rloc6, DataPort).String())
	if opts.MissHandler == nil {
		opts.MissHandler = f.miss
	}
	if opts.EIDSpace == nil {
		opts.EIDSpace = mustPrefixes("198.51.100.0/24", "203.0.113.0/24", "2001:db8:1::/48", "2001:db8:2::/48")
	}
	opts.LocalEIDs = mustPrefixes("198.51.100.0/25")
	p, err := New(opts, f.tun, Sockets{Recv: []BatchConn{c4}, Send4: []BatchConn{c4}, Send6: []BatchConn{c6}})
	if err != nil {
		t.Fatal(err)
	}
	f.p = p
	f.w = p.newEncapWorker(false)
	return f
}

// push runs one batch of packets through the encapsulating worker.
func (f *pendFixture) push(pkts ...[]byte) {
	for i, b := range pkts {
		f.w.sizes[i] = copy(f.w.bufs[i][HeaderLen:], b)
	}
	f.w.process(len(pkts))
}

// udp builds a UDP packet from the site to dst whose source port tags it.
func udp(t testing.TB, dst string, tag uint16) []byte {
	src := "198.51.100.1"
	if netip.MustParseAddr(dst).Is6() {
		src = "2001:db8:1::1"
	}
	return buildPacket(t, pktSpec{src: src, dst: dst, proto: protoUDP, sport: tag, dport: 53, payloadLen: 20})
}

// tagOf returns the inner UDP source port of a LISP datagram.
func tagOf(t testing.TB, d []byte) uint16 {
	t.Helper()
	var p Packet
	if err := ParsePacket(d[HeaderLen:], &p); err != nil || p.Proto != protoUDP {
		t.Fatalf("not a LISP datagram around UDP: %x", d)
	}
	return binary.BigEndian.Uint16(d[HeaderLen+p.HdrLen:])
}

// drain returns the datagrams that have arrived at c.
func drain(c *fakeConn) []datagram {
	var out []datagram
	for {
		select {
		case d := <-c.in:
			out = append(out, d)
		default:
			return out
		}
	}
}

func TestPendingQueueAndFlush(t *testing.T) {
	tests := []struct {
		name   string
		iid    uint32
		dst    string
		prefix string
		rloc   netip.Addr
	}{
		{"v4 EID, v4 RLOC", 0, "198.51.100.200", "198.51.100.128/25", rloc4},
		{"v6 EID, v6 RLOC", 0, "2001:db8:2::9", "2001:db8:2::/48", rloc6},
		{"v4 EID, v6 RLOC, iid", 4242, "198.51.100.200", "198.51.100.192/26", rloc6},
		{"host prefix", 0, "198.51.100.200", "198.51.100.200/32", rloc4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newPendFixture(t, Options{InstanceID: tt.iid})
			dst := netip.MustParseAddr(tt.dst)
			// Two batches, 5 + 2 packets: one miss report, 7 queued.
			f.push(udp(t, tt.dst, 1), udp(t, tt.dst, 2), udp(t, tt.dst, 3), udp(t, tt.dst, 4), udp(t, tt.dst, 5))
			f.push(udp(t, tt.dst, 6), udp(t, tt.dst, 7))
			if n := f.miss.count(dst); n != 1 || f.miss.iids[0] != tt.iid {
				t.Fatalf("MissHandler called %d times (iids %v), want once with iid %d", n, f.miss.iids, tt.iid)
			}
			st := f.p.Stats()
			if st.Queued.Load() != 7 || st.Misses.Load() != 1 || st.Drops(DropNoMapping) != 0 || st.EncapPackets.Load() != 0 {
				t.Fatalf("stats %+v", st.Snapshot())
			}
			if d, n := f.p.Pending(); d != 1 || n != 7 {
				t.Fatalf("Pending() = %d, %d", d, n)
			}
			host := netip.PrefixFrom(dst, dst.BitLen())
			pm, ok := f.p.MapCache().Get(tt.iid, host)
			if !ok || pm.State != StatePending {
				t.Fatalf("no pending map-cache entry for %v", host)
			}
			if len(drain(f.peer4))+len(drain(f.peer6)) != 0 {
				t.Fatal("something was sent before the mapping came")
			}

			// The control plane installs the mapping: everything leaves at
			// once, in order, to the RLOC.
			if _, err := f.p.MapCache().Insert(MappingSpec{InstanceID: tt.iid, Prefix: netip.MustParsePrefix(tt.prefix), RLOCs: []RLOCSpec{{Addr: tt.rloc, Priority: 1, Weight: 1}}, TTL: time.Hour}); err != nil {
				t.Fatal(err)
			}
			peer, other := f.peer4, f.peer6
			if tt.rloc.Is6() {
				peer, other = f.peer6, f.peer4
			}
			got := drain(peer)
			if len(got) != 7 || len(drain(other)) != 0 {
				t.Fatalf("%d packets at the RLOC, want 7", len(got))
			}
			for i, d := range got {
				if tag := tagOf(t, d.b); tag != uint16(i+1) {
					t.Fatalf("packet %d has tag %d: out of order", i, tag)
				}
				h := Header(d.b)
				if h.I() != (tt.iid != 0) || tt.iid != 0 && h.InstanceID() != tt.iid {
					t.Fatalf("header %+v", h.Fields())
				}
			}
			if st.Flushed.Load() != 7 || st.EncapPackets.Load() != 7 {
				t.Fatalf("after flush: %+v", st.Snapshot())
			}
			if d, n := f.p.Pending(); d != 0 || n != 0 {
				t.Fatalf("Pending() after flush = %d, %d", d, n)
			}
			if m, ok := f.p.MapCache().Lookup(tt.iid, dst); !ok || m.State != StateComplete || m.Prefix.String() != tt.prefix {
				t.Fatalf("lookup after install: %v", m)
			}
			if tt.prefix != host.String() {
				if _, ok := f.p.MapCache().Get(tt.iid, host); ok {
					t.Fatal("pending entry left behind")
				}
			}
			// A fresh packet takes the normal path.
			f.push(udp(t, tt.dst, 8))
			if got := drain(peer); len(got) != 1 || tagOf(t, got[0].b) != 8 || f.miss.count(dst) != 1 {
				t.Fatalf("fresh packet: %d sent, %d misses", len(got), f.miss.count(dst))
			}
		})
	}
}

func TestPendingBounds(t *testing.T) {
	tests := []struct {
		name        string
		per, total  int
		pkts        map[string]int // destination -> packets sent (in this order: a, b, c)
		wantQueued  int
		wantFull    int
		wantMisses  int
		wantPending [2]int
	}{
		{"per destination", 3, 100, map[string]int{"198.51.100.200": 5}, 3, 2, 1, [2]int{1, 3}},
		{"global", 3, 5, map[string]int{"198.51.100.200": 3, "198.51.100.201": 3, "198.51.100.202": 2}, 5, 3, 3, [2]int{3, 5}},
		{"defaults", 0, 0, map[string]int{"198.51.100.200": 10}, DefaultPendingPackets, 10 - DefaultPendingPackets, 1, [2]int{1, DefaultPendingPackets}},
		{"more destinations than the total", 1, 2, map[string]int{"198.51.100.200": 1, "198.51.100.201": 1, "198.51.100.202": 1}, 2, 1, 3, [2]int{2, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newPendFixture(t, Options{PendingPackets: tt.per, PendingTotal: tt.total})
			for _, d := range []string{"198.51.100.200", "198.51.100.201", "198.51.100.202"} {
				for i := 0; i < tt.pkts[d]; i++ {
					f.push(udp(t, d, uint16(i)))
				}
			}
			st := f.p.Stats()
			if st.Queued.Load() != uint64(tt.wantQueued) || st.Drops(DropQueueFull) != uint64(tt.wantFull) || st.Misses.Load() != uint64(tt.wantMisses) {
				t.Fatalf("queued %d full %d misses %d, want %d %d %d", st.Queued.Load(), st.Drops(DropQueueFull), st.Misses.Load(), tt.wantQueued, tt.wantFull, tt.wantMisses)
			}
			if d, n := f.p.Pending(); [2]int{d, n} != tt.wantPending {
				t.Fatalf("Pending() = %d, %d, want %v", d, n, tt.wantPending)
			}
			// Everything queued leaves when a covering prefix comes.
			if _, err := f.p.MapCache().Insert(MappingSpec{Prefix: netip.MustParsePrefix("198.51.100.128/25"), RLOCs: []RLOCSpec{rlocSpec("192.0.2.2", 1, 1)}}); err != nil {
				t.Fatal(err)
			}
			if got := len(drain(f.peer4)); got != tt.wantQueued {
				t.Fatalf("flushed %d, want %d", got, tt.wantQueued)
			}
			if f.p.pend.allocated > max(tt.total, 0) && tt.total > 0 {
				t.Fatalf("%d pool buffers for a total of %d", f.p.pend.allocated, tt.total)
			}
		})
	}
}

// TestPendingSetLimits: bounds changed in place drop the oldest packets
// beyond them (a destination's first ones beyond the new per-destination
// bound, then those of the destinations queued first beyond the total),
// count them as queue-full, keep the rest for the flush, and hold the
// queues to the new bounds from then on.
func TestPendingSetLimits(t *testing.T) {
	dsts := []string{"198.51.100.200", "198.51.100.201", "198.51.100.202"}
	tests := []struct {
		name        string
		per, total  int
		wantDropped int
		wantKept    []uint16 // tags flushed afterwards: destination i sent 10i..10i+3
		wantHeld    int      // packets held after 10 more to each destination
		wantTotal   int      // the total in force: pool buffers at most
	}{
		{"raise", 8, 100, 0, []uint16{0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23}, 24, 100},
		{"per destination", 2, 12, 6, []uint16{2, 3, 12, 13, 22, 23}, 6, 12},
		{"total", 4, 6, 6, []uint16{12, 13, 20, 21, 22, 23}, 6, 6},
		{"both", 2, 3, 9, []uint16{13, 22, 23}, 3, 3},
		{"defaults", 0, 0, 0, []uint16{0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23}, 3 * DefaultPendingPackets, DefaultPendingTotal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newPendFixture(t, Options{PendingPackets: 4, PendingTotal: 12})
			t0 := time.Now()
			fill := func(n int) {
				for i, d := range dsts {
					f.p.MapCache().Tick(t0.Add(time.Duration(i) * time.Second)) // queued one after the other
					for j := range n {
						f.push(udp(t, d, uint16(10*i+j)))
					}
				}
			}
			fill(4)
			if d, n := f.p.Pending(); d != 3 || n != 12 {
				t.Fatalf("Pending() = %d, %d before, want 3, 12", d, n)
			}
			full := f.p.Stats().Drops(DropQueueFull)
			if got := f.p.SetPending(tt.per, tt.total, 0); got != tt.wantDropped {
				t.Fatalf("SetPending(%d, %d) dropped %d, want %d", tt.per, tt.total, got, tt.wantDropped)
			}
			if got := f.p.Stats().Drops(DropQueueFull) - full; got != uint64(tt.wantDropped) {
				t.Fatalf("queue-full drops counted %d, want %d", got, tt.wantDropped)
			}
			if _, n := f.p.Pending(); n != len(tt.wantKept) {
				t.Fatalf("Pending() holds %d packets, want %d", n, len(tt.wantKept))
			}
			if f.p.pend.allocated > tt.wantTotal {
				t.Fatalf("%d pool buffers for a total of %d", f.p.pend.allocated, tt.total)
			}

			// What is left leaves with the mapping.
			eids := netip.MustParsePrefix("198.51.100.128/25")
			if _, err := f.p.MapCache().Insert(MappingSpec{Prefix: eids, RLOCs: []RLOCSpec{rlocSpec("192.0.2.2", 1, 1)}}); err != nil {
				t.Fatal(err)
			}
			var tags []uint16
			for _, d := range drain(f.peer4) {
				tags = append(tags, tagOf(t, d.b))
			}
			slices.Sort(tags)
			if !slices.Equal(tags, tt.wantKept) {
				t.Fatalf("flushed %v, want %v", tags, tt.wantKept)
			}

			// The new bounds hold: queue again, past them.
			f.p.MapCache().Delete(0, eids)
			fill(10)
			if _, n := f.p.Pending(); n != tt.wantHeld {
				t.Fatalf("Pending() holds %d packets after more came, want %d", n, tt.wantHeld)
			}
			if f.p.pend.allocated > tt.wantTotal {
				t.Fatalf("%d pool buffers for a total of %d", f.p.pend.allocated, tt.total)
			}
		})
	}
}

func TestPendingResolveFailedAndExpiry(t *testing.T) {
	tests := []struct {
		name   string
		end    func(f *pendFixture, dst netip.Addr)
		reason DropReason
	}{
		{"ResolveFailed", func(f *pendFixture, dst netip.Addr) { f.p.ResolveFailed(0, dst) }, DropNoMapping},
		{"ResolveFailed with a v4-mapped address", func(f *pendFixture, dst netip.Addr) {
			f.p.ResolveFailed(0, netip.AddrFrom16(dst.As16()))
		}, DropNoMapping},
		{"expiry", func(f *pendFixture, dst netip.Addr) {
			f.p.MapCache().Tick(time.Now().Add(10 * time.Second))
			f.p.expirePending()
		}, DropPendingTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newPendFixture(t, Options{PendingTimeout: 5 * time.Second})
			dst := netip.MustParseAddr("198.51.100.200")
			f.push(udp(t, "198.51.100.200", 1), udp(t, "198.51.100.200", 2), udp(t, "198.51.100.200", 3))
			// Not yet expired after one second.
			f.p.MapCache().Tick(time.Now().Add(time.Second))
			f.p.expirePending()
			if d, n := f.p.Pending(); d != 1 || n != 3 {
				t.Fatalf("Pending() = %d, %d", d, n)
			}
			tt.end(f, dst)
			st := f.p.Stats()
			if st.Drops(tt.reason) != 3 {
				t.Fatalf("%v drops = %d, want 3: %+v", tt.reason, st.Drops(tt.reason), st.Snapshot())
			}
			if d, n := f.p.Pending(); d != 0 || n != 0 {
				t.Fatalf("Pending() = %d, %d after the end", d, n)
			}
			if _, ok := f.p.MapCache().Get(0, netip.MustParsePrefix("198.51.100.200/32")); ok || f.p.MapCache().Len() != 0 {
				t.Fatal("pending entry left in the map-cache")
			}
			// The next packet starts over: a new report, queued again.
			f.push(udp(t, "198.51.100.200", 4))
			if f.miss.count(dst) != 2 || st.Queued.Load() != 4 {
				t.Fatalf("after the end: %d misses, %d queued", f.miss.count(dst), st.Queued.Load())
			}
			// Nothing was ever sent.
			if len(drain(f.peer4)) != 0 {
				t.Fatal("dropped packets were sent")
			}
		})
	}
}

// TestPendingNegative: installing a negative entry releases the queue the
// way a fresh packet would go: natively (NativeForwarder) for
// Natively-Forward without proxy ETRs, to the PETR with one, ICMP for drop
// actions; Send-Map-Request keeps queueing and resolving.
func TestPendingNegative(t *testing.T) {
	tests := []struct {
		name       string
		action     Action
		petr       bool
		noNative   bool
		wantNative int
		wantPETR   int
		wantICMP   int
		wantReason DropReason
		wantDrops  int
	}{
		{name: "native-forward, natively", action: ActionNativelyForward, wantNative: 3},
		{name: "no-action, natively", action: ActionNoAction, wantNative: 3},
		{name: "native-forward to the PETR", action: ActionNativelyForward, petr: true, wantPETR: 3},
		{name: "native-forward without a way out", action: ActionNativelyForward, noNative: true, wantICMP: 3, wantReason: DropNegative, wantDrops: 3},
		{name: "drop", action: ActionDrop, wantICMP: 3, wantReason: DropNegative, wantDrops: 3},
		{name: "policy-denied", action: ActionDropPolicyDenied, wantICMP: 3, wantReason: DropNegative, wantDrops: 3},
		{name: "send-map-request", action: ActionSendMapRequest, wantReason: DropNoMapping, wantDrops: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{}
			if tt.petr {
				opts.ProxyETRs = []RLOCSpec{rlocSpec("192.0.2.2", 1, 1)}
			}
			var f *pendFixture
			if !tt.noNative {
				nf := &fakeNative{}
				opts.NativeForwarder = nf
				f = newPendFixture(t, opts)
				f.native = nf
			} else {
				f = newPendFixture(t, opts)
			}
			for i := 1; i <= 3; i++ {
				f.push(udp(t, "203.0.113.9", uint16(i)))
			}
			if _, err := f.p.MapCache().Insert(MappingSpec{Prefix: netip.MustParsePrefix("203.0.113.0/24"), Action: tt.action, TTL: time.Minute}); err != nil {
				t.Fatal(err)
			}
			st := f.p.Stats()
			nat := f.native.got()
			if len(nat) != tt.wantNative || st.NativePackets.Load() != uint64(tt.wantNative) {
				t.Fatalf("natively forwarded %d (counter %d), want %d", len(nat), st.NativePackets.Load(), tt.wantNative)
			}
			for i, b := range nat {
				if want := udp(t, "203.0.113.9", uint16(i+1)); string(b) != string(want) {
					t.Fatalf("native packet %d changed or out of order", i)
				}
			}
			if got := drain(f.peer4); len(got) != tt.wantPETR {
				t.Fatalf("%d packets to the PETR, want %d", len(got), tt.wantPETR)
			}
			icmp := 0
			for len(f.tun.out) > 0 {
				<-f.tun.out
				icmp++
			}
			if icmp != tt.wantICMP || tt.wantDrops > 0 && st.Drops(tt.wantReason) != uint64(tt.wantDrops) {
				t.Fatalf("ICMP %d, %v drops %d; want %d, %d", icmp, tt.wantReason, st.Drops(tt.wantReason), tt.wantICMP, tt.wantDrops)
			}
			if d, n := f.p.Pending(); d != 0 || n != 0 {
				t.Fatalf("Pending() = %d, %d", d, n)
			}
			// A fresh packet goes the same way.
			f.push(udp(t, "203.0.113.9", 9))
			switch {
			case tt.wantNative > 0:
				if len(f.native.got()) != 4 {
					t.Fatal("fresh packet not forwarded natively")
				}
			case tt.action == ActionSendMapRequest:
				// Queued again, and resolution asked for again.
				if d, n := f.p.Pending(); d != 1 || n != 1 || f.miss.count(netip.MustParseAddr("203.0.113.9")) != 2 {
					t.Fatalf("send-map-request: pending %d/%d, misses %d", d, n, f.miss.count(netip.MustParseAddr("203.0.113.9")))
				}
				// It puts no placeholder above the negative entry.
				if _, ok := f.p.MapCache().Get(0, netip.MustParsePrefix("203.0.113.9/32")); ok {
					t.Fatal("placeholder under a send-map-request entry")
				}
			}
		})
	}
}

func TestPendingNativeError(t *testing.T) {
	nf := &fakeNative{err: errors.New("no route")}
	f := newPendFixture(t, Options{NativeForwarder: nf})
	insert(t, f.p.MapCache(), MappingSpec{Prefix: netip.MustParsePrefix("203.0.113.0/24"), Action: ActionNativelyForward})
	f.push(udp(t, "203.0.113.9", 1), udp(t, "203.0.113.10", 2))
	if st := f.p.Stats(); st.Drops(DropNativeError) != 2 {
		t.Fatalf("native-error drops %d", st.Drops(DropNativeError))
	}
}

// TestNativeNoRoute: a natively-forwarded packet for which the kernel has
// no route gets an ICMP net unreachable (IPv4) or no-route (IPv6) back into
// the TUN, as from a router without a route; other errors drop silently.
func TestNativeNoRoute(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		dst       string
		typ, code byte // 0, 0: no reply
	}{
		{"v4 no route", fmt.Errorf("native forwarding: %w", unix.ENETUNREACH), "203.0.113.9", 3, 0},
		{"v6 no route", unix.EHOSTUNREACH, "2001:db8:2::9", 1, 0},
		{"other error", errors.New("no buffer space"), "203.0.113.9", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newPendFixture(t, Options{NativeForwarder: &fakeNative{err: tc.err}})
			prefix := "203.0.113.0/24"
			if netip.MustParseAddr(tc.dst).Is6() {
				prefix = "2001:db8:2::/48"
			}
			insert(t, f.p.MapCache(), MappingSpec{Prefix: netip.MustParsePrefix(prefix), Action: ActionNativelyForward})
			f.push(udp(t, tc.dst, 1))
			st := f.p.Stats().Snapshot()
			if st.Drops[DropNativeError.String()] != 1 {
				t.Fatalf("native-error drops %d, want 1", st.Drops[DropNativeError.String()])
			}
			if tc.typ == 0 {
				if st.ICMPSent != 0 {
					t.Fatalf("%d ICMP errors sent for %v", st.ICMPSent, tc.err)
				}
				return
			}
			reply := recvPacket(t, f.tun)
			var p Packet
			if err := ParsePacket(reply, &p); err != nil {
				t.Fatal(err)
			}
			var orig Packet
			if err := ParsePacket(udp(t, tc.dst, 1), &orig); err != nil {
				t.Fatal(err)
			}
			if ic := reply[p.HdrLen:]; p.Dst != orig.Src || ic[0] != tc.typ || ic[1] != tc.code {
				t.Fatalf("reply to %v type %d code %d, want type %d code %d", p.Dst, ic[0], ic[1], tc.typ, tc.code)
			}
			if st.ICMPSent != 1 {
				t.Fatalf("icmp-sent %d, want 1", st.ICMPSent)
			}
		})
	}
}

// TestPendingCacheLimit: placeholders never evict (static or learned)
// entries, and a mapping covering them makes room for itself.
func TestPendingCacheLimit(t *testing.T) {
	f := newPendFixture(t, Options{MapCacheLimit: 3})
	c := f.p.MapCache()
	insert(t, c, MappingSpec{Prefix: netip.MustParsePrefix("198.51.100.0/26"), RLOCs: []RLOCSpec{rlocSpec("192.0.2.2", 1, 1)}, Static: true})
	insert(t, c, MappingSpec{Prefix: netip.MustParsePrefix("198.51.100.64/26"), RLOCs: []RLOCSpec{rlocSpec("192.0.2.2", 1, 1)}, Static: true})
	f.push(udp(t, "198.51.100.200", 1))
	if c.Len() != 3 {
		t.Fatalf("cache has %d entries, want 2 static + 1 pending", c.Len())
	}
	// Full: the next destination is queued without a placeholder.
	f.push(udp(t, "198.51.100.201", 2))
	if d, n := f.p.Pending(); d != 2 || n != 2 || c.Len() != 3 {
		t.Fatalf("Pending() = %d, %d; cache %d", d, n, c.Len())
	}
	if _, ok := c.Get(0, netip.MustParsePrefix("198.51.100.201/32")); ok {
		t.Fatal("a placeholder evicted something")
	}
	// The covering mapping replaces the placeholder: no eviction needed.
	insert(t, c, MappingSpec{Prefix: netip.MustParsePrefix("198.51.100.128/25"), RLOCs: []RLOCSpec{rlocSpec("192.0.2.2", 1, 1)}})
	if c.Len() != 3 || len(drain(f.peer4)) != 2 {
		t.Fatalf("cache %d entries after install", c.Len())
	}
	for _, p := range []string{"198.51.100.0/26", "198.51.100.64/26", "198.51.100.128/25"} {
		if _, ok := c.Get(0, netip.MustParsePrefix(p)); !ok {
			t.Fatalf("%s missing", p)
		}
	}
}

// TestPendingDisabled: a negative PendingPackets (or no MissHandler) keeps
// the old behaviour: report and drop.
func TestPendingDisabled(t *testing.T) {
	f := newPendFixture(t, Options{PendingPackets: -1})
	f.push(udp(t, "198.51.100.200", 1), udp(t, "198.51.100.200", 2))
	st := f.p.Stats()
	if st.Drops(DropNoMapping) != 2 || st.Queued.Load() != 0 || f.miss.count(netip.MustParseAddr("198.51.100.200")) != 1 {
		t.Fatalf("%+v", st.Snapshot())
	}
	if f.p.MapCache().Len() != 0 {
		t.Fatal("placeholder without a queue")
	}
}

// TestPendingConcurrentFlush runs the plane's goroutines while the "control
// plane" installs mappings for the destinations being sent to, in random
// order, and withdraws some with ResolveFailed: under -race, every packet is
// accounted for (sent or dropped with a reason) and no queue is left.
func TestPendingConcurrentFlush(t *testing.T) {
	var n fakeNet
	c4 := n.listen("192.0.2.1:4341")
	peer := n.listen("192.0.2.2:4341")
	peer.discard = true
	tun := newFakeTUN(1464)
	tun.discard = true
	miss := &missLog{}
	p, err := New(Options{EIDSpace: mustPrefixes("198.51.100.0/24"), MissHandler: miss, PendingPackets: 4, PendingTotal: 64},
		tun, Sockets{Recv: []BatchConn{c4}, Send4: []BatchConn{c4, peer}})
	if err != nil {
		t.Fatal(err)
	}
	// The fake conns deliver nowhere; c4 and peer both count.
	c4.discard = true
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()

	const dsts, rounds = 100, 20
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 51, 100, byte(128 + i)}) }
	pkts := make([][]byte, dsts)
	for i := range pkts {
		pkts[i] = udp(t, addr(i).String(), uint16(i))
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // the hosts
		defer wg.Done()
		for r := 0; r < rounds; r++ {
			for i := range pkts {
				tun.in <- pkts[i]
			}
		}
	}()
	go func() { // the control plane
		defer wg.Done()
		for _, i := range rand.Perm(dsts) {
			if i%10 == 0 {
				p.ResolveFailed(0, addr(i))
				time.Sleep(50 * time.Microsecond)
			}
			if _, err := p.MapCache().Insert(MappingSpec{Prefix: netip.PrefixFrom(addr(i), 32), RLOCs: []RLOCSpec{rlocSpec("192.0.2.2", 1, 1)}}); err != nil {
				t.Error(err)
			}
			time.Sleep(50 * time.Microsecond)
		}
	}()
	wg.Wait()
	st := p.Stats()
	total := uint64(dsts * rounds)
	waitFor(t, "every packet accounted for", func() bool {
		s := st.Snapshot()
		var drops uint64
		for _, v := range s.Drops {
			drops += v
		}
		return s.EncapPackets+drops == total
	})
	if d, k := p.Pending(); d != 0 || k != 0 {
		t.Fatalf("Pending() = %d, %d after every mapping came", d, k)
	}
	s := st.Snapshot()
	for r, v := range s.Drops {
		if v != 0 && r != "queue-full" && r != "no-mapping" {
			t.Errorf("unexpected %s drops: %d", r, v)
		}
	}
	if s.Flushed == 0 || s.Queued != s.Flushed+s.Drops["no-mapping"] {
		t.Errorf("queued %d, flushed %d, dropped by ResolveFailed %d", s.Queued, s.Flushed, s.Drops["no-mapping"])
	}
	// Every destination has its mapping now: no placeholders left.
	p.MapCache().Walk(func(m *Mapping) bool {
		if m.State == StatePending {
			t.Errorf("placeholder %v left", m)
		}
		return true
	})
}

// TestPendingCycleAllocs: queueing packets and flushing them on install
// allocates per destination (the placeholder, the installed mapping), never
// per packet, once the pool is warm.
func TestPendingCycleAllocs(t *testing.T) {
	var n fakeNet
	c := n.listen("192.0.2.1:4341")
	c.discard = true
	tun := newFakeTUN(1464)
	tun.discard = true
	p, err := New(Options{EIDSpace: mustPrefixes("198.51.100.0/24"), MissHandler: MissFunc(func(uint32, netip.Addr, netip.Addr) {})},
		tun, Sockets{Recv: []BatchConn{c}, Send4: []BatchConn{c}})
	if err != nil {
		t.Fatal(err)
	}
	w := p.newEncapWorker(false)
	dst := netip.MustParsePrefix("198.51.100.200/32")
	pkt := udp(t, "198.51.100.200", 1)
	for i := range w.bufs {
		w.sizes[i] = copy(w.bufs[i][HeaderLen:], pkt)
	}
	spec := MappingSpec{Prefix: dst, RLOCs: []RLOCSpec{rlocSpec("192.0.2.2", 1, 1)}}
	cycle := func(k int) func() {
		return func() {
			w.process(k) // queued
			if _, err := p.MapCache().Insert(spec); err != nil {
				panic(err)
			}
			p.MapCache().Delete(0, dst)
		}
	}
	for k := 1; k <= DefaultPendingPackets; k++ {
		cycle(k)() // warm up the pool and the maps
	}
	sent := p.Stats().EncapPackets.Load()
	a1 := testing.AllocsPerRun(50, cycle(1))
	a8 := testing.AllocsPerRun(50, cycle(DefaultPendingPackets))
	if a8 != a1 {
		t.Fatalf("a cycle of 1 packet: %v allocations, of %d packets: %v", a1, DefaultPendingPackets, a8)
	}
	if got := p.Stats().EncapPackets.Load() - sent; got != 51*(1+DefaultPendingPackets) {
		t.Fatalf("sent %d packets in the cycles", got)
	}
	t.Logf("%v allocations per queue-and-flush cycle, for 1 or %d packets", a1, DefaultPendingPackets)
}

func BenchmarkPendingCycle(b *testing.B) {
	var n fakeNet
	c := n.listen("192.0.2.1:4341")
	c.discard = true
	tun := newFakeTUN(1464)
	tun.discard = true
	p, err := New(Options{EIDSpace: mustPrefixes("198.51.100.0/24"), MissHandler: MissFunc(func(uint32, netip.Addr, netip.Addr) {})},
		tun, Sockets{Recv: []BatchConn{c}, Send4: []BatchConn{c}})
	if err != nil {
		b.Fatal(err)
	}
	w := p.newEncapWorker(false)
	dst := netip.MustParsePrefix("198.51.100.200/32")
	pkt := udp(b, "198.51.100.200", 1)
	for i := range w.bufs {
		w.sizes[i] = copy(w.bufs[i][HeaderLen:], pkt)
	}
	spec := MappingSpec{Prefix: dst, RLOCs: []RLOCSpec{rlocSpec("192.0.2.2", 1, 1)}}
	b.ReportAllocs()
	for b.Loop() {
		w.process(DefaultPendingPackets)
		if _, err := p.MapCache().Insert(spec); err != nil {
			b.Fatal(err)
		}
		p.MapCache().Delete(0, dst)
	}
}

// TestLogGate: the packet path's error lines come at most once per second
// of the coarse clock per goroutine, and each says how many it stands for.
func TestLogGate(t *testing.T) {
	var lines []string
	f := newPendFixture(t, Options{ErrorLog: func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }})
	var g logGate
	f.p.cache.now.Store(10)
	for i := range 4 {
		f.p.logEvery(&g, "fwd: error %d", i)
	}
	f.p.cache.now.Store(11)
	f.p.logEvery(&g, "fwd: error %d", 4)
	want := []string{"fwd: error 0", "fwd: error 4 (and 3 more since the last such line)"}
	if fmt.Sprint(lines) != fmt.Sprint(want) {
		t.Fatalf("logged %q, want %q", lines, want)
	}
}
