//go:build !nortr

package ctl

import (
	"context"
	"encoding/hex"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/msg"
)

// fakeDataPort is the xTR data plane's port 4341 in a test: a loopback UDP
// socket. Control datagrams go to the node (as fwd's Divert does); data
// packets are kept for the test.
type fakeDataPort struct {
	c    *net.UDPConn
	node atomic.Pointer[Node]
	data chan []byte
}

func newFakeDataPort(t *testing.T, a netip.Addr) *fakeDataPort {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 0)))
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDataPort{c: c, data: make(chan []byte, 16)}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 65535)
		for {
			k, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if n := d.node.Load(); n != nil && n.HandleDataPort(buf[:k], from) {
				continue
			}
			select {
			case d.data <- append([]byte(nil), buf[:k]...):
			default:
			}
		}
	}()
	return d
}

func (d *fakeDataPort) SendFromDataPort(_ netip.Addr, dst netip.AddrPort, b []byte) error {
	_, err := d.c.WriteToUDPAddrPort(b, dst)
	return err
}

func (d *fakeDataPort) Port() uint16 { return uint16(d.c.LocalAddr().(*net.UDPAddr).Port) }

// freePort returns a UDP port free on a just now.
func freePort(t *testing.T, a netip.Addr) uint16 {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}

// natLab is a Map-Server + RTR node and an xTR registering through it
// (nat_traversal "always": loopback has no NAT to discover).
type natLab struct {
	tn       *testNet
	ms, x    *Node
	dp       *fakeDataPort
	rtrData  netip.AddrPort
	eid      netip.Prefix
	rtrAddr  netip.Addr
	xtrAddr  netip.Addr
	fakeData *fakeDataPlane
}

func startNATLab(t *testing.T, xtrKey string) *natLab {
	tn := newTestNet(t)
	l := &natLab{tn: tn, rtrAddr: tn.addr(10), xtrAddr: tn.addr(2), eid: netip.MustParsePrefix("10.1.1.0/24")}
	dataPort := freePort(t, l.rtrAddr)
	l.rtrData = netip.AddrPortFrom(l.rtrAddr, dataPort)
	o := msOptions(0, siteOpt("b1", "k3y", KeySHA256, 0, "10.1.0.0/16"))
	o.MapServer.RTRs = []netip.Addr{l.rtrAddr}
	o.RTR = &RTROptions{Listen: []netip.Addr{l.rtrAddr}, MapServers: []netip.Addr{l.rtrAddr}, DataPort: dataPort}
	l.ms = tn.startAt(o, l.rtrAddr)
	l.dp = newFakeDataPort(t, l.xtrAddr)
	xo := xtrOptions(l.xtrAddr, []netip.Prefix{l.eid}, func(x *XTROptions) {
		x.MapServers = []MapServerPeer{{Addr: l.rtrAddr, Key: xtrKey, KeyType: KeySHA256, WantMapNotify: true}}
		x.NATTraversal = NATAlways
		x.EIDSpace = prefixes("10.0.0.0/8")
		x.ProbeInterval = -1
	})
	xo.DataPort = l.dp
	l.fakeData = newFakeDataPlane()
	// As the daemon does: the data port reaches the node before its start
	// (the first Info-Reply may beat Start's return).
	xo.Port, xo.Listen, xo.Logger = tn.port, []netip.Addr{l.xtrAddr}, testLogger(t)
	x, err := New(xo, l.fakeData)
	if err != nil {
		t.Fatal(err)
	}
	l.dp.node.Store(x)
	if err := x.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	l.x = x
	return l
}

// Through an RTR: the Info-Reply offers the RTR, the xTR registers with an
// ECM from its data port, the Map-Server registers the RTR as the only
// locator (and the xTR-ID), the RTR relays the Map-Notify as a
// Data-Map-Notify that the xTR verifies, and traffic for the xTR's EID is
// re-encapsulated to the binding the registration opened.
func TestNATRegistrationThroughRTR(t *testing.T) {
	l := startNATLab(t, "k3y")
	eventually(t, "NAT discovered on the data port", func() bool {
		st, _ := l.x.NATStatus()
		return st.Discovered && st.BehindNAT && st.Public.IsValid()
	})
	st, _ := l.x.NATStatus()
	if len(st.RTRs) != 1 || st.RTRs[0] != l.rtrAddr {
		t.Fatalf("RTRs offered %v", st.RTRs)
	}
	if st.Public != netip.AddrPortFrom(l.xtrAddr, l.dp.Port()) {
		t.Errorf("public %v, want the data port %v:%d", st.Public, l.xtrAddr, l.dp.Port())
	}
	eventually(t, "registered through the RTR", func() bool { return l.x.MapServerStatus()[0].State == RegStateRegistered })
	regs := l.ms.Registrations()
	if len(regs.Registrations) != 1 || len(regs.Registrations[0].Registrants) != 1 {
		t.Fatalf("registrations %+v", regs.Registrations)
	}
	rr := regs.Registrations[0].Registrants[0]
	id := l.x.XTRID()
	if rr.XTRID != hex.EncodeToString(id[:]) || !rr.ProxyReply || rr.Source.Addr() != l.rtrAddr {
		t.Errorf("registrant %+v", rr)
	}
	if len(rr.Locators) != 1 || rr.Locators[0].Addr != l.rtrAddr {
		t.Errorf("locators %+v, want only the RTR", rr.Locators)
	}
	b := l.ms.RTRBindings()
	if len(b) != 1 || !b[0].Verified || b[0].Public != netip.AddrPortFrom(l.xtrAddr, l.dp.Port()) || b[0].Private != l.xtrAddr {
		t.Fatalf("RTR bindings %+v", b)
	}
	eventually(t, "the RTR recorded as confirming", func() bool { st, _ := l.x.NATStatus(); return st.RTR == l.rtrAddr })
	// The eid_space now goes to the RTR.
	found := false
	installs, _ := l.fakeData.snapshot()
	for _, m := range installs {
		if m.Prefix == netip.MustParsePrefix("10.0.0.0/8") && len(m.Locators) == 1 && m.Locators[0].Addr == l.rtrAddr {
			found = true
		}
	}
	if !found {
		t.Errorf("no eid_space mapping to the RTR in %+v", installs)
	}

	// Data to the NATed EID from a remote ITR reaches the binding, from
	// the RTR's control port.
	itr := l.tn.peer(l.tn.addr(3), 0)
	pkt := appendDataHeader(nil, 1, 0, true)
	pkt = append(pkt, ipv4Packet(netip.MustParseAddr("10.2.0.1"), netip.MustParseAddr("10.1.1.5"))...)
	itr.send(l.rtrData, pkt)
	select {
	case got := <-l.dp.data:
		if len(got) != len(pkt) || string(got[DataHeaderLen:]) != string(pkt[DataHeaderLen:]) {
			t.Errorf("re-encapsulated packet %x, sent %x", got, pkt)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no re-encapsulated packet at the xTR's data port")
	}
	if s := l.ms.RTRStats(); s.ToNAT != 1 {
		t.Errorf("RTR stats %+v", s)
	}

	// No open relay: between two EIDs not registered through the RTR.
	bad := appendDataHeader(nil, 1, 0, true)
	bad = append(bad, ipv4Packet(netip.MustParseAddr("10.2.0.1"), netip.MustParseAddr("10.3.0.1"))...)
	itr.send(l.rtrData, bad)
	eventually(t, "open-relay drop counted", func() bool {
		return l.ms.RTRStats().OpenRelay == 1 && l.ms.Stats().Drops["rtr-not-registered"] == 1
	})
}

// With a wrong key the Map-Server refuses the Info-Request: no discovery,
// and nothing registered.
func TestNATWrongKey(t *testing.T) {
	l := startNATLab(t, "wrong")
	eventually(t, "Info-Request refused", func() bool { return l.ms.Stats().Drops["bad-auth"] >= 1 })
	time.Sleep(200 * time.Millisecond)
	if st, _ := l.x.NATStatus(); st.Discovered {
		t.Errorf("discovered with a wrong key: %+v", st)
	}
	if regs := l.ms.Registrations(); len(regs.Registrations) != 0 {
		t.Errorf("registered with a wrong key: %+v", regs.Registrations)
	}
}

// The Map-Server takes an encapsulated Map-Register with the N bit only
// from a listed RTR.
func TestMapServerRelayedRegisterOnlyFromRTR(t *testing.T) {
	tn := newTestNet(t)
	o := msOptions(0, siteOpt("b1", "secret", KeySHA256, 0, "10.1.0.0/16"))
	o.MapServer.RTRs = []netip.Addr{tn.addr(20)}
	ms := tn.startAt(o, tn.addr(10))
	msAddr := netip.AddrPortFrom(tn.addr(10), tn.port)
	for _, tc := range []struct {
		name   string
		from   netip.Addr
		accept bool
	}{
		{"listed RTR", tn.addr(20), true},
		{"not an RTR", tn.addr(21), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tn.peer(tc.from, tn.port)
			reg := buildRegister(t, "secret", msg.AlgHMACSHA256, func(r *msg.MapRegister) {
				r.HasXTRID, r.XTRID, r.ProxyReply = true, [16]byte{1, 2, 3}, true
			})
			e := msg.ECM{N: true, Src: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), 4342), Dst: msAddr, Message: reg}
			p.send(msAddr, e.Append(nil))
			b, _ := p.recv(2 * time.Second)
			if !tc.accept {
				if b != nil {
					t.Fatalf("answered %x", b)
				}
				if ms.Stats().Drops["not-from-rtr"] == 0 {
					t.Error("drop not counted")
				}
				return
			}
			var back msg.ECM
			if b == nil || back.Decode(b) != nil || !back.RTR || back.Dst != e.Src {
				t.Fatalf("no ECM Map-Notify with R back to the xTR's private RLOC: %x", b)
			}
			var notify msg.MapNotify
			if err := notify.Decode(back.Message); err != nil || msg.Verify(back.Message, []byte("secret")) != nil {
				t.Fatalf("Map-Notify %v", err)
			}
		})
	}
}

// ipv4Packet is a minimal IPv4/UDP packet from src to dst.
func ipv4Packet(src, dst netip.Addr) []byte {
	return msg.AppendUDP(nil, netip.AddrPortFrom(src, 1000), netip.AddrPortFrom(dst, 2000), 64, 0, false, []byte("hello"))
}

// FuzzNATInput feeds random datagrams to the NAT-traversal entry points:
// the data port's control messages of an xTR (Info-Reply, Data-Map-Notify)
// and the RTR's data and control input. Nothing panics.
func FuzzNATInput(f *testing.F) {
	n := fuzzNode(f)
	n.nat = newNAT(n, n.opts.XTR)
	o := &RTROptions{Listen: []netip.Addr{netip.MustParseAddr("192.0.2.9")}, MapServers: []netip.Addr{netip.MustParseAddr("203.0.113.10")}}
	if err := o.fill(); err != nil {
		f.Fatal(err)
	}
	n.rtr = newRTR(n, o)
	notify := appendDataHeader(nil, 1, NATInstanceID, true)
	notify = msg.AppendUDP(notify, netip.MustParseAddrPort("203.0.113.10:4342"), netip.MustParseAddrPort("10.0.0.2:4342"), 64, 0, false,
		(&msg.MapNotify{Nonce: 1, Alg: msg.AlgHMACSHA256, HasXTRID: true}).Append(nil))
	f.Add(notify)
	f.Add(append(appendDataHeader(nil, 1, 0, true), ipv4Packet(netip.MustParseAddr("10.2.0.1"), netip.MustParseAddr("10.1.1.5"))...))
	f.Add((&msg.Info{Reply: true, Nonce: 7, Alg: msg.AlgHMACSHA256, NAT: msg.NATTraversal{GlobalETR: netip.MustParseAddr("192.0.2.7"), ETRPort: 1}}).Append(nil))
	f.Add((&msg.ECM{RTR: true, Src: netip.MustParseAddrPort("10.0.0.2:4342"), Dst: netip.MustParseAddrPort("203.0.113.10:4342"),
		Message: (&msg.MapRegister{HasXTRID: true, Alg: msg.AlgHMACSHA256, Records: []msg.Record{{EID: msg.EIDOf(0, netip.MustParsePrefix("10.1.0.0/24"))}}}).Append(nil)}).Append(nil))
	f.Add([]byte{})
	from := netip.MustParseAddrPort("198.51.100.1:4342")
	f.Fuzz(func(t *testing.T, b []byte) {
		n.HandleDataPort(b, from)
		n.rtr.handleData(b, from)
		n.handle(b, from)
	})
}

// A Map-Register relayed by the RTR with a key the site does not have is
// refused by the Map-Server: no Map-Notify, so the RTR's binding stays
// unverified and carries no traffic.
func TestNATRelayedWrongKey(t *testing.T) {
	tn := newTestNet(t)
	rtr := tn.addr(10)
	o := msOptions(0, siteOpt("b1", "k3y", KeySHA256, 0, "10.1.0.0/16"))
	o.MapServer.RTRs = []netip.Addr{rtr}
	o.RTR = &RTROptions{Listen: []netip.Addr{rtr}, MapServers: []netip.Addr{rtr}, DataPort: freePort(t, rtr)}
	ms := tn.startAt(o, rtr)
	xtr := tn.peer(tn.addr(2), 0)
	reg := buildRegister(t, "wrong", msg.AlgHMACSHA256, func(r *msg.MapRegister) {
		r.HasXTRID, r.XTRID, r.ProxyReply = true, [16]byte{7}, true
		r.Records[0].EID = msg.EIDOf(0, netip.MustParsePrefix("10.1.1.0/24"))
	})
	e := msg.ECM{RTR: true, Src: netip.AddrPortFrom(tn.addr(2), 4342), Dst: netip.AddrPortFrom(rtr, tn.port), Message: reg}
	xtr.send(netip.AddrPortFrom(rtr, tn.port), e.Append(nil))
	eventually(t, "relayed register refused", func() bool { return ms.Stats().Drops["bad-auth"] == 1 })
	if b, _ := xtr.recv(300 * time.Millisecond); b != nil {
		t.Errorf("the xTR got %x", b)
	}
	if b := ms.RTRBindings(); len(b) != 1 || b[0].Verified {
		t.Errorf("bindings %+v, want one unverified", b)
	}
	if regs := ms.Registrations(); len(regs.Registrations) != 0 {
		t.Errorf("registered: %+v", regs.Registrations)
	}
}

// A change of local addresses (Node.Reregister, which the daemon calls
// then) makes the xTR redo NAT discovery at once rather than at the end of
// the Info-Reply's TTL.
func TestNATRediscoverOnReregister(t *testing.T) {
	l := startNATLab(t, "k3y")
	eventually(t, "NAT discovered", func() bool { st, _ := l.x.NATStatus(); return st.Discovered && st.Public.IsValid() })
	first, _ := l.x.NATStatus()
	sent := l.x.Stats().Out["Info"]
	l.x.Reregister()
	eventually(t, "Info-Requests sent again", func() bool { return l.x.Stats().Out["Info"] >= sent+2 })
	eventually(t, "a new Info-Reply taken", func() bool { st, _ := l.x.NATStatus(); return st.LastReply.After(first.LastReply) })
}

// ctlGoroutines counts the goroutines running package ctl code that a test
// did not start (none of their frames is in a _test.go file).
func ctlGoroutines() (int, string) {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	count := 0
	var found []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "lispd/ctl.") && !strings.Contains(g, "_test.go") {
			count++
			found = append(found, g)
		}
	}
	return count, strings.Join(found, "\n\n")
}

// Close leaves no goroutine of the NAT roles behind: the xTR's discovery
// loop and registration timers, the RTR's data readers and sweeper, the
// Map-Server's.
func TestNATCloseLeavesNoGoroutine(t *testing.T) {
	l := startNATLab(t, "k3y")
	eventually(t, "registered through the RTR", func() bool { return l.x.MapServerStatus()[0].State == RegStateRegistered })
	if n, _ := ctlGoroutines(); n == 0 {
		t.Fatal("no ctl goroutine while running: the count sees nothing")
	}
	l.x.Close()
	l.ms.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, stacks := ctlGoroutines()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d ctl goroutines after Close:\n%s", n, stacks)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
