package ctl

import (
	"math"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/msg"
)

// recvRequest reads an ECM Map-Request at a fake Map-Resolver; ok is false
// after d without one.
func (p *peer) recvRequest(d time.Duration) (msg.ECM, msg.MapRequest, bool) {
	p.t.Helper()
	var e msg.ECM
	var req msg.MapRequest
	b, _ := p.recv(d)
	if b == nil {
		return e, req, false
	}
	if err := e.Decode(b); err != nil {
		p.t.Fatalf("resolver got a non-ECM %x: %v", b, err)
	}
	if err := req.Decode(e.Message); err != nil {
		p.t.Fatalf("ECM holds no Map-Request: %v", err)
	}
	return e, req, true
}

// reply answers a Map-Request as an ETR would: to its first ITR-RLOC at the
// inner UDP source port.
func (p *peer) reply(e msg.ECM, nonce uint64, recs ...msg.Record) {
	p.t.Helper()
	rep := msg.MapReply{Nonce: nonce, Records: recs}
	p.send(e.Src, rep.Append(nil))
}

func record(iid uint32, prefix string, ttl uint32, locs ...string) msg.Record {
	r := msg.Record{TTL: ttl, Authoritative: true, EID: msg.EIDOf(iid, netip.MustParsePrefix(prefix))}
	for _, l := range locs {
		r.Locators = append(r.Locators, msg.Locator{Priority: 1, Weight: 100, MPriority: 255, Reachable: true, Addr: msg.AddrOf(netip.MustParseAddr(l))})
	}
	return r
}

// ITR → Map-Resolver → ETR over loopback: each miss ends in the data plane
// with what the mapping system said (the ETR's mapping with the TTL it sent,
// or the Map-Server's negative answer with the PETRs).
func TestResolutionEndToEnd(t *testing.T) {
	tn := newTestNet(t)
	ms := tn.startAt(msOptions(0,
		siteOpt("a", "ka", KeySHA256, 0, "10.1.0.0/16", "2001:db8:1::/48"),
		siteOpt("b", "kb", KeySHA1, 0, "10.2.0.0/16", "2001:db8:2::/48"),
	), tn.addr(10))
	petr := Locator{Addr: netip.MustParseAddr("192.0.2.99"), Priority: 1, Weight: 100, Reachable: true}
	xtr2 := tn.start(xtrOptions(tn.addr(3), prefixes("10.2.2.0/24", "2001:db8:2:2::/64"), func(x *XTROptions) {
		x.RLOCs = append(x.RLOCs, LocalLocator{Addr: netip.MustParseAddr("198.51.100.9"), Priority: 2, Weight: 0})
		x.MapServers = []MapServerPeer{{Addr: tn.addr(10), Key: "kb", KeyType: KeySHA1, WantMapNotify: true}}
	}), nil, tn.addr(3))
	dp1 := newFakeDataPlane()
	xtr1 := tn.start(xtrOptions(tn.addr(2), prefixes("10.1.1.0/24"), func(x *XTROptions) {
		x.MapResolvers = []netip.Addr{tn.addr(10)}
		x.ProxyETRs = []Locator{petr}
		x.MapServers = []MapServerPeer{{Addr: tn.addr(10), Key: "ka", KeyType: KeySHA256, WantMapNotify: true}}
	}), dp1, tn.addr(2))
	eventually(t, "xTR2 registered", func() bool { return xtr2.MapServerStatus()[0].State == RegStateRegistered })

	xtr2Locs := []Locator{
		{Addr: tn.addr(3), Priority: 1, Weight: 100, Reachable: true, Position: 1},
		{Addr: netip.MustParseAddr("198.51.100.9"), Priority: 2, Weight: 0, Reachable: true, Position: 2},
	}
	tests := []struct {
		dst  string
		want Mapping
	}{
		{"10.2.2.9", Mapping{Prefix: netip.MustParsePrefix("10.2.2.0/24"), TTL: 7 * time.Minute, Authoritative: true, Locators: xtr2Locs}},
		{"2001:db8:2:2::1", Mapping{Prefix: netip.MustParsePrefix("2001:db8:2:2::/64"), TTL: 7 * time.Minute, Authoritative: true, Locators: xtr2Locs}},
		{"10.2.9.9", Mapping{Prefix: netip.MustParsePrefix("10.2.8.0/21"), TTL: time.Minute, Authoritative: true, Negative: true, Action: ActionNativelyForward, Locators: []Locator{petr}}},
		{"203.0.113.5", Mapping{Prefix: netip.MustParsePrefix("128.0.0.0/1"), TTL: 15 * time.Minute, Authoritative: true, Negative: true, Action: ActionNativelyForward, Locators: []Locator{petr}}},
		{"2001:db8:3::1", Mapping{Prefix: netip.MustParsePrefix("2001:db8:3::/48"), TTL: 15 * time.Minute, Authoritative: true, Negative: true, Action: ActionNativelyForward, Locators: []Locator{petr}}},
	}
	for i, tt := range tests {
		t.Run(tt.dst, func(t *testing.T) {
			xtr1.Miss(0, netip.Addr{}, netip.MustParseAddr(tt.dst))
			eventually(t, "install", func() bool { ins, _ := dp1.snapshot(); return len(ins) > i })
			ins, failed := dp1.snapshot()
			if len(ins) != i+1 || len(failed) != 0 {
				t.Fatalf("installs %+v failed %+v", ins, failed)
			}
			if got := ins[i]; !equalMapping(got, tt.want) {
				t.Errorf("installed %+v\nwant %+v", got, tt.want)
			}
		})
	}
	if s := ms.Stats(); s.ForwardedRequests != 2 || s.NegativeReplies != 3 {
		t.Errorf("Map-Server stats %+v", s)
	}
	if s := xtr1.Stats(); s.MappingsInstalled != uint64(len(tests)) || s.MapRequestsSent != uint64(len(tests)) || len(s.Drops) != 0 {
		t.Errorf("ITR stats %+v", s)
	}
}

func equalMapping(a, b Mapping) bool {
	if a.InstanceID != b.InstanceID || a.Prefix != b.Prefix || a.TTL != b.TTL || a.Negative != b.Negative ||
		a.Action != b.Action || a.Authoritative != b.Authoritative || len(a.Locators) != len(b.Locators) {
		return false
	}
	for i := range a.Locators {
		if !reflect.DeepEqual(a.Locators[i], b.Locators[i]) {
			return false
		}
	}
	return true
}

// itrWithResolvers starts an ITR (RLOC 127.n.0.2) using the given fake
// Map-Resolver addresses.
func itrWithResolvers(tn *testNet, dp *fakeDataPlane, edit func(*XTROptions), mrs ...netip.Addr) *Node {
	return tn.start(xtrOptions(tn.addr(2), prefixes("10.1.1.0/24"), func(x *XTROptions) {
		x.MapResolvers = mrs
		if edit != nil {
			edit(x)
		}
	}), dp, tn.addr(2))
}

// The ECM Map-Request the ITR sends is what RFC 9301 asks: inner and outer
// source port the control port, ITR-RLOCs ours, a random nonce, the EID as
// a host prefix in the instance.
func TestITRMapRequestFormat(t *testing.T) {
	tn := newTestNet(t)
	mr := tn.peer(tn.addr(20), tn.port)
	x := itrWithResolvers(tn, newFakeDataPlane(), func(x *XTROptions) { x.InstanceID = 1000 }, tn.addr(20))
	x.Miss(1000, netip.Addr{}, netip.MustParseAddr("10.2.2.9"))
	b, from := mr.recv(5 * time.Second)
	if b == nil {
		t.Fatal("no Map-Request")
	}
	var e msg.ECM
	var req msg.MapRequest
	if err := e.Decode(b); err != nil {
		t.Fatal(err)
	}
	if err := req.Decode(e.Message); err != nil {
		t.Fatal(err)
	}
	if from != netip.AddrPortFrom(tn.addr(2), tn.port) || e.Src != from || e.Dst != netip.MustParseAddrPort("10.2.2.9:4342") {
		t.Errorf("outer source %v, inner %v -> %v", from, e.Src, e.Dst)
	}
	if req.Nonce == 0 || req.SMR || req.SMRInvoked || req.Probe || len(req.ITRRLOCs) != 1 || req.ITRRLOCs[0].IP != tn.addr(2) ||
		len(req.EIDs) != 1 || req.EIDs[0].IID != 1000 || req.EIDs[0].Prefix != netip.MustParsePrefix("10.2.2.9/32") {
		t.Errorf("Map-Request %+v", req)
	}
}

// Only a Map-Reply whose nonce matches an outstanding request is installed,
// and only its records that answer the request (no map-cache poisoning).
func TestITRRejectsUnsolicitedReplies(t *testing.T) {
	tn := newTestNet(t)
	mr := tn.peer(tn.addr(20), tn.port)
	dp := newFakeDataPlane()
	x := itrWithResolvers(tn, dp, nil, tn.addr(20))
	itrAt := netip.AddrPortFrom(tn.addr(2), tn.port)
	attacker := tn.peer(tn.addr(66), 0)

	// Nothing outstanding: any nonce is wrong.
	rep := msg.MapReply{Nonce: 0x0102030405060708, Records: []msg.Record{record(0, "10.2.2.0/24", 60, "192.0.2.66")}}
	attacker.send(itrAt, rep.Append(nil))
	eventually(t, "bad-nonce drop", func() bool { return x.Stats().Drops["bad-nonce"] == 1 })

	// Outstanding request, reply with another nonce: dropped, the request
	// stays outstanding and the real answer is installed.
	x.Miss(0, netip.Addr{}, netip.MustParseAddr("10.2.2.9"))
	e, req, ok := mr.recvRequest(5 * time.Second)
	if !ok {
		t.Fatal("no Map-Request")
	}
	rep.Nonce = req.Nonce + 1
	attacker.send(itrAt, rep.Append(nil))
	eventually(t, "second bad-nonce drop", func() bool { return x.Stats().Drops["bad-nonce"] == 2 })
	if ins, _ := dp.snapshot(); len(ins) != 0 {
		t.Fatalf("installed from a wrong nonce: %+v", ins)
	}

	// Right nonce, but records for other EIDs or another instance: nothing
	// installed; the miss is given up.
	mr.reply(e, req.Nonce, record(0, "10.9.0.0/16", 60, "192.0.2.66"), record(5, "10.2.2.0/24", 60, "192.0.2.66"))
	eventually(t, "record-mismatch drops", func() bool { return x.Stats().Drops["record-mismatch"] == 2 })
	eventually(t, "resolve failed", func() bool { _, f := dp.snapshot(); return len(f) == 1 })
	// The nonce is spent: replaying the genuine answer now installs nothing.
	mr.reply(e, req.Nonce, record(0, "10.2.2.0/24", 60, tn.addr(3).String()))
	eventually(t, "replay dropped", func() bool { return x.Stats().Drops["bad-nonce"] == 3 })
	if ins, _ := dp.snapshot(); len(ins) != 0 {
		t.Fatalf("installed: %+v", ins)
	}
}

// When the first Map-Resolver is silent, the retry goes to the second; the
// one that answered is tried first next time.
func TestITRFailover(t *testing.T) {
	tn := newTestNet(t)
	silent := tn.peer(tn.addr(20), tn.port)
	second := tn.peer(tn.addr(21), tn.port)
	dp := newFakeDataPlane()
	x := itrWithResolvers(tn, dp, func(x *XTROptions) {
		x.MapRequestTimeout = 50 * time.Millisecond
		x.PerEIDInterval = time.Millisecond
	}, tn.addr(20), tn.addr(21))
	x.Miss(0, netip.Addr{}, netip.MustParseAddr("10.2.2.9"))
	_, first, ok := silent.recvRequest(5 * time.Second)
	if !ok {
		t.Fatal("first Map-Resolver got nothing")
	}
	e, req, ok := second.recvRequest(5 * time.Second)
	if !ok {
		t.Fatal("no retry to the second Map-Resolver")
	}
	if req.Nonce == first.Nonce {
		t.Error("retry reused the nonce")
	}
	second.reply(e, req.Nonce, record(0, "10.2.2.0/24", 3, tn.addr(3).String()))
	eventually(t, "install", func() bool { ins, _ := dp.snapshot(); return len(ins) == 1 })
	if ins, _ := dp.snapshot(); ins[0].Prefix != netip.MustParsePrefix("10.2.2.0/24") || ins[0].TTL != 3*time.Minute {
		t.Errorf("installed %+v", ins[0])
	}
	x.Miss(0, netip.Addr{}, netip.MustParseAddr("10.3.3.3"))
	if _, _, ok := second.recvRequest(5 * time.Second); !ok {
		t.Fatal("the answering Map-Resolver is not tried first")
	}
	if b, _ := silent.recv(20 * time.Millisecond); b != nil {
		t.Error("the silent Map-Resolver was tried first again")
	}
}

// With no answer, the ITR retries with doubling timeouts and then gives up:
// the data plane drops the queued packets.
func TestITRGivesUp(t *testing.T) {
	tn := newTestNet(t)
	silent := tn.peer(tn.addr(20), tn.port)
	dp := newFakeDataPlane()
	x := itrWithResolvers(tn, dp, func(x *XTROptions) {
		x.MapRequestTimeout = 20 * time.Millisecond
		x.MapRequestRetries = 2
		x.PerEIDInterval = time.Millisecond
	}, tn.addr(20))
	start := time.Now()
	x.Miss(0, netip.Addr{}, netip.MustParseAddr("10.2.2.9"))
	eventually(t, "resolve failed", func() bool { _, f := dp.snapshot(); return len(f) == 1 })
	if el := time.Since(start); el < 20*time.Millisecond+40*time.Millisecond+80*time.Millisecond {
		t.Errorf("gave up after %v: the timeouts did not double", el)
	}
	n := 0
	for {
		if b, _ := silent.recv(50 * time.Millisecond); b == nil {
			break
		}
		n++
	}
	if n != 3 {
		t.Errorf("%d Map-Requests, want 1 + 2 retries", n)
	}
	if _, f := dp.snapshot(); f[0] != (eidKey{0, netip.MustParseAddr("10.2.2.9")}) {
		t.Errorf("failed %+v", f)
	}
	if d := x.Stats().Drops["resolve-failed"]; d != 1 {
		t.Errorf("resolve-failed %d", d)
	}
}

// The global rate limit holds, and one destination has one request
// outstanding however many packets miss.
func TestITRRateLimit(t *testing.T) {
	tn := newTestNet(t)
	mr := tn.peer(tn.addr(20), tn.port)
	const rate = 5
	x := itrWithResolvers(tn, newFakeDataPlane(), func(x *XTROptions) {
		x.MapRequestRate = rate
		x.MapRequestRetries = -1
		x.MapRequestTimeout = time.Minute
		x.MissQueue = 1000
	}, tn.addr(20))
	start := time.Now()
	for i := range 50 {
		x.Miss(0, netip.Addr{}, netip.AddrFrom4([4]byte{10, 2, 3, byte(i)}))
		x.Miss(0, netip.Addr{}, netip.AddrFrom4([4]byte{10, 2, 3, byte(i)})) // duplicate: no second request
	}
	n := 0
	for {
		if b, _ := mr.recv(300 * time.Millisecond); b == nil {
			break
		}
		n++
	}
	elapsed := time.Since(start).Seconds()
	limit := rate + int(math.Ceil(rate*elapsed)) + 1
	if n < 1 || n > limit {
		t.Errorf("%d Map-Requests in %.2fs, want 1..%d", n, elapsed, limit)
	}
	eventually(t, "rate-limited drops", func() bool { return x.Stats().Drops["rate-limited"] >= uint64(50-limit) })
	if s := x.Stats(); s.MapRequestsSent != uint64(n) {
		t.Errorf("sent counter %d, received %d", s.MapRequestsSent, n)
	}
	if p := x.PendingRequests(); len(p) != 50 {
		t.Errorf("%d outstanding requests for 50 destinations", len(p))
	}
}

// The number of outstanding requests is bounded: beyond MaxPending a miss
// fails at once (the data plane drops its packets) instead of growing state.
func TestITRPendingBound(t *testing.T) {
	tn := newTestNet(t)
	tn.peer(tn.addr(20), tn.port)
	dp := newFakeDataPlane()
	x := itrWithResolvers(tn, dp, func(x *XTROptions) {
		x.MaxPending = 10
		x.MapRequestTimeout = time.Minute
	}, tn.addr(20))
	for i := range 30 {
		x.Miss(0, netip.Addr{}, netip.AddrFrom4([4]byte{10, 2, 4, byte(i)}))
	}
	eventually(t, "pending-full drops", func() bool { return x.Stats().Drops["pending-full"] == 20 })
	if p := x.PendingRequests(); len(p) != 10 {
		t.Errorf("%d outstanding, want 10", len(p))
	}
	if _, failed := dp.snapshot(); len(failed) != 20 {
		t.Errorf("%d failed resolutions, want 20", len(failed))
	}
}

// An SMR for a cached EID makes the ITR ask the Map-Resolver again (SMR-
// invoked Map-Request); the SMR itself installs nothing. An SMR for an EID
// not in the map-cache is ignored.
func TestITRSolicitMapRequest(t *testing.T) {
	tn := newTestNet(t)
	mr := tn.peer(tn.addr(20), tn.port)
	dp := newFakeDataPlane()
	dp.add(CacheEntry{Prefix: netip.MustParsePrefix("10.2.2.0/24"), LastUsed: time.Now()})
	x := itrWithResolvers(tn, dp, nil, tn.addr(20))
	etr := tn.peer(tn.addr(3), 0)
	smr := func(eid string) []byte {
		req := msg.MapRequest{SMR: true, Nonce: randomNonce(), ITRRLOCs: []msg.Address{msg.AddrOf(tn.addr(3))},
			EIDs: []msg.EID{msg.EIDOf(0, netip.MustParsePrefix(eid))}}
		return req.Append(nil)
	}
	itrAt := netip.AddrPortFrom(tn.addr(2), tn.port)
	etr.send(itrAt, smr("10.9.9.9/32"))
	eventually(t, "smr-not-cached", func() bool { return x.Stats().Drops["smr-not-cached"] == 1 })

	etr.send(itrAt, smr("10.2.2.1/32"))
	e, req, ok := mr.recvRequest(5 * time.Second)
	if !ok {
		t.Fatal("no SMR-invoked Map-Request")
	}
	if !req.SMRInvoked || req.SMR || len(req.EIDs) != 1 || req.EIDs[0].Prefix != netip.MustParsePrefix("10.2.2.0/24") {
		t.Errorf("SMR-invoked request %+v", req)
	}
	if ins, _ := dp.snapshot(); len(ins) != 0 {
		t.Fatalf("installed from an SMR: %+v", ins)
	}
	// A second SMR while the first is outstanding sends nothing more.
	etr.send(itrAt, smr("10.2.2.1/32"))
	if b, _ := mr.recv(100 * time.Millisecond); b != nil {
		t.Error("second SMR sent another Map-Request while one is outstanding")
	}
	mr.reply(e, req.Nonce, record(0, "10.2.2.0/24", 10, "192.0.2.77"))
	eventually(t, "install", func() bool { ins, _ := dp.snapshot(); return len(ins) == 1 })
	if ins, _ := dp.snapshot(); ins[0].Locators[0].Addr != netip.MustParseAddr("192.0.2.77") {
		t.Errorf("installed %+v", ins[0])
	}
}

// An entry in use is re-resolved before it expires; an idle one is not.
func TestITRRenewsEntriesInUse(t *testing.T) {
	tn := newTestNet(t)
	mr := tn.peer(tn.addr(20), tn.port)
	dp := newFakeDataPlane()
	x := itrWithResolvers(tn, dp, nil, tn.addr(20))
	used := Mapping{Prefix: netip.MustParsePrefix("10.2.2.0/24"), TTL: 200 * time.Millisecond}
	idle := Mapping{Prefix: netip.MustParsePrefix("10.4.4.0/24"), TTL: 200 * time.Millisecond}
	dp.add(CacheEntry{Prefix: used.Prefix, LastUsed: time.Now()})
	dp.mu.Lock()
	dp.hot[used.Prefix] = true
	dp.mu.Unlock()
	dp.add(CacheEntry{Prefix: idle.Prefix, LastUsed: time.Now().Add(-time.Hour)})
	x.itr.installed(used)
	x.itr.installed(idle)
	_, req, ok := mr.recvRequest(5 * time.Second)
	if !ok {
		t.Fatal("no renewal")
	}
	if req.EIDs[0].Prefix != used.Prefix || req.SMRInvoked {
		t.Errorf("renewal request %+v", req)
	}
	if b, _ := mr.recv(300 * time.Millisecond); b != nil {
		t.Error("idle entry renewed")
	}
}

// Close stops everything promptly, with requests and renewals pending.
func TestCloseIsPrompt(t *testing.T) {
	tn := newTestNet(t)
	tn.peer(tn.addr(20), tn.port)
	x := itrWithResolvers(tn, newFakeDataPlane(), func(x *XTROptions) {
		x.MapServers = []MapServerPeer{{Addr: tn.addr(20), Key: "k", KeyType: KeySHA1, WantMapNotify: true}}
	}, tn.addr(20))
	for i := range 20 {
		x.Miss(0, netip.Addr{}, netip.AddrFrom4([4]byte{10, 9, 0, byte(i)}))
	}
	x.itr.installed(Mapping{Prefix: netip.MustParsePrefix("10.2.2.0/24"), TTL: time.Hour})
	time.Sleep(20 * time.Millisecond)
	start := time.Now()
	x.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v", d)
	}
	x.Miss(0, netip.Addr{}, netip.MustParseAddr("10.9.9.9")) // after Close: no panic, no block
}

// expect registers an outstanding miss request for eid answered by nonce,
// as if the ITR had sent it (to drive the ITR with fixed vectors).
func (t *itr) expect(iid uint32, eid netip.Addr, nonce uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := eidKey{iid, eid}
	r := &request{key: k, prefix: hostPrefix(eid), kind: reqMiss, nonces: map[uint64]int{nonce: 0}, started: time.Now()}
	t.pending[k] = r
	t.byNonce[nonce] = r
}

// Map-Replies of other implementations (the shared vectors) drive the ITR:
// with their nonce outstanding they install what they say.
func TestITRAcceptsVectorReplies(t *testing.T) {
	vf := loadVectors(t)
	petr := Locator{Addr: netip.MustParseAddr("192.0.2.99"), Priority: 1, Weight: 100, Reachable: true}
	tests := []struct {
		vector string
		iid    uint32
		eid    string
		want   Mapping
	}{
		{"map_reply", 0, "10.1.0.5", Mapping{Prefix: netip.MustParsePrefix("10.1.0.0/24"), TTL: 1440 * time.Minute, Authoritative: true,
			Locators: []Locator{
				{Addr: netip.MustParseAddr("198.51.100.1"), Priority: 1, Weight: 75, Reachable: true, Position: 1},
				{Addr: netip.MustParseAddr("198.51.100.2"), Priority: 2, Weight: 25, Reachable: true, Position: 2},
			}}},
		{"map_reply_negative", 0, "10.99.1.1", Mapping{Prefix: netip.MustParsePrefix("10.99.0.0/16"), TTL: 15 * time.Minute, Authoritative: true,
			Negative: true, Action: ActionNativelyForward, Locators: []Locator{petr}}},
		{"map_reply_lcaf_iid", 1000, "10.1.0.5", Mapping{InstanceID: 1000, Prefix: netip.MustParsePrefix("10.1.0.0/24"), TTL: 1440 * time.Minute, Authoritative: true,
			Locators: []Locator{{Addr: netip.MustParseAddr("198.51.100.1"), Priority: 1, Weight: 100, Reachable: true, Position: 1}}}},
	}
	for _, tt := range tests {
		t.Run(tt.vector, func(t *testing.T) {
			tn := newTestNet(t)
			dp := newFakeDataPlane()
			x := itrWithResolvers(tn, dp, func(x *XTROptions) { x.ProxyETRs = []Locator{petr} }, tn.addr(20))
			b := vf.bytes(t, tt.vector)
			var rep msg.MapReply
			if err := rep.Decode(b); err != nil {
				t.Fatal(err)
			}
			x.itr.expect(tt.iid, netip.MustParseAddr(tt.eid), rep.Nonce)
			tn.peer(tn.addr(3), 0).send(netip.AddrPortFrom(tn.addr(2), tn.port), b)
			eventually(t, "install", func() bool { ins, _ := dp.snapshot(); return len(ins) == 1 })
			if ins, _ := dp.snapshot(); !equalMapping(ins[0], tt.want) {
				t.Errorf("installed %+v\nwant %+v", ins[0], tt.want)
			}
			if p := x.PendingRequests(); len(p) != 0 {
				t.Errorf("still outstanding: %+v", p)
			}
		})
	}
}

// The Map-Server/Map-Resolver role runs beside the xTR role in one node:
// it registers with itself, and a second xTR resolves through it both ways.
func TestMapServerBesideXTR(t *testing.T) {
	tn := newTestNet(t)
	opts := xtrOptions(tn.addr(10), prefixes("10.1.1.0/24"), func(x *XTROptions) {
		x.MapResolvers = []netip.Addr{tn.addr(10)}
		x.MapServers = []MapServerPeer{{Addr: tn.addr(10), Key: "ka", KeyType: KeySHA256, WantMapNotify: true}}
	})
	opts.MapServer = &MapServerOptions{Sites: []SiteOptions{
		siteOpt("a", "ka", KeySHA256, 0, "10.1.0.0/16"),
		siteOpt("b", "kb", KeySHA256, 0, "10.2.0.0/16"),
	}}
	dpA, dpB := newFakeDataPlane(), newFakeDataPlane()
	a := tn.start(opts, dpA, tn.addr(10))
	b := tn.start(xtrOptions(tn.addr(3), prefixes("10.2.2.0/24"), func(x *XTROptions) {
		x.MapResolvers = []netip.Addr{tn.addr(10)}
		x.MapServers = []MapServerPeer{{Addr: tn.addr(10), Key: "kb", KeyType: KeySHA256, WantMapNotify: true}}
	}), dpB, tn.addr(3))
	eventually(t, "both registered", func() bool { return len(a.Registrations().Registrations) == 2 })
	b.Miss(0, netip.Addr{}, netip.MustParseAddr("10.1.1.5"))
	a.Miss(0, netip.Addr{}, netip.MustParseAddr("10.2.2.5"))
	eventually(t, "installs", func() bool {
		ia, _ := dpA.snapshot()
		ib, _ := dpB.snapshot()
		return len(ia) == 1 && len(ib) == 1
	})
	ia, _ := dpA.snapshot()
	ib, _ := dpB.snapshot()
	if ia[0].Prefix.String() != "10.2.2.0/24" || ia[0].Locators[0].Addr != tn.addr(3) {
		t.Errorf("A installed %+v", ia[0])
	}
	if ib[0].Prefix.String() != "10.1.1.0/24" || ib[0].Locators[0].Addr != tn.addr(10) {
		t.Errorf("B installed %+v", ib[0])
	}
}

// A record's locators keep their positions in the record when some are
// left out (an encoding we cannot use, an unspecified address): the
// sender's locator-status bit i is the i-th locator as it sent them.
func TestMappingKeepsRecordPositions(t *testing.T) {
	n := fuzzNode(t)
	eid := netip.MustParseAddr("10.9.0.1")
	a2, a4 := netip.MustParseAddr("192.0.2.12"), netip.MustParseAddr("192.0.2.14")
	rec := msg.Record{TTL: 10, EID: msg.EID{Prefix: netip.MustParsePrefix("10.9.0.0/16")}, Locators: []msg.Locator{
		{Priority: 1, Weight: 50, Reachable: true, Addr: msg.Address{Raw: []byte{0x40, 0x03, 0, 0, 9, 0, 0, 0}}}, // an LCAF we do not know
		{Priority: 1, Weight: 50, Reachable: true, Addr: msg.Address{IP: a2}},
		{Priority: 1, Weight: 50, Reachable: true, Addr: msg.Address{IP: netip.IPv4Unspecified()}},
		{Priority: 1, Weight: 50, Reachable: true, Addr: msg.Address{List: []netip.Addr{a4}}},
	}}
	m, ok := n.itr.mapping(&rec, &request{key: eidKey{eid: eid}})
	if !ok {
		t.Fatal("record refused")
	}
	want := []Locator{
		{Addr: a2, Priority: 1, Weight: 50, Reachable: true, Position: 2},
		{Addr: a4, Priority: 1, Weight: 50, Reachable: true, Position: 4},
	}
	if !reflect.DeepEqual(m.Locators, want) {
		t.Errorf("locators %+v, want %+v", m.Locators, want)
	}
}
