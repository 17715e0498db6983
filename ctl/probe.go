package ctl

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/lispd/lispd/ctl/msg"
)

// RLOC probing (RFC 9301 section 7.1): the ITR sends Map-Requests with the
// P bit straight to each remote locator of the map-cache entries in use and
// matches the probe replies by nonce.
//
// Timing, with T = ProbeInterval and t = T/4 (the prober's tick, and the
// probe timeout until a locator's round trip is known):
//
//   - an up locator is probed every T; a probe unanswered after its
//     timeout is a miss and the locator is re-probed at once; ProbeRetries
//     misses in a row mark it down (a late reply to any of those probes
//     still counts);
//   - a locator's probe timeout is twice its last round trip, at least t
//     and at most T: a path slower than t (a satellite or a congested LTE
//     uplink, 600 ms) would otherwise miss every probe and flap down and up
//     once per T;
//   - a down locator is probed every T; its first reply (with the R bit
//     set for it) marks it up again;
//   - every reply refreshes the locator's RTT;
//   - a locator installed with its R bit clear is probed at once.
//
// Probes go once per locator address, whatever the number of entries in
// use that hold it, and the result is applied to all of them; ProbeRate caps
// them over all locators. Entries not
// used within ProbeIdle are not probed (the set of locators is refreshed
// every T from the data plane), so an idle cache costs nothing.

// probeNonces is how many recent probe nonces a locator keeps: a late reply
// to any of them still shows the locator alive.
const probeNonces = 4

// probeTarget is one remote locator being probed.
type probeTarget struct {
	addr    netip.Addr
	entries []regKey // the entries in use that hold it, from the last refresh
	up      bool
	known   bool // up/reason come from probing (or an R bit), not the data plane
	reason  string
	rtt     time.Duration
	misses  int       // unanswered probes in a row
	waiting bool      // the last probe is within its timeout
	sentAt  time.Time // when the last probe left
	next    time.Time // when the next probe is due
	nonces  [probeNonces]uint64
	nextIdx int
}

// probeSent is one probe awaiting its reply.
type probeSent struct {
	t  *probeTarget
	at time.Time
}

// prober RLOC-probes the locators of the map-cache entries in use.
type prober struct {
	n        *Node
	interval time.Duration
	timeout  time.Duration
	retries  int
	idle     time.Duration
	bucket   *tokenBucket // ProbeRate over all locators
	kick     chan struct{}

	mu          sync.Mutex // also serializes the calls into the data plane
	closed      bool
	targets     map[netip.Addr]*probeTarget
	byNonce     map[uint64]probeSent
	nextRefresh time.Time
}

func newProber(n *Node, x *XTROptions) *prober {
	return &prober{
		n:        n,
		interval: x.ProbeInterval,
		timeout:  max(x.ProbeInterval/4, time.Millisecond),
		bucket:   newTokenBucket(x.ProbeRate, max(x.ProbeRate/4, 1)),
		retries:  x.ProbeRetries,
		idle:     x.ProbeIdle,
		kick:     make(chan struct{}, 1),
		targets:  map[netip.Addr]*probeTarget{},
		byNonce:  map[uint64]probeSent{},
	}
}

// run probes until ctx ends.
func (p *prober) run(ctx context.Context) {
	tick := time.NewTicker(p.timeout)
	defer tick.Stop()
	p.step(time.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			p.step(now)
		case <-p.kick:
			p.mu.Lock()
			p.nextRefresh = time.Time{}
			p.mu.Unlock()
			p.step(time.Now())
		}
	}
}

// step refreshes the locators in use when due, counts the misses of probes
// past their timeout, and sends the probes that are due.
func (p *prober) step(now time.Time) {
	// Ticks are t apart and jitter a little: anything due within half a
	// tick is due now, so that the schedule does not slip a whole tick.
	soon := now.Add(p.timeout / 2)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	if !soon.Before(p.nextRefresh) {
		p.refreshLocked(now)
		p.nextRefresh = now.Add(p.interval)
	}
	var due []*probeTarget
	for _, t := range p.targets {
		if t.waiting && !soon.Before(t.sentAt.Add(p.timeoutOf(t))) {
			t.waiting = false
			t.misses++
			if t.up {
				if t.misses >= p.retries {
					t.up, t.known, t.reason = false, true, ReasonProbeTimeout
					p.applyLocked(t)
					p.n.log.Info("remote locator down", "rloc", t.addr, "reason", ReasonProbeTimeout, "misses", t.misses)
				} else {
					t.next = now // re-probe at once
				}
			}
		}
		if !t.waiting && !soon.Before(t.next) {
			due = append(due, t)
		}
	}
	// Over the rate cap, the rest stay due for the next tick (a delayed
	// probe is not a miss).
	for _, t := range due {
		if !p.bucket.allow(now) {
			break
		}
		p.sendLocked(t, now)
	}
	p.mu.Unlock()
}

// timeoutOf is how long a probe of t may take: twice its last round trip,
// between the tick and the interval.
func (p *prober) timeoutOf(t *probeTarget) time.Duration {
	return min(max(p.timeout, 2*t.rtt), max(p.interval, p.timeout))
}

// refreshLocked rebuilds the set of probed locators from the entries in
// use. p.mu is held.
func (p *prober) refreshLocked(now time.Time) {
	for _, t := range p.targets {
		t.entries = t.entries[:0]
	}
	seen := map[netip.Addr]bool{}
	for _, e := range p.n.dp.InUse(now.Add(-p.idle)) {
		key := regKey{e.InstanceID, e.Prefix}
		for _, l := range e.Locators {
			a := l.Addr.Unmap()
			if l.Priority == 255 || !p.n.usable(a) {
				continue
			}
			t := p.targets[a]
			if t == nil {
				t = &probeTarget{addr: a, up: l.Reachable, next: now}
				p.targets[a] = t
			}
			if !seen[a] || len(t.entries) == 0 || t.entries[len(t.entries)-1] != key {
				t.entries = append(t.entries, key)
			}
			seen[a] = true
			if t.known && l.Reachable != t.up {
				// A newer install (or another entry) disagrees with what
				// probing found: probing wins until the next result.
				p.n.dp.SetLocatorState(key.iid, key.prefix, a, LocatorState{Up: t.up, Reason: t.reason, RTT: t.rtt})
			}
		}
	}
	for a, t := range p.targets {
		if !seen[a] {
			p.forgetLocked(t)
		}
	}
}

// forgetLocked stops probing t. p.mu is held.
func (p *prober) forgetLocked(t *probeTarget) {
	for _, nonce := range t.nonces {
		if s, ok := p.byNonce[nonce]; ok && s.t == t {
			delete(p.byNonce, nonce)
		}
	}
	delete(p.targets, t.addr)
}

// applyLocked hands t's state to every entry in use that holds it. p.mu is
// held.
func (p *prober) applyLocked(t *probeTarget) {
	for _, k := range t.entries {
		p.n.dp.SetLocatorState(k.iid, k.prefix, t.addr, LocatorState{Up: t.up, Reason: t.reason, RTT: t.rtt})
	}
}

// sendLocked sends one probe to t, for the EID prefix of the first entry
// holding it. p.mu is held.
func (p *prober) sendLocked(t *probeTarget, now time.Time) {
	if len(t.entries) == 0 {
		return
	}
	nonce := randomNonce()
	for nonce == 0 || p.byNonce[nonce].t != nil {
		nonce = randomNonce()
	}
	if old := t.nonces[t.nextIdx]; old != 0 {
		delete(p.byNonce, old)
	}
	t.nonces[t.nextIdx] = nonce
	t.nextIdx = (t.nextIdx + 1) % probeNonces
	p.byNonce[nonce] = probeSent{t: t, at: now}
	t.waiting, t.sentAt = true, now
	t.next = now.Add(p.interval)
	e := t.entries[0]
	p.n.ctr.probesSent.Add(1)
	if err := p.n.sendProbe(t.addr, e.iid, e.prefix, nonce); err != nil {
		p.n.ctr.drop(DropSendError)
		p.n.logs.warn("send-probe", t.addr, "cannot send RLOC probe", "err", err)
	}
}

// reply handles a Map-Reply with the P bit: it reports whether the nonce
// matched a probe of ours, and if so marks the locator up (or down when the
// reply clears its R bit) and records the round trip.
func (p *prober) reply(rep *msg.MapReply, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.byNonce[rep.Nonce]
	if !ok {
		return false
	}
	delete(p.byNonce, rep.Nonce)
	t := s.t
	if p.closed || p.targets[t.addr] != t {
		return true // matched a probe of a locator no longer probed
	}
	p.n.ctr.probeReplies.Add(1)
	up := true
	for i := range rep.Records {
		for _, l := range rep.Records[i].Locators {
			if l.Addr.IP.Unmap() == t.addr && !l.Reachable {
				up = false
			}
		}
	}
	was := t.up
	t.rtt = max(now.Sub(s.at), time.Microsecond)
	t.misses, t.waiting, t.known = 0, false, true
	t.up = up
	t.reason = ReasonProbeReply
	if !up {
		t.reason = ReasonRBitClear
	}
	p.applyLocked(t)
	if was != up {
		p.n.log.Info("remote locator "+map[bool]string{true: "up", false: "down"}[up], "rloc", t.addr, "reason", t.reason, "rtt", t.rtt.Round(10*time.Microsecond))
	}
	return true
}

// adjust marks down, in a mapping about to be installed, the locators that
// probing currently finds down, so that a renewal does not bring them back
// before the next probe says so.
func (p *prober) adjust(m *Mapping) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range m.Locators {
		l := &m.Locators[i]
		if t := p.targets[l.Addr.Unmap()]; t != nil && !t.up && t.reason == ReasonProbeTimeout && l.Reachable {
			l.Reachable, l.Reason = false, t.reason
		}
	}
}

// installed reacts to an installed mapping: a locator whose R bit is clear
// is a reason to probe it at once (not proof: it may come back).
func (p *prober) installed(m Mapping) {
	urgent := false
	p.mu.Lock()
	for _, l := range m.Locators {
		if l.Reachable {
			// A newer mapping sets the R bit that an older one (or a
			// probe reply) had cleared: believe it, and probe at once to
			// confirm. A locator probing found silent stays down (adjust).
			if t := p.targets[l.Addr.Unmap()]; t != nil && !t.up && t.reason == ReasonRBitClear {
				t.up, t.known, t.reason = true, false, ""
				t.next = time.Time{}
				urgent = true
			}
			continue
		}
		if l.Reason != "" {
			continue
		}
		urgent = true
		if t := p.targets[l.Addr.Unmap()]; t != nil {
			t.up, t.known, t.reason = false, true, ReasonRBitClear
			t.next = time.Time{}
		}
	}
	p.mu.Unlock()
	if urgent && !m.Negative {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
}

// close stops probing; a reply arriving later is ignored.
func (p *prober) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	clear(p.targets)
	clear(p.byNonce)
}

// ProbeStatus is the state of one probed remote locator, for `show`.
type ProbeStatus struct {
	RLOC    netip.Addr
	Up      bool
	Reason  string
	RTT     time.Duration // last probe round trip; 0 = no reply yet
	Misses  int           // unanswered probes in a row
	Entries int           // entries in use that hold it
}

func (p *prober) status() []ProbeStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]ProbeStatus, 0, len(p.targets))
	for _, t := range p.targets {
		out = append(out, ProbeStatus{RLOC: t.addr, Up: t.up, Reason: t.reason, RTT: t.rtt, Misses: t.misses, Entries: len(t.entries)})
	}
	return out
}

// sendProbe sends an RLOC-probe Map-Request (P bit) for prefix in iid
// straight to rloc's control port, from our RLOC of its family, with our
// ITR-RLOCs for the reply.
func (n *Node) sendProbe(rloc netip.Addr, iid uint32, prefix netip.Prefix, nonce uint64) error {
	rlocs := n.itrRLOCs()
	if len(rlocs) == 0 {
		return errNoITRRLOC
	}
	req := msg.MapRequest{
		Probe:    true,
		Nonce:    nonce,
		ITRRLOCs: rlocs,
		EIDs:     []msg.EID{msg.EIDOf(iid, prefix)},
	}
	return n.send(n.localRLOC(rloc), netip.AddrPortFrom(rloc, n.opts.Port), req.Append(nil))
}
