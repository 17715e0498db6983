package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/lispd/lispd/testing/lab"
	"github.com/lispd/lispd/testing/netns"
)

// TestTCPTransfer sends 10 MB of random bytes from host A to host B over
// TCP through the tunnel (IPv4 and IPv6 EIDs) and compares SHA-256 digests.
func TestTCPTransfer(t *testing.T) {
	const size = 10 << 20
	s := start(t, lab.Options{Core: lab.CoreRouter}, false)
	for _, dst := range []netip.Addr{lab.HostB4, lab.HostB6} {
		t.Run(dst.String(), func(t *testing.T) {
			tcpSend(t, s.A, s.B, dst, size, 60*time.Second)
		})
	}
}

// tcpSend sends size random bytes from host a to dst:port on host b and
// fails unless the receiver got exactly them (SHA-256).
func tcpSend(t *testing.T, a, b *netns.Host, dst netip.Addr, size int, timeout time.Duration) {
	t.Helper()
	var ln net.Listener
	if err := b.Do(func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(dst, 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		sum [32]byte
		n   int64
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(timeout))
		h := sha256.New()
		n, err := io.Copy(h, c)
		var r result
		copy(r.sum[:], h.Sum(nil))
		r.n, r.err = n, err
		got <- r
	}()
	data := make([]byte, size)
	rand.Read(data)
	want := sha256.Sum256(data)
	var c net.Conn
	if err := a.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write(data); err != nil {
		t.Fatalf("send: %v", err)
	}
	c.Close()
	r := <-got
	if r.err != nil {
		t.Fatalf("receive: %v", r.err)
	}
	if r.n != int64(size) || r.sum != want {
		t.Fatalf("received %d bytes with sha256 %x; sent %d bytes with %x", r.n, r.sum, size, want)
	}
}
