package e2e

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/admin"
	"github.com/lispd/lispd/testing/lab"
	"github.com/lispd/lispd/testing/tshark"
)

// offloadWanted reports whether the lab's xTRs run with tun_offload =
// "auto" (the default) rather than "off" ($LISPD_TUN_OFFLOAD).
func offloadWanted() bool { return os.Getenv(lab.TUNOffloadEnv) != "off" }

// dataStats returns xTR d's data-plane counters from `show stats`.
func dataStats(t *testing.T, d *lab.Daemon) func(name string) uint64 {
	t.Helper()
	st := readStats(t, d)
	return func(name string) uint64 { return st.get(t, admin.GroupDataPlane, name) }
}

// TestOffloadTCPTransfer100MB sends 100 MB over TCP through the tunnel on
// the wire-like core (IPv4 and IPv6 EIDs) and compares digests. With
// tun_offload = "auto" the encapsulating xTR must have read TSO
// super-packets and sent UDP GSO runs; with "off" it must not.
func TestOffloadTCPTransfer100MB(t *testing.T) {
	const size = 100 << 20
	s := start(t, lab.Options{Core: lab.CoreRouter, WireLike: true}, false)
	tcpSend(t, s.A, s.B, lab.HostB4, size, 120*time.Second)
	tcpSend(t, s.A, s.B, lab.HostB6, size/4, 120*time.Second)
	st := dataStats(t, s.X1)
	on, supers, segs, gso := st("tun-offload"), st("tun-super-packets"), st("tun-segments"), st("udp-gso-datagrams")
	t.Logf("xtr1: tun-offload %d, super-packets %d, segments %d, gso datagrams %d, encap packets %d",
		on, supers, segs, gso, st("encap-packets"))
	st2 := dataStats(t, s.X2)
	coal, joined := st2("tun-coalesced"), st2("tun-coalesced-packets")
	groMsgs, groDgrams := st2("udp-gro-messages"), st2("udp-gro-datagrams")
	t.Logf("xtr2: tun-coalesced %d carrying %d packets, decap packets %d, udp-gro messages %d carrying %d datagrams",
		coal, joined, st2("decap-packets"), groMsgs, groDgrams)
	// The kernel's UDP GRO hands the socket coalesced messages (the
	// segment size in a control message): more datagrams than messages.
	if offloadWanted() && (groMsgs == 0 || groDgrams < 2*groMsgs) {
		t.Errorf("tun_offload auto: xtr2 received no coalesced UDP_GRO message (%d messages, %d datagrams)", groMsgs, groDgrams)
	}
	if !offloadWanted() && groMsgs != 0 {
		t.Errorf("tun_offload off: xtr2 received %d UDP_GRO messages", groMsgs)
	}
	if offloadWanted() && (coal == 0 || joined < 2*coal) {
		t.Errorf("tun_offload auto: xtr2 coalesced no TCP super-packet (%d, %d packets)", coal, joined)
	}
	if !offloadWanted() && coal != 0 {
		t.Errorf("tun_offload off: xtr2 coalesced %d super-packets", coal)
	}
	if offloadWanted() {
		if on != 1 || supers == 0 || segs < supers || gso == 0 {
			t.Errorf("tun_offload auto: offload path not used (tun-offload %d, super-packets %d, segments %d, gso %d)", on, supers, segs, gso)
		}
	} else if on != 0 || supers != 0 || gso != 0 {
		t.Errorf("tun_offload off: offload counters moved (tun-offload %d, super-packets %d, gso %d)", on, supers, gso)
	}
}

// TestOffloadCaptureIsCleanLISP captures the xTR1 link of the wire-like core
// during a TCP transfer and a UDP burst: every frame must decode as LISP
// data with correct checksums and no frame may exceed the link MTU, so the
// super-packets read from the TUN and the UDP GSO runs were cut right.
func TestOffloadCaptureIsCleanLISP(t *testing.T) {
	tshark.Require(t)
	s := start(t, lab.Options{Core: lab.CoreRouter, WireLike: true, TxChecksumOff: true}, false)
	pingWorks(t, s.A, lab.HostB4)
	// On the core router's side of the xTR1 link: what crossed the wire
	// both ways (xTR1's own ingress shows frames after its UDP GRO).
	c := capture(t, s.Core, "x1", "udp", "port", "4341")
	tcpSend(t, s.A, s.B, lab.HostB4, 3<<20, 60*time.Second)
	tcpSend(t, s.A, s.B, lab.HostB6, 1<<20, 60*time.Second)
	udpFlows(t, s.A, lab.HostB4, 9000, 4, 20)
	time.Sleep(200 * time.Millisecond)
	path := stop(t, c)

	checkTransferCapture(t, path)
	args := transferCheckArgs()
	// ... and with those arguments the inner headers are still decoded,
	// checksums included.
	if n := len(tshark.Fields(t, path, "lisp-data && tcp && tcp.checksum.status == 1 && udp.checksum.status == 1", []string{"frame.number"}, args...)); n < 1000 {
		t.Errorf("only %d LISP frames with verified inner TCP and outer UDP checksums under the check's arguments", n)
	}
	all := count(t, path, "udp.port == 4341")
	if lisp := count(t, path, "lisp-data"); all < 2000 || lisp != all {
		t.Fatalf("%d frames on UDP 4341, %d decode as LISP data", all, lisp)
	}
	const mtu = 1500 // the lab's core links (Options.CoreMTU 0)
	rows := tshark.Fields(t, path, "frame.len > "+strconv.Itoa(mtu+14), []string{"frame.number", "frame.len"})
	if len(rows) > 0 {
		t.Fatalf("%d frames above the %d-byte MTU, first %v", len(rows), mtu, rows[0])
	}
	if big := count(t, path, "ip.len > 1400"); big == 0 {
		t.Errorf("no full-size frames: the transfer did not use the MTU")
	}
	st := dataStats(t, s.X1)
	t.Logf("xtr1: tun-offload %d, super-packets %d, gso datagrams %d; %d frames", st("tun-offload"), st("tun-super-packets"), st("udp-gso-datagrams"), all)
	if offloadWanted() && st("tun-super-packets") == 0 {
		t.Errorf("tun_offload auto: no super-packet was read")
	}
}
