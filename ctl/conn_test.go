package ctl

import (
	"net/netip"
	"testing"
	"time"
)

// With no listen address the node binds the IPv4 and IPv6 wildcards on the
// same port (IPV6_V6ONLY keeps them apart) and answers on both.
func TestListenWildcard(t *testing.T) {
	tn := newTestNet(t)
	tr, err := listenUDP(nil, tn.port)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer tr.close()
	v4, v6 := tr.families()
	if !v4 {
		t.Fatal("no IPv4 wildcard socket")
	}
	got := make(chan netip.AddrPort, 4)
	tr.run(func(b []byte, from netip.AddrPort, _ netip.Addr) { got <- from }, func(error) {})
	targets := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	if v6 {
		targets = append(targets, netip.MustParseAddr("::1"))
	}
	for _, a := range targets {
		p := tn.peer(a, 0)
		p.send(netip.AddrPortFrom(a, tn.port), []byte{0x50})
		select {
		case from := <-got:
			if from != p.addr() {
				t.Errorf("datagram from %v reported as from %v", p.addr(), from)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("nothing received on the wildcard for %v", a)
		}
		// And the transport replies in that family.
		if err := tr.send(netip.Addr{}, p.addr(), []byte{0x20}); err != nil {
			t.Errorf("send to %v: %v", p.addr(), err)
		}
		if b, _ := p.recv(5 * time.Second); len(b) != 1 {
			t.Errorf("no reply at %v", p.addr())
		}
	}
}

// send uses the socket bound to the requested source address.
func TestSendFromSource(t *testing.T) {
	tn := newTestNet(t)
	a, b := tn.addr(1), tn.addr(2)
	tr, err := listenUDP([]netip.Addr{a, b}, tn.port)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.close()
	p := tn.peer(tn.addr(9), 0)
	for _, src := range []netip.Addr{b, a, {}} {
		if err := tr.send(src, p.addr(), []byte{0x10}); err != nil {
			t.Fatal(err)
		}
		_, from := p.recv(5 * time.Second)
		want := src
		if !want.IsValid() {
			want = a // the first socket of the family
		}
		if from.Addr() != want || from.Port() != tn.port {
			t.Errorf("sent from %v, want %v:%d", from, want, tn.port)
		}
	}
	if err := tr.send(netip.Addr{}, netip.MustParseAddrPort("[::1]:9"), []byte{0x10}); err == nil {
		t.Error("sent IPv6 without an IPv6 socket")
	}
	if _, err := listenUDP([]netip.Addr{a}, tn.port); err == nil {
		t.Error("bound the same address and port twice")
	}
}
