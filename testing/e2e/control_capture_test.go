package e2e

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lispd/lispd/testing/lab"
	"github.com/lispd/lispd/testing/netns"
	"github.com/lispd/lispd/testing/tshark"
)

// TestControlCaptureDecodesClean captures the core bridge (every link's
// tx checksum offload off, so checksums are real) from before any lispd
// starts until both sites have registered and host A and host B have
// pinged each other over IPv4 and IPv6 EIDs: the whole exchange must decode
// clean in tshark (tshark.Check; Map-Notify-Ack, which tshark cannot
// decode, excepted), and every kind of message must be in it, so that the
// check is not vacuous. The Map-Notifies answer Map-Registers, so no
// Map-Notify-Ack may follow them (RFC 9301 section 5.7: only unsolicited
// Map-Notifies are acknowledged).
func TestControlCaptureDecodesClean(t *testing.T) {
	tshark.Require(t)
	var core *netns.Capture
	s := startControl(t, ctlOptions{
		lab: lab.Options{TxChecksumOff: true},
		before: func(l *lab.Lab) {
			core = capture(t, l.Core, lab.CoreBridgeName)
		},
	})
	waitRegistered(t, s.X1, s.X2)
	for _, c := range []struct {
		h   *netns.Host
		dst netip.Addr
	}{{s.A, lab.HostB4}, {s.A, lab.HostB6}, {s.B, lab.HostA4}, {s.B, lab.HostA6}} {
		reachable(t, c.h, c.dst, 10*time.Second)
	}
	path := stop(t, core)

	tshark.Check(t, path)

	fs := frames(t, path)
	anyAddr := netip.Addr{}
	for _, c := range []struct {
		what  string
		match func(frame) bool
	}{
		{"Map-Register from xTR1", func(f frame) bool { return f.control(typeMapRegister, s.RLOC1v4, s.MSv4) }},
		{"Map-Register from xTR2", func(f frame) bool { return f.control(typeMapRegister, s.RLOC2v4, s.MSv4) }},
		{"Map-Notify to xTR1", func(f frame) bool { return f.control(typeMapNotify, s.MSv4, s.RLOC1v4) }},
		{"Map-Notify to xTR2", func(f frame) bool { return f.control(typeMapNotify, s.MSv4, s.RLOC2v4) }},
		{"ECM with a Map-Request to the Map-Resolver", func(f frame) bool {
			return f.control(typeEncapsulated, s.RLOC1v4, s.MSv4) && f.inner(typeMapRequest)
		}},
		{"Map-Request forwarded to xTR2", func(f frame) bool {
			return f.inner(typeMapRequest) && len(f.ipDst) > 0 && f.ipDst[0] == s.RLOC2v4.String()
		}},
		{"Map-Reply from xTR2 to xTR1", func(f frame) bool { return f.control(typeMapReply, s.RLOC2v4, s.RLOC1v4) }},
		{"Map-Reply from xTR1 to xTR2", func(f frame) bool { return f.control(typeMapReply, s.RLOC1v4, s.RLOC2v4) }},
		{"IPv4 data xTR1 → xTR2", func(f frame) bool { return f.data(s.RLOC1v4, s.RLOC2v4, lab.HostB4) }},
		{"IPv6 data xTR1 → xTR2", func(f frame) bool { return f.data(s.RLOC1v4, s.RLOC2v4, lab.HostB6) }},
		{"IPv4 data xTR2 → xTR1", func(f frame) bool { return f.data(s.RLOC2v4, s.RLOC1v4, lab.HostA4) }},
		{"IPv6 data xTR2 → xTR1", func(f frame) bool { return f.data(s.RLOC2v4, s.RLOC1v4, lab.HostA6) }},
	} {
		if n := countFrames(fs, c.match); n == 0 {
			t.Errorf("no %s in the capture of %d frames", c.what, len(fs))
		}
	}
	if n := countFrames(fs, func(f frame) bool { return f.control(typeMapNotifyAck, anyAddr, anyAddr) }); n != 0 {
		t.Errorf("%d Map-Notify-Acks in the capture: the xTRs acknowledged solicited Map-Notifies", n)
	}
	port := strconv.Itoa(dataPort)
	onDataPort := countFrames(fs, func(f frame) bool { return slices.Contains(f.udpPorts, port) })
	lispData := countFrames(fs, func(f frame) bool { return strings.Contains(f.protocols, "lisp-data") })
	if onDataPort == 0 || lispData != onDataPort {
		t.Errorf("%d of %d frames on UDP %d decode as LISP data", lispData, onDataPort, dataPort)
	}
	t.Logf("captured %d frames, %d of them LISP data", len(fs), lispData)
}
