package e2e

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/admin"
	"github.com/lispd/lispd/ctl/msg"
	"github.com/lispd/lispd/testing/lab"
	"github.com/lispd/lispd/testing/netns"
	"github.com/lispd/lispd/testing/tshark"
)

// LISP control message types as tshark's lisp.type shows them.
const (
	typeMapRequest    = 1
	typeMapReply      = 2
	typeMapRegister   = 3
	typeMapNotify     = 4
	typeMapNotifyAck  = 5
	typeEncapsulated  = 8
	controlPortFilter = "udp port 4342"
)

// TestControlWrongKeyRefused runs xTR2 with a wrong key for its site: the
// Map-Server must refuse its Map-Registers (no Map-Notify, not listed,
// counted as bad-auth) while xTR1, with the right key, registers (the
// control), and xTR2 must report the registration as failed.
func TestControlWrongKeyRefused(t *testing.T) {
	tshark.Require(t)
	var core *netns.Capture
	s := startControl(t, ctlOptions{
		x2: lab.XTRConfig{MapServerKey: "not-" + lab.Site2Key},
		before: func(l *lab.Lab) {
			core = capture(t, l.Core, lab.CoreBridgeName, controlPortFilter)
		},
	})
	waitRegistered(t, s.X1)
	// xTR2 gives up after three unanswered Map-Registers, one retry
	// interval apart (about 6 s).
	took := eventually(t, 20*time.Second, "xTR2 reports its registration failed", func() error {
		st, how, err := xtrState(s.X2)
		if err != nil {
			return err
		}
		if st.State != "failed" {
			return fmt.Errorf("xTR2 state %q (from %s), want failed", st.State, how)
		}
		return nil
	})
	t.Logf("xTR2 reported the failed registration %v after xTR1 registered", took.Round(time.Millisecond))
	path := stop(t, core)

	// On the wire: xTR2 tried, the Map-Server never answered it, and did
	// answer xTR1.
	fs := frames(t, path)
	regs := countFrames(fs, func(f frame) bool { return f.control(typeMapRegister, s.RLOC2v4, s.MSv4) })
	if regs < 3 {
		t.Errorf("xTR2 sent %d Map-Register(s) before reporting failure, want at least 3", regs)
	}
	if n := countFrames(fs, func(f frame) bool { return f.control(typeMapNotify, s.MSv4, s.RLOC2v4) }); n != 0 {
		t.Errorf("the Map-Server sent %d Map-Notify(s) to xTR2, whose key is wrong", n)
	}
	if n := countFrames(fs, func(f frame) bool { return f.control(typeMapNotify, s.MSv4, s.RLOC1v4) }); n == 0 {
		t.Errorf("control: no Map-Notify to xTR1 (right key) either; the capture proves nothing")
	}

	// In the daemons' views.
	var r admin.Registrations
	show(t, s.MS, &r, "registrations")
	if st := site(t, &r, "site2"); len(st.Registrations) != 0 {
		t.Errorf("site2 (wrong key) is listed: %+v", st.Registrations)
	}
	if st := site(t, &r, "site1"); len(st.Registrations) == 0 {
		t.Errorf("control: site1 (right key) is not listed")
	}
	if n := counter(t, s.MS, admin.GroupControlDrops, "bad-auth"); n < uint64(regs) {
		t.Errorf("the Map-Server's bad-auth drops are %d after %d Map-Registers with a wrong key reached it", n, regs)
	} else {
		t.Logf("Map-Server bad-auth drops: %d (xTR2 sent %d Map-Registers in the capture)", n, regs)
	}
	var x2 admin.Registrations
	show(t, s.X2, &x2, "registrations")
	if len(x2.XTR) != 1 {
		t.Fatalf("xTR2 lists %d Map-Servers, want 1", len(x2.XTR))
	}
	if st := x2.XTR[0]; st.State != "failed" || st.Notifies != 0 || st.Reason == "" || st.Registers < 3 {
		t.Errorf("xTR2's state with the Map-Server: %+v; want failed with a reason, no Map-Notify, at least 3 Map-Registers", st)
	}
}

// TestControlBadNonceMapReplyInstallsNothing sends xTR1 a crafted
// Map-Reply from an attacker on the core, with a random nonce that matches
// no Map-Request: it claims site 2's prefix (already cached) and an
// unregistered prefix inside eid_space for the attacker's own address.
// Traffic must keep going to xTR2, nothing may be encapsulated to the
// attacker, the map-cache must hold no entry with the attacker's RLOC, and
// xTR1 must count the bad nonces.
func TestControlBadNonceMapReplyInstallsNothing(t *testing.T) {
	tshark.Require(t)
	var evil *netns.Host
	var evilWAN *netns.Iface
	s := startControl(t, ctlOptions{before: func(l *lab.Lab) {
		var err error
		if evil, evilWAN, err = l.AddCoreHost("evil", 66); err != nil {
			t.Fatal(err)
		}
	}})
	waitRegistered(t, s.X1, s.X2)
	reachable(t, s.A, lab.HostB4, 10*time.Second) // site 2 is now cached on xTR1
	unregistered := netip.MustParsePrefix("2001:db8:3::/48")
	probe := netip.MustParseAddr("2001:db8:3::1")
	if !lab.EIDSpace[1].Contains(probe) || lab.Site1v6.Contains(probe) || lab.Site2v6.Contains(probe) {
		t.Fatalf("premise: %s must be inside eid_space and outside both sites", probe)
	}
	var before uint64
	var st admin.Stats
	haveStats := tryShow(s.X1, &st, "stats") == nil
	if haveStats {
		before, _ = st.Get(admin.GroupControlDrops, "bad-nonce")
	}

	attacker := evilWAN.Addr4()
	var nonce [8]byte
	rand.Read(nonce[:])
	loc := msg.Locator{Priority: 1, Weight: 100, MPriority: 255, Reachable: true, Addr: msg.AddrOf(attacker)}
	rep := msg.MapReply{Nonce: binary.BigEndian.Uint64(nonce[:]), Records: []msg.Record{
		{TTL: 60, Authoritative: true, EID: msg.EIDOf(0, lab.Site2v4), Locators: []msg.Locator{loc}},
		{TTL: 60, Authoritative: true, EID: msg.EIDOf(0, unregistered), Locators: []msg.Locator{loc}},
	}}
	payload := rep.Append(nil)
	var check msg.MapReply
	if err := check.Decode(payload); err != nil || len(check.Records) != 2 {
		t.Fatalf("premise: the crafted Map-Reply does not decode: %v", err)
	}
	ec := capture(t, evil, "wan", "udp port 4341")
	var conn net.PacketConn
	if err := evil.Do(func() (err error) {
		// From the control port, as an ETR's Map-Reply would come.
		conn, err = net.ListenPacket("udp4", netip.AddrPortFrom(attacker, controlPort).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const sent = 3
	to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(s.RLOC1v4, controlPort))
	for range sent {
		if _, err := conn.WriteTo(payload, to); err != nil {
			t.Fatal(err)
		}
	}

	// Traffic: site 2 still answers through xTR2, and the unregistered
	// prefix resolves through the Map-Resolver (a negative reply), so if
	// either crafted record had been installed, packets would reach the
	// attacker.
	out, sentPings, recv := ping(t, s.A, lab.HostB4, "-c", "5", "-i", "0.1", "-W", "2")
	if recv != sentPings {
		t.Errorf("after the crafted Map-Reply, %d of %d pings to host B answered:\n%s", recv, sentPings, out)
	}
	ping(t, s.A, probe, "-c", "3", "-i", "0.2", "-W", "1")
	path := stop(t, ec)
	if n := count(t, path, "udp.dstport == 4341"); n != 0 {
		t.Errorf("xTR1 encapsulated %d packet(s) to the attacker %s: the crafted Map-Reply was installed", n, attacker)
	}

	// The daemon's view: nothing with the attacker's RLOC, site 2 still
	// maps to xTR2, the bad nonces counted.
	var mc admin.MapCache
	show(t, s.X1, &mc, "map-cache")
	for _, e := range mc.Entries {
		if hasRLOC(e, attacker) {
			t.Errorf("xTR1's map-cache holds %s → %s from the crafted Map-Reply: %+v", e.EIDPrefix, attacker, e)
		}
		if e.EIDPrefix == unregistered && e.State == admin.StateComplete {
			t.Errorf("xTR1's map-cache holds the unregistered %s as complete: %+v", unregistered, e)
		}
	}
	if e, ok := mapCacheEntry(t, s.X1, lab.HostB4); !ok || e.EIDPrefix != lab.Site2v4 || !hasRLOC(e, s.RLOC2v4) || len(e.RLOCs) != 1 {
		t.Errorf("xTR1's entry for host B: %+v (found %v); want %s → %s only", e, ok, lab.Site2v4, s.RLOC2v4)
	}
	if !haveStats {
		// The socket answers now (show above) but did not before: take the
		// counter from zero.
		before = 0
	}
	if after := counter(t, s.X1, admin.GroupControlDrops, "bad-nonce"); after < before+sent {
		t.Errorf("xTR1's bad-nonce drops went from %d to %d after %d Map-Replies with a wrong nonce", before, after, sent)
	}
}
