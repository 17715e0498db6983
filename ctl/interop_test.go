package ctl

import (
	"net/netip"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/msg"
)

// A Map-Request sent for a miss carries the source of the packet that
// missed as its Source-EID, in the instance of the EID asked for (RFC 9301
// section 5.3); a renewal, with no such packet, sends AFI 0.
func TestITRSourceEID(t *testing.T) {
	for _, iid := range []uint32{0, 1000} {
		tn := newTestNet(t)
		mr := tn.peer(tn.addr(20), tn.port)
		x := itrWithResolvers(tn, newFakeDataPlane(), func(x *XTROptions) { x.InstanceID = iid }, tn.addr(20))
		x.Miss(iid, netip.MustParseAddr("198.51.100.5"), netip.MustParseAddr("10.2.2.9"))
		_, req, ok := mr.recvRequest(5 * time.Second)
		if !ok {
			t.Fatal("no Map-Request")
		}
		want := msg.EIDOf(iid, netip.MustParsePrefix("198.51.100.5/32"))
		if req.SourceEID.IID != want.IID || req.SourceEID.Prefix != want.Prefix {
			t.Errorf("iid %d: Source-EID %v, want %v", iid, req.SourceEID, want)
		}

		// A renewal has no packet behind it: AFI 0.
		x.itr.resolve(eidKey{iid, netip.MustParseAddr("10.3.0.0")}, netip.Addr{}, netip.MustParsePrefix("10.3.0.0/16"), reqRenew)
		_, req, ok = mr.recvRequest(5 * time.Second)
		if !ok {
			t.Fatal("no renewal Map-Request")
		}
		if req.SourceEID.Prefix.IsValid() || len(req.SourceEID.Raw) != 0 {
			t.Errorf("iid %d: renewal Source-EID %v, want AFI 0", iid, req.SourceEID)
		}
	}
}

// The Map-Resolver/Map-Server resolves every EID-record of a Map-Request
// (RFC 9301 section 5.2), not only the first: the records it answers itself
// (negative, proxy) come back in one Map-Reply, and the ECM goes once to
// each ETR registered for the others.
func TestMapResolverSeveralRecords(t *testing.T) {
	const key = "secret"
	tn := newTestNet(t)
	ms := tn.start(msOptions(0, siteOpt("a", key, KeySHA256, 0, "10.1.0.0/16")), nil, tn.addr(10))
	msAddr := netip.AddrPortFrom(tn.addr(10), tn.port)
	etr := tn.peer(tn.addr(3), tn.port)
	register := func(prefix string, proxy bool, loc netip.Addr) {
		etr.send(msAddr, buildRegister(t, key, msg.AlgHMACSHA256, func(r *msg.MapRegister) {
			r.ProxyReply = proxy
			r.Records[0].EID = msg.EIDOf(0, netip.MustParsePrefix(prefix))
			r.Records[0].Locators[0].Addr = msg.AddrOf(loc)
		}))
		if b, _ := etr.recv(5 * time.Second); b == nil {
			t.Fatalf("no Map-Notify for %s", prefix)
		}
	}
	register("10.1.1.0/24", false, tn.addr(3))
	register("10.1.3.0/24", false, tn.addr(3))
	register("10.1.4.0/24", true, netip.MustParseAddr("198.51.100.7"))
	itr := tn.peer(tn.addr(1), 0)

	send := func(eids ...string) ([]byte, uint64) {
		nonce := randomNonce()
		req := msg.MapRequest{Nonce: nonce, ITRRLOCs: []msg.Address{msg.AddrOf(itr.addr().Addr())}}
		for _, e := range eids {
			req.EIDs = append(req.EIDs, msg.EIDOf(0, netip.MustParsePrefix(e)))
		}
		e := msg.ECM{Src: itr.addr(), Dst: netip.AddrPortFrom(req.EIDs[0].Prefix.Addr(), msg.ControlPort), Message: req.Append(nil)}
		b := e.Append(nil)
		itr.send(msAddr, b)
		return b, nonce
	}
	replyRecords := func(nonce uint64) []string {
		t.Helper()
		b, _ := itr.recv(5 * time.Second)
		if b == nil {
			t.Fatalf("no Map-Reply; stats %+v", ms.Stats())
		}
		var rep msg.MapReply
		if err := rep.Decode(b); err != nil {
			t.Fatal(err)
		}
		if rep.Nonce != nonce {
			t.Fatalf("nonce %x, want %x", rep.Nonce, nonce)
		}
		var got []string
		for _, r := range rep.Records {
			got = append(got, r.EID.Prefix.String())
		}
		return got
	}

	// Two records answered by the Map-Server: one Map-Reply with both.
	_, nonce := send("10.1.2.5/32", "10.1.4.9/32")
	if got := replyRecords(nonce); len(got) != 2 || got[0] != "10.1.2.0/24" || got[1] != "10.1.4.0/24" {
		t.Errorf("Map-Reply records %v, want [10.1.2.0/24 10.1.4.0/24]", got)
	}

	// A negative record and a registered one: a Map-Reply for the first,
	// the ECM forwarded for the second.
	req, nonce := send("192.0.2.1/32", "10.1.1.5/32")
	if got := replyRecords(nonce); len(got) != 1 || got[0] != "128.0.0.0/1" {
		t.Errorf("Map-Reply records %v, want [128.0.0.0/1]", got)
	}
	if b, _ := etr.recv(5 * time.Second); string(b) != string(req) {
		t.Fatalf("ETR got %x, want the ECM", b)
	}

	// Two records of the same ETR: forwarded once.
	req, _ = send("10.1.1.5/32", "10.1.3.5/32")
	if b, _ := etr.recv(5 * time.Second); string(b) != string(req) {
		t.Fatalf("ETR got %x, want the ECM", b)
	}
	if b, _ := etr.recv(50 * time.Millisecond); b != nil {
		t.Error("the ECM was forwarded twice to one ETR")
	}
	if b, _ := itr.recv(10 * time.Millisecond); b != nil {
		t.Errorf("ITR got a Map-Reply %x for forwarded records", b)
	}
	if s := ms.Stats(); s.ForwardedRequests != 2 || s.NegativeReplies != 2 || s.ProxyReplies != 1 {
		t.Errorf("stats %+v", s)
	}
}

// An ITR-RLOC encoded as an AFI-List LCAF yields its first usable address:
// the Map-Reply goes there.
func TestMapResolverAFIListITRRLOC(t *testing.T) {
	tn := newTestNet(t)
	tn.start(msOptions(0, siteOpt("a", "k", KeySHA256, 0, "10.1.0.0/16")), nil, tn.addr(10))
	itr := tn.peer(tn.addr(1), 0)
	req := msg.MapRequest{
		Nonce:    randomNonce(),
		ITRRLOCs: []msg.Address{{List: []netip.Addr{itr.addr().Addr(), netip.MustParseAddr("2001:db8::1")}}},
		EIDs:     []msg.EID{msg.EIDOf(0, netip.MustParsePrefix("10.1.2.5/32"))},
	}
	e := msg.ECM{Src: itr.addr(), Dst: netip.MustParseAddrPort("10.1.2.5:4342"), Message: req.Append(nil)}
	itr.send(netip.AddrPortFrom(tn.addr(10), tn.port), e.Append(nil))
	b, _ := itr.recv(5 * time.Second)
	if b == nil {
		t.Fatal("no Map-Reply to the AFI-List ITR-RLOC")
	}
	var rep msg.MapReply
	if err := rep.Decode(b); err != nil || rep.Nonce != req.Nonce {
		t.Fatalf("Map-Reply %+v, err %v", rep, err)
	}
}

func TestPickITRRLOC(t *testing.T) {
	tn := newTestNet(t)
	n := tn.start(msOptions(0), nil, tn.addr(10))
	v4 := netip.MustParseAddr("192.0.2.1")
	tests := []struct {
		name  string
		rlocs []msg.Address
		want  netip.Addr
	}{
		{"plain", []msg.Address{msg.AddrOf(v4)}, v4},
		{"AFI-List", []msg.Address{{List: []netip.Addr{v4, netip.MustParseAddr("192.0.2.2")}}}, v4},
		{"AFI-List after AFI 0", []msg.Address{{}, {List: []netip.Addr{netip.IPv4Unspecified(), v4}}}, v4},
		{"none usable", []msg.Address{{}, {List: []netip.Addr{netip.IPv4Unspecified()}}}, netip.Addr{}},
	}
	for _, tt := range tests {
		got, ok := n.pickITRRLOC(tt.rlocs)
		if got != tt.want || ok != tt.want.IsValid() {
			t.Errorf("%s: %v %v, want %v", tt.name, got, ok, tt.want)
		}
	}
}

// An RFC 9437 subscribe Map-Request (I bit, xTR-ID and site-ID after the
// records, as Cisco IOS-XE sends) is answered by the Map-Resolver and by
// the ETR, not counted malformed.
func TestSubscribeMapRequestAnswered(t *testing.T) {
	tn := newTestNet(t)
	ms := tn.start(msOptions(0, siteOpt("a", "k", KeySHA256, 0, "10.1.0.0/16")), nil, tn.addr(10))
	etr := tn.start(xtrOptions(tn.addr(3), prefixes("10.2.2.0/24"), nil), newFakeDataPlane(), tn.addr(3))
	itr := tn.peer(tn.addr(1), 0)
	subscribe := func(eid string) msg.MapRequest {
		return msg.MapRequest{
			Nonce: randomNonce(), ITRRLOCs: []msg.Address{msg.AddrOf(itr.addr().Addr())},
			EIDs:     []msg.EID{msg.EIDOf(0, netip.MustParsePrefix(eid))},
			HasXTRID: true, XTRID: [16]byte{0xc1, 0x5c, 0x0}, SiteID: 42,
		}
	}
	for _, tt := range []struct {
		name string
		to   *Node
		eid  string
		ecm  bool
	}{
		{"Map-Resolver", ms, "10.1.2.5/32", true},
		{"ETR", etr, "10.2.2.5/32", false},
	} {
		req := subscribe(tt.eid)
		b := req.Append(nil)
		if tt.ecm {
			e := msg.ECM{Src: itr.addr(), Dst: netip.AddrPortFrom(req.EIDs[0].Prefix.Addr(), msg.ControlPort), Message: b}
			b = e.Append(nil)
		}
		itr.send(netip.AddrPortFrom(tt.to.opts.Listen[0], tn.port), b)
		got, _ := itr.recv(5 * time.Second)
		var rep msg.MapReply
		if got == nil || rep.Decode(got) != nil || rep.Nonce != req.Nonce {
			t.Errorf("%s: no Map-Reply to a subscribe Map-Request (got %x); drops %v", tt.name, got, tt.to.Stats().Drops)
		}
		if d := tt.to.Stats().Drops[DropMalformed.String()]; d != 0 {
			t.Errorf("%s: %d malformed", tt.name, d)
		}
	}
}

// A probe reply that leaves from the probed address goes to an ITR-RLOC of
// that address's family when the prober lists one, whatever the order.
func TestPickITRRLOCLike(t *testing.T) {
	n := fuzzNode(t)
	n.tx = &recordingTransport{} // both families usable
	v4, v6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	both := []msg.Address{msg.AddrOf(v4), msg.AddrOf(v6)}
	for _, tt := range []struct {
		name  string
		rlocs []msg.Address
		like  netip.Addr
		want  netip.Addr
	}{
		{"no preference: the first", both, netip.Addr{}, v4},
		{"like IPv6", both, netip.MustParseAddr("2001:db8:ff::1"), v6},
		{"like IPv4", []msg.Address{msg.AddrOf(v6), msg.AddrOf(v4)}, netip.MustParseAddr("198.51.100.1"), v4},
		{"like IPv6 in an AFI-List", []msg.Address{{List: []netip.Addr{v4, v6}}}, netip.MustParseAddr("2001:db8:ff::1"), v6},
		{"none of the family: the first", []msg.Address{msg.AddrOf(v4)}, netip.MustParseAddr("2001:db8:ff::1"), v4},
	} {
		if got, ok := n.pickITRRLOCLike(tt.rlocs, tt.like); got != tt.want || !ok {
			t.Errorf("%s: %v %v, want %v", tt.name, got, ok, tt.want)
		}
	}
}
