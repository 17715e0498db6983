//go:build !nortr

package ctl

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/msg"
)

// The Info-Reply decision: NAT when the global RLOC or the port differs
// from what the Info-Request left from, always in "always" mode; replies
// with an unknown nonce or a bad HMAC change nothing.
func TestNATInfoReplyDecision(t *testing.T) {
	local := netip.MustParseAddr("192.0.2.1") // fuzzNode's RLOC
	rtr := netip.MustParseAddr("192.0.2.99")
	tests := []struct {
		name       string
		mode       NATMode
		data       bool
		global     netip.AddrPort
		key        string
		badNonce   bool
		discovered bool
		behind     bool
	}{
		{"auto, same address and port (data)", NATAuto, true, netip.AddrPortFrom(local, 4341), "secret", false, true, false},
		{"auto, same address and port (control)", NATAuto, false, netip.AddrPortFrom(local, 4342), "secret", false, true, false},
		{"auto, other address", NATAuto, true, netip.MustParseAddrPort("203.0.113.7:4341"), "secret", false, true, true},
		{"auto, same address, other port", NATAuto, true, netip.AddrPortFrom(local, 50000), "secret", false, true, true},
		{"always, same address and port", NATAlways, true, netip.AddrPortFrom(local, 4341), "secret", false, true, true},
		{"unknown nonce", NATAuto, true, netip.MustParseAddrPort("203.0.113.7:4341"), "secret", true, false, false},
		{"wrong key", NATAuto, true, netip.MustParseAddrPort("203.0.113.7:4341"), "other", false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := fuzzNode(t)
			n.opts.DataPort = portOnly(4341)
			x := *n.opts.XTR
			x.NATTraversal = tt.mode
			x.EIDSpace = prefixes("10.0.0.0/8")
			n.opts.XTR = &x
			n.nat = newNAT(n, &x)
			port := uint16(4342)
			if tt.data {
				port = 4341
			}
			nonce := uint64(77)
			n.nat.sent[nonce] = infoSent{peer: n.etr.peers[0], local: netip.AddrPortFrom(local, port), data: tt.data}
			if tt.badNonce {
				nonce++
			}
			rep := msg.Info{Reply: true, Nonce: nonce, Alg: msg.AlgHMACSHA256, TTL: 5, EID: msg.EIDOf(0, netip.MustParsePrefix("10.1.0.0/24")),
				NAT: msg.NATTraversal{MSPort: 4342, ETRPort: tt.global.Port(), GlobalETR: tt.global.Addr(), MS: netip.MustParseAddr("203.0.113.10"), RTRs: []netip.Addr{rtr}}}
			b := rep.Append(nil)
			if err := msg.Sign(b, []byte(tt.key)); err != nil {
				t.Fatal(err)
			}
			n.HandleDataPort(b, netip.MustParseAddrPort("203.0.113.10:4342"))
			st, _ := n.NATStatus()
			if st.Discovered != tt.discovered || st.BehindNAT != tt.behind {
				t.Fatalf("status %+v, want discovered %v behind %v", st, tt.discovered, tt.behind)
			}
			rtrs, via := n.nat.via()
			if via != tt.behind || (via && (len(rtrs) != 1 || rtrs[0] != rtr)) {
				t.Errorf("via %v %v", rtrs, via)
			}
			if tt.behind {
				if st.Expires.Sub(st.LastReply) != 5*time.Minute {
					t.Errorf("expires %v after the reply, want the TTL 5m", st.Expires.Sub(st.LastReply))
				}
				if got := n.nat.interval(time.Minute); got != x.NATKeepalive {
					t.Errorf("registration interval behind NAT %v, want the keepalive %v", got, x.NATKeepalive)
				}
			}
		})
	}
}

// Info-Requests that go unanswered show as such in the status, until an
// Info-Reply arrives.
func TestNATUnanswered(t *testing.T) {
	n := natNode(t)
	if st, _ := n.NATStatus(); st.Unanswered || st.Discovered {
		t.Fatalf("fresh status %+v", st)
	}
	n.nat.noReply()
	if st, _ := n.NATStatus(); !st.Unanswered || st.Discovered {
		t.Fatalf("after no reply: %+v, want unanswered", st)
	}
	local := netip.MustParseAddr("192.0.2.1")
	n.nat.sent[77] = infoSent{peer: n.etr.peers[0], local: netip.AddrPortFrom(local, 4341), data: true}
	rep := msg.Info{Reply: true, Nonce: 77, Alg: msg.AlgHMACSHA256, TTL: 5, EID: msg.EIDOf(0, netip.MustParsePrefix("10.1.0.0/24")),
		NAT: msg.NATTraversal{MSPort: 4342, ETRPort: 4341, GlobalETR: local, MS: netip.MustParseAddr("203.0.113.10")}}
	b := rep.Append(nil)
	if err := msg.Sign(b, []byte("secret")); err != nil {
		t.Fatal(err)
	}
	n.HandleDataPort(b, netip.MustParseAddrPort("203.0.113.10:4342"))
	if st, _ := n.NATStatus(); st.Unanswered || !st.Discovered || st.BehindNAT {
		t.Fatalf("after a reply: %+v, want discovered, no NAT, answered", st)
	}
}

// A forged Info-Reply (wrong key) carrying the nonce of an outstanding
// Info-Request must not use the nonce up: the Map-Server's genuine reply
// that follows is still taken.
func TestNATInfoReplyForgeryKeepsNonce(t *testing.T) {
	n := natNode(t)
	local := netip.MustParseAddr("192.0.2.1")
	n.nat.sent[77] = infoSent{peer: n.etr.peers[0], local: netip.AddrPortFrom(local, 4341), data: true}
	reply := func(key string) []byte {
		rep := msg.Info{Reply: true, Nonce: 77, Alg: msg.AlgHMACSHA256, TTL: 5, EID: msg.EIDOf(0, netip.MustParsePrefix("10.1.0.0/24")),
			NAT: msg.NATTraversal{MSPort: 4342, ETRPort: 40000, GlobalETR: netip.MustParseAddr("203.0.113.7"), MS: netip.MustParseAddr("203.0.113.10"),
				RTRs: []netip.Addr{netip.MustParseAddr("192.0.2.99")}}}
		b := rep.Append(nil)
		if err := msg.Sign(b, []byte(key)); err != nil {
			t.Fatal(err)
		}
		return b
	}
	from := netip.MustParseAddrPort("203.0.113.10:4342")
	n.HandleDataPort(reply("forger"), from)
	if st, _ := n.NATStatus(); st.Discovered {
		t.Fatalf("forged reply taken: %+v", st)
	}
	n.HandleDataPort(reply("secret"), from)
	if st, _ := n.NATStatus(); !st.Discovered || !st.BehindNAT {
		t.Fatalf("genuine reply after a forged one not taken: %+v", st)
	}
	if d := n.Stats().Drops; d["bad-auth"] != 1 {
		t.Errorf("drops %v, want one bad-auth", d)
	}
}

// rtrNode is a node with the Map-Server and RTR roles on a recording
// transport.
func rtrNode(t *testing.T) (*Node, *recordingTransport) {
	t.Helper()
	n := fuzzNode(t)
	o := &RTROptions{Listen: []netip.Addr{netip.MustParseAddr("192.0.2.9")}, MapServers: []netip.Addr{netip.MustParseAddr("203.0.113.10")},
		BindingTimeout: time.Minute}
	if err := o.fill(); err != nil {
		t.Fatal(err)
	}
	n.rtr = newRTR(n, o)
	rt := &recordingTransport{}
	n.tx = rt
	return n, rt
}

// The RTR's binding life: an encapsulated Map-Register creates it
// unverified, the Map-Server's Map-Notify with its nonce verifies it, data
// goes to the binding only once verified; a Map-Register from a new public
// port (which anyone can send: the RTR holds no key) changes nothing until
// the Map-Server confirms it, then the new port replaces the old one; it
// expires without refresh.
func TestRTRBindingLife(t *testing.T) {
	n, rt := rtrNode(t)
	xtrID := [16]byte{9, 9}
	eid := netip.MustParsePrefix("10.1.0.0/24")
	ms := netip.MustParseAddrPort("203.0.113.10:4342")
	private := netip.MustParseAddrPort("10.0.0.2:4342")
	register := func(from netip.AddrPort, nonce uint64, dst netip.AddrPort) {
		reg := msg.MapRegister{ProxyReply: true, WantMapNotify: true, Nonce: nonce, Alg: msg.AlgHMACSHA256, HasXTRID: true, XTRID: xtrID, SiteID: 77,
			Records: []msg.Record{{TTL: 10, EID: msg.EIDOf(0, eid)}}}
		e := msg.ECM{RTR: true, Src: private, Dst: dst, Message: reg.Append(nil)}
		n.handle(e.Append(nil), from)
	}
	notify := func(from netip.AddrPort, nonce uint64) {
		m := msg.MapNotify{Nonce: nonce, Alg: msg.AlgHMACSHA256, HasXTRID: true, XTRID: xtrID, Records: []msg.Record{{TTL: 10, EID: msg.EIDOf(0, eid)}}}
		e := msg.ECM{RTR: true, Src: ms, Dst: private, Message: m.Append(nil)}
		n.handle(e.Append(nil), from)
	}
	data := append(appendDataHeader(nil, 1, 0, true), ipv4Packet(netip.MustParseAddr("10.9.0.1"), netip.MustParseAddr("10.1.0.5"))...)
	pub1, pub2 := netip.MustParseAddrPort("198.51.100.7:40000"), netip.MustParseAddrPort("198.51.100.7:40001")
	pubX := netip.MustParseAddrPort("192.0.2.66:1234") // an attacker

	steps := []struct {
		name     string
		do       func()
		verified bool
		public   netip.AddrPort
		sentTo   []netip.AddrPort // where the step made the node send
	}{
		{"register for a Map-Server not configured", func() { register(pub1, 1, netip.MustParseAddrPort("203.0.113.99:4342")) }, false, netip.AddrPort{}, nil},
		{"register", func() { register(pub1, 2, ms) }, false, pub1, []netip.AddrPort{ms}},
		{"data before verification", func() { n.rtr.handleData(data, netip.MustParseAddrPort("192.0.2.50:5000")) }, false, pub1, nil},
		{"notify with another nonce", func() { notify(ms, 99) }, false, pub1, nil},
		{"notify not from a Map-Server", func() { notify(netip.MustParseAddrPort("192.0.2.66:4342"), 2) }, false, pub1, nil},
		{"notify", func() { notify(ms, 2) }, true, pub1, []netip.AddrPort{pub1}},
		{"data", func() { n.rtr.handleData(data, netip.MustParseAddrPort("192.0.2.50:5000")) }, true, pub1, []netip.AddrPort{pub1}},
		{"forged register from elsewhere", func() { register(pubX, 50, ms) }, true, pub1, []netip.AddrPort{ms}},
		{"data after the forged register", func() { n.rtr.handleData(data, netip.MustParseAddrPort("192.0.2.50:5000")) }, true, pub1, []netip.AddrPort{pub1}},
		{"rebinding, not yet confirmed", func() { register(pub2, 3, ms) }, true, pub1, []netip.AddrPort{ms}},
		{"notify after rebinding", func() { notify(ms, 3) }, true, pub2, []netip.AddrPort{pub2}},
		{"late notify of the forged register's nonce", func() { notify(ms, 50) }, true, pub2, nil},
		{"refresh", func() { register(pub2, 100, ms) }, true, pub2, []netip.AddrPort{ms}},
		{"a flood of forged registers", func() {
			for i := range 3 * noncesKept {
				register(pubX, uint64(200+i), ms)
			}
		}, true, pub2, slices.Repeat([]netip.AddrPort{ms}, 3*noncesKept)},
		{"notify of the refresh after the flood", func() { notify(ms, 100) }, true, pub2, []netip.AddrPort{pub2}},
		{"data after rebinding", func() { n.rtr.handleData(data, netip.MustParseAddrPort("192.0.2.50:5000")) }, true, pub2, []netip.AddrPort{pub2}},
	}
	for _, s := range steps {
		s.do()
		var got []netip.AddrPort
		for _, m := range rt.take() {
			got = append(got, m.dst)
		}
		if len(got) != len(s.sentTo) || (len(got) > 0 && got[0] != s.sentTo[0]) {
			t.Errorf("%s: sent to %v, want %v", s.name, got, s.sentTo)
		}
		b := n.RTRBindings()
		if !s.public.IsValid() {
			if len(b) != 0 {
				t.Errorf("%s: bindings %+v, want none", s.name, b)
			}
			continue
		}
		if len(b) != 1 || b[0].Verified != s.verified || b[0].Public != s.public || b[0].Private != private.Addr() {
			t.Errorf("%s: bindings %+v, want verified %v public %v", s.name, b, s.verified, s.public)
		} else if b[0].SiteID != 77 || b[0].XTRID != xtrID || b[0].Expires != b[0].LastSeen.Add(time.Minute) {
			t.Errorf("%s: binding %+v, want site-ID 77, xTR-ID %x, expiry a minute after last seen", s.name, b[0], xtrID)
		}
	}
	if b := n.RTRBindings(); len(b) != 1 || b[0].Rebinds != 1 {
		t.Errorf("rebinds %+v", b)
	}
	if st := n.RTRStats(); st.ToNAT != 3 || st.OpenRelay != 1 {
		t.Errorf("RTR stats %+v", st)
	}
	n.rtr.sweep(time.Now().Add(2 * time.Minute))
	if b := n.RTRBindings(); len(b) != 0 {
		t.Errorf("bindings after the timeout %+v", b)
	}
}

// Data from a NATed EID is forwarded only when it comes from its NAT's
// public address; the packets wait while the destination is resolved and
// leave when the Map-Reply comes: to the locator of a positive mapping,
// natively for a Natively-Forward negative one.
func TestRTRFromNATedSite(t *testing.T) {
	n, rt := rtrNode(t)
	sink := newTestNet(t).peer(netip.MustParseAddr("127.0.0.1"), 0)
	n.rtr.o.DataPort = sink.addr().Port()
	data, err := listenUDP([]netip.Addr{netip.MustParseAddr("127.0.0.1")}, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(data.close)
	n.rtr.data = data
	var native [][]byte
	n.rtr.o.Native = func(pkt []byte) error { native = append(native, append([]byte(nil), pkt...)); return nil }

	pub := netip.MustParseAddrPort("198.51.100.7:40000")
	k := rtrKey{regKey{0, netip.MustParsePrefix("10.1.0.0/24")}, [16]byte{1}}
	n.rtr.bindings[k] = &rtrEntry{RTRBinding: RTRBinding{Prefix: k.key.prefix, Public: pub, Verified: true, LastSeen: time.Now()}}
	n.rtr.reindexLocked() // as a verifying Map-Notify does
	packet := func(dst string) []byte {
		return append(appendDataHeader(nil, 1, 0, true), ipv4Packet(netip.MustParseAddr("10.1.0.5"), netip.MustParseAddr(dst))...)
	}
	// answer replies to the RTR's last Map-Request with rec.
	answer := func(rec msg.Record) {
		t.Helper()
		sent := rt.take()
		if len(sent) != 1 || sent[0].dst != netip.MustParseAddrPort("203.0.113.10:4342") {
			t.Fatalf("no ECM Map-Request to the Map-Server: %+v", sent)
		}
		var e msg.ECM
		var req msg.MapRequest
		if e.Decode(sent[0].b) != nil || req.Decode(e.Message) != nil {
			t.Fatal("undecodable Map-Request")
		}
		rep := msg.MapReply{Nonce: req.Nonce, Records: []msg.Record{rec}}
		n.handle(rep.Append(nil), netip.MustParseAddrPort("192.0.2.2:4342"))
	}

	n.rtr.handleData(packet("10.2.0.9"), netip.MustParseAddrPort("192.0.2.200:1234")) // spoofed outer source
	if st := n.RTRStats(); st.OpenRelay != 1 {
		t.Fatalf("spoofed source not dropped: %+v", st)
	}
	first := packet("10.2.0.9")
	n.rtr.handleData(first, netip.AddrPortFrom(pub.Addr(), 33333))
	answer(msg.Record{TTL: 5, EID: msg.EIDOf(0, netip.MustParsePrefix("10.2.0.0/16")),
		Locators: []msg.Locator{{Priority: 1, Weight: 100, Reachable: true, Addr: msg.AddrOf(netip.MustParseAddr("127.0.0.1"))}}})
	if got, _ := sink.recv(2 * time.Second); string(got) != string(first) {
		t.Fatalf("queued packet at the locator: %x, want %x", got, first)
	}
	n.rtr.handleData(packet("10.2.0.10"), netip.AddrPortFrom(pub.Addr(), 33333))
	if got, _ := sink.recv(2 * time.Second); got == nil {
		t.Fatal("second packet not forwarded on the learned route")
	}

	n.rtr.handleData(packet("10.99.0.1"), netip.AddrPortFrom(pub.Addr(), 33333))
	answer(msg.Record{TTL: 5, Action: msg.ActNativelyFwd, EID: msg.EIDOf(0, netip.MustParsePrefix("10.99.0.0/16"))})
	if len(native) != 1 || string(native[0]) != string(packet("10.99.0.1")[DataHeaderLen:]) {
		t.Fatalf("natively forwarded %x", native)
	}
	if st := n.RTRStats(); st.FromNAT != 2 || st.Native != 1 || st.Unrouted != 0 {
		t.Errorf("stats %+v", st)
	}
}

// Encapsulated Map-Registers create bindings before any authentication
// (the RTR holds no key): a flood of them for ever new prefixes stays
// within rtrMaxBindings, pushing out unverified bindings only, and the
// refusals are counted once only verified ones are left.
func TestRTRBindingsBounded(t *testing.T) {
	n, rt := rtrNode(t)
	ms := netip.MustParseAddrPort("203.0.113.10:4342")
	private := netip.MustParseAddrPort("10.0.0.2:4342")
	good := rtrKey{regKey{0, netip.MustParsePrefix("10.1.0.0/24")}, [16]byte{1}}
	n.rtr.bindings[good] = &rtrEntry{RTRBinding: RTRBinding{Prefix: good.key.prefix, XTRID: good.xtrID,
		Public: netip.MustParseAddrPort("198.51.100.7:40000"), Verified: true, LastSeen: time.Now()}}
	n.rtr.reindexLocked() // as a verifying Map-Notify does
	flood := func(first, count int) {
		for i := first; i < first+count; i += 255 {
			reg := msg.MapRegister{Nonce: uint64(i), Alg: msg.AlgHMACSHA256, HasXTRID: true, XTRID: [16]byte{2}}
			for j := i; j < min(i+255, first+count); j++ {
				p := netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 16 + byte(j>>16), byte(j >> 8), byte(j)}), 32)
				reg.Records = append(reg.Records, msg.Record{TTL: 10, EID: msg.EIDOf(0, p)})
			}
			e := msg.ECM{RTR: true, Src: private, Dst: ms, Message: reg.Append(nil)}
			n.handle(e.Append(nil), netip.MustParseAddrPort("192.0.2.66:1234"))
		}
		rt.take()
	}
	flood(0, rtrMaxBindings+500)
	if got := len(n.RTRBindings()); got != rtrMaxBindings {
		t.Errorf("%d bindings after the flood, want the bound %d", got, rtrMaxBindings)
	}
	if _, ok := n.rtr.bindings[good]; !ok {
		t.Error("the flood pushed out a verified binding")
	}
	// With every binding verified, new ones are refused and counted.
	for _, b := range n.rtr.bindings {
		b.Verified = true
	}
	flood(1<<20, 10)
	if got := len(n.RTRBindings()); got != rtrMaxBindings {
		t.Errorf("%d bindings, want %d", got, rtrMaxBindings)
	}
	if d := n.Stats().Drops["rtr-table-full"]; d != 1 {
		t.Errorf("rtr-table-full %d, want 1 (the refused Map-Register)", d)
	}
}

// A NATed host sending to ever new destinations makes the RTR resolve at
// most rtrMaxResolving of them at once and hold packets for at most
// rtrQueueDsts; the rest is counted.
func TestRTRResolveBounded(t *testing.T) {
	n, rt := rtrNode(t)
	pub := netip.MustParseAddrPort("198.51.100.7:40000")
	k := rtrKey{regKey{0, netip.MustParsePrefix("10.1.0.0/24")}, [16]byte{1}}
	n.rtr.bindings[k] = &rtrEntry{RTRBinding: RTRBinding{Prefix: k.key.prefix, Public: pub, Verified: true, LastSeen: time.Now()}}
	n.rtr.reindexLocked() // as a verifying Map-Notify does
	const dsts = rtrMaxResolving + 200
	for i := range dsts {
		dst := netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)})
		pkt := append(appendDataHeader(nil, 1, 0, true), ipv4Packet(netip.MustParseAddr("10.1.0.5"), dst)...)
		n.rtr.handleData(pkt, netip.AddrPortFrom(pub.Addr(), 33333))
	}
	if got := len(rt.take()); got != rtrMaxResolving {
		t.Errorf("%d Map-Requests sent, want the bound %d", got, rtrMaxResolving)
	}
	n.rtr.mu.Lock()
	resolving, pending, queued := len(n.rtr.lastReq), len(n.rtr.pending), len(n.rtr.queued)
	n.rtr.mu.Unlock()
	if resolving > rtrMaxResolving || pending > rtrMaxResolving || queued > rtrQueueDsts {
		t.Errorf("resolving %d, pending %d, queued %d: beyond the bounds %d, %d, %d", resolving, pending, queued, rtrMaxResolving, rtrMaxResolving, rtrQueueDsts)
	}
	if d := n.Stats().Drops["rtr-table-full"]; d != dsts-rtrMaxResolving {
		t.Errorf("rtr-table-full %d, want %d", d, dsts-rtrMaxResolving)
	}
	if st := n.RTRStats(); st.Unrouted != dsts-rtrQueueDsts {
		t.Errorf("unrouted %d, want %d (beyond the queue)", st.Unrouted, dsts-rtrQueueDsts)
	}
}

// The RTR's data path allocates nothing per packet: re-encapsulation to a
// NATed xTR and from it along a learned route, on real sockets.
func TestRTRDataPathAllocs(t *testing.T) {
	n, _ := rtrNode(t)
	lo := netip.MustParseAddr("127.0.0.1")
	sink := newTestNet(t).peer(lo, 0)
	data, err := listenUDP([]netip.Addr{lo}, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(data.close)
	n.rtr.data, n.tx = data, data
	n.rtr.o.Listen = []netip.Addr{lo}
	n.rtr.o.DataPort = sink.addr().Port()
	k := rtrKey{regKey{0, netip.MustParsePrefix("10.1.0.0/24")}, [16]byte{1}}
	n.rtr.bindings[k] = &rtrEntry{RTRBinding: RTRBinding{Prefix: k.key.prefix, Public: sink.addr(), Verified: true, LastSeen: time.Now()}}
	n.rtr.reindexLocked() // as a verifying Map-Notify does
	route := regKey{0, netip.MustParsePrefix("10.2.0.0/16")}
	n.rtr.routes[route] = &rtrRoute{key: route, expires: time.Now().Add(time.Hour), locs: []Locator{{Addr: lo, Priority: 1, Weight: 100, Reachable: true}}}
	toNAT := append(appendDataHeader(nil, 1, 0, true), ipv4Packet(netip.MustParseAddr("10.9.0.1"), netip.MustParseAddr("10.1.0.5"))...)
	fromNAT := append(appendDataHeader(nil, 1, 0, true), ipv4Packet(netip.MustParseAddr("10.1.0.5"), netip.MustParseAddr("10.2.0.9"))...)
	for _, c := range []struct {
		name string
		pkt  []byte
		from netip.AddrPort
	}{
		{"to NAT", toNAT, netip.MustParseAddrPort("192.0.2.50:5000")},
		{"from NAT", fromNAT, netip.AddrPortFrom(lo, 33333)},
	} {
		buf := make([]byte, len(c.pkt))
		if a := testing.AllocsPerRun(200, func() {
			copy(buf, c.pkt)
			n.rtr.handleData(buf, c.from)
		}); a != 0 {
			t.Errorf("%s: %.1f allocations per packet", c.name, a)
		}
	}
	if st := n.RTRStats(); st.ToNAT == 0 || st.FromNAT == 0 || st.OpenRelay != 0 {
		t.Errorf("stats %+v: the packets did not take the paths measured", st)
	}
}

// A Map-Notify verifies at the RTR only the prefixes it lists, not every
// prefix of the Map-Register with that nonce: a Map-Server that accepted
// part of a registration must not make the RTR carry traffic for the rest.
func TestRTRNotifyVerifiesListedPrefixesOnly(t *testing.T) {
	n, _ := rtrNode(t)
	ms := netip.MustParseAddrPort("203.0.113.10:4342")
	private := netip.MustParseAddrPort("10.0.0.2:4342")
	own, other := netip.MustParsePrefix("10.1.0.0/24"), netip.MustParsePrefix("10.0.0.0/8")
	xtrID := [16]byte{3}
	reg := msg.MapRegister{Nonce: 5, Alg: msg.AlgHMACSHA256, HasXTRID: true, XTRID: xtrID,
		Records: []msg.Record{{TTL: 10, EID: msg.EIDOf(0, own)}, {TTL: 10, EID: msg.EIDOf(0, other)}}}
	e := msg.ECM{RTR: true, Src: private, Dst: ms, Message: reg.Append(nil)}
	n.handle(e.Append(nil), netip.MustParseAddrPort("198.51.100.7:40000"))
	m := msg.MapNotify{Nonce: 5, Alg: msg.AlgHMACSHA256, HasXTRID: true, XTRID: xtrID, Records: []msg.Record{{TTL: 10, EID: msg.EIDOf(0, own)}}}
	ne := msg.ECM{RTR: true, Src: ms, Dst: private, Message: m.Append(nil)}
	n.handle(ne.Append(nil), ms)
	for _, b := range n.RTRBindings() {
		if want := b.Prefix == own; b.Verified != want {
			t.Errorf("%v verified %v, want %v", b.Prefix, b.Verified, want)
		}
	}
}

// The sweep forgets what a destination no longer in resolution left: its
// queued packets (also of one refused by the bound) and its unanswered
// Map-Requests, so that neither the queue nor the pending table fills for
// good and the RTR resolves new destinations again.
func TestRTRSweepFreesResolution(t *testing.T) {
	n, rt := rtrNode(t)
	pub := netip.MustParseAddrPort("198.51.100.7:40000")
	k := rtrKey{regKey{0, netip.MustParsePrefix("10.1.0.0/24")}, [16]byte{1}}
	n.rtr.bindings[k] = &rtrEntry{RTRBinding: RTRBinding{Prefix: k.key.prefix, Public: pub, Verified: true, LastSeen: time.Now()}}
	n.rtr.reindexLocked() // as a verifying Map-Notify does
	send := func(i int) {
		dst := netip.AddrFrom4([4]byte{10, 3, byte(i >> 8), byte(i)})
		pkt := append(appendDataHeader(nil, 1, 0, true), ipv4Packet(netip.MustParseAddr("10.1.0.5"), dst)...)
		n.rtr.handleData(pkt, netip.AddrPortFrom(pub.Addr(), 33333))
	}
	// Unanswered Map-Requests up to the pending bound, their destinations
	// long out of resolution.
	old := time.Now().Add(-time.Minute)
	n.rtr.mu.Lock()
	for i := range 4 * rtrMaxResolving {
		dk := regKey{0, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 4, byte(i >> 8), byte(i)}), 32)}
		n.rtr.pending[uint64(i)] = dk
		n.rtr.lastReq[dk] = old
	}
	n.rtr.mu.Unlock()
	send(1)
	if got := len(rt.take()); got != 0 {
		t.Fatalf("%d Map-Requests with the pending table full", got)
	}
	n.rtr.sweep(time.Now())
	n.rtr.mu.Lock()
	pending, queued := len(n.rtr.pending), len(n.rtr.queued)
	n.rtr.mu.Unlock()
	if pending != 0 || queued != 0 {
		t.Errorf("after the sweep: %d pending, %d queued destinations, want none", pending, queued)
	}
	send(2)
	if got := len(rt.take()); got != 1 {
		t.Errorf("%d Map-Requests for a new destination after the sweep, want 1", got)
	}
}

// natNode is fuzzNode with NAT traversal on (auto).
func natNode(t *testing.T) *Node {
	t.Helper()
	n := fuzzNode(t)
	n.opts.DataPort = portOnly(4341)
	x := *n.opts.XTR
	x.NATTraversal = NATAuto
	n.opts.XTR = &x
	n.nat = newNAT(n, &x)
	return n
}
