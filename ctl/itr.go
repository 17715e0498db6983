package ctl

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/lispd/lispd/ctl/msg"
	"github.com/lispd/lispd/internal/consterr"
	"github.com/lispd/lispd/internal/entropy"
	"github.com/lispd/lispd/internal/logx"
)

// errNoITRRLOC: no configured RLOC is of a family the sockets can send in.
const errNoITRRLOC = consterr.Error("no ITR-RLOC of an address family the control sockets can use")

// reqKind says why the ITR sent a Map-Request.
type reqKind uint8

const (
	reqMiss  reqKind = iota // a data-plane miss: packets are queued
	reqRenew                // an entry in use is about to expire
	reqSMR                  // a Solicit-Map-Request asked us to re-resolve
)

// eidKey identifies what a Map-Request asks for.
type eidKey struct {
	iid uint32
	eid netip.Addr
}

// miss is a data-plane miss: a packet from src to key.eid.
type miss struct {
	key eidKey
	src netip.Addr // zero when the data plane did not say
}

// request is an outstanding Map-Request with its retransmissions.
type request struct {
	key    eidKey
	prefix netip.Prefix // the EID-prefix asked for (host prefix on a miss)
	// src is the Source-EID: the source of the packet that missed (RFC
	// 9301 section 5.3); zero (AFI 0) for renewals and SMR-invoked
	// requests.
	src     netip.Addr
	kind    reqKind
	attempt int            // retransmissions so far
	nonces  map[uint64]int // nonce -> resolver index of each attempt
	first   int            // resolver index of attempt 0
	timer   *time.Timer
	started time.Time
}

// itr is the ITR role: it resolves data-plane misses through the
// Map-Resolvers and installs the nonce-matched answers.
type itr struct {
	n      *Node
	x      *XTROptions
	misses chan miss
	bucket *tokenBucket

	mu        sync.Mutex
	closed    bool
	pending   map[eidKey]*request
	byNonce   map[uint64]*request
	lastSent  map[eidKey]time.Time // per-EID rate limit
	preferred int                  // resolver that answered last
	renewals  map[regKey]*time.Timer
}

func newITR(n *Node, x *XTROptions) *itr {
	return &itr{
		n:        n,
		x:        x,
		misses:   make(chan miss, x.MissQueue),
		bucket:   newTokenBucket(x.MapRequestRate, x.MapRequestRate),
		pending:  map[eidKey]*request{},
		byNonce:  map[uint64]*request{},
		lastSent: map[eidKey]time.Time{},
		renewals: map[regKey]*time.Timer{},
	}
}

// miss queues a data-plane miss without blocking; a full queue drops it.
func (t *itr) miss(iid uint32, src, dst netip.Addr) {
	select {
	case t.misses <- miss{eidKey{iid, dst.Unmap()}, src.Unmap()}:
	default:
		t.n.ctr.drop(DropMissQueueFull)
	}
}

// run consumes misses until ctx ends.
func (t *itr) run(ctx context.Context) {
	prune := time.NewTicker(time.Minute)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-t.misses:
			t.resolve(m.key, m.src, hostPrefix(m.key.eid), reqMiss)
		case now := <-prune.C:
			t.pruneLastSent(now)
		}
	}
}

// inEIDSpace reports whether eid is one the ITR resolves.
func (t *itr) inEIDSpace(eid netip.Addr) bool {
	if len(t.x.EIDSpace) == 0 {
		return true
	}
	for _, p := range t.x.EIDSpace {
		if p.Contains(eid) {
			return true
		}
	}
	return false
}

// resolve starts a Map-Request for key unless one is outstanding; src is
// its Source-EID (zero: none).
func (t *itr) resolve(k eidKey, src netip.Addr, prefix netip.Prefix, kind reqKind) {
	if kind == reqMiss && !t.inEIDSpace(k.eid) {
		t.n.ctr.drop(DropNotEIDSpace)
		t.n.dp.ResolveFailed(k.iid, k.eid)
		return
	}
	if len(t.x.MapResolvers) == 0 {
		t.n.ctr.drop(DropNoResolver)
		if kind == reqMiss {
			t.n.dp.ResolveFailed(k.iid, k.eid)
		}
		return
	}
	t.mu.Lock()
	if t.closed || t.pending[k] != nil {
		t.mu.Unlock()
		return
	}
	if len(t.pending) >= t.x.MaxPending {
		t.mu.Unlock()
		t.n.ctr.drop(DropPendingFull)
		if kind == reqMiss {
			t.n.dp.ResolveFailed(k.iid, k.eid)
		}
		return
	}
	r := &request{key: k, prefix: prefix, src: src, kind: kind, nonces: map[uint64]int{}, first: t.preferred, started: time.Now()}
	t.pending[k] = r
	t.mu.Unlock()
	t.attempt(r)
}

// attempt sends the request's current attempt, subject to the per-EID and
// global rate limits, and arms its retransmission timer.
func (t *itr) attempt(r *request) {
	now := time.Now()
	t.mu.Lock()
	if t.closed || t.pending[r.key] != r {
		t.mu.Unlock()
		return
	}
	// RFC 9301 section 5.3: at most one Map-Request per destination per
	// second. Wait for the slot rather than spend an attempt.
	if last, ok := t.lastSent[r.key]; ok && now.Sub(last) < t.x.PerEIDInterval {
		wait := t.x.PerEIDInterval - now.Sub(last)
		r.timer = time.AfterFunc(wait, func() { t.attempt(r) })
		t.mu.Unlock()
		return
	}
	timeout := t.x.MapRequestTimeout << min(r.attempt, 16)
	if !t.bucket.allow(now) {
		// Over the global rate: this attempt is spent unsent, so a
		// sustained overload ends in ResolveFailed instead of a backlog.
		t.n.ctr.drop(DropRateLimited)
		r.timer = time.AfterFunc(timeout, func() { t.timeout(r) })
		t.mu.Unlock()
		return
	}
	idx := (r.first + r.attempt) % len(t.x.MapResolvers)
	nonce := randomNonce()
	for t.byNonce[nonce] != nil || nonce == 0 {
		nonce = randomNonce()
	}
	r.nonces[nonce] = idx
	t.byNonce[nonce] = r
	t.lastSent[r.key] = now
	r.timer = time.AfterFunc(timeout, func() { t.timeout(r) })
	t.mu.Unlock()

	mr := t.x.MapResolvers[idx]
	t.n.ctr.mapRequestsSent.Add(1)
	if err := t.n.sendMapRequest(mr, r.key.iid, r.src, r.prefix, nonce, r.kind == reqSMR); err != nil {
		t.n.ctr.mapRequestsSent.Add(^uint64(0))
		if errors.Is(err, errNoITRRLOC) {
			t.n.ctr.drop(DropNoUsableRLOC)
		} else {
			t.n.ctr.drop(DropSendError)
		}
		t.n.logs.warn("send-map-request", mr, "cannot send Map-Request", "eid", r.prefix, "err", err)
	}
}

// timeout runs when an attempt went unanswered: retry (the next resolver,
// doubled timeout) or give up.
func (t *itr) timeout(r *request) {
	t.mu.Lock()
	if t.closed || t.pending[r.key] != r {
		t.mu.Unlock()
		return
	}
	r.attempt++
	if r.attempt <= t.x.MapRequestRetries {
		t.mu.Unlock()
		t.attempt(r)
		return
	}
	t.finishLocked(r)
	t.mu.Unlock()
	t.n.ctr.drop(DropResolveFailed)
	t.n.logs.logAt(logx.LevelInfo, "resolve-failed", netip.Addr{}, "no Map-Reply from any Map-Resolver", "iid", r.key.iid, "eid", r.prefix, "attempts", r.attempt)
	if r.kind == reqMiss {
		t.n.dp.ResolveFailed(r.key.iid, r.key.eid)
	}
}

// finishLocked forgets r and its nonces. t.mu is held.
func (t *itr) finishLocked(r *request) {
	if r.timer != nil {
		r.timer.Stop()
	}
	for nonce := range r.nonces {
		delete(t.byNonce, nonce)
	}
	if t.pending[r.key] == r {
		delete(t.pending, r.key)
	}
}

// claim returns the outstanding request a Map-Reply nonce answers and
// finishes it, or nil when the nonce matches nothing (a late, duplicate or
// forged reply).
func (t *itr) claim(nonce uint64) *request {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.byNonce[nonce]
	if r == nil {
		return nil
	}
	t.preferred = r.nonces[nonce]
	t.finishLocked(r)
	return r
}

// installed completes the outstanding miss requests that an installed
// prefix answers (their queued packets left with the install) and arms the
// entry's renewal.
func (t *itr) installed(m Mapping) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	for k, r := range t.pending {
		if k.iid == m.InstanceID && r.kind == reqMiss && m.Prefix.Contains(k.eid) {
			t.finishLocked(r)
		}
	}
	key := regKey{m.InstanceID, m.Prefix}
	if old := t.renewals[key]; old != nil {
		old.Stop()
		delete(t.renewals, key)
	}
	if m.TTL <= 0 {
		return
	}
	ttl := m.TTL
	t.renewals[key] = time.AfterFunc(ttl-ttl/10, func() { t.renew(key, ttl) })
}

// removed forgets the renewal of an entry a TTL-0 record removed.
func (t *itr) removed(m Mapping) {
	t.mu.Lock()
	defer t.mu.Unlock()
	key := regKey{m.InstanceID, m.Prefix}
	if old := t.renewals[key]; old != nil {
		old.Stop()
		delete(t.renewals, key)
	}
}

// renew re-resolves an entry at 90% of its TTL if a packet used it recently
// (within RenewIdle, or half the TTL when that is shorter); an idle entry is
// left to expire, and a later packet misses and resolves again.
func (t *itr) renew(key regKey, ttl time.Duration) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	delete(t.renewals, key)
	t.mu.Unlock()
	e, ok := t.n.dp.Lookup(key.iid, key.prefix.Addr())
	if !ok || e.Static || e.Prefix != key.prefix {
		return
	}
	idle := min(t.x.RenewIdle, ttl/2)
	if e.LastUsed.IsZero() || time.Since(e.LastUsed) > idle {
		return
	}
	t.resolve(eidKey{key.iid, key.prefix.Addr()}, netip.Addr{}, key.prefix, reqRenew)
}

// smr handles a Solicit-Map-Request for eid: if the map-cache holds an entry
// for it, re-resolve that entry through the Map-Resolver (an SMR-invoked
// Map-Request); the old entry stays in use until the answer comes. Nothing is
// ever installed from the SMR itself.
func (t *itr) smr(iid uint32, eid netip.Addr) {
	e, ok := t.n.dp.Lookup(iid, eid)
	if !ok || e.Static {
		t.n.ctr.drop(DropSMRNotCached)
		return
	}
	t.resolve(eidKey{iid, e.Prefix.Addr()}, netip.Addr{}, e.Prefix, reqSMR)
}

func (t *itr) pruneLastSent(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, at := range t.lastSent {
		if now.Sub(at) > t.x.PerEIDInterval {
			delete(t.lastSent, k)
		}
	}
}

// close stops every timer; callbacks already running see closed.
func (t *itr) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for _, r := range t.pending {
		if r.timer != nil {
			r.timer.Stop()
		}
	}
	for _, tm := range t.renewals {
		tm.Stop()
	}
	clear(t.pending)
	clear(t.byNonce)
	clear(t.renewals)
}

// randomNonce returns a 64-bit nonce from the kernel's CSPRNG.
func randomNonce() uint64 {
	var b [8]byte
	entropy.Read(b[:])
	return binary.BigEndian.Uint64(b[:])
}

// PendingRequest is an outstanding Map-Request, for `show`.
type PendingRequest struct {
	InstanceID uint32
	EIDPrefix  netip.Prefix
	Reason     string // "miss", "renew" or "smr"
	Attempts   int    // sent so far, including the first
	Since      time.Time
}

var reqKindNames = [...]string{reqMiss: "miss", reqRenew: "renew", reqSMR: "smr"}

func (t *itr) snapshot() []PendingRequest {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]PendingRequest, 0, len(t.pending))
	for _, r := range t.pending {
		out = append(out, PendingRequest{
			InstanceID: r.key.iid, EIDPrefix: r.prefix, Reason: reqKindNames[r.kind],
			Attempts: len(r.nonces), Since: r.started,
		})
	}
	return out
}

// handleMapReply installs the records of a Map-Reply whose nonce matches an
// outstanding Map-Request; anything else is dropped (no map-cache
// poisoning).
func (n *Node) handleMapReply(b []byte, from netip.AddrPort) {
	if n.itr == nil && n.rtr == nil {
		n.ctr.drop(DropUnsupported)
		return
	}
	var rep msg.MapReply
	if err := rep.Decode(b); err != nil {
		n.malformed(from, "Map-Reply", err)
		return
	}
	if n.rtr != nil && n.rtr.mapReply(&rep) {
		return
	}
	if n.itr == nil {
		n.ctr.drop(DropBadNonce)
		return
	}
	if rep.Probe && n.prb != nil && n.prb.reply(&rep, time.Now()) {
		return
	}
	r := n.itr.claim(rep.Nonce)
	if r == nil {
		n.ctr.drop(DropBadNonce)
		n.logs.warn("bad-nonce", from.Addr(), "Map-Reply with a nonce matching no outstanding Map-Request dropped", "nonce", rep.Nonce)
		return
	}
	installed := 0
	for i := range rep.Records {
		m, ok := n.itr.mapping(&rep.Records[i], r)
		if !ok {
			n.ctr.drop(DropRecordMismatch)
			n.logs.warn("record-mismatch", from.Addr(), "Map-Reply record does not answer the request",
				"asked", r.prefix, "got", rep.Records[i].EID.String())
			continue
		}
		if !m.Negative && n.itr.overclaims(m.InstanceID, m.Prefix, r.key.eid) {
			n.ctr.drop(DropRecordOverclaim)
			n.logs.warn("record-overclaim", from.Addr(), "Map-Reply record claims our own EIDs or more than the eid_space entry asked in",
				"asked", r.prefix, "got", rep.Records[i].EID.String())
			continue
		}
		// RFC 9301 section 5.4: a record with TTL 0 must not stay in
		// the cache. It still answers this request: installed for one
		// second, so that the queued packets and the flow's next ones
		// go, and never renewed; afterwards a packet misses and
		// resolves again, at most once a second per destination (the
		// RTR does the same).
		zeroTTL := m.TTL == 0
		if zeroTTL {
			m.TTL = time.Second
		}
		if n.nat != nil {
			n.nat.adjust(&m)
		}
		if n.prb != nil {
			n.prb.adjust(&m)
		}
		if err := n.dp.Install(m); err != nil {
			n.ctr.drop(DropInstallError)
			n.logs.warn("install", from.Addr(), "data plane refused a mapping", "eid", m.Prefix, "err", err)
			continue
		}
		installed++
		n.ctr.mappingsInstalled.Add(1)
		if zeroTTL {
			n.itr.removed(m) // no renewal, and none left from before
		} else {
			n.itr.installed(m)
		}
		if n.prb != nil {
			n.prb.installed(m)
		}
	}
	if installed == 0 && r.kind == reqMiss {
		n.dp.ResolveFailed(r.key.iid, r.key.eid)
	}
}

// mapping converts a Map-Reply record answering r into a Mapping, or
// reports that it does not answer r (other instance, or an EID-prefix not
// covering the requested EID).
func (t *itr) mapping(rec *msg.Record, r *request) (Mapping, bool) {
	p := rec.EID.Prefix
	if !p.IsValid() || rec.EID.IID != r.key.iid {
		return Mapping{}, false
	}
	p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-unmapBits(p)).Masked()
	if !p.Contains(r.key.eid) {
		return Mapping{}, false
	}
	m := Mapping{
		InstanceID:    r.key.iid,
		Prefix:        p,
		TTL:           ttlFromMinutes(rec.TTL),
		Authoritative: rec.Authoritative,
	}
	for i, l := range rec.Locators {
		a := l.Addr.IP
		if !a.IsValid() && len(l.Addr.List) > 0 {
			a = l.Addr.List[0]
		}
		if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() {
			continue
		}
		m.Locators = append(m.Locators, Locator{Addr: a.Unmap(), Priority: l.Priority, Weight: l.Weight, Reachable: l.Reachable, Position: i + 1})
	}
	if len(rec.Locators) == 0 {
		m.Negative = true
		m.Action = Action(rec.Action)
		if m.Action == ActionNativelyForward {
			m.Locators = append(m.Locators, t.x.ProxyETRs...)
		}
	} else if len(m.Locators) == 0 {
		return Mapping{}, false // locators we cannot use
	}
	return m, true
}

// overclaims reports whether a positive mapping for p in iid, answering a
// request for eid, claims more than any answer may: a prefix overlapping
// one of our own EID prefixes (our traffic to our own site would leave
// through the tunnel), or one broader than the eid_space entries holding
// eid (0.0.0.0/0 would take all of eid_space, and every later miss, to
// one ETR for the record's TTL). Negative records are not checked: a
// Map-Resolver's "not a LISP site" answers are meant to be broad.
func (t *itr) overclaims(iid uint32, p netip.Prefix, eid netip.Addr) bool {
	if iid != t.x.InstanceID {
		return false
	}
	for _, o := range t.x.EIDPrefixes {
		if o.Overlaps(p) {
			return true
		}
	}
	widest := -1
	for _, s := range t.x.EIDSpace {
		if s.Contains(eid) && (widest < 0 || s.Bits() < widest) {
			widest = s.Bits()
		}
	}
	return p.Bits() < widest
}

// unmapBits is 96 for a prefix of IPv4-mapped IPv6 addresses (so it becomes
// an IPv4 prefix), else 0.
func unmapBits(p netip.Prefix) int {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return 96
	}
	return 0
}

// sendMapRequest sends a Map-Request for prefix in iid to a Map-Resolver,
// inside an Encapsulated Control Message: inner IP from our RLOC (of the
// EID's family) to the EID, inner and outer UDP source port our control
// port, so that the ETR's Map-Reply comes back to it. src, when valid, is
// the Source-EID (in iid, like the EID asked for): the host whose packet
// missed, which Map-Resolvers may use for source-based policy (RFC 9301
// section 5.3); else the Source-EID is AFI 0.
func (n *Node) sendMapRequest(mr netip.Addr, iid uint32, src netip.Addr, prefix netip.Prefix, nonce uint64, smrInvoked bool) error {
	rlocs := n.itrRLOCs()
	if len(rlocs) == 0 {
		return errNoITRRLOC
	}
	req := msg.MapRequest{
		SMRInvoked: smrInvoked,
		Nonce:      nonce,
		ITRRLOCs:   rlocs,
		EIDs:       []msg.EID{msg.EIDOf(iid, prefix)},
	}
	if src.IsValid() && !src.IsUnspecified() {
		req.SourceEID = msg.EIDOf(iid, hostPrefix(src))
	}
	inner := req.Append(nil)
	ecm := msg.ECM{
		Src:     netip.AddrPortFrom(n.localRLOC(prefix.Addr()), n.opts.Port),
		Dst:     netip.AddrPortFrom(prefix.Addr(), msg.ControlPort),
		Message: inner,
	}
	return n.send(n.localRLOC(mr), netip.AddrPortFrom(mr, n.opts.Port), ecm.Append(nil))
}

// itrRLOCs returns the ITR-RLOCs this node puts in its Map-Requests: its
// local RLOCs that are up, of the families it can send in.
func (n *Node) itrRLOCs() []msg.Address {
	var out []msg.Address
	for _, l := range upLocators(n.localLocators()) {
		if n.usable(l.Addr) {
			out = append(out, msg.AddrOf(l.Addr.Unmap()))
		}
	}
	return out
}

// localRLOC returns one of our RLOCs in the family of a (for source
// addresses and the inner IP header of an ECM), or the unspecified address
// of that family.
func (n *Node) localRLOC(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if n.opts.XTR != nil {
		for _, l := range upLocators(n.localLocators()) {
			if l.Addr.Unmap().Is4() == a.Is4() {
				return l.Addr.Unmap()
			}
		}
	}
	if a.Is4() {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}
