package fwd

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"sync"
	"testing"

	"github.com/lispd/lispd/fwd/netio"
	"golang.org/x/sys/unix"
)

// TestPlaneKernelSockets runs two planes over real UDP sockets on loopback
// (the TUNs are in memory, so no root is needed): the outer TTL and TOS
// set per packet through control messages arrive and are used on decap.
func TestPlaneKernelSockets(t *testing.T) {
	listen := func(a string) *netio.UDPConn {
		c, err := netio.ListenUDP(netip.MustParseAddrPort(a))
		if err != nil {
			t.Skipf("no UDP sockets here: %v", err)
		}
		return c
	}
	ca, cb := listen("127.0.0.1:0"), listen("127.0.0.2:0")
	pb := cb.LocalAddr().Port()
	// qemu-user on a big-endian target passes int control messages to the
	// host kernel unswapped, which refuses them; a real kernel never does.
	probe := []netio.Message{{Buf: []byte("probe"), Addr: cb.LocalAddr(), TOS: 4, TTL: 5}}
	if _, err := ca.WriteBatch(probe); err != nil {
		if errors.Is(err, unix.EINVAL) && binary.NativeEndian.Uint16([]byte{0, 1}) == 1 {
			t.Skipf("TOS/TTL control messages refused on a big-endian target under qemu-user: %v", err)
		}
		t.Fatalf("probe: %v", err)
	}
	if _, err := cb.ReadBatch([]netio.Message{{Buf: make([]byte, 64)}}); err != nil {
		t.Fatalf("probe: %v", err)
	}
	tunA, tunB := newFakeTUN(1400), newFakeTUN(1400)
	a, err := New(Options{LocalEIDs: mustPrefixes("198.51.100.0/25"), ErrorLog: t.Logf}, tunA, Sockets{Recv: []BatchConn{ca}, Send4: []BatchConn{ca}})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordConn{BatchConn: cb}
	b, err := New(Options{LocalEIDs: mustPrefixes("198.51.100.128/25"), ErrorLog: t.Logf}, tunB, Sockets{Recv: []BatchConn{rec}, Send4: []BatchConn{cb}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.MapCache().Insert(MappingSpec{Prefix: netip.MustParsePrefix("198.51.100.128/25"),
		RLOCs: []RLOCSpec{{Addr: netip.MustParseAddr("127.0.0.2"), Port: pb, Priority: 1, Weight: 1}}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, p := range []*Plane{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
	}
	defer func() { cancel(); wg.Wait() }()

	for _, c := range []struct{ ttl, tos, wantTTL, wantTOS uint8 }{
		{63, 0xb8 | ecnECT0, 63, 0xb8 | ecnECT0},
		{5, ecnECT1, 5, ecnECT1},
	} {
		pkt := buildPacket(t, pktSpec{src: "198.51.100.1", dst: "198.51.100.200", proto: protoUDP, sport: 7, dport: 9, ttl: c.ttl, tos: c.tos, payloadLen: 100})
		tunA.in <- pkt
		got := recvPacket(t, tunB)
		var p Packet
		if err := ParsePacket(got, &p); err != nil {
			t.Fatal(err)
		}
		if p.TTL != c.wantTTL || p.TOS != c.wantTOS || !ipChecksumOK(got) || string(got[20:]) != string(pkt[20:]) {
			t.Fatalf("delivered TTL %d TOS %#x (want %d %#x)", p.TTL, p.TOS, c.wantTTL, c.wantTOS)
		}
	}
	waitFor(t, "B's counters", func() bool { return b.Stats().DecapPackets.Load() == 2 })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.seen) != 2 || rec.seen[0] != [2]uint8{63, 0xb8 | ecnECT0} || rec.seen[1] != [2]uint8{5, ecnECT1} {
		t.Fatalf("outer TTL/TOS received %v", rec.seen)
	}
}

// recordConn notes the outer TTL and TOS of every datagram read.
type recordConn struct {
	BatchConn
	mu   sync.Mutex
	seen [][2]uint8
}

func (r *recordConn) ReadBatch(msgs []netio.Message) (int, error) {
	n, err := r.BatchConn.ReadBatch(msgs)
	r.mu.Lock()
	for i := 0; i < n; i++ {
		r.seen = append(r.seen, [2]uint8{msgs[i].TTL, msgs[i].TOS})
	}
	r.mu.Unlock()
	return n, err
}
