package e2e

import (
	"encoding/binary"
	"fmt"
	"github.com/lispd/lispd/ctl/admin"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lispd/lispd/testing/lab"
	"github.com/lispd/lispd/testing/netns"
	"github.com/lispd/lispd/testing/tshark"
)

// capture starts a capture on h's iface into the test's temp dir.
func capture(t *testing.T, h *netns.Host, iface string, filter ...string) *netns.Capture {
	t.Helper()
	c, err := h.Capture(iface, filepath.Join(t.TempDir(), h.Name+"-"+iface+".pcap"), filter...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func stop(t *testing.T, c *netns.Capture) string {
	t.Helper()
	if summary, err := c.Stop(); err != nil {
		t.Fatalf("capture %s: %v: %s", c.Path, err, summary)
	}
	return c.Path
}

// count returns how many frames of the capture match a display filter.
func count(t *testing.T, path, filter string) int {
	t.Helper()
	return len(tshark.Fields(t, path, filter, []string{"frame.number"}))
}

// udpFlows sends n packets on each of flows UDP flows (distinct source
// ports) from h to dst:port.
func udpFlows(t *testing.T, h *netns.Host, dst netip.Addr, port, flows, n int) {
	t.Helper()
	for f := 0; f < flows; f++ {
		var c net.Conn
		if err := h.Do(func() (err error) {
			c, err = net.Dial("udp", netip.AddrPortFrom(dst, uint16(port)).String())
			return err
		}); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			fmt.Fprintf(c, "flow %d packet %d", f, i)
		}
		c.Close()
	}
}

// transferCheckArgs are tshark's arguments for a capture that carries TCP
// transfers: LISP and the outer and inner IP, UDP and TCP headers and
// checksums (the inner ones written by our segmentation) are judged, not
// the endpoints. TCP sequence analysis is off (a capture of a fast transfer
// may miss frames, and a segment relayed by an RTR crosses the core twice),
// and every inner TCP payload decodes as plain data, neither reassembled
// nor handed to the dissector of whatever protocol its random port happens
// to belong to (such a dissector flagged the transfer's random bytes now
// and then).
func transferCheckArgs() []string {
	return []string{
		"-o", "tcp.analyze_sequence_numbers:FALSE",
		"-o", "tcp.desegment_tcp_streams:FALSE",
		"-o", "tcp.check_checksum:TRUE",
		"-d", "tcp.port==1-65535,data",
	}
}

// checkTransferCapture is tshark.Check with transferCheckArgs (then extra),
// leaving out the frames tshark.IgnoreKernelTCP describes.
func checkTransferCapture(t *testing.T, path string, extra ...string) {
	t.Helper()
	tshark.CheckWith(t, path, tshark.Options{ExtraArgs: append(transferCheckArgs(), extra...), Ignore: tshark.IgnoreKernelTCP})
}

// TestCoreCaptureIsLISPData captures the xTR1—core link while pings and
// eight UDP flows cross it, and has tshark check every frame: LISP data on
// UDP 4341 with verified checksums and no expert warning; each flow keeps
// one outer source port, and different flows use different ones.
func TestCoreCaptureIsLISPData(t *testing.T) {
	tshark.Require(t)
	s := start(t, lab.Options{Core: lab.CoreRouter, TxChecksumOff: true}, false)
	pingWorks(t, s.A, lab.HostB4) // neighbours resolved before capturing
	c := capture(t, s.Core, "x1")
	ping(t, s.A, lab.HostB4, "-c", "3", "-i", "0.1", "-W", "2")
	ping(t, s.A, lab.HostB6, "-c", "3", "-i", "0.1", "-W", "2")
	const flows = 8
	udpFlows(t, s.A, lab.HostB4, 9000, flows, 5)
	time.Sleep(200 * time.Millisecond)
	path := stop(t, c)

	tshark.Check(t, path)
	all := count(t, path, "udp.port == 4341")
	lisp := count(t, path, "lisp-data")
	if all == 0 || lisp != all {
		t.Errorf("%d frames on UDP 4341, %d decoded as LISP data; want all, and some", all, lisp)
	}
	// Outer and inner source ports of the flows from xTR1.
	rows := tshark.Fields(t, path, fmt.Sprintf("lisp-data && ip.src == %s && udp.dstport == 9000", s.RLOC1v4),
		[]string{"udp.srcport"})
	outerOf := map[string]map[string]bool{}
	outers := map[string]bool{}
	for _, r := range rows {
		p := strings.Split(r[0], ";")
		if len(p) != 2 {
			t.Fatalf("udp.srcport %q: want outer;inner", r[0])
		}
		if outerOf[p[1]] == nil {
			outerOf[p[1]] = map[string]bool{}
		}
		outerOf[p[1]][p[0]] = true
		outers[p[0]] = true
	}
	if len(outerOf) != flows {
		t.Fatalf("saw %d of %d flows encapsulated (%d frames)", len(outerOf), flows, len(rows))
	}
	for inner, o := range outerOf {
		if len(o) != 1 {
			t.Errorf("flow from inner port %s left with %d outer source ports %v; want one", inner, len(o), o)
		}
	}
	if len(outers) < 2 {
		t.Errorf("%d flows all used outer source port(s) %v; want entropy across flows", flows, outers)
	}
}

// lispData returns a LISP data packet (N bit, a nonce) around inner.
func lispData(inner []byte) []byte {
	b := make([]byte, 8, 8+len(inner))
	binary.BigEndian.PutUint32(b[0:], 0x80<<24|0x1234ab)
	return append(b, inner...)
}

// TestETRDropsNonLocalInnerDestination sends crafted LISP data packets from
// xTR1's RLOC to xTR2: one for host B (a local EID: must arrive, the
// control) and ones for destinations that are not xTR2's EIDs (reachable
// from xTR2 natively, or site 1's own EID): an ETR is no open relay, so
// they must not come out.
func TestETRDropsNonLocalInnerDestination(t *testing.T) {
	tshark.Require(t)
	s := start(t, lab.Options{Core: lab.CoreRouter}, false)
	foreign := netip.MustParseAddr("203.0.113.50")
	// Make the foreign address reachable behind xTR2, on host B.
	if err := (&netns.Iface{Host: s.B, Name: "eth0"}).AddAddr(netip.PrefixFrom(foreign, 32)); err != nil {
		t.Fatal(err)
	}
	if err := s.XTR2.AddRoute(netip.PrefixFrom(foreign, 32), lab.HostB4); err != nil {
		t.Fatal(err)
	}
	pingWorks(t, s.A, lab.HostB4)
	cb := capture(t, s.B, "eth0", "udp", "port", "7777")
	ca := capture(t, s.A, "eth0", "udp", "port", "7777")

	var conn net.PacketConn
	if err := s.XTR1.Do(func() (err error) {
		conn, err = net.ListenPacket("udp", netip.AddrPortFrom(s.RLOC1v4, 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	etr := net.UDPAddrFromAddrPort(netip.AddrPortFrom(s.RLOC2v4, 4341))
	src := netip.AddrPortFrom(lab.HostA4, 5555)
	for _, dst := range []netip.Addr{lab.HostB4, foreign, lab.HostA4} {
		inner, err := tshark.UDPPacket(src, netip.AddrPortFrom(dst, 7777), []byte("relay test "+dst.String()))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			if _, err := conn.WriteTo(lispData(inner), etr); err != nil {
				t.Fatal(err)
			}
		}
	}
	time.Sleep(500 * time.Millisecond)
	pb, pa := stop(t, cb), stop(t, ca)
	if n := count(t, pb, "ip.dst == "+lab.HostB4.String()); n == 0 {
		t.Fatalf("control: the LISP packet for host B (a local EID) did not arrive; the test proves nothing")
	}
	if n := count(t, pb, "ip.dst == "+foreign.String()); n != 0 {
		t.Errorf("xTR2 decapsulated and forwarded %d packet(s) for %s, which is not its EID", n, foreign)
	}
	if n := count(t, pa, "ip.dst == "+lab.HostA4.String()); n != 0 {
		t.Errorf("xTR2 relayed %d packet(s) for site 1's %s back into the tunnel", n, lab.HostA4)
	}
	// Three packets for the foreign address and three for site 1: six
	// drops, each counted.
	if n := counter(t, s.X2, admin.GroupDataDrops, "not-local-eid"); n != 6 {
		t.Errorf("xTR2 not-local-eid drops = %d, want 6", n)
	}
}

// TestOutsideEIDSpaceNotTunneled pings an address outside eid_space from
// host A and checks on xTR1's WAN that the echo requests leave natively and
// that nothing enters the tunnel.
func TestOutsideEIDSpaceNotTunneled(t *testing.T) {
	tshark.Require(t)
	s := start(t, lab.Options{Core: lab.CoreRouter}, false)
	pingWorks(t, s.A, lab.HostB4)
	c := capture(t, s.XTR1, "wan")
	ping(t, s.A, lab.Outside4, "-c", "3", "-i", "0.2", "-W", "1")
	path := stop(t, c)
	native := count(t, path, fmt.Sprintf("icmp.type == 8 && ip.dst == %s && !lisp-data", lab.Outside4))
	if native == 0 {
		t.Fatalf("no echo request to %s left xTR1 natively (control failed)", lab.Outside4)
	}
	if n := count(t, path, "udp.port == 4341 || lisp-data"); n != 0 {
		t.Errorf("%d LISP packet(s) on xTR1's WAN while only traffic outside eid_space flowed", n)
	}
}
