package fwd

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/lispd/lispd/fwd/netio"
	"golang.org/x/sys/unix"

	"github.com/lispd/lispd/fwd/rtnl"

	"github.com/lispd/lispd/internal/netnstest"
)

// TestNetnsRawForwarder: in a fresh namespace with eid_space routed into a
// TUN by policy routing (rtnl.AddPolicyRoutes) and a default route through
// a second TUN standing for the uplink, RawForwarder's marked packets to
// EIDs leave through the uplink unchanged, and the same packets without the
// mark go into the tunnel: the mark and the rules are the way out.
func TestNetnsRawForwarder(t *testing.T) {
	netnstest.Enter(t)
	open := func(prefix string) netio.TUN {
		tun, err := netio.OpenTUN(fmt.Sprintf("%s%06x", prefix, rand.Uint32()&0xffffff), 1400)
		if err != nil {
			t.Fatalf("OpenTUN: %v", err)
		}
		t.Cleanup(func() { tun.Close() })
		return tun
	}
	eid, up := open("lfe"), open("lfu")
	if _, err := rtnl.AddRoutes(up.Name(), mustPrefixes("0.0.0.0/0")); err != nil {
		t.Fatal(err)
	}
	remove, err := rtnl.AddPolicyRoutes(rtnl.PolicyRoutes{Ifname: eid.Name(), Prefixes: mustPrefixes("198.51.100.0/24", "2001:db8:2::/48"), Mark: DefaultNativeMark})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { remove() })

	marked, err := NewRawForwarder(DefaultNativeMark)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { marked.Close() })
	unmarked, err := NewRawForwarder(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unmarked.Close() })

	type seen struct {
		dev string
		pkt []byte
	}
	out := make(chan seen, 64)
	for _, tun := range []netio.TUN{eid, up} {
		go func() {
			bufs, sizes := [][]byte{make([]byte, 2000)}, []int{0}
			for {
				n, err := tun.Read(bufs, sizes, 0)
				if err != nil {
					return
				}
				for i := 0; i < n; i++ {
					out <- seen{tun.Name(), append([]byte(nil), bufs[i][:sizes[i]]...)}
				}
			}
		}()
	}
	// expect waits for pkt (byte for byte) to come out of a TUN.
	expect := func(name string, pkt []byte, dev string) {
		t.Helper()
		timeout := time.After(5 * time.Second)
		for {
			select {
			case s := <-out:
				if string(s.pkt) != string(pkt) {
					continue // router solicitations and the like
				}
				if s.dev != dev {
					t.Errorf("%s came out of %s, want %s", name, s.dev, dev)
				}
				return
			case <-timeout:
				t.Fatalf("%s never came out of a TUN unchanged", name)
			}
		}
	}
	tests := []struct {
		name     string
		src, dst string
		fwd      *RawForwarder
		dev      string
	}{
		{"v4 marked", "203.0.113.1", "198.51.100.7", marked, up.Name()},
		{"v4 unmarked", "203.0.113.1", "198.51.100.7", unmarked, eid.Name()},
		{"v6 unmarked", "2001:db8:1::1", "2001:db8:2::7", unmarked, eid.Name()},
	}
	for i, tt := range tests {
		pkt := buildPacket(t, pktSpec{src: tt.src, dst: tt.dst, proto: protoUDP, sport: uint16(100 + i), dport: 9, ttl: 17, tos: 0x28, payloadLen: 64})
		if err := tt.fwd.Forward(pkt); err != nil {
			t.Fatalf("%s: Forward: %v", tt.name, err)
		}
		expect(tt.name, pkt, tt.dev)
	}
	// IPv6: with no IPv6 route in the main table, the marked packet has
	// nowhere to go (the mark keeps it out of the eid_space table)...
	pkt6 := buildPacket(t, pktSpec{src: "2001:db8:1::1", dst: "2001:db8:2::7", proto: protoUDP, sport: 200, dport: 9, ttl: 17, payloadLen: 64})
	if err := marked.Forward(pkt6); !errors.Is(err, unix.ENETUNREACH) {
		t.Fatalf("v6 marked without a route: %v, want ENETUNREACH", err)
	}
	// ... and with a default route it leaves through the uplink. (A
	// gateway-less default route also catches unmarked raw IPv6 packets:
	// the kernel clones a host route for IPV6_HDRINCL sends, which defeats
	// suppress_prefixlength; only lispd's marked packets use that path.)
	if _, err := rtnl.AddRoutes(up.Name(), mustPrefixes("::/0")); err != nil {
		t.Fatal(err)
	}
	if err := marked.Forward(pkt6); err != nil {
		t.Fatalf("v6 marked: Forward: %v", err)
	}
	expect("v6 marked", pkt6, up.Name())

	pkt := buildPacket(t, pktSpec{src: "203.0.113.1", dst: "198.51.100.8", proto: protoUDP, sport: 1, dport: 9})
	if a := testing.AllocsPerRun(20, func() {
		if err := marked.Forward(pkt); err != nil {
			panic(err)
		}
	}); a != 0 {
		t.Errorf("Forward: %v allocations per packet", a)
	}
	if err := marked.Forward([]byte{0x45, 0}); err == nil {
		t.Error("Forward of a malformed packet succeeded")
	}
	if err := marked.Close(); err != nil {
		t.Fatal(err)
	}
	if err := marked.Forward(pkt); err == nil {
		t.Error("Forward after Close succeeded")
	}
}
