package fwd

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/lispd/lispd/fwd/netio"
)

var errClosed = errors.New("closed")

// fakeTUN is an in-memory TUN: tests push packets into in and read what the
// plane wrote from out.
type fakeTUN struct {
	in        chan []byte
	out       chan []byte
	done      chan struct{}
	closeOnce sync.Once
	mtu       int
	discard   bool // Write drops packets (benchmarks)
}

func newFakeTUN(mtu int) *fakeTUN {
	return &fakeTUN{in: make(chan []byte, 256), out: make(chan []byte, 256), done: make(chan struct{}), mtu: mtu}
}

func (f *fakeTUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	var p []byte
	select {
	case p = <-f.in:
	case <-f.done:
		return 0, errClosed
	}
	n := 0
	for {
		sizes[n] = copy(bufs[n][offset:], p)
		n++
		if n == len(bufs) {
			return n, nil
		}
		select {
		case p = <-f.in:
		default:
			return n, nil
		}
	}
}

func (f *fakeTUN) Write(bufs [][]byte, offset int) (int, error) {
	if f.discard {
		return len(bufs), nil
	}
	for _, b := range bufs {
		select {
		case f.out <- append([]byte(nil), b[offset:]...):
		case <-f.done:
			return 0, errClosed
		}
	}
	return len(bufs), nil
}

func (f *fakeTUN) MTU() int { return f.mtu }

func (f *fakeTUN) Close() error {
	f.closeOnce.Do(func() { close(f.done) })
	return nil
}

// fakeNet delivers datagrams between fakeConns by address.
type fakeNet struct {
	mu    sync.Mutex
	conns map[netip.Addr]*fakeConn
}

type datagram struct {
	b        []byte
	from     netip.AddrPort
	tos, ttl uint8
}

type fakeConn struct {
	net       *fakeNet
	laddr     netip.AddrPort
	in        chan datagram
	done      chan struct{}
	closeOnce sync.Once
	sent      int // discard mode: count only
	discard   bool
}

func (n *fakeNet) listen(a string) *fakeConn {
	c := &fakeConn{net: n, laddr: netip.MustParseAddrPort(a), in: make(chan datagram, 256), done: make(chan struct{})}
	n.mu.Lock()
	if n.conns == nil {
		n.conns = map[netip.Addr]*fakeConn{}
	}
	n.conns[c.laddr.Addr()] = c
	n.mu.Unlock()
	return c
}

func (c *fakeConn) ReadBatch(msgs []netio.Message) (int, error) {
	var d datagram
	select {
	case d = <-c.in:
	case <-c.done:
		return 0, errClosed
	}
	n := 0
	for {
		m := &msgs[n]
		m.N = copy(m.Buf, d.b)
		m.Addr, m.TOS, m.TTL, m.Err = d.from, d.tos, d.ttl, nil
		n++
		if n == len(msgs) {
			return n, nil
		}
		select {
		case d = <-c.in:
		default:
			return n, nil
		}
	}
}

func (c *fakeConn) WriteBatch(msgs []netio.Message) (int, error) {
	if c.discard {
		c.sent += len(msgs)
		return len(msgs), nil
	}
	for i := range msgs {
		m := &msgs[i]
		c.net.mu.Lock()
		dst := c.net.conns[m.Addr.Addr()]
		c.net.mu.Unlock()
		m.N = len(m.Buf)
		if dst == nil || m.Addr.Port() != DataPort {
			continue // lost on the wire
		}
		ttl := m.TTL
		if ttl > 0 {
			ttl-- // one router in the core
		}
		select {
		case dst.in <- datagram{b: append([]byte(nil), m.Buf...), from: c.laddr, tos: m.TOS, ttl: ttl}:
		default:
		}
	}
	return len(msgs), nil
}

func (c *fakeConn) Close() error {
	c.closeOnce.Do(func() { close(c.done) })
	return nil
}

type xtr struct {
	plane *Plane
	tun   *fakeTUN
}

func newXTR(t *testing.T, n *fakeNet, rloc string, local, eidSpace []netip.Prefix, peer []MappingSpec, miss MissHandler) *xtr {
	t.Helper()
	tun := newFakeTUN(1464)
	c := n.listen(rloc + ":4341")
	p, err := New(Options{
		LocalEIDs:   local,
		EIDSpace:    eidSpace,
		LocalRLOCs:  []netip.Addr{netip.MustParseAddr(rloc)},
		MissHandler: miss,
	}, tun, Sockets{Recv: []BatchConn{c}, Send4: []BatchConn{c}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range peer {
		s.Static = true
		if _, err := p.MapCache().Insert(s); err != nil {
			t.Fatal(err)
		}
	}
	return &xtr{plane: p, tun: tun}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func recvPacket(t *testing.T, tun *fakeTUN) []byte {
	t.Helper()
	select {
	case p := <-tun.out:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("no packet came out of the TUN")
		return nil
	}
}

func TestPlaneEndToEnd(t *testing.T) {
	var n fakeNet
	space := mustPrefixes("198.51.100.0/24", "2001:db8::/32")
	var mu sync.Mutex
	var misses []netip.Addr
	a := newXTR(t, &n, "192.0.2.1", mustPrefixes("198.51.100.0/25", "2001:db8:1::/48"), space,
		[]MappingSpec{
			{Prefix: netip.MustParsePrefix("198.51.100.128/25"), RLOCs: []RLOCSpec{rlocSpec("192.0.2.2", 1, 100)}},
			{Prefix: netip.MustParsePrefix("2001:db8:2::/48"), RLOCs: []RLOCSpec{rlocSpec("192.0.2.2", 1, 100)}},
		}, MissFunc(func(_ uint32, _, d netip.Addr) { mu.Lock(); misses = append(misses, d); mu.Unlock() }))
	b := newXTR(t, &n, "192.0.2.2", mustPrefixes("198.51.100.128/25", "2001:db8:2::/48"), space,
		[]MappingSpec{{Prefix: netip.MustParsePrefix("198.51.100.0/25"), RLOCs: []RLOCSpec{rlocSpec("192.0.2.1", 1, 100)}}}, nil)
	// A maps 198.51.100.64/26 to B although B does not serve it: B must drop.
	if _, err := a.plane.MapCache().Insert(MappingSpec{Prefix: netip.MustParsePrefix("198.51.100.64/26"), RLOCs: []RLOCSpec{rlocSpec("192.0.2.2", 1, 100)}}); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, x := range []*xtr{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := x.plane.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
	}

	// IPv4 EIDs on IPv4 RLOCs, with ECN and a TTL lowered by the core.
	ping := buildPacket(t, pktSpec{src: "198.51.100.1", dst: "198.51.100.200", proto: protoICMP, ttl: 63, tos: ecnECT0, payloadLen: 56})
	a.tun.in <- ping
	got := recvPacket(t, b.tun)
	var p Packet
	if err := ParsePacket(got, &p); err != nil {
		t.Fatal(err)
	}
	if p.Src.String() != "198.51.100.1" || p.Dst.String() != "198.51.100.200" || p.TTL != 62 || p.TOS != ecnECT0 || p.Len != len(ping) || !ipChecksumOK(got) {
		t.Fatalf("delivered %+v", p)
	}
	if string(got[20:]) != string(ping[20:]) {
		t.Fatal("payload changed")
	}
	// IPv6 EIDs on IPv4 RLOCs.
	ping6 := buildPacket(t, pktSpec{src: "2001:db8:1::1", dst: "2001:db8:2::1", proto: protoICMPv6, ttl: 64, payloadLen: 100})
	a.tun.in <- ping6
	got = recvPacket(t, b.tun)
	if string(got[8:]) != string(ping6[8:]) || got[7] != 63 {
		t.Fatalf("v6 delivered %x", got[:48])
	}
	// The reply path.
	b.tun.in <- buildPacket(t, pktSpec{src: "198.51.100.200", dst: "198.51.100.1", proto: protoICMP, icmpType: 0})
	recvPacket(t, a.tun)

	// Not local to B: dropped and counted there.
	a.tun.in <- buildPacket(t, pktSpec{src: "198.51.100.1", dst: "198.51.100.65", proto: protoUDP})
	// A miss: reported and queued; dropped when resolution fails.
	a.tun.in <- buildPacket(t, pktSpec{src: "2001:db8:1::1", dst: "2001:db8:9::1", proto: protoUDP})
	// Counters are added after each batch: wait for them.
	waitFor(t, "counters", func() bool {
		sa, sb := a.plane.Stats(), b.plane.Stats()
		return sb.Drops(DropNotLocalEID) == 1 && sa.Queued.Load() == 1 && sa.EncapPackets.Load() == 3 &&
			sb.EncapPackets.Load() == 1 && sa.DecapPackets.Load() == 1 && sb.DecapPackets.Load() == 2
	})
	if d, n := a.plane.Pending(); d != 1 || n != 1 {
		t.Fatalf("pending %d destinations, %d packets", d, n)
	}
	a.plane.ResolveFailed(0, netip.MustParseAddr("2001:db8:9::1"))
	if d, n := a.plane.Pending(); d != 0 || n != 0 || a.plane.Stats().Drops(DropNoMapping) != 1 {
		t.Fatalf("after ResolveFailed: pending %d/%d, no-mapping %d", d, n, a.plane.Stats().Drops(DropNoMapping))
	}
	mu.Lock()
	if len(misses) != 1 || misses[0].String() != "2001:db8:9::1" {
		t.Fatalf("misses %v", misses)
	}
	mu.Unlock()

	sa, sb := a.plane.Stats().Snapshot(), b.plane.Stats().Snapshot()
	if sa.EncapPackets != 3 || sb.DecapPackets != 2 || sb.EncapPackets != 1 || sa.DecapPackets != 1 || sb.Drops["not-local-eid"] != 1 || sa.Drops["no-mapping"] != 1 || sa.Misses != 1 {
		t.Fatalf("stats A %+v B %+v", sa, sb)
	}
	m, _ := a.plane.MapCache().Get(0, netip.MustParsePrefix("198.51.100.128/25"))
	if m.Packets.Load() != 1 || m.RLOCs[0].Packets.Load() != 1 || m.Bytes.Load() != uint64(len(ping)) {
		t.Fatalf("mapping counters %d %d %d", m.Packets.Load(), m.RLOCs[0].Packets.Load(), m.Bytes.Load())
	}

	cancel()
	wg.Wait()
	if err := a.plane.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestPlaneNewErrors(t *testing.T) {
	var n fakeNet
	c := n.listen("192.0.2.1:4341")
	tun := newFakeTUN(1400)
	socks := Sockets{Recv: []BatchConn{c}, Send4: []BatchConn{c}}
	tests := []struct {
		name  string
		opts  Options
		tun   TUN
		socks Sockets
	}{
		{"rloc inside eid_space", Options{EIDSpace: mustPrefixes("192.0.2.0/24"), LocalRLOCs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}, tun, socks},
		{"petr inside eid_space", Options{EIDSpace: mustPrefixes("192.0.2.0/24"), ProxyETRs: []RLOCSpec{rlocSpec("192.0.2.9", 1, 1)}}, tun, socks},
		{"reserved iid", Options{InstanceID: 0xffffff}, tun, socks},
		{"no tun", Options{}, nil, socks},
		{"no sockets", Options{}, tun, Sockets{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.opts, tt.tun, tt.socks); err == nil {
				t.Fatal("New succeeded")
			}
		})
	}
	if TUNMTU(1500, false) != 1464 || TUNMTU(1500, true) != 1444 || TUNMTU(1400, false) != 1364 {
		t.Fatal("TUNMTU")
	}
}

// batchFixture prepares an encapsulating and a decapsulating worker over
// in-memory devices that discard, with a full batch of packets.
func batchFixture(tb testing.TB) (*encapWorker, *decapWorker, int) {
	tb.Helper()
	var n fakeNet
	c := n.listen("192.0.2.1:4341")
	c.discard = true
	tun := newFakeTUN(1464)
	tun.discard = true
	p, err := New(Options{LocalEIDs: mustPrefixes("198.51.100.0/25"), EIDSpace: mustPrefixes("198.51.100.0/24")}, tun, Sockets{Recv: []BatchConn{c}, Send4: []BatchConn{c, c, c, c}})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := p.MapCache().Insert(MappingSpec{Prefix: netip.MustParsePrefix("198.51.100.128/25"), RLOCs: []RLOCSpec{rlocSpec("192.0.2.2", 1, 50), rlocSpec("192.0.2.3", 1, 50)}}); err != nil {
		tb.Fatal(err)
	}
	ew, dw := p.newEncapWorker(false), p.newDecapWorker(c)
	const size = 1000
	for i := range ew.bufs {
		pkt := buildPacket(tb, pktSpec{src: "198.51.100.1", dst: "198.51.100.200", proto: protoTCP, sport: uint16(1000 + i%8), dport: 80, payloadLen: size - 40})
		ew.sizes[i] = copy(ew.bufs[i][HeaderLen:], pkt)
		in := buildPacket(tb, pktSpec{src: "198.51.100.200", dst: "198.51.100.1", proto: protoTCP, sport: 80, dport: uint16(1000 + i%8), payloadLen: size - 40})
		b := lispPacket(HeaderFields{N: true, L: true, Nonce: uint32(i), LSBs: 1}, in)
		dw.msgs[i] = netio.Message{Buf: dw.bufs[i], N: copy(dw.bufs[i], b), TTL: 60}
	}
	return ew, dw, len(ew.bufs)
}

func TestBatchAllocs(t *testing.T) {
	ew, dw, n := batchFixture(t)
	ew.process(n)
	if got := ew.p.Stats().EncapPackets.Load(); got != uint64(n) {
		t.Fatalf("encapsulated %d of %d", got, n)
	}
	dw.process(n)
	if got := dw.p.Stats().DecapPackets.Load(); got != uint64(n) {
		t.Fatalf("decapsulated %d of %d: %+v", got, n, dw.p.Stats().Snapshot())
	}
	if a := testing.AllocsPerRun(100, func() { ew.process(n) }); a != 0 {
		t.Fatalf("encapsulating a batch of %d: %v allocations", n, a)
	}
	if a := testing.AllocsPerRun(100, func() { dw.process(n) }); a != 0 {
		t.Fatalf("decapsulating a batch of %d: %v allocations", n, a)
	}
}

func BenchmarkEncapBatch(b *testing.B) {
	ew, _, n := batchFixture(b)
	b.ReportAllocs()
	b.SetBytes(int64(n * 1000))
	for b.Loop() {
		ew.process(n)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/packet")
}

func BenchmarkDecapBatch(b *testing.B) {
	_, dw, n := batchFixture(b)
	b.ReportAllocs()
	b.SetBytes(int64(n * 1000))
	for b.Loop() {
		dw.process(n)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/packet")
}

// TestPlanePathMTU: once the plane learns a smaller path MTU toward an RLOC
// (here from a stub instead of the kernel), a DF packet that fits the TUN
// but not the path gets ICMP fragmentation-needed with the next-hop MTU
// (1400 − 36 = 1364) back into the TUN; without DF it is sent anyway.
func TestPlanePathMTU(t *testing.T) {
	var n fakeNet
	c := n.listen("192.0.2.1:4341")
	peer := n.listen("192.0.2.2:4341")
	tun := newFakeTUN(1464)
	p, err := New(Options{
		LocalEIDs:   mustPrefixes("198.51.100.0/25"),
		EIDSpace:    mustPrefixes("198.51.100.0/24"),
		PathMTUFunc: func(netip.Addr) int { return 1400 },
	}, tun, Sockets{Recv: []BatchConn{c}, Send4: []BatchConn{c}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := p.MapCache().Insert(MappingSpec{Prefix: netip.MustParsePrefix("198.51.100.128/25"), RLOCs: []RLOCSpec{rlocSpec("192.0.2.2", 1, 100)}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()

	big := func(df bool) []byte {
		return buildPacket(t, pktSpec{src: "198.51.100.1", dst: "198.51.100.200", proto: protoUDP, sport: 1, dport: 2, df: df, payloadLen: 1464 - 28})
	}
	// Before the path MTU is known the packet leaves (and a real core would
	// answer with ICMP, from which the kernel learns).
	tun.in <- big(true)
	select {
	case <-peer.in:
	case <-time.After(5 * time.Second):
		t.Fatal("first packet not sent")
	}
	waitFor(t, "the path MTU", func() bool { return m.RLOCs[0].PathMTU() == 1400 })
	tun.in <- big(true)
	reply := recvPacket(t, tun)
	var rp Packet
	if err := ParsePacket(reply, &rp); err != nil || rp.Proto != protoICMP || reply[20] != 3 || reply[21] != 4 {
		t.Fatalf("reply %x (%v)", reply[:28], err)
	}
	if mtu := int(reply[26])<<8 | int(reply[27]); mtu != 1364 || !l4ChecksumOK(reply) {
		t.Fatalf("next-hop MTU %d", mtu)
	}
	waitFor(t, "the too-big counter", func() bool { return p.Stats().Drops(DropTooBig) == 1 })
	tun.in <- big(false)
	select {
	case d := <-peer.in:
		if len(d.b) != HeaderLen+1464 {
			t.Fatalf("sent %d bytes", len(d.b))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("packet without DF not sent")
	}
}
