package netio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lispd/lispd/fwd/rtnl"

	"github.com/lispd/lispd/internal/netnstest"
)

var loopbacks = []struct {
	name string
	addr netip.Addr
}{
	{"IPv4", netip.MustParseAddr("127.0.0.1")},
	{"IPv6", netip.MustParseAddr("::1")},
}

// udpPair opens two conns on the loopback address a.
func udpPair(t testing.TB, a netip.Addr, cfg ListenConfig) (tx, rx *UDPConn) {
	t.Helper()
	var err error
	if tx, err = cfg.Listen(netip.AddrPortFrom(a, 0)); err != nil {
		if a.Is6() && errors.Is(err, unix.EADDRNOTAVAIL) {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Close() })
	if rx, err = cfg.Listen(netip.AddrPortFrom(a, 0)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rx.Close() })
	return tx, rx
}

// skipIfSendCmsgBroken skips a test whose messages carry TOS/TTL control
// data where the kernel refuses a valid IP_TTL: qemu-user on a big-endian
// target copies control data it does not know without byte-swapping it, so
// the host kernel reads TTL 5 as 0x05000000 (qemu
// translates some of them, so the probe carries both TOS and TTL). A real kernel never refuses it.
func skipIfSendCmsgBroken(t testing.TB, tx, rx *UDPConn) {
	t.Helper()
	probe := []Message{{Buf: []byte("probe"), Addr: rx.LocalAddr(), TOS: 4, TTL: 5}}
	if _, err := tx.WriteBatch(probe); errors.Is(err, unix.EINVAL) && binary.NativeEndian.Uint16([]byte{0, 1}) == 1 {
		t.Skip("int control messages refused on a big-endian target: qemu-user does not translate them")
	} else if err != nil {
		t.Fatalf("probe: %v", err)
	}
	readN(t, rx, newMsgs(1, 16), 1)
}

// fill writes a pattern that differs per message and per byte.
func fill(b []byte, seed int) {
	for i := range b {
		b[i] = byte(seed*7 + i*13)
	}
}

// readN reads until want messages arrived or the deadline passes.
func readN(t testing.TB, c *UDPConn, msgs []Message, want int) int {
	t.Helper()
	c.Conn().SetReadDeadline(time.Now().Add(5 * time.Second))
	defer c.Conn().SetReadDeadline(time.Time{})
	got := 0
	for got < want {
		n, err := c.ReadBatch(msgs[got:want])
		if err != nil {
			t.Fatalf("ReadBatch after %d of %d: %v", got, want, err)
		}
		got += n
	}
	return got
}

func newMsgs(n, size int) []Message {
	msgs := make([]Message, n)
	for i := range msgs {
		msgs[i].Buf = make([]byte, size)
	}
	return msgs
}

func TestUDPBatchRoundTrip(t *testing.T) {
	for _, lb := range loopbacks {
		t.Run(lb.name, func(t *testing.T) {
			tx, rx := udpPair(t, lb.addr, ListenConfig{RecvTOSTTL: true})
			skipIfSendCmsgBroken(t, tx, rx)
			const count = 64
			out := make([]Message, count)
			for i := range out {
				b := make([]byte, 1+i*21) // 1 .. 1324 bytes
				fill(b, i)
				out[i] = Message{Buf: b, Addr: rx.LocalAddr(), TOS: uint8(i<<2 | i&3), TTL: uint8(1 + i)}
			}
			n, err := tx.WriteBatch(out)
			if err != nil || n != count {
				t.Fatalf("WriteBatch = %d, %v; want %d, nil", n, err, count)
			}
			for i, m := range out {
				if m.N != len(m.Buf) || m.Err != nil {
					t.Errorf("sent message %d: N %d Err %v, want N %d", i, m.N, m.Err, len(m.Buf))
				}
			}
			in := newMsgs(count, 2048)
			readN(t, rx, in, count)
			for i, m := range in {
				if m.Err != nil {
					t.Errorf("message %d: %v", i, m.Err)
				}
				if !bytes.Equal(m.Buf[:m.N], out[i].Buf) {
					t.Errorf("message %d: got %d bytes, want %d equal bytes", i, m.N, len(out[i].Buf))
				}
				if m.Addr != tx.LocalAddr() {
					t.Errorf("message %d: from %v, want %v", i, m.Addr, tx.LocalAddr())
				}
				if m.TOS != out[i].TOS {
					t.Errorf("message %d: TOS %#x, want %#x", i, m.TOS, out[i].TOS)
				}
				if m.TTL != out[i].TTL {
					t.Errorf("message %d: TTL %d, want %d", i, m.TTL, out[i].TTL)
				}
			}
		})
	}
}

func TestUDPDefaultTOSTTL(t *testing.T) {
	for _, lb := range loopbacks {
		t.Run(lb.name, func(t *testing.T) {
			tx, rx := udpPair(t, lb.addr, ListenConfig{RecvTOSTTL: true})
			out := []Message{{Buf: []byte("x"), Addr: rx.LocalAddr()}}
			if _, err := tx.WriteBatch(out); err != nil {
				t.Fatal(err)
			}
			in := newMsgs(1, 64)
			readN(t, rx, in, 1)
			if in[0].TOS != 0 || in[0].TTL != 64 {
				t.Errorf("TOS %#x TTL %d, want the defaults 0 and 64", in[0].TOS, in[0].TTL)
			}
		})
	}
}

// TestUDPBatchLargerThanBatchSize sends more messages than one sendmmsg takes.
func TestUDPBatchLargerThanBatchSize(t *testing.T) {
	tx, rx := udpPair(t, loopbacks[0].addr, ListenConfig{BatchSize: 8})
	out := make([]Message, 30)
	for i := range out {
		out[i] = Message{Buf: []byte{byte(i)}, Addr: rx.LocalAddr()}
	}
	if n, err := tx.WriteBatch(out); n != 30 || err != nil {
		t.Fatalf("WriteBatch = %d, %v; want 30, nil", n, err)
	}
	in := newMsgs(30, 16)
	for got := 0; got < 30; {
		n := readN(t, rx, in[got:], min(8, 30-got))
		if n > 8 {
			t.Fatalf("read %d in one call, batch size 8", n)
		}
		got += n
	}
	for i, m := range in {
		if m.N != 1 || m.Buf[0] != byte(i) {
			t.Errorf("message %d: % x", i, m.Buf[:m.N])
		}
	}
}

// TestUDPPartialBatch checks that messages the kernel or the conn refuses are
// skipped and reported while the others are sent.
func TestUDPPartialBatch(t *testing.T) {
	tx, rx := udpPair(t, loopbacks[0].addr, ListenConfig{})
	huge := make([]byte, 70000) // above the 65507-byte IPv4 UDP limit
	out := []Message{
		{Buf: []byte("a"), Addr: rx.LocalAddr()},
		{Buf: huge, Addr: rx.LocalAddr()},
		{Buf: []byte("b"), Addr: rx.LocalAddr()},
		{Buf: []byte("c"), Addr: netip.MustParseAddrPort("[2001:db8::1]:4341")},
		{Buf: []byte("d"), Addr: rx.LocalAddr()},
	}
	n, err := tx.WriteBatch(out)
	if n != 3 {
		t.Errorf("sent %d, want 3", n)
	}
	if !IsMsgSize(err) {
		t.Errorf("err = %v, want the first failure EMSGSIZE", err)
	}
	if !IsMsgSize(out[1].Err) || out[1].N != 0 {
		t.Errorf("huge message: N %d Err %v, want EMSGSIZE", out[1].N, out[1].Err)
	}
	if !errors.Is(out[3].Err, ErrAddrFamily) {
		t.Errorf("IPv6 destination on IPv4 socket: Err %v, want ErrAddrFamily", out[3].Err)
	}
	in := newMsgs(3, 16)
	readN(t, rx, in, 3)
	for i, want := range []string{"a", "b", "d"} {
		if got := string(in[i].Buf[:in[i].N]); got != want {
			t.Errorf("message %d = %q, want %q", i, got, want)
		}
	}
}

func TestUDPTruncated(t *testing.T) {
	tx, rx := udpPair(t, loopbacks[0].addr, ListenConfig{})
	if _, err := tx.WriteBatch([]Message{{Buf: make([]byte, 100), Addr: rx.LocalAddr()}}); err != nil {
		t.Fatal(err)
	}
	in := newMsgs(1, 10)
	readN(t, rx, in, 1)
	if !errors.Is(in[0].Err, ErrTruncated) || in[0].N != 10 {
		t.Errorf("N %d Err %v, want 10, ErrTruncated", in[0].N, in[0].Err)
	}
}

// TestUDPSourceAddress sends from a wildcard socket with IP_PKTINFO choosing
// the source address.
func TestUDPSourceAddress(t *testing.T) {
	rx, err := ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := ListenUDP(netip.MustParseAddrPort("0.0.0.0:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	skipIfSendCmsgBroken(t, tx, rx)
	srcs := []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")}
	out := []Message{
		{Buf: []byte("2"), Addr: rx.LocalAddr(), Src: srcs[0]},
		{Buf: []byte("3"), Addr: rx.LocalAddr(), Src: srcs[1], TOS: 0x10, TTL: 9},
	}
	if n, err := tx.WriteBatch(out); n != 2 || err != nil {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
	in := newMsgs(2, 16)
	readN(t, rx, in, 2)
	for i, m := range in {
		if m.Addr.Addr() != srcs[i] || m.Addr.Port() != tx.LocalAddr().Port() {
			t.Errorf("message %d from %v, want %v port %d", i, m.Addr, srcs[i], tx.LocalAddr().Port())
		}
	}
	if in[1].TOS != 0x10 || in[1].TTL != 9 {
		t.Errorf("with PKTINFO: TOS %#x TTL %d, want 0x10 9", in[1].TOS, in[1].TTL)
	}
}

func TestUDPCloseUnblocksRead(t *testing.T) {
	c, err := ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.ReadBatch(newMsgs(4, 16))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrClosed) {
			t.Errorf("ReadBatch after Close: %v, want os.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadBatch still blocked 5 s after Close")
	}
}

// roundTripAllocs returns the allocations of one WriteBatch of out on tx
// and the ReadBatch calls on rx that take all of in, averaged over 50
// rounds.
func roundTripAllocs(t *testing.T, tx, rx *UDPConn, out, in []Message) float64 {
	t.Helper()
	var werr, rerr error
	allocs := testing.AllocsPerRun(50, func() {
		if _, err := tx.WriteBatch(out); err != nil {
			werr = err
			return
		}
		for got := 0; got < len(in); {
			n, err := rx.ReadBatch(in[got:])
			if err != nil {
				rerr = err
				return
			}
			got += n
		}
	})
	if werr != nil || rerr != nil {
		t.Fatalf("write %v, read %v", werr, rerr)
	}
	return allocs
}

// TestUDPAllocs asserts that a batch round trip allocates nothing, with and
// without per-message control data.
func TestUDPAllocs(t *testing.T) {
	for _, lb := range loopbacks {
		for _, withCmsg := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/cmsg=%v", lb.name, withCmsg), func(t *testing.T) {
				tx, rx := udpPair(t, lb.addr, ListenConfig{RecvTOSTTL: true})
				out := newMsgs(64, 1400)
				for i := range out {
					out[i].Addr = rx.LocalAddr()
				}
				if withCmsg {
					skipIfSendCmsgBroken(t, tx, rx)
					for i := range out {
						out[i].TOS, out[i].TTL = 0x2e<<2|1, 33
					}
				}
				in := newMsgs(64, 2048)
				allocs := roundTripAllocs(t, tx, rx, out, in)
				if allocs != 0 {
					t.Errorf("%v allocations per WriteBatch+ReadBatch of 64, want 0", allocs)
				}
				if withCmsg && (in[63].TTL != 33 || in[63].TOS != 0x2e<<2|1) {
					t.Errorf("TOS %#x TTL %d", in[63].TOS, in[63].TTL)
				}
			})
		}
	}
}

func TestUDPListenConfig(t *testing.T) {
	c, err := ListenConfig{ReusePort: true, PMTU: PMTUDo, RecvBuffer: 1 << 20}.Listen(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw, _ := c.Conn().SyscallConn()
	var mode, reuse, rcv int
	raw.Control(func(fd uintptr) {
		mode, _ = unix.GetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU_DISCOVER)
		reuse, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT)
		rcv, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
	})
	if mode != unix.IP_PMTUDISC_DO || reuse != 1 || rcv < 1<<20 {
		t.Errorf("IP_MTU_DISCOVER %d SO_REUSEPORT %d SO_RCVBUF %d, want %d 1 >= %d", mode, reuse, rcv, unix.IP_PMTUDISC_DO, 1<<20)
	}
	if _, err := ListenUDP(netip.AddrPort{}); err == nil {
		t.Error("ListenUDP(invalid) succeeded")
	}
}

func TestSendPool(t *testing.T) {
	p, err := NewSendPool(netip.MustParseAddr("127.0.0.1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Len() != DefaultSendPoolSize {
		t.Fatalf("Len %d, want %d", p.Len(), DefaultSendPoolSize)
	}
	ports := map[uint16]bool{}
	for i := range p.Len() {
		ports[p.Conn(i).LocalAddr().Port()] = true
	}
	if len(ports) != p.Len() {
		t.Errorf("%d distinct ports for %d sockets", len(ports), p.Len())
	}
	for h := uint32(0); h < 100; h++ {
		if a, b := p.Pick(h), p.Pick(h); a != b || a != p.Conn(int(h%uint32(p.Len()))) {
			t.Fatalf("Pick(%d) not stable", h)
		}
	}
	// A configured base port gives consecutive ports.
	base := p.Conn(0).LocalAddr().Port()
	p.Close()
	q, err := NewSendPoolConfig(SendPoolConfig{Addr: netip.MustParseAddr("127.0.0.1"), Size: 2, BasePort: base})
	if err != nil {
		t.Skipf("ports %d.. taken meanwhile: %v", base, err)
	}
	defer q.Close()
	if q.Conn(0).LocalAddr().Port() != base || q.Conn(1).LocalAddr().Port() != base+1 {
		t.Errorf("ports %v %v, want %d %d", q.Conn(0).LocalAddr(), q.Conn(1).LocalAddr(), base, base+1)
	}
}

// TestEphemeralPortsDistinct opens many ephemeral sockets and asserts that
// no two share a port. With SO_REUSEADDR on every socket, Linux counts a
// port held by another SO_REUSEADDR socket as free, and 800 binds give a few
// shared ports (about 11 expected among 28,000 ephemeral ports).
func TestEphemeralPortsDistinct(t *testing.T) {
	seen := map[uint16]bool{}
	for range 800 {
		c, err := ListenConfig{SendOnly: true, RecvBuffer: -1, SendBuffer: -1}.Listen(netip.MustParseAddrPort("127.0.0.1:0"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		port := c.LocalAddr().Port()
		if seen[port] {
			t.Fatalf("port %d bound twice", port)
		}
		seen[port] = true
	}
}

func TestUDPPathMTULoopback(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skip(err)
	}
	src, mtu, err := rtnl.RouteTo(netip.MustParseAddr("127.0.0.1"))
	if errors.Is(err, unix.ENOPROTOOPT) {
		t.Skip("IP_MTU not available: qemu-user does not pass it through")
	}
	if err != nil {
		t.Fatal(err)
	}
	want := min(lo.MTU, 65535) // IP_MTU reports at most IP_MAX_MTU
	if mtu != want || src != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("rtnl.RouteTo(127.0.0.1) = %v, %d; want 127.0.0.1, %d", src, mtu, want)
	}
}

func TestSendOnly(t *testing.T) {
	for _, lb := range loopbacks {
		t.Run(lb.name, func(t *testing.T) {
			tx, rx := udpPair(t, lb.addr, ListenConfig{})
			tx.Close()
			so, err := ListenConfig{SendOnly: true}.Listen(netip.AddrPortFrom(lb.addr, 0))
			if err != nil {
				t.Fatal(err)
			}
			defer so.Close()
			// Out of the poller: os.NewFile registers only non-blocking
			// descriptors.
			var flags int
			if err := so.raw.Control(func(fd uintptr) { flags, _ = unix.FcntlInt(fd, unix.F_GETFL, 0) }); err != nil {
				t.Fatal(err)
			}
			if flags&unix.O_NONBLOCK != 0 {
				t.Fatalf("send-only descriptor is non-blocking (flags %#x): it would be in the poller", flags)
			}
			if _, err := so.ReadBatch(newMsgs(1, 16)); !errors.Is(err, ErrSendOnly) {
				t.Fatalf("ReadBatch: %v, want ErrSendOnly", err)
			}
			// Plain and GSO batches arrive intact.
			for _, gso := range []bool{false, true} {
				if gso && binary.NativeEndian.Uint16([]byte{0, 1}) == 1 {
					// qemu-user passes the UDP_SEGMENT control message
					// on without byte-swapping it (the netns GSO tests
					// cover GSO; they run on the host).
					t.Log("GSO not tried on a big-endian target")
					continue
				}
				if gso && !so.EnableGSO() {
					t.Log("no UDP GSO")
					continue
				}
				msgs := make([]Message, 10)
				for i := range msgs {
					msgs[i].Buf = make([]byte, 300)
					fill(msgs[i].Buf, i)
					msgs[i].Addr = rx.LocalAddr()
				}
				if n, err := so.WriteBatch(msgs); n != len(msgs) || err != nil {
					t.Fatalf("gso %v: WriteBatch = %d, %v", gso, n, err)
				}
				in := newMsgs(len(msgs), 2048)
				readN(t, rx, in, len(msgs))
				for i := range in {
					if !bytes.Equal(in[i].Buf[:in[i].N], msgs[i].Buf) {
						t.Fatalf("gso %v: datagram %d differs", gso, i)
					}
				}
			}
		})
	}
}

// TestSendOnlyWait drives the send-only conn's wait loop: a send that
// finds no room waits in poll(2) and tries again, and Close ends the wait.
func TestSendOnlyWait(t *testing.T) {
	so, err := ListenConfig{SendOnly: true}.Listen(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0))
	if err != nil {
		t.Fatal(err)
	}
	defer so.Close()
	tries := 0
	var w sendWait
	w.init(so, func(uintptr) bool { tries++; return tries == 3 })
	if err := so.write(&w); err != nil || tries != 3 {
		t.Fatalf("write = %v after %d tries, want nil after 3", err, tries)
	}
	done := make(chan error, 1)
	var never sendWait
	never.init(so, func(uintptr) bool { return false })
	go func() { done <- so.write(&never) }()
	time.Sleep(20 * time.Millisecond)
	so.Close()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrClosed) {
			t.Fatalf("write after Close: %v, want os.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("write still waiting 5 s after Close")
	}
}

func TestSendOnlyAllocs(t *testing.T) {
	for _, gso := range []bool{false, true} {
		t.Run(fmt.Sprintf("gso=%v", gso), func(t *testing.T) {
			_, rx := udpPair(t, netip.MustParseAddr("127.0.0.1"), ListenConfig{})
			so, err := ListenConfig{SendOnly: true}.Listen(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0))
			if err != nil {
				t.Fatal(err)
			}
			defer so.Close()
			if gso && (binary.NativeEndian.Uint16([]byte{0, 1}) == 1 || !so.EnableGSO()) {
				t.Skip("no UDP GSO here (or a big-endian target under qemu)")
			}
			out := newMsgs(44, 1400)
			for i := range out {
				out[i].Addr = rx.LocalAddr()
			}
			in := newMsgs(44, 2048)
			allocs := roundTripAllocs(t, so, rx, out, in)
			if allocs != 0 {
				t.Errorf("%v allocations per WriteBatch of 44 on a send-only conn, want 0", allocs)
			}
		})
	}
}

// TestUDPZeroChecksum6 sends IPv6 datagrams with a zero UDP checksum (as RFC
// 9300 lets ITRs do) from a raw socket: a conn from ListenUDP (the data
// port's receive socket) takes them, a conn without ZeroChecksum6 does not
// (the kernel drops them; a datagram with a checksum sent after it is the
// first to arrive).
func TestUDPZeroChecksum6(t *testing.T) {
	netnstest.RequireRoot(t)
	lo := netip.MustParseAddr("::1")
	for _, tc := range []struct {
		name string
		open func(netip.AddrPort) (*UDPConn, error)
		want bool
	}{
		{"ListenUDP", ListenUDP, true},
		{"default", ListenConfig{}.Listen, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rx, err := tc.open(netip.AddrPortFrom(lo, 0))
			if errors.Is(err, unix.EADDRNOTAVAIL) {
				t.Skipf("no IPv6 loopback: %v", err)
			} else if err != nil {
				t.Fatal(err)
			}
			defer rx.Close()
			fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_UDP)
			if err != nil {
				t.Fatalf("raw socket: %v", err)
			}
			defer unix.Close(fd)
			payload := []byte("zero checksum")
			udp := make([]byte, 8+len(payload))
			binary.BigEndian.PutUint16(udp[0:], 4341)
			binary.BigEndian.PutUint16(udp[2:], rx.LocalAddr().Port())
			binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
			copy(udp[8:], payload) // checksum udp[6:8] stays zero
			if err := unix.Sendto(fd, udp, 0, &unix.SockaddrInet6{Addr: lo.As16()}); err != nil {
				t.Fatalf("send zero-checksum datagram: %v", err)
			}
			tx, err := ListenConfig{}.Listen(netip.AddrPortFrom(lo, 0))
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Close()
			if _, err := tx.WriteBatch([]Message{{Buf: []byte("with checksum"), Addr: rx.LocalAddr()}}); err != nil {
				t.Fatal(err)
			}
			in := newMsgs(1, 64)
			readN(t, rx, in, 1)
			got := string(in[0].Buf[:in[0].N])
			if want := map[bool]string{true: "zero checksum", false: "with checksum"}[tc.want]; got != want {
				t.Errorf("first datagram %q, want %q", got, want)
			}
		})
	}
}
