package netio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/lispd/lispd/fwd/rtnl"

	"github.com/lispd/lispd/internal/netnstest"
)

var (
	tunAddr4  = netip.MustParsePrefix("192.0.2.1/32")
	tunAddr6  = netip.MustParsePrefix("2001:db8:ff::1/128")
	eidSpace4 = netip.MustParsePrefix("198.51.100.0/25")
	eidSpace6 = netip.MustParsePrefix("2001:db8:1::/48")
)

// openTestTUN enters a fresh namespace and opens a uniquely named TUN there.
func openTestTUN(t testing.TB, mtu int) TUN {
	t.Helper()
	netnstest.Enter(t)
	name := fmt.Sprintf("lsp%06x", rand.Uint32()&0xffffff)
	tun, err := OpenTUN(name, mtu)
	if err != nil {
		t.Fatalf("OpenTUN: %v", err)
	}
	t.Cleanup(func() { tun.Close() })
	return tun
}

// TestTUNNameTaken: a name held by an interface of another kind gets an
// error that says so.
func TestTUNNameTaken(t *testing.T) {
	netnstest.Enter(t)
	_, err := OpenTUN("lo", 1400)
	if err == nil || !strings.Contains(err.Error(), `open TUN "lo"`) || !strings.Contains(err.Error(), "exists and is not a TUN") {
		t.Fatalf("OpenTUN(lo) = %v, want an error naming the taken name", err)
	}
}

// linkTxQueueLen reads IFLA_TXQLEN of ifindex with an RTM_GETLINK dump in the
// current namespace (/sys shows the host's).
func linkTxQueueLen(t *testing.T, ifindex int) int {
	t.Helper()
	rib, err := syscall.NetlinkRIB(unix.RTM_GETLINK, unix.AF_UNSPEC)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := syscall.ParseNetlinkMessage(rib)
	if err != nil {
		t.Fatal(err)
	}
	for i := range msgs {
		m := &msgs[i]
		if m.Header.Type != unix.RTM_NEWLINK || len(m.Data) < unix.SizeofIfInfomsg {
			continue
		}
		if int((*unix.IfInfomsg)(unsafe.Pointer(&m.Data[0])).Index) != ifindex {
			continue
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(m)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range attrs {
			if a.Attr.Type == unix.IFLA_TXQLEN {
				return int(binary.NativeEndian.Uint32(a.Value))
			}
		}
	}
	t.Fatalf("no link %d in dump", ifindex)
	return 0
}

func TestNetnsTUNOpen(t *testing.T) {
	tun := openTestTUN(t, 1400)
	ifi, err := net.InterfaceByName(tun.Name())
	if err != nil {
		t.Fatal(err)
	}
	if ifi.MTU != 1400 || tun.MTU() != 1400 {
		t.Errorf("MTU %d (TUN says %d), want 1400", ifi.MTU, tun.MTU())
	}
	if ifi.Flags&net.FlagUp == 0 {
		t.Errorf("flags %v, want up", ifi.Flags)
	}
	if q := linkTxQueueLen(t, ifi.Index); q != DefaultTxQueueLen {
		t.Errorf("txqueuelen %d, want %d", q, DefaultTxQueueLen)
	}
	if err := rtnl.LinkSetTxQueueLen(tun.Name(), 777); err != nil {
		t.Fatal(err)
	}
	if q := linkTxQueueLen(t, ifi.Index); q != 777 {
		t.Errorf("txqueuelen %d after set, want 777", q)
	}
	if err := rtnl.LinkSetMTU("nosuchlink0", 1400); err == nil {
		t.Error("LinkSetMTU on a missing link succeeded")
	}
	if err := rtnl.LinkSetMTU(tun.Name(), 10); !errors.Is(err, unix.EINVAL) {
		t.Errorf("MTU 10: %v, want EINVAL from the kernel", err)
	}
	if _, err := OpenTUN("this-name-is-far-too-long", 1400); err == nil {
		t.Error("OpenTUN with a 25-character name succeeded")
	}
}

func TestNetnsRoutes(t *testing.T) {
	tun := openTestTUN(t, 1400)
	ifi, _ := net.InterfaceByName(tun.Name())
	prefixes := []netip.Prefix{eidSpace4, eidSpace6}
	remove, err := rtnl.AddRoutes(tun.Name(), prefixes)
	if err != nil {
		t.Fatal(err)
	}
	have := func() map[netip.Prefix]rtnl.Route {
		rs, err := rtnl.ListRoutes(ifi.Index)
		if err != nil {
			t.Fatal(err)
		}
		m := map[netip.Prefix]rtnl.Route{}
		for _, r := range rs {
			m[r.Dst] = r
		}
		return m
	}
	got := have()
	for _, p := range prefixes {
		r, ok := got[p]
		if !ok {
			t.Errorf("route %s missing; have %v", p, got)
			continue
		}
		if r.Protocol != rtnl.RouteProtocol || r.Table != unix.RT_TABLE_MAIN || r.Ifindex != ifi.Index {
			t.Errorf("route %s = %+v", p, r)
		}
	}
	// A second install of an existing route fails and leaves the first alone.
	if _, err := rtnl.AddRoutes(tun.Name(), []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), eidSpace4}); !errors.Is(err, unix.EEXIST) {
		t.Errorf("duplicate route: %v, want EEXIST", err)
	}
	got = have()
	if _, ok := got[eidSpace4]; !ok {
		t.Error("failed AddRoutes removed a route it did not add")
	}
	if _, ok := got[netip.MustParsePrefix("203.0.113.0/24")]; ok {
		t.Error("failed AddRoutes left its own route behind")
	}
	if err := remove(); err != nil {
		t.Fatal(err)
	}
	got = have()
	for _, p := range prefixes {
		if _, ok := got[p]; ok {
			t.Errorf("route %s still there after remove", p)
		}
	}
	if err := remove(); err != nil {
		t.Errorf("second remove: %v", err)
	}
}

// TestNetnsTUNReadWrite sends datagrams routed into the TUN and reads them in
// one batch, then writes packets out of the TUN to local sockets.
func TestNetnsTUNReadWrite(t *testing.T) {
	tun := openTestTUN(t, 1400)
	for _, a := range []netip.Prefix{tunAddr4, tunAddr6} {
		if err := rtnl.AddAddress(tun.Name(), a); err != nil {
			t.Fatal(err)
		}
	}
	remove, err := rtnl.AddRoutes(tun.Name(), []netip.Prefix{eidSpace4, eidSpace6})
	if err != nil {
		t.Fatal(err)
	}
	defer remove()
	// The kernel installs the local route of an IPv6 address from a work
	// queue, even without DAD; until then packets to it count as
	// Ip6InAddrErrors.
	for deadline := time.Now().Add(5 * time.Second); !hasLocalRoute(t, tunAddr6.Addr()); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%v never became local", tunAddr6)
		}
	}

	// Path MTU and source toward the EID space come from the TUN route.
	src, mtu, err := rtnl.RouteTo(netip.MustParseAddr("198.51.100.10"))
	if err != nil || mtu != 1400 || src != tunAddr4.Addr() {
		t.Errorf("rtnl.RouteTo(198.51.100.10) = %v, %d, %v; want %v, 1400", src, mtu, err, tunAddr4.Addr())
	}
	// Traffic outside the EID space does not enter the tunnel.
	if _, _, err := rtnl.RouteTo(netip.MustParseAddr("198.51.100.200")); !errors.Is(err, unix.ENETUNREACH) {
		t.Errorf("rtnl.RouteTo(198.51.100.200): %v, want ENETUNREACH", err)
	}

	// Kernel → TUN: several datagrams queue up, one Read returns them all.
	dsts := []netip.AddrPort{
		netip.MustParseAddrPort("198.51.100.10:9999"),
		netip.MustParseAddrPort("198.51.100.11:9999"),
		netip.MustParseAddrPort("[2001:db8:1::10]:9999"),
		netip.MustParseAddrPort("198.51.100.12:9999"),
		netip.MustParseAddrPort("[2001:db8:1::11]:9999"),
	}
	s4, err := ListenUDP(netip.MustParseAddrPort("0.0.0.0:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer s4.Close()
	s6, err := ListenUDP(netip.MustParseAddrPort("[::]:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer s6.Close()
	for i, d := range dsts {
		c := s4
		if d.Addr().Is6() {
			c = s6
		}
		if n, err := c.WriteBatch([]Message{{Buf: []byte(fmt.Sprintf("pkt%d", i)), Addr: d}}); n != 1 {
			t.Fatalf("send to %v: %v", d, err)
		}
	}
	const offset = 16
	bufs := make([][]byte, 16)
	for i := range bufs {
		bufs[i] = make([]byte, offset+2000)
	}
	sizes := make([]int, len(bufs))
	watchdog := time.AfterFunc(10*time.Second, func() { tun.Close() })
	defer watchdog.Stop()
	found := make([]bool, len(dsts))
	nfound, reads, firstN := 0, 0, 0
	for nfound < len(dsts) {
		n, err := tun.Read(bufs, sizes, offset)
		if err != nil {
			t.Fatalf("Read after %d of %d packets: %v", nfound, len(dsts), err)
		}
		if reads == 0 {
			firstN = n
		}
		reads++
		for i := range n {
			pkt := bufs[i][offset : offset+sizes[i]]
			dst, payload, ok := parseUDP(pkt)
			if !ok || dst.Port() != 9999 {
				continue // IPv6 neighbour discovery and MLD noise
			}
			for j, d := range dsts {
				if d == dst && string(payload) == fmt.Sprintf("pkt%d", j) && !found[j] {
					found[j] = true
					nfound++
				}
			}
		}
	}
	if firstN < len(dsts) {
		t.Errorf("first Read returned %d packets, want all %d that were queued", firstN, len(dsts))
	}

	// TUN → kernel: packets written to the TUN arrive at local sockets.
	r4, err := ListenUDP(netip.AddrPortFrom(tunAddr4.Addr(), 0))
	if err != nil {
		t.Fatal(err)
	}
	defer r4.Close()
	r6, err := ListenUDP(netip.AddrPortFrom(tunAddr6.Addr(), 0))
	if err != nil {
		t.Fatal(err)
	}
	defer r6.Close()
	from4 := netip.MustParseAddrPort("198.51.100.20:1234")
	from6 := netip.MustParseAddrPort("[2001:db8:1::20]:1234")
	out := [][]byte{
		append(make([]byte, offset), buildUDP(from4, r4.LocalAddr(), []byte("in4"))...),
		append(make([]byte, offset), buildUDP(from6, r6.LocalAddr(), []byte("in6"))...),
	}
	if n, err := tun.Write(out, offset); n != 2 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	for _, c := range []struct {
		conn *UDPConn
		from netip.AddrPort
		want string
	}{{r4, from4, "in4"}, {r6, from6, "in6"}} {
		in := newMsgs(1, 64)
		readN(t, c.conn, in, 1)
		if got := string(in[0].Buf[:in[0].N]); got != c.want || in[0].Addr != c.from {
			t.Errorf("received %q from %v, want %q from %v", got, in[0].Addr, c.want, c.from)
		}
	}
}

// TestNetnsPMTUModes sends datagrams larger than the route MTU toward the
// TUN: PMTUDo refuses them with EMSGSIZE per message, PMTUWant lets the
// kernel fragment them, and PathMTU reports the route's MTU.
func TestNetnsPMTUModes(t *testing.T) {
	tun := openTestTUN(t, 1400)
	if err := rtnl.AddAddress(tun.Name(), tunAddr4); err != nil {
		t.Fatal(err)
	}
	remove, err := rtnl.AddRoutes(tun.Name(), []netip.Prefix{eidSpace4})
	if err != nil {
		t.Fatal(err)
	}
	defer remove()
	dst := netip.MustParseAddrPort("198.51.100.10:4341")
	if mtu, err := rtnl.PathMTU(dst.Addr()); mtu != 1400 || err != nil {
		t.Errorf("PathMTU = %d, %v; want 1400", mtu, err)
	}
	for _, tc := range []struct {
		mode PMTUMode
		sent int
	}{{PMTUDo, 2}, {PMTUWant, 3}} {
		c, err := ListenConfig{PMTU: tc.mode}.Listen(netip.MustParseAddrPort("0.0.0.0:0"))
		if err != nil {
			t.Fatal(err)
		}
		msgs := []Message{
			{Buf: make([]byte, 1372), Addr: dst}, // 1400 with headers: fits
			{Buf: make([]byte, 1373), Addr: dst}, // one byte too big
			{Buf: make([]byte, 100), Addr: dst},
		}
		n, err := c.WriteBatch(msgs)
		c.Close()
		if n != tc.sent {
			t.Errorf("mode %d: sent %d of 3, want %d (err %v)", tc.mode, n, tc.sent, err)
		}
		if tc.mode == PMTUDo && (!IsMsgSize(msgs[1].Err) || !IsMsgSize(err) || msgs[2].Err != nil) {
			t.Errorf("PMTUDo: errors %v / %v %v %v, want EMSGSIZE for the second only", err, msgs[0].Err, msgs[1].Err, msgs[2].Err)
		}
	}
}

func TestNetnsTUNCloseUnblocksRead(t *testing.T) {
	tun := openTestTUN(t, 1400)
	done := make(chan error, 1)
	go func() {
		bufs := [][]byte{make([]byte, 2000)}
		for { // IPv6 router solicitations and MLD reports may come first
			if _, err := tun.Read(bufs, make([]int, 1), 0); err != nil {
				done <- err
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond)
	tun.Close()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrClosed) {
			t.Errorf("Read after Close: %v, want os.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read still blocked 5 s after Close")
	}
}

// TestNetnsTUNReadAllocs asserts that a batched TUN read allocates nothing.
func TestNetnsTUNReadAllocs(t *testing.T) {
	tun := openTestTUN(t, 1400)
	if err := rtnl.AddAddress(tun.Name(), tunAddr4); err != nil {
		t.Fatal(err)
	}
	remove, err := rtnl.AddRoutes(tun.Name(), []netip.Prefix{eidSpace4})
	if err != nil {
		t.Fatal(err)
	}
	defer remove()
	s, err := ListenUDP(netip.MustParseAddrPort("0.0.0.0:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := newMsgs(8, 100)
	for i := range out {
		out[i].Addr = netip.MustParseAddrPort("198.51.100.10:9999")
	}
	bufs := make([][]byte, 8)
	for i := range bufs {
		bufs[i] = make([]byte, 2000)
	}
	sizes := make([]int, 8)
	wbufs := make([][]byte, 8)
	watchdog := time.AfterFunc(20*time.Second, func() { tun.Close() })
	defer watchdog.Stop()
	allocs := testing.AllocsPerRun(20, func() {
		s.WriteBatch(out)
		for got := 0; got < 8; {
			n, err := tun.Read(bufs, sizes, 0)
			if err != nil {
				t.Error(err)
				return
			}
			for i := range n {
				if _, _, ok := parseUDP(bufs[i][:sizes[i]]); ok {
					got++
				}
				wbufs[i] = bufs[i][:sizes[i]]
			}
			tun.Write(wbufs[:n], 0) // back into the kernel: to an EID, dropped
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per TUN Read+Write batch, want 0", allocs)
	}
}

// hasLocalRoute reports whether the local table has a route of type local
// for the IPv6 address a.
func hasLocalRoute(t *testing.T, a netip.Addr) bool {
	rib, err := syscall.NetlinkRIB(unix.RTM_GETROUTE, unix.AF_INET6)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := syscall.ParseNetlinkMessage(rib)
	if err != nil {
		t.Fatal(err)
	}
	for i := range msgs {
		m := &msgs[i]
		if m.Header.Type != unix.RTM_NEWROUTE || len(m.Data) < unix.SizeofRtMsg {
			continue
		}
		if (*unix.RtMsg)(unsafe.Pointer(&m.Data[0])).Type != unix.RTN_LOCAL {
			continue
		}
		attrs, _ := syscall.ParseNetlinkRouteAttr(m)
		for _, at := range attrs {
			if d, ok := netip.AddrFromSlice(at.Value); at.Attr.Type == unix.RTA_DST && ok && d == a {
				return true
			}
		}
	}
	return false
}

// parseUDP returns the destination and payload of an IPv4 or IPv6 UDP packet.
func parseUDP(p []byte) (netip.AddrPort, []byte, bool) {
	if len(p) < 1 {
		return netip.AddrPort{}, nil, false
	}
	switch p[0] >> 4 {
	case 4:
		if len(p) < 28 || p[9] != unix.IPPROTO_UDP {
			return netip.AddrPort{}, nil, false
		}
		hl := int(p[0]&15) * 4
		dst := netip.AddrFrom4([4]byte(p[16:20]))
		u := p[hl:]
		return netip.AddrPortFrom(dst, binary.BigEndian.Uint16(u[2:])), u[8:], true
	case 6:
		if len(p) < 48 || p[6] != unix.IPPROTO_UDP {
			return netip.AddrPort{}, nil, false
		}
		dst := netip.AddrFrom16([16]byte(p[24:40]))
		return netip.AddrPortFrom(dst, binary.BigEndian.Uint16(p[42:])), p[48:], true
	}
	return netip.AddrPort{}, nil, false
}

// buildUDP builds an IPv4 or IPv6 UDP packet with valid checksums.
func buildUDP(src, dst netip.AddrPort, payload []byte) []byte {
	udp := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(udp[0:], src.Port())
	binary.BigEndian.PutUint16(udp[2:], dst.Port())
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[8:], payload)
	var pseudo []byte
	pseudo = append(pseudo, src.Addr().AsSlice()...)
	pseudo = append(pseudo, dst.Addr().AsSlice()...)
	pseudo = append(pseudo, 0, unix.IPPROTO_UDP, byte(len(udp)>>8), byte(len(udp)))
	ck := ^checksum(append(pseudo, udp...))
	if ck == 0 {
		ck = 0xffff
	}
	binary.BigEndian.PutUint16(udp[6:], ck)
	if src.Addr().Is4() {
		ip := make([]byte, 20)
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(udp)))
		ip[8] = 64
		ip[9] = unix.IPPROTO_UDP
		copy(ip[12:], src.Addr().AsSlice())
		copy(ip[16:], dst.Addr().AsSlice())
		binary.BigEndian.PutUint16(ip[10:], ^checksum(ip))
		return append(ip, udp...)
	}
	ip := make([]byte, 40)
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(len(udp)))
	ip[6] = unix.IPPROTO_UDP
	ip[7] = 64
	copy(ip[8:], src.Addr().AsSlice())
	copy(ip[24:], dst.Addr().AsSlice())
	return append(ip, udp...)
}

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}
