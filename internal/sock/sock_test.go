package sock

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestUDPRoundTrip(t *testing.T) {
	for _, tc := range []struct{ name, addr string }{
		{"ipv4", "127.0.0.1:0"},
		{"ipv6", "[::1]:0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ListenUDP(netip.MustParseAddrPort(tc.addr), nil)
			if err != nil {
				t.Skipf("no %s loopback: %v", tc.name, err)
			}
			defer a.Close()
			if a.LocalAddr().Port() == 0 {
				t.Fatal("LocalAddr has no port after bind")
			}
			b, err := DialUDP(a.LocalAddr())
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if b.LocalAddr().Addr() != a.LocalAddr().Addr() {
				t.Errorf("dial picked source %v, want %v", b.LocalAddr().Addr(), a.LocalAddr().Addr())
			}
			if _, err := b.WriteToUDPAddrPort([]byte("hello"), a.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			a.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 64)
			n, from, err := a.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatal(err)
			}
			if string(buf[:n]) != "hello" || from != b.LocalAddr() {
				t.Errorf("got %q from %v, want %q from %v", buf[:n], from, "hello", b.LocalAddr())
			}
		})
	}
}

func TestUDPMappedDestinationOnIPv4Socket(t *testing.T) {
	a, err := ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	mapped := netip.AddrPortFrom(netip.AddrFrom16(a.LocalAddr().Addr().As16()), a.LocalAddr().Port())
	if _, err := a.WriteToUDPAddrPort([]byte("x"), mapped); err != nil {
		t.Fatalf("write to IPv4-mapped %v: %v", mapped, err)
	}
	a.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := a.ReadFromUDPAddrPort(make([]byte, 8)); err != nil {
		t.Fatal(err)
	}
}

func TestUDPDeadlineAndClose(t *testing.T) {
	c, err := ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if _, _, err := c.ReadFromUDPAddrPort(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	c.SetReadDeadline(time.Time{})
	done := make(chan error, 1)
	go func() {
		_, _, err := c.ReadFromUDPAddrPort(make([]byte, 8))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrClosed) {
			t.Fatalf("read after close: %v, want os.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock ReadFrom")
	}
	raw, _ := c.SyscallConn()
	if err := raw.Read(func(uintptr) bool { return true }); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("raw read after close: %v, want os.ErrClosed", err)
	}
}

func TestListenUDPControlErrorAborts(t *testing.T) {
	boom := errors.New("boom")
	_, err := ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"), func(int) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want the control function's error", err)
	}
}

func TestUnixStream(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	l, err := ListenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- []byte(err.Error())
			return
		}
		defer c.Close()
		cred, err := c.PeerCred()
		if err != nil || int(cred.Uid) != os.Geteuid() {
			got <- []byte("bad peer credentials")
			return
		}
		b, _ := io.ReadAll(c)
		c.Write(append([]byte("re:"), b...))
		got <- b
	}()
	c, err := DialUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("ping"))
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	resp, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if b := <-got; !bytes.Equal(b, []byte("ping")) || string(resp) != "re:ping" {
		t.Fatalf("server read %q, client read %q", b, resp)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file left after Close: %v", err)
	}
	if _, err := DialUnix(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dial after close: %v, want ErrNotExist", err)
	}
}

func TestUnixAcceptUnblocksOnClose(t *testing.T) {
	l, err := ListenUnix(filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := l.Accept(); done <- err }()
	time.Sleep(20 * time.Millisecond)
	l.Close()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrClosed) {
			t.Fatalf("accept after close: %v, want os.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock Accept")
	}
}

func TestInterfacesLoopback(t *testing.T) {
	lo, err := InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if lo.Index <= 0 || lo.MTU <= 0 || !lo.Up() {
		t.Fatalf("lo = %+v, want an index, an MTU and up", lo)
	}
	addrs, err := InterfaceAddrs(lo.Index)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range addrs {
		if p == netip.MustParsePrefix("127.0.0.1/8") {
			found = true
		}
	}
	if !found {
		t.Fatalf("lo addresses %v lack 127.0.0.1/8", addrs)
	}
	if _, err := InterfaceByName("nonexistent-if0"); !errors.Is(err, ErrNoSuchInterface) {
		t.Fatalf("unknown interface: %v, want ErrNoSuchInterface", err)
	}
}

// Sending allocates nothing per datagram, IPv4 or IPv6 (the RTR relays
// every data packet through here).
func TestWriteToUDPAddrPortAllocs(t *testing.T) {
	for _, lo := range []string{"127.0.0.1", "::1"} {
		c, err := ListenUDP(netip.AddrPortFrom(netip.MustParseAddr(lo), 0), nil)
		if err != nil {
			t.Skipf("no %s: %v", lo, err)
		}
		defer c.Close()
		b := make([]byte, 64)
		if a := testing.AllocsPerRun(100, func() {
			if _, err := c.WriteToUDPAddrPort(b, c.LocalAddr()); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("%s: %.1f allocations per send", lo, a)
		}
	}
}

// Receiving allocates nothing per datagram, IPv4 or IPv6, and reports the
// sender's address and port (the RTR relays every data packet through
// here).
func TestReadFromUDPAddrPortAllocs(t *testing.T) {
	for _, lo := range []string{"127.0.0.1", "::1"} {
		c, err := ListenUDP(netip.AddrPortFrom(netip.MustParseAddr(lo), 0), nil)
		if err != nil {
			t.Skipf("no %s: %v", lo, err)
		}
		defer c.Close()
		peer, err := ListenUDP(netip.AddrPortFrom(netip.MustParseAddr(lo), 0), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer peer.Close()
		b := make([]byte, 64)
		var from netip.AddrPort
		if a := testing.AllocsPerRun(100, func() {
			if _, err := peer.WriteToUDPAddrPort(b, c.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			if _, from, err = c.ReadFromUDPAddrPort(b); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("%s: %.1f allocations per send and receive, want 0", lo, a)
		}
		if from != peer.LocalAddr() {
			t.Errorf("%s: received from %v, want the sender %v", lo, from, peer.LocalAddr())
		}
	}
}

// WriteToUDPAddrPortVia sets the source of a wildcard socket's datagram
// and its outgoing interface per packet: the receiver sees the given
// source, and an interface that does not exist is refused.
func TestUDPWriteVia(t *testing.T) {
	lo, err := InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	a, err := ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	w, err := ListenUDP(netip.MustParseAddrPort("0.0.0.0:0"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	buf := make([]byte, 64)
	for _, src := range []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")} {
		if _, err := w.WriteToUDPAddrPortVia([]byte("hi"), a.LocalAddr(), src, lo.Index); err != nil {
			if errors.Is(err, unix.ENODEV) && underQEMUBigEndian() {
				t.Skip("IP_PKTINFO refused on a big-endian target: qemu-user passes the control message without byte-swapping its interface index")
			}
			t.Fatal(err)
		}
		a.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := a.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		if string(buf[:n]) != "hi" || from.Addr() != src || from.Port() != w.LocalAddr().Port() {
			t.Errorf("got %q from %v, want %q from %v port %d", buf[:n], from, "hi", src, w.LocalAddr().Port())
		}
	}
	if _, err := w.WriteToUDPAddrPortVia([]byte("hi"), a.LocalAddr(), netip.MustParseAddr("127.0.0.2"), 1<<30); err == nil {
		t.Error("sent through an interface that does not exist")
	}
	// No source and no interface: a plain send.
	if _, err := w.WriteToUDPAddrPortVia([]byte("hi"), a.LocalAddr(), netip.Addr{}, 0); err != nil {
		t.Fatal(err)
	}
	a.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, from, err := a.ReadFromUDPAddrPort(buf); err != nil || from.Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("plain send from %v (%v), want 127.0.0.1", from, err)
	}
}

// underQEMUBigEndian reports a big-endian target run by qemu-user, which
// copies control messages it does not translate (IP_PKTINFO among them) to
// the host kernel as they are, so the kernel reads their integers
// byte-swapped. A real kernel never does.
func underQEMUBigEndian() bool {
	comm, _ := os.ReadFile("/proc/self/comm")
	return strings.HasPrefix(string(comm), "qemu-") && binary.NativeEndian.Uint16([]byte{0, 1}) == 1
}
