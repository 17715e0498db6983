package ctl

import (
	"net/netip"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/msg"
	"github.com/lispd/lispd/internal/logx"
)

// itrsDataPlane is a fake data plane that names recent ITRs.
type itrsDataPlane struct {
	*fakeDataPlane
	itrs []netip.Addr
}

func (d itrsDataPlane) RecentITRs(time.Duration) []netip.Addr { return d.itrs }

// A change of local locators: the ETR re-registers at once (the new
// Locator-Set, the down locator with its R bit clear), and only after the
// Map-Notify confirming it sends an SMR to each recent ITR, for each EID
// prefix, source EID ours. An unchanged set does nothing.
func TestLocalChangeReregistersThenSMRs(t *testing.T) {
	tn := newTestNet(t)
	ms := tn.startAt(msOptions(0, siteOpt("b1", "k3y", KeySHA256, 0, "10.1.0.0/16")), tn.addr(10))
	remote := tn.peer(tn.addr(5), tn.port) // an ITR that sent us traffic
	dp := itrsDataPlane{newFakeDataPlane(), []netip.Addr{tn.addr(5)}}
	eids := prefixes("10.1.1.0/24")
	x := tn.start(xtrOptions(tn.addr(2), eids, func(x *XTROptions) {
		x.RegisterInterval = time.Hour // no periodic registration in the way
		x.MapServers = []MapServerPeer{{Addr: tn.addr(10), Key: "k3y", KeyType: KeySHA256, WantMapNotify: true}}
	}), dp, tn.addr(2))
	eventually(t, "registered", func() bool { return x.MapServerStatus()[0].State == RegStateRegistered })
	if b, _ := remote.recv(100 * time.Millisecond); b != nil {
		t.Fatal("SMR before any change")
	}
	before := x.MapServerStatus()[0]

	// The SMR must follow the Map-Notify: record the notifies when it comes.
	var notifiesAtSMR atomic.Uint64
	got := make(chan msg.MapRequest, 1)
	go func() {
		b, _ := remote.recv(5 * time.Second)
		notifiesAtSMR.Store(x.MapServerStatus()[0].Notifies)
		var req msg.MapRequest
		if b != nil && req.Decode(b) == nil {
			got <- req
		}
		close(got)
	}()
	x.SetLocalLocators([]LocalLocator{{Addr: tn.addr(2), Priority: 1, Weight: 100}, {Addr: tn.addr(3), Priority: 2, Weight: 100, Down: true}})
	req, ok := <-got
	if !ok {
		t.Fatal("no SMR after the change")
	}
	if !req.SMR || req.SMRInvoked || req.Probe || req.SourceEID.Prefix.Addr() != eids[0].Addr() ||
		len(req.EIDs) != 1 || req.EIDs[0].Prefix != eids[0] || len(req.ITRRLOCs) != 1 || req.ITRRLOCs[0].IP != tn.addr(2) {
		t.Errorf("SMR %+v: want S, source EID and record %v, ITR-RLOC only the up locator", req, eids[0])
	}
	if n := notifiesAtSMR.Load(); n <= before.Notifies {
		t.Errorf("SMR sent before the Map-Notify confirming the new registration (notifies %d → %d)", before.Notifies, n)
	}
	after := x.MapServerStatus()[0]
	if after.Registers != before.Registers+1 {
		t.Errorf("Map-Registers %d → %d: want exactly one, at once", before.Registers, after.Registers)
	}
	regs := ms.Registrations().Registrations
	if len(regs) != 1 || len(regs[0].Registrants) != 1 {
		t.Fatalf("registrations %+v", regs)
	}
	want := []Locator{{Addr: tn.addr(2), Priority: 1, Weight: 100, Reachable: true}, {Addr: tn.addr(3), Priority: 2, Weight: 100}}
	if ls := regs[0].Registrants[0].Locators; !reflect.DeepEqual(ls, want) {
		t.Errorf("registered locators %+v, want %+v", ls, want)
	}
	// The counter moves after the send returns, so after the SMR can arrive.
	eventually(t, "smrs-sent 1", func() bool { return x.Stats().SMRsSent == 1 })
	if s := x.Stats(); s.SMRsSent != 1 {
		t.Errorf("smrs-sent %d, want 1", s.SMRsSent)
	}

	// The same set again: nothing.
	x.SetLocalLocators(x.LocalLocators())
	if b, _ := remote.recv(200 * time.Millisecond); b != nil {
		t.Error("SMR without a change")
	}
	if n := x.MapServerStatus()[0].Registers; n != after.Registers {
		t.Errorf("re-registered without a change (%d → %d)", after.Registers, n)
	}
}

// Without a Map-Server that confirms registrations, the SMRs go at once.
func TestLocalChangeSMRWithoutMapNotify(t *testing.T) {
	tn := newTestNet(t)
	remote := tn.peer(tn.addr(5), tn.port)
	dp := itrsDataPlane{newFakeDataPlane(), []netip.Addr{tn.addr(5), tn.addr(2)}} // our own address is skipped
	x := tn.start(xtrOptions(tn.addr(2), prefixes("10.1.1.0/24", "10.1.2.0/24"), nil), dp, tn.addr(2))
	x.SetLocalLocators([]LocalLocator{{Addr: tn.addr(2), Priority: 1, Weight: 50}})
	for i := range 2 {
		b, _ := remote.recv(2 * time.Second)
		var req msg.MapRequest
		if b == nil || req.Decode(b) != nil || !req.SMR {
			t.Fatalf("SMR %d for our two prefixes missing", i)
		}
	}
	eventually(t, "smrs-sent", func() bool { return x.Stats().SMRsSent == 2 })
}

// An SMR names the entry to refresh by its source EID (the sender's own
// EID, whatever its records say); the SMR-invoked Map-Request asks for the
// cached prefix.
func TestSMRBySourceEID(t *testing.T) {
	tn := newTestNet(t)
	mr := tn.peer(tn.addr(20), tn.port)
	dp := newFakeDataPlane()
	dp.add(CacheEntry{Prefix: netip.MustParsePrefix("10.2.2.0/24"), LastUsed: time.Now()})
	x := itrWithResolvers(tn, dp, nil, tn.addr(20))
	etr := tn.peer(tn.addr(3), 0)
	req := msg.MapRequest{SMR: true, Nonce: randomNonce(), ITRRLOCs: []msg.Address{msg.AddrOf(tn.addr(3))},
		SourceEID: msg.EIDOf(0, netip.MustParsePrefix("10.2.2.0/32")),
		EIDs:      []msg.EID{msg.EIDOf(0, netip.MustParsePrefix("10.1.1.1/32"))}} // the receiver's EID, as some send it
	etr.send(netip.AddrPortFrom(tn.addr(2), tn.port), req.Append(nil))
	_, got, ok := mr.recvRequest(5 * time.Second)
	if !ok {
		t.Fatal("no SMR-invoked Map-Request")
	}
	if !got.SMRInvoked || len(got.EIDs) != 1 || got.EIDs[0].Prefix != netip.MustParsePrefix("10.2.2.0/24") {
		t.Errorf("SMR-invoked request %+v, want one for 10.2.2.0/24", got)
	}
	if s := x.Stats(); s.SMRsReceived != 1 {
		t.Errorf("smrs-received %d", s.SMRsReceived)
	}
}

// ProbeNow makes the probed locators due at once; others are ignored.
func TestProbeNow(t *testing.T) {
	n := &Node{}
	p := newProber(n, &XTROptions{ProbeInterval: time.Second, ProbeRetries: 2, ProbeRate: 100})
	n.prb = p
	a := netip.MustParseAddr("192.0.2.7")
	next := time.Now().Add(time.Hour)
	p.targets[a] = &probeTarget{addr: a, up: true, next: next}
	n.ProbeNow([]netip.Addr{a, netip.MustParseAddr("192.0.2.8")})
	if !p.targets[a].next.IsZero() {
		t.Errorf("next probe %v, want now", p.targets[a].next)
	}
	select {
	case <-p.kick:
	default:
		t.Error("prober not kicked")
	}
	if len(p.targets) != 1 {
		t.Errorf("unknown locator became a target: %v", p.targets)
	}
}

// A mapping that sets the R bit again (the site's uplink came back and it
// re-registered) brings a locator marked down by an R bit back up at once,
// with a probe to confirm; one that probing found silent stays down.
func TestProberRBitSetAgain(t *testing.T) {
	n := &Node{}
	p := newProber(n, &XTROptions{ProbeInterval: time.Second, ProbeRetries: 2, ProbeRate: 100})
	a, b := netip.MustParseAddr("192.0.2.11"), netip.MustParseAddr("192.0.2.12")
	later := time.Now().Add(time.Hour)
	p.targets[a] = &probeTarget{addr: a, known: true, reason: ReasonRBitClear, next: later}
	p.targets[b] = &probeTarget{addr: b, known: true, reason: ReasonProbeTimeout, next: later}
	p.installed(Mapping{Prefix: netip.MustParsePrefix("10.1.0.0/16"), Locators: []Locator{
		{Addr: a, Priority: 1, Weight: 100, Reachable: true}, {Addr: b, Priority: 1, Weight: 100, Reachable: true},
	}})
	if ta := p.targets[a]; !ta.up || ta.known || !ta.next.IsZero() {
		t.Errorf("R bit set again: %+v, want up, not overriding the install, probed now", ta)
	}
	if tb := p.targets[b]; tb.up || tb.reason != ReasonProbeTimeout {
		t.Errorf("probe-timeout locator: %+v, want still down", tb)
	}
	select {
	case <-p.kick:
	default:
		t.Error("prober not kicked")
	}
}

// SMRs are rate-limited (RFC 9301 section 6.1): three changes in a row send
// one round at once and one more, with the newest locators, after
// smrInterval, not a round per change.
func TestSMRRoundsRateLimited(t *testing.T) {
	tn := newTestNet(t)
	remote := tn.peer(tn.addr(5), tn.port)
	dp := itrsDataPlane{newFakeDataPlane(), []netip.Addr{tn.addr(5)}}
	x := tn.start(xtrOptions(tn.addr(2), prefixes("10.1.1.0/24"), nil), dp, tn.addr(2))
	a2, a3 := tn.addr(2), tn.addr(3)
	for _, ls := range [][]LocalLocator{
		{{Addr: a2, Priority: 1, Weight: 100}, {Addr: a3, Priority: 2, Weight: 100, Down: true}},
		{{Addr: a2, Priority: 1, Weight: 100, Down: true}, {Addr: a3, Priority: 2, Weight: 100}},
		{{Addr: a2, Priority: 1, Weight: 100}, {Addr: a3, Priority: 2, Weight: 100}},
	} {
		x.SetLocalLocators(ls)
	}
	var reqs []msg.MapRequest
	var at []time.Time
	for {
		b, _ := remote.recv(smrInterval + time.Second)
		if b == nil {
			break
		}
		var req msg.MapRequest
		if err := req.Decode(b); err != nil || !req.SMR {
			t.Fatalf("not an SMR: %+v %v", req, err)
		}
		reqs, at = append(reqs, req), append(at, time.Now())
	}
	if len(reqs) != 2 {
		t.Fatalf("%d SMRs for three changes in a row, want 2 (one round now, one after %v)", len(reqs), smrInterval)
	}
	if gap := at[1].Sub(at[0]); gap < smrInterval/2 {
		t.Errorf("second round %v after the first, want about %v", gap, smrInterval)
	}
	if r := reqs[1].ITRRLOCs; len(r) != 2 || r[0].IP != a2 || r[1].IP != a3 {
		t.Errorf("last round's ITR-RLOCs %+v, want the newest set's up locators %v %v", r, a2, a3)
	}
	if s := x.Stats(); s.SMRsSent != 2 {
		t.Errorf("smrs-sent %d, want 2", s.SMRsSent)
	}
}

// viaTransport records what the node sends and the interface it asks for
// (-1: sent without IP_PKTINFO).
type viaTransport struct {
	recordingTransport
	ifindex []int
}

func (v *viaTransport) send(src netip.Addr, dst netip.AddrPort, b []byte) error {
	v.mu.Lock()
	v.ifindex = append(v.ifindex, -1)
	v.mu.Unlock()
	return v.recordingTransport.send(src, dst, b)
}

func (v *viaTransport) sendVia(src netip.Addr, ifindex int, dst netip.AddrPort, b []byte) error {
	v.mu.Lock()
	v.ifindex = append(v.ifindex, ifindex)
	v.mu.Unlock()
	return v.recordingTransport.send(src, dst, b)
}

// Control messages sourced from a local locator that is up leave with that
// source and, with several locators of the family, by its interface (two
// uplinks without policy routing: the ISP of each sees its own source);
// the only locator of a family, a down one, an address that is no locator
// and the unspecified source go as before (the route decides).
func TestControlSourceInterface(t *testing.T) {
	p1, p2, p3 := netip.MustParseAddr("192.0.2.11"), netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.21")
	v6 := netip.MustParseAddr("2001:db8::1")
	ms := netip.MustParseAddrPort("203.0.113.10:4342")
	ms6 := netip.MustParseAddrPort("[2001:db8:ff::10]:4342")
	n, err := New(Options{Logger: logx.Discard(), XTR: &XTROptions{
		EIDPrefixes: prefixes("10.1.0.0/24"),
		RLOCs: []LocalLocator{
			{Addr: p1, Priority: 1, Weight: 50, IfIndex: 7},
			{Addr: p2, Priority: 1, Weight: 50, IfIndex: 9},
			{Addr: p3, Priority: 1, Weight: 50, IfIndex: 11, Down: true},
			{Addr: v6, Priority: 1, Weight: 100, IfIndex: 5},
		},
	}}, newFakeDataPlane())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		src     netip.Addr
		dst     netip.AddrPort
		ifindex int // -1: no IP_PKTINFO
	}{
		{"uplink 1", p1, ms, 7},
		{"uplink 2", p2, ms, 9},
		{"IPv4-mapped uplink 2", netip.AddrFrom16(p2.As16()), ms, 9},
		{"down locator", p3, ms, -1},
		{"only IPv6 locator", v6, ms6, 0},
		{"not a locator", netip.MustParseAddr("192.0.2.99"), ms, -1},
		{"unspecified", netip.IPv4Unspecified(), ms, -1},
		{"none", netip.Addr{}, ms, -1},
		{"ITR-RLOC source", n.localRLOC(ms.Addr()), ms, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vt := &viaTransport{}
			n.tx = vt
			if err := n.send(tt.src, tt.dst, []byte{0x10}); err != nil {
				t.Fatal(err)
			}
			if len(vt.ifindex) != 1 || vt.ifindex[0] != tt.ifindex {
				t.Errorf("sent with interface %v, want [%d]", vt.ifindex, tt.ifindex)
			}
		})
	}
	// A transport without IP_PKTINFO still sends.
	rt := &recordingTransport{}
	n.tx = rt
	if err := n.send(p1, ms, []byte{0x10}); err != nil || len(rt.take()) != 1 {
		t.Fatalf("plain transport: err %v", err)
	}
}

// A new interface under the same addresses re-registers nothing but is
// used by the next control message.
func TestLocalInterfaceOnlyChange(t *testing.T) {
	p1, p2 := netip.MustParseAddr("192.0.2.11"), netip.MustParseAddr("192.0.2.1")
	n, err := New(Options{Logger: logx.Discard(), XTR: &XTROptions{
		EIDPrefixes: prefixes("10.1.0.0/24"),
		RLOCs:       []LocalLocator{{Addr: p1, Priority: 1, Weight: 50, IfIndex: 7}, {Addr: p2, Priority: 1, Weight: 50, IfIndex: 9}},
	}}, newFakeDataPlane())
	if err != nil {
		t.Fatal(err)
	}
	gen := n.local.gen.Load()
	n.SetLocalLocators([]LocalLocator{{Addr: p1, Priority: 1, Weight: 50, IfIndex: 17}, {Addr: p2, Priority: 1, Weight: 50, IfIndex: 9}})
	if n.local.gen.Load() != gen {
		t.Error("an interface change alone counted as a new Locator-Set")
	}
	vt := &viaTransport{}
	n.tx = vt
	if err := n.send(p1, netip.MustParseAddrPort("203.0.113.10:4342"), []byte{0x10}); err != nil {
		t.Fatal(err)
	}
	if len(vt.ifindex) != 1 || vt.ifindex[0] != 17 {
		t.Errorf("sent with interface %v, want [17]", vt.ifindex)
	}
}

// SetLocalLocators is safe to call from several goroutines at once: calls
// handing over the same new set count as one change (one generation, one
// re-registration, one round of SMRs), and the SMRs armed are those of the
// set that stays. (Run with -race.)
func TestSetLocalLocatorsConcurrent(t *testing.T) {
	n, err := New(Options{Logger: logx.Discard(), XTR: &XTROptions{
		EIDPrefixes: prefixes("10.1.0.0/24"),
		RLOCs:       []LocalLocator{{Addr: netip.MustParseAddr("192.0.2.1"), Priority: 1, Weight: 100}},
		MapServers:  []MapServerPeer{{Addr: netip.MustParseAddr("203.0.113.10"), Key: "k", KeyType: KeySHA256, WantMapNotify: true}},
	}}, newFakeDataPlane())
	if err != nil {
		t.Fatal(err)
	}
	sets := [][]LocalLocator{
		{{Addr: netip.MustParseAddr("192.0.2.1"), Priority: 1, Weight: 100}, {Addr: netip.MustParseAddr("192.0.2.11"), Priority: 2, Weight: 100}},
		{{Addr: netip.MustParseAddr("192.0.2.1"), Priority: 1, Weight: 100, Down: true}, {Addr: netip.MustParseAddr("192.0.2.11"), Priority: 2, Weight: 100}},
	}
	const rounds, callers = 1000, 8
	doubled := 0
	for r := range rounds {
		set := sets[r%2]
		before := n.local.gen.Load()
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				n.SetLocalLocators(set)
				_ = n.LocalLocators()
			}()
		}
		close(start)
		wg.Wait()
		if d := n.local.gen.Load() - before; d != 1 {
			doubled++
			if doubled <= 3 {
				t.Errorf("round %d: %d callers setting one new set made %d changes, want 1", r, callers, d)
			}
		}
		if g, s := n.local.gen.Load(), n.local.smrGen.Load(); s != g {
			t.Fatalf("round %d: SMRs armed for generation %d, the current is %d", r, s, g)
		}
		if !sameLocators(n.LocalLocators(), set) {
			t.Fatalf("round %d: locators %+v, want %+v", r, n.LocalLocators(), set)
		}
	}
	if doubled > 0 {
		t.Errorf("%d of %d rounds counted one change more than once", doubled, rounds)
	}
}
