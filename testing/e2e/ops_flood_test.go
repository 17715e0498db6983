package e2e

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/lispd/lispd/ctl/admin"
	"github.com/lispd/lispd/ctl/msg"
	"github.com/lispd/lispd/fwd"
	"github.com/lispd/lispd/testing/lab"
)

// Shape of TestOpsMalformedFlood.
const (
	// floodPerPort is how many malformed datagrams go to each port.
	floodPerPort = 2000
	// floodBurst datagrams are sent back to back, then the sender pauses
	// floodPause: about 16 k datagrams/s, far below what lispd drains,
	// so that the kernel's receive queues (about 200 datagrams of this
	// size by default) never overflow.
	floodBurst = 16
	floodPause = time.Millisecond
	// floodMaxLogLines bounds the lines lispd may log during the whole
	// flood ("a few lines per minute", never a line per bad packet).
	floodMaxLogLines = 10
)

// floodKind is one family of malformed datagram.
type floodKind struct {
	name string
	b    []byte
}

// dataFlood returns malformed LISP data packets (UDP 4341 payloads), each
// of which the data plane must count as "malformed": truncated headers,
// and good headers in front of inner packets that do not parse. (Headers
// with flag combinations RFC 9300 forbids senders, E without N or N with V,
// are not malformed: the ETR reads past them, section 5.3.)
func dataFlood(t *testing.T) []floodKind {
	t.Helper()
	inner4 := msg.AppendUDP(nil, netip.AddrPortFrom(lab.HostA4, 5555), netip.AddrPortFrom(lab.HostB4, 7777), 64, 1, false, []byte("flood"))
	inner6 := msg.AppendUDP(nil, netip.AddrPortFrom(lab.HostA6, 5555), netip.AddrPortFrom(lab.HostB6, 7777), 64, 0, false, []byte("flood"))
	hdr := func(flags byte, inner []byte) []byte {
		b := []byte{flags, 0x12, 0x34, 0x56, 0, 0, 0, 0}
		return append(b, inner...)
	}
	patch := func(b []byte, off int, v ...byte) []byte {
		c := append([]byte(nil), b...)
		copy(c[off:], v)
		return c
	}
	var good byte = fwd.FlagN
	kinds := []floodKind{
		{"empty datagram", []byte{}},
		{"header only", hdr(good, nil)},
		{"inner IP version 5", hdr(good, patch(inner4, 0, 0x55))},
		{"inner IP version 0", hdr(good, make([]byte, 40))},
		{"inner IPv4 cut at 19 bytes", hdr(good, inner4[:19])},
		{"inner IPv4 IHL 4", hdr(good, patch(inner4, 0, 0x44))},
		{"inner IPv4 IHL beyond packet", hdr(good, patch(inner4, 0, 0x4f))},
		{"inner IPv4 total length beyond packet", hdr(good, patch(inner4, 2, 0x05, 0xdc))},
		{"inner IPv4 total length below header", hdr(good, patch(inner4, 2, 0x00, 0x10))},
		{"inner IPv6 cut at 39 bytes", hdr(good, inner6[:39])},
		{"inner IPv6 payload length beyond packet", hdr(good, patch(inner6, 4, 0x05, 0xdc))},
	}
	for n := 1; n < fwd.HeaderLen; n++ {
		kinds = append(kinds, floodKind{fmt.Sprintf("header cut at %d bytes", n), hdr(good, inner4)[:n]})
	}
	// Self-check: by the data plane's own codec, none is a packet.
	var p fwd.Packet
	for _, k := range kinds {
		if len(k.b) >= fwd.HeaderLen && fwd.ParsePacket(k.b[fwd.HeaderLen:], &p) == nil {
			t.Fatalf("data flood kind %q parses as a good packet; fix the test", k.name)
		}
	}
	return kinds
}

// ctlDecode decodes a control message the way an xTR's dispatcher does
// (type, then the message; an ECM's inner message too) and reports the
// first problem: a decode error, or a Map-Request without EID records.
func ctlDecode(b []byte) error {
	t, err := msg.PeekType(b)
	if err != nil {
		return err
	}
	m, err := msg.New(t)
	if err != nil {
		return err
	}
	if err := m.Decode(b); err != nil {
		return err
	}
	switch v := m.(type) {
	case *msg.ECM:
		return ctlDecode(v.Message)
	case *msg.MapRequest:
		if len(v.EIDs) == 0 {
			return errors.New("Map-Request without EID records")
		}
	}
	return nil
}

// ctlFlood returns malformed control messages (UDP 4342 payloads) for an
// xTR without the Map-Server role, in two groups: those it must count as
// "malformed" (the types it handles, 1 Map-Request, 2 Map-Reply, 4
// Map-Notify, 8 ECM, cut short or with bad LCAF lengths, and empty
// datagrams) and those it must count as "unsupported" (every other type
// nibble, and an ECM carrying something other than a Map-Request).
func ctlFlood(t *testing.T, from netip.Addr) (malformed, unsupported []floodKind) {
	t.Helper()
	malformed = []floodKind{{"empty datagram", []byte{}}}
	garbage := func(typ, n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(0xa5 ^ i*37)
		}
		b[0] = byte(typ<<4) | byte(n&0x0f)
		return b
	}
	for typ := 0; typ < 16; typ++ {
		for _, n := range []int{1, 3, 7, 11} {
			k := floodKind{fmt.Sprintf("type %d, %d garbage bytes", typ, n), garbage(typ, n)}
			switch msg.Type(typ) {
			case msg.TypeMapRequest, msg.TypeMapReply, msg.TypeMapNotify, msg.TypeECM:
				malformed = append(malformed, k)
			default:
				unsupported = append(unsupported, k)
			}
		}
	}
	// LCAF lengths that lie, in messages otherwise well formed. An EID
	// with a non-zero instance-id is an Instance-ID LCAF (AFI 16387).
	req := (&msg.MapRequest{
		Nonce:     0x0102030405060708,
		SourceEID: msg.EIDOf(0, netip.PrefixFrom(lab.HostA4, 32)),
		ITRRLOCs:  []msg.Address{msg.AddrOf(from)},
		EIDs:      []msg.EID{msg.EIDOf(7, lab.Site2v4)},
	}).Append(nil)
	rep := (&msg.MapReply{Nonce: 0x1112131415161718, Records: []msg.Record{{
		TTL: 60, EID: msg.EIDOf(0, lab.Site2v4),
		Locators: []msg.Locator{{Priority: 1, Weight: 100, Reachable: true,
			Addr: msg.Address{List: []netip.Addr{netip.MustParseAddr("192.0.2.99"), netip.MustParseAddr("2001:db8:ff::99")}}}},
	}}}).Append(nil)
	lcafLen := func(name string, b []byte, length func(old int) int) []byte {
		i := lcafAt(b)
		if i < 0 {
			t.Fatalf("%s: no LCAF in the encoded message; fix the test", name)
		}
		c := append([]byte(nil), b...)
		old := int(binary.BigEndian.Uint16(c[i+6:]))
		binary.BigEndian.PutUint16(c[i+6:], uint16(length(old)))
		malformed = append(malformed, floodKind{name, c})
		return c
	}
	badReq := lcafLen("Map-Request, Instance-ID LCAF length past the end", req, func(int) int { return 0xfff0 })
	lcafLen("Map-Request, Instance-ID LCAF length 4", req, func(int) int { return 4 })
	lcafLen("Map-Request, Instance-ID LCAF length 0", req, func(int) int { return 0 })
	lcafLen("Map-Request, Instance-ID LCAF length +2", req, func(old int) int { return old + 2 })
	lcafLen("Map-Reply, AFI-List LCAF length past the end", rep, func(int) int { return 0x4000 })
	lcafLen("Map-Reply, AFI-List LCAF length 3", rep, func(int) int { return 3 })
	lcafLen("Map-Reply, AFI-List LCAF length -2", rep, func(old int) int { return old - 2 })
	malformed = append(malformed,
		floodKind{"Map-Request without EID records", (&msg.MapRequest{Nonce: 1, ITRRLOCs: []msg.Address{msg.AddrOf(from)}}).Append(nil)},
		floodKind{"Map-Request cut in its EID record", req[:len(req)-3]},
		floodKind{"Map-Reply cut in its locator", rep[:len(rep)-5]},
		floodKind{"Map-Notify cut at 15 bytes", garbage(int(msg.TypeMapNotify), 15)},
		floodKind{"ECM with an inner IPv4 header cut short", append([]byte{0x80, 0, 0, 0}, 0x45, 0, 0, 40, 0)},
		floodKind{"ECM with a bad inner IPv4 checksum", func() []byte {
			b := ecm(from, req)
			b[4+10] ^= 0xff
			return b
		}()},
		floodKind{"ECM around a Map-Request cut short", ecm(from, req[:9])},
		floodKind{"ECM around an empty message", ecm(from, nil)},
		floodKind{"ECM around a Map-Request with a bad LCAF length", ecm(from, badReq)},
	)
	unsupported = append(unsupported,
		floodKind{"ECM around a Map-Register", ecm(from, garbage(int(msg.TypeMapRegister), 11))},
		floodKind{"ECM around a Map-Reply", ecm(from, garbage(int(msg.TypeMapReply), 11))},
	)
	// Self-check against the codec: every "malformed" message fails to
	// decode; every "unsupported" one at least names its type.
	for _, k := range malformed {
		if ctlDecode(k.b) == nil {
			t.Fatalf("control flood kind %q decodes cleanly; fix the test", k.name)
		}
	}
	for _, k := range unsupported {
		if _, err := msg.PeekType(k.b); err != nil {
			t.Fatalf("control flood kind %q has no type; fix the test", k.name)
		}
	}
	return malformed, unsupported
}

// ecm wraps inner in an Encapsulated Control Message from from's port 4342
// to host B's EID.
func ecm(from netip.Addr, inner []byte) []byte {
	return (&msg.ECM{
		Src:     netip.AddrPortFrom(from, controlPort),
		Dst:     netip.AddrPortFrom(lab.HostB4, controlPort),
		Message: inner,
	}).Append(nil)
}

// opsResolveNeighbors pings xTR2's RLOCs from the core router so that the
// core knows xTR2's link-layer address before a flood: while a neighbour
// is being resolved the kernel queues only about 200 datagrams for it and
// silently drops the rest, on the sender, where no socket counts them.
func opsResolveNeighbors(t *testing.T, s *opsLab) {
	t.Helper()
	for _, a := range []netip.Addr{s.RLOC2v4, s.RLOC2v6} {
		if _, _, recv := ping(t, s.Core, a, "-c", "1", "-W", "2"); recv != 1 {
			t.Fatalf("core → %v: no answer", a)
		}
	}
}

// lcafAt returns the offset of the first LCAF (AFI 16387 followed by a
// zero reserved byte) in b, or -1.
func lcafAt(b []byte) int {
	for i := 0; i+8 <= len(b); i++ {
		if binary.BigEndian.Uint16(b[i:]) == 16387 && b[i+2] == 0 {
			return i
		}
	}
	return -1
}

// TestOpsMalformedFlood sends xTR2, from the core router, floodPerPort
// malformed LISP data packets to UDP 4341 and as many malformed control
// messages to UDP 4342 (every kind in turn, half over IPv4, half over
// IPv6), paced so that the kernel never drops one (checked with the
// sockets' drop counters, which are accounted for if it does). Afterwards
// xTR2 must still run and forward, `show stats --json` must have counted
// exactly what was sent, per category (data plane "malformed"; control
// plane "malformed" and "unsupported", and the control messages in per
// type), nothing under any other drop reason, and lispd must have logged
// at most floodMaxLogLines lines during the whole flood. The core router is
// no RLOC: xTR2's decap_allow lets its datagrams past the decapsulation
// filter to the parser (else they would all be unknown-source).
func TestOpsMalformedFlood(t *testing.T) {
	allowCore := `decap_allow = ["192.0.2.5/32", "2001:db8:ff:2::1/128"]` // the core router's ends toward xTR2
	s := opsStart(t, lab.XTRConfig{Static: true}, lab.XTRConfig{Static: true, Extra: allowCore}, nil)
	pingWorks(t, s.A, lab.HostB4)
	opsResolveNeighbors(t, s)
	core := s.CoreLinks[1].A // the core router's end of the link to xTR2
	srcs := []netip.Addr{core.Addr4(), core.Addr6()}
	if !strings.Contains(allowCore, `"`+srcs[0].String()+`/32"`) || !strings.Contains(allowCore, `"`+srcs[1].String()+`/128"`) {
		t.Fatalf("premise: decap_allow %s does not name the core router's %v", allowCore, srcs)
	}
	dsts := []netip.Addr{s.RLOC2v4, s.RLOC2v6}
	data := dataFlood(t)
	ctlBad, ctlUnsup := ctlFlood(t, srcs[0])
	ctlAll := append(append([]floodKind(nil), ctlBad...), ctlUnsup...)

	// The datagrams: kind i%len(kinds) for the i-th of each port, over
	// IPv4 and IPv6 in turn, each kind over both. Count what goes where.
	type dgram struct {
		b    []byte
		port int
		fam  int
	}
	var plan []dgram
	wantCtlMalformed, wantCtlUnsupported := 0, 0
	wantIn := map[string]uint64{}
	for i := 0; i < floodPerPort; i++ {
		plan = append(plan, dgram{data[i%len(data)].b, dataPort, (i + i/len(data)) % 2})
		k := i % len(ctlAll)
		b := ctlAll[k].b
		plan = append(plan, dgram{b, controlPort, (i + i/len(ctlAll)) % 2})
		if k < len(ctlBad) {
			wantCtlMalformed++
		} else {
			wantCtlUnsupported++
		}
		if len(b) > 0 {
			wantIn[msg.Type(b[0]>>4).String()]++
		}
	}

	var conns [2]*net.UDPConn
	if err := s.Core.Do(func() error {
		for i, network := range []string{"udp4", "udp6"} {
			c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(srcs[i], 0)))
			if err != nil {
				return err
			}
			conns[i] = c
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		defer c.Close()
	}

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	kernelDrops := func() (data, ctl uint64) {
		var err error
		if data, err = lab.UDPDrops(ctx, s.XTR2, dataPort); err != nil {
			t.Fatal(err)
		}
		if ctl, err = lab.UDPDrops(ctx, s.XTR2, controlPort); err != nil {
			t.Fatal(err)
		}
		return data, ctl
	}
	// xTR1 is xTR2's only legitimate peer: what it sends (RLOC probes,
	// replies to xTR2's probes) arrives at xTR2 beside the flood.
	peerBefore := opsStats(t, s.X1)
	before := opsStats(t, s.X2)
	kd0, kc0 := kernelDrops()
	logBefore := len(s.X2.Log())
	start := time.Now()
	for i, d := range plan {
		dst := netip.AddrPortFrom(dsts[d.fam], uint16(d.port))
		if _, err := conns[d.fam].WriteToUDPAddrPort(d.b, dst); err != nil {
			t.Fatalf("sending datagram %d to %v: %v", i, dst, err)
		}
		if i%floodBurst == floodBurst-1 {
			time.Sleep(floodPause)
		}
	}
	sendTime := time.Since(start)

	// Wait until lispd has counted the whole flood (or stops counting).
	dp := func(st *admin.Stats) uint64 { return opsCounter(t, st, admin.GroupDataDrops, "malformed") }
	cpm := func(st *admin.Stats) uint64 { return opsCounter(t, st, admin.GroupControlDrops, "malformed") }
	cpu := func(st *admin.Stats) uint64 { return opsCounter(t, st, admin.GroupControlDrops, "unsupported") }
	var after *admin.Stats
	for deadline := time.Now().Add(5 * time.Second); ; {
		after = opsStats(t, s.X2)
		if dp(after)-dp(before) >= floodPerPort && cpm(after)+cpu(after)-cpm(before)-cpu(before) >= floodPerPort ||
			time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // anything counted late, or twice
	after = opsStats(t, s.X2)
	peerAfter := opsStats(t, s.X1)
	floodLog := s.X2.Log()[logBefore:]
	kd1, kc1 := kernelDrops()
	kd, kc := kd1-kd0, kc1-kc0

	if s.X2.Proc.Exited() {
		t.Fatalf("xtr2's lispd died during the flood: %v\n%s", s.X2.Proc.Wait(), opsTail(s.X2.Log(), 20))
	}
	t.Logf("sent %d malformed datagrams to 4341 (%d kinds) and %d to 4342 (%d malformed, %d unsupported; %d kinds) in %v; kernel socket drops: 4341 %d, 4342 %d",
		floodPerPort, len(data), floodPerPort, wantCtlMalformed, wantCtlUnsupported, len(ctlAll), sendTime.Round(time.Millisecond), kd, kc)
	if kd+kc > floodPerPort/10 {
		t.Errorf("the kernel dropped %d+%d datagrams (receive queues full): the flood was not paced enough to judge lispd's counters", kd, kc)
	}
	if kc > 0 {
		// Which kinds the kernel dropped is unknown; the control counters
		// can only be bounded.
		t.Logf("control counters judged within the %d datagrams the kernel dropped", kc)
	}

	// Data plane: every datagram under "malformed", nothing elsewhere.
	gotData := dp(after) - dp(before)
	t.Logf("xtr2 data plane drops: malformed +%d (want %d)", gotData, floodPerPort-kd)
	if gotData != floodPerPort-kd {
		t.Errorf("data plane malformed counter rose by %d; want exactly %d (%d sent, %d dropped by the kernel)", gotData, floodPerPort-kd, floodPerPort, kd)
	}
	unchanged := func(group string, names ...string) {
		for _, name := range names {
			if v, old := opsCounter(t, after, group, name), opsCounter(t, before, group, name); v != old {
				t.Errorf("%s %q rose by %d during the flood; every bad datagram should count as malformed (or unsupported)", group, name, v-old)
			}
		}
	}
	// The other reasons a received LISP data packet is dropped for. (The
	// TUN side is left out: the kernel's own IPv6 multicast listener
	// reports and router solicitations on the TUN count as not-eid-space.)
	unchanged(admin.GroupDataDrops, "not-local-eid", "iid-mismatch", "ttl-exceeded", "ecn-drop", "tun-write-error")
	if v, old := opsCounter(t, after, admin.GroupDataPlane, "decap-packets"), opsCounter(t, before, admin.GroupDataPlane, "decap-packets"); v != old {
		t.Errorf("xtr2 decapsulated %d packets of the flood (decap-packets %d → %d)", v-old, old, v)
	}

	// Control plane: "malformed" and "unsupported" exactly, per type in.
	gotM, gotU := cpm(after)-cpm(before), cpu(after)-cpu(before)
	t.Logf("xtr2 control plane drops: malformed +%d (want %d), unsupported +%d (want %d)", gotM, wantCtlMalformed, gotU, wantCtlUnsupported)
	if kc == 0 {
		if gotM != uint64(wantCtlMalformed) || gotU != uint64(wantCtlUnsupported) {
			t.Errorf("control plane drops rose by malformed %d, unsupported %d; want exactly %d and %d", gotM, gotU, wantCtlMalformed, wantCtlUnsupported)
		}
		for name, want := range wantIn {
			v, _ := after.Get(admin.GroupControlIn, name)
			old, _ := before.Get(admin.GroupControlIn, name)
			// Plus what xTR1 sent meanwhile (one more may have been in
			// flight when the counters were read).
			po, _ := peerAfter.Get(admin.GroupControlOut, name)
			pb, _ := peerBefore.Get(admin.GroupControlOut, name)
			if got := v - old; got < want || got > want+(po-pb)+1 {
				t.Errorf("control messages in %q rose by %d; want %d sent by the flood + %d sent by xtr1 meanwhile", name, got, want, po-pb)
			}
		}
	} else if gotM+gotU+kc != floodPerPort || gotM > uint64(wantCtlMalformed) || gotU > uint64(wantCtlUnsupported) {
		t.Errorf("control plane drops rose by malformed %d + unsupported %d (+ %d dropped by the kernel); want %d and %d",
			gotM, gotU, kc, wantCtlMalformed, wantCtlUnsupported)
	}
	for _, g := range after.Groups {
		if g.Name != admin.GroupControlDrops {
			continue
		}
		for _, c := range g.Counters {
			if c.Name != "malformed" && c.Name != "unsupported" {
				unchanged(g.Name, c.Name)
			}
		}
	}

	// The log: a few lines for the whole flood, never a line per packet
	// (the debug trace of control messages is bounded apart).
	lines := floodLines(t, floodLog, sendTime)
	about := 0
	for _, l := range lines {
		if ll := strings.ToLower(l); strings.Contains(ll, "malformed") || strings.Contains(ll, "unsupported") || strings.Contains(ll, "drop") {
			about++
		}
	}
	t.Logf("xtr2 logged %d lines during the flood (%d about malformed/unsupported/dropped packets):\n%s", len(lines), about, strings.Join(lines, "\n"))
	if len(lines) > floodMaxLogLines {
		t.Errorf("xtr2 logged %d lines during a flood of %d bad datagrams; want at most %d", len(lines), 2*floodPerPort, floodMaxLogLines)
	}
	if strings.Contains(floodLog, "panic") {
		t.Errorf("xtr2 panicked during the flood:\n%s", floodLog)
	}

	// Still forwarding, both ways, and still answering.
	pingWorks(t, s.A, lab.HostB4)
	pingWorks(t, s.B, lab.HostA6)
	opsWaitSocket(t, s.X2)
}

// Shape of TestOpsMalformedFloodManySources: floodPerPort datagrams, each
// from another source address, floodBurst at a time every floodManyPause
// (about 2 s in all, to see the log's sustained rate, not only its first
// burst).
const floodManyPause = 16 * time.Millisecond

// floodManyPrefix holds the source addresses the core router spoofs (IPv6,
// as an attacker holding a /64 would).
var floodManyPrefix = netip.MustParsePrefix("2001:db8:ff:2:1::/80")

// spoofedUDP6 opens, in the current namespace, an IPv6 UDP socket that may
// send from any address (IPV6_FREEBIND, source chosen per datagram with
// IPV6_PKTINFO).
func spoofedUDP6() (*net.UDPConn, error) {
	c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6unspecified})
	if err != nil {
		return nil, err
	}
	rc, err := c.SyscallConn()
	if err == nil {
		cerr := rc.Control(func(fd uintptr) {
			err = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_FREEBIND, 1)
		})
		if cerr != nil {
			err = cerr
		}
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("IPV6_FREEBIND: %w", err)
	}
	return c, nil
}

// pktinfoSrc returns an IPV6_PKTINFO control message selecting src.
func pktinfoSrc(src netip.Addr) []byte {
	oob := make([]byte, unix.CmsgSpace(unix.SizeofInet6Pktinfo))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = unix.IPPROTO_IPV6, unix.IPV6_PKTINFO
	h.SetLen(unix.CmsgLen(unix.SizeofInet6Pktinfo))
	pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&oob[unix.CmsgLen(0)]))
	pi.Addr = src.As16()
	return oob
}

// TestOpsMalformedFloodManySources sends xTR2 floodPerPort malformed
// control messages (the "malformed" kinds of TestOpsMalformedFlood), each
// from another IPv6 source address of one /80, over about 4 s. lispd
// rate-limits its log lines per source address; the bound of a few lines
// for the whole flood must hold whatever the number of sources. The
// counter must be exact as well.
func TestOpsMalformedFloodManySources(t *testing.T) {
	s := opsStart(t, lab.XTRConfig{Static: true}, lab.XTRConfig{Static: true}, nil)
	opsResolveNeighbors(t, s)
	bad, _ := ctlFlood(t, s.CoreLinks[1].A.Addr4())
	var conn *net.UDPConn
	if err := s.Core.Do(func() (err error) {
		conn, err = spoofedUDP6()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	before := opsStats(t, s.X2)
	kc0, err := lab.UDPDrops(ctx, s.XTR2, controlPort)
	if err != nil {
		t.Fatal(err)
	}
	logBefore := len(s.X2.Log())
	dst := netip.AddrPortFrom(s.RLOC2v6, controlPort)
	base := floodManyPrefix.Addr().As16()
	start := time.Now()
	for i := 0; i < floodPerPort; i++ {
		src := base
		binary.BigEndian.PutUint32(src[12:], uint32(0x1000+i))
		if _, _, err := conn.WriteMsgUDPAddrPort(bad[i%len(bad)].b, pktinfoSrc(netip.AddrFrom16(src)), dst); err != nil {
			t.Fatalf("sending datagram %d from %v: %v", i, netip.AddrFrom16(src), err)
		}
		if i%floodBurst == floodBurst-1 {
			time.Sleep(floodManyPause)
		}
	}
	sendTime := time.Since(start)
	cpm := func(st *admin.Stats) uint64 { return opsCounter(t, st, admin.GroupControlDrops, "malformed") }
	var after *admin.Stats
	for deadline := time.Now().Add(5 * time.Second); ; {
		after = opsStats(t, s.X2)
		if cpm(after)-cpm(before) >= floodPerPort || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	after = opsStats(t, s.X2)
	floodLog := s.X2.Log()[logBefore:]
	kc1, err := lab.UDPDrops(ctx, s.XTR2, controlPort)
	if err != nil {
		t.Fatal(err)
	}
	kc := kc1 - kc0
	got := cpm(after) - cpm(before)
	t.Logf("sent %d malformed control messages from %d source addresses in %v; kernel drops %d; control plane malformed +%d",
		floodPerPort, floodPerPort, sendTime.Round(time.Millisecond), kc, got)
	if got != floodPerPort-kc {
		t.Errorf("control plane malformed counter rose by %d; want exactly %d (%d sent, %d dropped by the kernel)", got, floodPerPort-kc, floodPerPort, kc)
	}
	lines := floodLines(t, floodLog, sendTime)
	t.Logf("xtr2 logged %d lines during the %v flood:\n%s", len(lines), sendTime.Round(time.Millisecond), opsTail(floodLog, 40))
	if len(lines) > floodMaxLogLines {
		t.Errorf("xtr2 logged %d lines during a %v flood of %d malformed control messages from as many source addresses (%.1f lines/s); want at most %d for the whole flood: "+
			"a log limiter keyed on the source address needs a small global budget too",
			len(lines), sendTime.Round(time.Millisecond), floodPerPort, float64(len(lines))/sendTime.Seconds(), floodMaxLogLines)
	}
	if s.X2.Proc.Exited() {
		t.Fatalf("xtr2's lispd died during the flood: %v", s.X2.Proc.Wait())
	}
	pingWorks(t, s.A, lab.HostB4)
}

// floodLines returns the lines of a flood's log but the debug trace of
// control messages, after checking that the trace stayed within its rate
// (ctl's traceRate, 20 a second and in a burst, each way) over the flood
// and the pause after it.
func floodLines(t *testing.T, log string, flood time.Duration) []string {
	t.Helper()
	var lines []string
	traced := 0
	for l := range strings.SplitSeq(strings.TrimRight(log, "\n"), "\n") {
		switch {
		case l == "":
		case strings.Contains(l, "DEBUG control message "):
			traced++
		default:
			lines = append(lines, l)
		}
	}
	if limit := 2 * (20 + int(20*(flood+time.Second).Seconds())); traced > limit {
		t.Errorf("the debug trace logged %d lines during a %v flood; want at most %d (20 a second each way)", traced, flood.Round(time.Millisecond), limit)
	}
	return lines
}
