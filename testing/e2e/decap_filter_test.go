package e2e

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/admin"
	"github.com/lispd/lispd/testing/lab"
	"github.com/lispd/lispd/testing/netns"
	"github.com/lispd/lispd/testing/tshark"
)

// udpSink collects the payloads of the UDP datagrams a host receives on a
// port (IPv4 and IPv6).
type udpSink struct {
	mu  sync.Mutex
	got []string
}

func listenSink(t *testing.T, h *netns.Host, port int) *udpSink {
	t.Helper()
	var c net.PacketConn
	if err := h.Do(func() (err error) {
		c, err = net.ListenPacket("udp", fmt.Sprintf("[::]:%d", port))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s := &udpSink{}
	go func() {
		b := make([]byte, 2048)
		for {
			n, _, err := c.ReadFrom(b)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.got = append(s.got, string(b[:n]))
			s.mu.Unlock()
		}
	}()
	return s
}

// count returns how many payloads received start with prefix.
func (s *udpSink) count(prefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, g := range s.got {
		if strings.HasPrefix(g, prefix) {
			n++
		}
	}
	return n
}

// lispSender sends LISP data packets to xTR2's RLOC from a socket on h at
// from.
func lispSender(t *testing.T, h *netns.Host, from, etr netip.Addr) func(src, dst netip.Addr, payload string, n int) {
	t.Helper()
	var conn net.PacketConn
	if err := h.Do(func() (err error) {
		conn, err = net.ListenPacket("udp", netip.AddrPortFrom(from, 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(etr, dataPort))
	return func(src, dst netip.Addr, payload string, n int) {
		t.Helper()
		inner, err := tshark.UDPPacket(netip.AddrPortFrom(src, 5555), netip.AddrPortFrom(dst, 7777), []byte(payload))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			if _, err := conn.WriteTo(lispData(inner), to); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestDecapFilter (audit finding 1): with the default decap_filter =
// "known", xTR2 decapsulates only what comes from an RLOC it knows. A host
// on the Internet side (the core) that is no RLOC of any mapping sends LISP
// packets with site 1's EID inside to host B: none reaches B, each is
// counted as unknown-source. A partner whose RLOC is in a static mapping is
// delivered, but not with one of site 2's own EIDs as inner source
// (spoofed-source). A flow site 1 starts toward B (xTR2 has never resolved
// site 1) comes up once xTR2's Map-Request for its source resolves.
func TestDecapFilter(t *testing.T) {
	const partnerN, attackerN = 51, 50
	partnerEID := netip.MustParsePrefix("2001:db8:3::/48") // inside the lab's eid_space, no site's
	var attacker, partner *netns.Host
	var partnerRLOC, attackerAddr netip.Addr
	s := startControl(t, ctlOptions{
		x2: lab.XTRConfig{Extra: fmt.Sprintf("[[xtr.map_cache]]\neid_prefix = %q\nrlocs = [{ address = \"192.0.2.%d\" }]", partnerEID, partnerN)},
		before: func(l *lab.Lab) {
			var err error
			var ifc *netns.Iface
			if attacker, ifc, err = l.AddCoreHost("attacker", attackerN); err != nil {
				t.Fatal(err)
			}
			attackerAddr = ifc.Addr4()
			if partner, ifc, err = l.AddCoreHost("partner", partnerN); err != nil {
				t.Fatal(err)
			}
			partnerRLOC = ifc.Addr4()
		},
	})
	waitRegistered(t, s.X1, s.X2)
	sink := listenSink(t, s.B, 7777)
	drops := func(name string) uint64 { return counter(t, s.X2, admin.GroupDataDrops, name) }

	// A flow site 1 starts: xTR1 resolves B and sends from RLOC1, which
	// xTR2 does not know yet; xTR2 holds the first packets while it
	// resolves site 1, then delivers them, and the flow passes.
	var conn net.Conn
	if err := s.A.Do(func() (err error) {
		conn, err = net.Dial("udp", netip.AddrPortFrom(lab.HostB4, 7777).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	eventually(t, 15*time.Second, "site 1's flow delivered to B", func() error {
		fmt.Fprintf(conn, "flow from A")
		if sink.count("flow from A") == 0 {
			return fmt.Errorf("nothing yet")
		}
		return nil
	})
	if n := counter(t, s.X2, admin.GroupDataPlane, "flushed"); n == 0 {
		t.Errorf("premise: xTR2 had not resolved site 1, yet held and delivered none of its first packets")
	}
	if n := drops("unknown-source"); n != 0 {
		t.Errorf("xTR2 dropped %d of site 1's first packets as unknown-source; they should have been held", n)
	}
	if e, ok := mapCacheEntry(t, s.X2, lab.HostA4); !ok || !hasRLOC(e, s.RLOC1v4) {
		t.Errorf("xTR2's map-cache has no entry for %s at %s: %+v", lab.HostA4, s.RLOC1v4, e)
	}

	// The attacker, no RLOC of any mapping, sends site 1's EIDs (v4: a
	// mapping xTR2 has, asked for again; v6: one it resolves on the way)
	// to B: held until the wait is up, as no mapping names the attacker.
	before := drops("unknown-source")
	attack := lispSender(t, attacker, attackerAddr, s.RLOC2v4)
	attack(lab.HostA4, lab.HostB4, "attack v4", 5)
	attack(lab.HostA6, lab.HostB6, "attack v6", 5)
	eventually(t, 10*time.Second, "xTR2 counts the attacker's packets", func() error {
		if n := drops("unknown-source") - before; n != 10 {
			return fmt.Errorf("unknown-source drops rose by %d, want 10", n)
		}
		return nil
	})
	// Once xTR2 resolved site 1's IPv6 prefix too, the attacker's packets
	// still do not pass: its address is no RLOC of the mapping.
	eventually(t, 10*time.Second, "xTR2 resolves site 1's IPv6 EID", func() error {
		if _, ok := mapCacheEntry(t, s.X2, lab.HostA6); !ok {
			return fmt.Errorf("no entry for %s", lab.HostA6)
		}
		return nil
	})
	attack(lab.HostA6, lab.HostB6, "attack v6", 5)

	// The partner's RLOC is in xTR2's static mapping: delivered, unless it
	// claims one of site 2's own EIDs.
	send := lispSender(t, partner, partnerRLOC, s.RLOC2v4)
	send(netip.MustParseAddr("2001:db8:3::5"), lab.HostB6, "partner", 3)
	spoofedBefore := drops("spoofed-source")
	send(netip.MustParseAddr("2001:db8:2::99"), lab.HostB6, "spoofed", 3)
	eventually(t, 5*time.Second, "the partner's packets delivered", func() error {
		if n := sink.count("partner"); n != 3 {
			return fmt.Errorf("B received %d of the partner's 3 packets", n)
		}
		return nil
	})
	eventually(t, 5*time.Second, "xTR2 counts the spoofed packets", func() error {
		if n := drops("spoofed-source") - spoofedBefore; n != 3 {
			return fmt.Errorf("spoofed-source drops rose by %d, want 3", n)
		}
		return nil
	})
	// The attacker's last packets name a mapping xTR2 has: it asks for it
	// again (the sender might be the site's new RLOC) and holds them until
	// the answer, which does not name the attacker, or the wait is up.
	eventually(t, 10*time.Second, "xTR2 drops all the attacker's packets", func() error {
		if n := drops("unknown-source") - before; n != 15 {
			return fmt.Errorf("unknown-source drops rose by %d during the attack, want 15", n)
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond) // anything late from the attacker
	if n := sink.count("attack"); n != 0 {
		t.Errorf("B received %d packet(s) the attacker encapsulated from %s, an address of no mapping", n, attackerAddr)
	}
	if n := sink.count("spoofed"); n != 0 {
		t.Errorf("B received %d packet(s) with site 2's own EID as source from outside", n)
	}
}
