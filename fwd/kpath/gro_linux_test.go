package kpath

import (
	"net"
	"net/netip"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestZeroChecksumEscapesUDPGRO checks the UDP_GRO interplay: with a
// socket on the ETR's port 4341 that asks for UDP_GRO (as lispd's does),
// the uplink's GRO would coalesce LISP datagrams before the TCX hook and
// the decapsulating program would have to leave them to the socket. The
// kernel's UDP GRO skips datagrams with a zero checksum, which is what the
// encapsulating program sends, so a transfer between two kernel paths is
// decapsulated in full even then. (Datagrams from an ITR that sends
// checksums, like lispd's userspace path, would be coalesced.)
func TestZeroChecksumEscapesUDPGRO(t *testing.T) {
	k := newKpathLab(t, "tcx")
	var sock net.PacketConn
	if err := k.XTR2.Do(func() error {
		lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO, 1)
			}); err != nil {
				return err
			}
			return serr
		}}
		var err error
		sock, err = lc.ListenPacket(t.Context(), "udp4", netip.AddrPortFrom(k.RLOC2v4, DataPort).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	const size = 8 << 20
	k.transfer(t, size)
	st, err := k.x2.Decap.Stats()
	if err != nil {
		t.Fatal(err)
	}
	d, err := k.x2.Decap.Counters(k.RLOC2v4)
	if err != nil {
		t.Fatal(err)
	}
	if st[StatDecapGRO] != 0 || d.Bytes < size {
		t.Fatalf("%d GRO packets left to the socket, %d bytes decapsulated (want 0 and ≥ %d)", st[StatDecapGRO], d.Bytes, size)
	}
}
