package fwd

import (
	"bytes"
	"testing"

	"github.com/lispd/lispd/fwd/netio"
)

// TestDecapGRO: a message the kernel coalesced with UDP_GRO holds several
// LISP datagrams of GSOSize bytes (the last shorter); each is decapsulated
// and written on, a malformed one among them is counted alone, and an
// empty datagram still counts as malformed.
func TestDecapGRO(t *testing.T) {
	var n fakeNet
	c := n.listen("192.0.2.1:4341")
	tun := newFakeTUN(1464)
	p, err := New(Options{LocalEIDs: mustPrefixes("198.51.100.0/25"), EIDSpace: mustPrefixes("198.51.100.0/24")}, tun, Sockets{Recv: []BatchConn{c}, Send4: []BatchConn{c}})
	if err != nil {
		t.Fatal(err)
	}
	if p.TUNPath() != TUNPathPlain || p.Stats().Snapshot().Offload.Path != TUNPathPlain {
		t.Fatalf("fake TUN reported as %q", p.TUNPath())
	}
	p.gro = true // as setupOffload does for sockets that took UDP_GRO
	w := p.newDecapWorker(c)
	if len(w.bufs[0]) < 65535 {
		t.Fatalf("GRO receive buffers of %d bytes", len(w.bufs[0]))
	}
	var inners [][]byte
	var msg []byte
	const size = 500
	for i := range 5 {
		l := size
		if i == 4 {
			l = 300
		}
		in := buildPacket(t, pktSpec{src: "198.51.100.200", dst: "198.51.100.1", proto: protoUDP, sport: 4000, dport: 53, payloadLen: l - 28})
		b := lispPacket(HeaderFields{N: true, Nonce: uint32(i)}, in)
		if i == 2 {
			b[HeaderLen] = 0x05 // an inner packet of IP version 0
		} else {
			inners = append(inners, in)
		}
		msg = append(msg, b...)
	}
	seg := size + HeaderLen
	w.msgs[0] = netio.Message{Buf: w.bufs[0], N: copy(w.bufs[0], msg), TTL: 64, GSOSize: seg}
	w.msgs[1] = netio.Message{Buf: w.bufs[1], N: 0} // empty datagram
	single := buildPacket(t, pktSpec{src: "198.51.100.201", dst: "198.51.100.2", proto: protoUDP, sport: 1, dport: 2, payloadLen: 100})
	w.msgs[2] = netio.Message{Buf: w.bufs[2], N: copy(w.bufs[2], lispPacket(HeaderFields{N: true}, single)), TTL: 64}
	inners = append(inners, single)
	w.process(3)
	st := p.Stats().Snapshot()
	if st.DecapPackets != uint64(len(inners)) || st.Drops[DropMalformed.String()] != 2 {
		t.Fatalf("decap %d packets, %d malformed; want %d and 2", st.DecapPackets, st.Drops[DropMalformed.String()], len(inners))
	}
	for i, want := range inners {
		got := recvPacket(t, tun)
		if !bytes.Equal(got, want) {
			t.Fatalf("packet %d: %x, want %x", i, got[:min(len(got), 40)], want[:min(len(want), 40)])
		}
	}
}

// TestDecapGROAllocs: decapsulating coalesced messages allocates nothing.
func TestDecapGROAllocs(t *testing.T) {
	_, dw, n := batchFixture(t)
	dw.p.gro = true
	w := dw.p.newDecapWorker(dw.conn)
	in := buildPacket(t, pktSpec{src: "198.51.100.200", dst: "198.51.100.1", proto: protoTCP, sport: 80, dport: 1000, payloadLen: 1000})
	one := lispPacket(HeaderFields{N: true, L: true, LSBs: 1}, in)
	for i := range n {
		k := 0
		for j := range 40 {
			k += copy(w.bufs[i][j*len(one):], one)
		}
		w.msgs[i] = netio.Message{Buf: w.bufs[i], N: k, TTL: 60, GSOSize: len(one)}
	}
	if a := testing.AllocsPerRun(20, func() { w.process(n) }); a != 0 {
		t.Fatalf("decapsulating %d coalesced messages: %v allocations", n, a)
	}
	if got := dw.p.Stats().DecapPackets.Load(); got < uint64(n*40) {
		t.Fatalf("decapsulated %d packets", got)
	}
}
