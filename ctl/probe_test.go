package ctl

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/msg"
)

// probedETR is a raw socket standing in for a remote ETR's control port: it
// counts the RLOC probes it receives and, while answer is set, replies to
// them (with the nonce xored by corrupt when that is set).
type probedETR struct {
	p       *peer
	answer  atomic.Bool
	delay   atomic.Int64 // nanoseconds before each reply leaves
	rbit    atomic.Bool  // the R bit of its locator in replies
	corrupt atomic.Uint64
	probes  atomic.Int64

	mu   sync.Mutex
	last msg.MapRequest
	from netip.AddrPort
}

func (tn *testNet) probedETR(a netip.Addr) *probedETR {
	e := &probedETR{p: tn.peer(a, tn.port)}
	e.rbit.Store(true)
	go e.serve(a)
	return e
}

func (e *probedETR) serve(self netip.Addr) {
	buf := make([]byte, 65535)
	for {
		n, from, err := e.p.c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			return
		}
		var req msg.MapRequest
		if req.Decode(buf[:n]) != nil || !req.Probe {
			continue
		}
		e.probes.Add(1)
		e.mu.Lock()
		e.last, e.from = req, from
		e.mu.Unlock()
		if !e.answer.Load() {
			continue
		}
		rep := msg.MapReply{Probe: true, Nonce: req.Nonce ^ e.corrupt.Load(), Records: []msg.Record{{
			TTL: 1, Authoritative: true, EID: req.EIDs[0],
			Locators: []msg.Locator{{Priority: 1, Weight: 100, Reachable: e.rbit.Load(), Addr: msg.AddrOf(self)}},
		}}}
		b, to := rep.Append(nil), netip.AddrPortFrom(req.ITRRLOCs[0].IP, from.Port())
		if d := time.Duration(e.delay.Load()); d > 0 {
			time.AfterFunc(d, func() { e.p.c.WriteToUDPAddrPort(b, to) })
			continue
		}
		e.p.c.WriteToUDPAddrPort(b, to)
	}
}

// probeNode starts an ITR at tn.addr(1) probing every interval with retries.
func probeNode(tn *testNet, dp *fakeDataPlane, interval, idle time.Duration) *Node {
	return tn.start(Options{XTR: &XTROptions{
		RLOCs:         []LocalLocator{{Addr: tn.addr(1), Priority: 1, Weight: 100}},
		ProbeInterval: interval, ProbeRetries: 2, ProbeIdle: idle,
	}}, dp, tn.addr(1))
}

var probedPrefix = netip.MustParsePrefix("198.51.100.128/25")

// lastState returns the last state set for rloc.
func lastState(dp *fakeDataPlane, rloc netip.Addr) (LocatorState, bool) {
	s := dp.locatorStates()
	for i := len(s) - 1; i >= 0; i-- {
		if s[i].rloc == rloc {
			return s[i].st, true
		}
	}
	return LocatorState{}, false
}

func TestProbeDownAfterRetriesThenUp(t *testing.T) {
	tn := newTestNet(t)
	silent, live := tn.probedETR(tn.addr(2)), tn.probedETR(tn.addr(3))
	live.answer.Store(true)
	dp := newFakeDataPlane()
	dp.add(CacheEntry{Prefix: probedPrefix, LastUsed: time.Now(), Locators: []Locator{
		{Addr: tn.addr(2), Priority: 1, Weight: 100, Reachable: true},
		{Addr: tn.addr(3), Priority: 2, Weight: 100, Reachable: true},
	}})
	dp.setHot(probedPrefix, true)
	interval := 200 * time.Millisecond
	n := probeNode(tn, dp, interval, time.Minute)

	eventually(t, "silent locator marked down", func() bool {
		st, ok := lastState(dp, tn.addr(2))
		return ok && !st.Up && st.Reason == ReasonProbeTimeout
	})
	if p := silent.probes.Load(); p < 2 {
		t.Errorf("marked down after %d probes, want probe_retries = 2", p)
	}
	st, ok := lastState(dp, tn.addr(3))
	if !ok || !st.Up || st.Reason != ReasonProbeReply || st.RTT <= 0 || st.RTT > time.Second {
		t.Errorf("answering locator: %+v (set %v), want up by probe reply with an RTT", st, ok)
	}
	// The probe itself: P bit, the entry's EID prefix, from our RLOC and
	// control port, to the RLOC's control port.
	live.mu.Lock()
	req, from := live.last, live.from
	live.mu.Unlock()
	if !req.Probe || len(req.EIDs) != 1 || req.EIDs[0].Prefix != probedPrefix || from != netip.AddrPortFrom(tn.addr(1), tn.port) {
		t.Errorf("probe = %+v from %v", req, from)
	}

	silent.answer.Store(true)
	eventually(t, "silent locator up again once it answers", func() bool {
		st, ok := lastState(dp, tn.addr(2))
		return ok && st.Up && st.Reason == ReasonProbeReply && st.RTT > 0
	})
	if s := n.Stats(); s.ProbesSent == 0 || s.ProbeReplies == 0 {
		t.Errorf("stats: %d probes sent, %d replies", s.ProbesSent, s.ProbeReplies)
	}
	var up bool
	for _, ps := range n.ProbeStatus() {
		if ps.RLOC == tn.addr(2) {
			up = ps.Up
		}
	}
	if !up {
		t.Errorf("ProbeStatus: %+v", n.ProbeStatus())
	}

	// A reply that clears the R bit of the locator marks it down.
	silent.rbit.Store(false)
	eventually(t, "locator down on a probe reply with its R bit clear", func() bool {
		st, ok := lastState(dp, tn.addr(2))
		return ok && !st.Up && st.Reason == ReasonRBitClear
	})
}

// TestProbeSlowPathStaysUp: a locator whose replies take longer than a
// quarter interval (a slow path) is not marked down every interval: its
// probe timeout follows its round trip.
func TestProbeSlowPathStaysUp(t *testing.T) {
	tn := newTestNet(t)
	slow := tn.probedETR(tn.addr(2))
	slow.delay.Store(int64(250 * time.Millisecond))
	slow.answer.Store(true)
	dp := newFakeDataPlane()
	dp.add(CacheEntry{Prefix: probedPrefix, LastUsed: time.Now(), Locators: []Locator{
		{Addr: tn.addr(2), Priority: 1, Weight: 100, Reachable: true},
	}})
	dp.setHot(probedPrefix, true)
	interval := 400 * time.Millisecond // a probe timeout of 100 ms before the RTT is known
	probeNode(tn, dp, interval, time.Minute)
	eventually(t, "a round trip measured", func() bool {
		st, ok := lastState(dp, tn.addr(2))
		return ok && st.Up && st.RTT >= 250*time.Millisecond
	})
	// The first probes, before any round trip was known, may have missed:
	// from now on none may.
	before := len(dp.locatorStates())
	time.Sleep(5 * interval)
	for _, s := range dp.locatorStates()[before:] {
		if s.rloc == tn.addr(2) && !s.st.Up {
			t.Fatalf("slow locator marked down (%s) although every probe is answered in 250 ms", s.st.Reason)
		}
	}
	if n := slow.probes.Load(); n < 4 {
		t.Errorf("%d probes in %v, want one per interval", n, 5*interval)
	}
}

func TestProbeNonceMismatchIgnored(t *testing.T) {
	tn := newTestNet(t)
	e := tn.probedETR(tn.addr(2))
	e.corrupt.Store(0x5a5a)
	e.answer.Store(true)
	dp := newFakeDataPlane()
	dp.add(CacheEntry{Prefix: probedPrefix, LastUsed: time.Now(), Locators: []Locator{
		{Addr: tn.addr(2), Priority: 1, Weight: 100, Reachable: true},
	}})
	dp.setHot(probedPrefix, true)
	n := probeNode(tn, dp, 200*time.Millisecond, time.Minute)
	eventually(t, "locator down despite replies with wrong nonces", func() bool {
		st, ok := lastState(dp, tn.addr(2))
		return ok && !st.Up
	})
	for _, u := range dp.locatorStates() {
		if u.st.Up {
			t.Errorf("a reply with a wrong nonce marked the locator up: %+v", u)
		}
	}
	if s := n.Stats(); s.Drops["bad-nonce"] == 0 || s.ProbeReplies != 0 {
		t.Errorf("bad-nonce drops %d, probe replies %d", s.Drops["bad-nonce"], s.ProbeReplies)
	}
}

func TestProbeOnlyEntriesInUse(t *testing.T) {
	tn := newTestNet(t)
	e := tn.probedETR(tn.addr(2))
	e.answer.Store(true)
	dp := newFakeDataPlane()
	// Used long ago: never probed.
	dp.add(CacheEntry{Prefix: probedPrefix, LastUsed: time.Now().Add(-time.Hour), Locators: []Locator{
		{Addr: tn.addr(2), Priority: 1, Weight: 100, Reachable: true},
	}})
	interval := 100 * time.Millisecond
	idle := 600 * time.Millisecond
	probeNode(tn, dp, interval, idle)
	time.Sleep(5 * interval)
	if p := e.probes.Load(); p != 0 {
		t.Fatalf("%d probes for an idle entry", p)
	}
	// In use: probed.
	dp.setHot(probedPrefix, true)
	eventually(t, "probes once the entry is in use", func() bool { return e.probes.Load() >= 2 })
	// Idle again: probing stops within idle + an interval.
	dp.setHot(probedPrefix, false)
	dp.add(CacheEntry{Prefix: probedPrefix, LastUsed: time.Now(), Locators: []Locator{
		{Addr: tn.addr(2), Priority: 1, Weight: 100, Reachable: true},
	}})
	time.Sleep(idle + 3*interval)
	before := e.probes.Load()
	time.Sleep(5 * interval)
	if after := e.probes.Load(); after != before {
		t.Errorf("%d probes after the entry went idle", after-before)
	}
}

func TestProbeTrafficBounded(t *testing.T) {
	tn := newTestNet(t)
	live, dead := tn.probedETR(tn.addr(2)), tn.probedETR(tn.addr(3))
	live.answer.Store(true)
	dp := newFakeDataPlane()
	// Many entries sharing the same two locators cost one probe stream per
	// locator.
	for i := range 20 {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i * 8)}), 29)
		dp.add(CacheEntry{Prefix: p, LastUsed: time.Now(), Locators: []Locator{
			{Addr: tn.addr(2), Priority: 1, Weight: 50, Reachable: true},
			{Addr: tn.addr(3), Priority: 1, Weight: 50, Reachable: true},
		}})
		dp.setHot(p, true)
	}
	interval := 100 * time.Millisecond
	probeNode(tn, dp, interval, time.Minute)
	start := time.Now()
	time.Sleep(20 * interval)
	periods := int64(time.Since(start)/interval) + 1
	l, d := live.probes.Load(), dead.probes.Load()
	t.Logf("%d periods: %d probes to the live locator, %d to the dead one", periods, l, d)
	// At most one probe per period (a loaded machine may send fewer).
	if l < 3 || l > periods+1 {
		t.Errorf("live locator: %d probes in %d periods, want about one per period", l, periods)
	}
	// The dead one: probe_retries probes to notice, then one per period.
	if d < 3 || d > periods+2+1 {
		t.Errorf("dead locator: %d probes in %d periods, want one per period plus the retries", d, periods)
	}
}

func TestProbeRateCapped(t *testing.T) {
	tn := newTestNet(t)
	dp := newFakeDataPlane()
	// 40 silent locators in use, each in its own entry.
	for i := range 40 {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i * 4)}), 30)
		dp.add(CacheEntry{Prefix: p, LastUsed: time.Now(), Locators: []Locator{
			{Addr: tn.addr(byte(10 + i)), Priority: 1, Weight: 100, Reachable: true},
		}})
		dp.setHot(p, true)
	}
	const rate = 20
	n := tn.start(Options{XTR: &XTROptions{
		RLOCs:         []LocalLocator{{Addr: tn.addr(1), Priority: 1, Weight: 100}},
		ProbeInterval: 100 * time.Millisecond, ProbeRetries: 2, ProbeRate: rate,
	}}, dp, tn.addr(1))
	start := time.Now()
	time.Sleep(time.Second)
	sent := n.Stats().ProbesSent
	elapsed := time.Since(start).Seconds()
	// Uncapped this would be 40 locators × (10/s + retries).
	if limit := uint64(rate*elapsed) + rate/4 + 1; sent > limit || sent == 0 {
		t.Errorf("%d probes in %.2fs with probe rate %d/s, want 1..%d", sent, elapsed, rate, limit)
	}
}

func TestProbeRBitClearProbesAtOnce(t *testing.T) {
	tn := newTestNet(t)
	e := tn.probedETR(tn.addr(2))
	e.answer.Store(true)
	dp := newFakeDataPlane()
	n := probeNode(tn, dp, 4*time.Second, time.Minute)
	time.Sleep(100 * time.Millisecond) // the first refresh found nothing
	// A mapping arrives with the R bit of its locator clear: not proof, a
	// reason to probe now rather than at the next refresh (4 s away).
	m := Mapping{Prefix: probedPrefix, Locators: []Locator{{Addr: tn.addr(2), Priority: 1, Weight: 100, Reachable: false}}}
	dp.add(CacheEntry{Prefix: probedPrefix, LastUsed: time.Now(), Locators: m.Locators})
	dp.setHot(probedPrefix, true)
	asked := time.Now()
	n.prb.installed(m)
	eventually(t, "locator up from the probe reply", func() bool {
		st, ok := lastState(dp, tn.addr(2))
		return ok && st.Up && st.Reason == ReasonProbeReply
	})
	if d := time.Since(asked); d > 2*time.Second {
		t.Errorf("probed %v after the R bit was seen clear, want at once", d)
	}
}
