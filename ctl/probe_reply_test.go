package ctl

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/msg"
	"github.com/lispd/lispd/internal/logx"
)

// probedLocators returns the addresses of the locators with the p bit in
// the Map-Reply b, record by record.
func probedLocators(t *testing.T, b []byte) (msg.MapReply, []netip.Addr) {
	t.Helper()
	var rep msg.MapReply
	if err := rep.Decode(b); err != nil {
		t.Fatalf("Map-Reply: %v (%x)", err, b)
	}
	var probed []netip.Addr
	for _, r := range rep.Records {
		for _, l := range r.Locators {
			if l.Probed {
				probed = append(probed, l.Addr.IP)
			}
		}
	}
	return rep, probed
}

// An ETR with RLOCs A and B answers an RLOC probe sent to B with B, and
// only B, marked probed (RFC 9301 section 5.4), from B and by B's
// interface; a probe sent to an address that is none of its locators (a
// NATed private address) and a plain Map-Request have no locator marked
// and leave from the kernel's choice, as before.
func TestETRProbeReplyMarksProbedLocator(t *testing.T) {
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.1")
	n, err := New(Options{Logger: logx.Discard(), XTR: &XTROptions{
		EIDPrefixes: prefixes("10.1.0.0/24"),
		RLOCs: []LocalLocator{
			{Addr: a, Priority: 1, Weight: 50, IfIndex: 7},
			{Addr: b, Priority: 1, Weight: 50, IfIndex: 9},
		},
	}}, newFakeDataPlane())
	if err != nil {
		t.Fatal(err)
	}
	itr := netip.MustParseAddrPort("203.0.113.5:61000")
	tests := []struct {
		name    string
		probe   bool
		to      netip.Addr
		want    netip.Addr // the probed locator and the source; zero: none
		ifindex int        // -1: sent without IP_PKTINFO
	}{
		{"probe to B", true, b, b, 9},
		{"probe to A", true, a, a, 7},
		{"probe to B as IPv4-mapped", true, netip.AddrFrom16(b.As16()), b, 9},
		{"probe to a NATed private address", true, netip.MustParseAddr("10.0.0.2"), netip.Addr{}, -1},
		{"probe, destination unknown", true, netip.Addr{}, netip.Addr{}, -1},
		{"plain Map-Request to B", false, b, netip.Addr{}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vt := &viaTransport{}
			n.tx = vt
			req := msg.MapRequest{Probe: tt.probe, Nonce: 0x1234, ITRRLOCs: []msg.Address{msg.AddrOf(itr.Addr())},
				EIDs: []msg.EID{msg.EIDOf(0, netip.MustParsePrefix("10.1.0.0/24"))}}
			n.receive(req.Append(nil), itr, tt.to)
			sent := vt.take()
			if len(sent) != 1 {
				t.Fatalf("sent %d messages, want 1 Map-Reply", len(sent))
			}
			rep, probed := probedLocators(t, sent[0].b)
			if rep.Probe != tt.probe || len(rep.Records) != 1 || len(rep.Records[0].Locators) != 2 {
				t.Fatalf("reply probe %v records %+v", rep.Probe, rep.Records)
			}
			if tt.want.IsValid() {
				if len(probed) != 1 || probed[0] != tt.want {
					t.Errorf("probed locators %v, want exactly [%v]", probed, tt.want)
				}
			} else if len(probed) != 0 {
				t.Errorf("probed locators %v, want none", probed)
			}
			if sent[0].src != tt.want || sent[0].dst != itr || vt.ifindex[0] != tt.ifindex {
				t.Errorf("sent from %v to %v interface %d, want from %v to %v interface %d",
					sent[0].src, sent[0].dst, vt.ifindex[0], tt.want, itr, tt.ifindex)
			}
		})
	}
}

// Over real sockets: an ETR listening on the wildcard address with RLOCs A
// and B (two loopback addresses) answers a probe sent to B from B, with B
// marked probed: the destination comes from IP_PKTINFO.
func TestETRProbeReplyFromProbedRLOCWildcard(t *testing.T) {
	tn := newTestNet(t)
	a, b := tn.addr(2), tn.addr(3)
	// A port free on the wildcard addresses, where the node listens.
	c, err := net.ListenUDP("udp4", &net.UDPAddr{})
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(c.LocalAddr().(*net.UDPAddr).Port)
	c.Close()
	opts := xtrOptions(a, prefixes("10.1.1.0/24"), func(x *XTROptions) {
		x.RLOCs = append(x.RLOCs, LocalLocator{Addr: b, Priority: 1, Weight: 100})
	})
	opts.Port, opts.Logger = port, testLogger(t)
	n, err := New(opts, newFakeDataPlane())
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(t.Context()); err != nil {
		t.Skipf("cannot listen on the wildcard port %d: %v", port, err)
	}
	t.Cleanup(func() { n.Close() })
	itr := tn.peer(tn.addr(1), 0)
	for _, probedRLOC := range []netip.Addr{b, a} {
		req := msg.MapRequest{Probe: true, Nonce: randomNonce(), ITRRLOCs: []msg.Address{msg.AddrOf(itr.addr().Addr())},
			EIDs: []msg.EID{msg.EIDOf(0, netip.MustParsePrefix("10.1.1.0/24"))}}
		itr.send(netip.AddrPortFrom(probedRLOC, port), req.Append(nil))
		got, from := itr.recv(5 * time.Second)
		if got == nil {
			t.Fatalf("probe to %v: no reply", probedRLOC)
		}
		rep, probed := probedLocators(t, got)
		if rep.Nonce != req.Nonce || !rep.Probe || len(rep.Records) != 1 || len(rep.Records[0].Locators) != 2 {
			t.Fatalf("probe to %v: reply %+v", probedRLOC, rep)
		}
		if len(probed) != 1 || probed[0] != probedRLOC {
			t.Errorf("probe to %v: probed locators %v, want exactly [%v]", probedRLOC, probed, probedRLOC)
		}
		if from.Addr() != probedRLOC || from.Port() != port {
			t.Errorf("probe to %v: reply from %v, want %v", probedRLOC, from, netip.AddrPortFrom(probedRLOC, port))
		}
	}
}
