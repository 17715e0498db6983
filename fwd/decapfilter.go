package fwd

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gaissmai/bart"
)

// The decapsulation source filter (xtr.decap_filter = "known", like IOS-XE's
// `decapsulation filter rloc source`): an ETR on the Internet would
// otherwise write to the TUN whatever anyone sends to port 4341 with one of
// our EIDs inside. With the filter on, a LISP packet is decapsulated only
// when its outer source is known: an RLOC of a map-cache entry (learned or
// static; the RTRs a NATed xTR points eid_space at are such entries), a
// proxy ETR, or inside the extra prefixes the plane is given (decap_allow,
// the Map-Servers). Other packets are dropped before Decap (unknown-source),
// are not taken for recent ITRs, and have their inner source resolved
// through the MissHandler, so that a flow a remote site starts comes up once
// its mapping, and with it its RLOCs, is installed.
//
// The known sources are an immutable snapshot (a bart table of host prefixes
// and decap_allow's prefixes, the instantiation the map-cache already uses,
// rather than a sorted slice whose generic sort costs 13 KB) rebuilt off the
// packet path, by the plane's sourcesLoop, when the map-cache publishes a
// snapshot (MapCache.sources) and when SetDecapAllow changes the extras. A
// decapsulating goroutine loads it once per batch and remembers the last
// source it accepted, so a batch from one ITR costs one comparison.

// decapSources is an immutable set of accepted outer sources: each RLOC as
// a host prefix, and each allowed prefix (values unused).
type decapSources = bart.Table[*Mapping]

// knownSource reports whether a (unmapped) is in s. Not inlined: a
// decapsulating goroutine asks once per new source, not per packet.
//
//go:noinline
func knownSource(s *decapSources, a netip.Addr) bool {
	_, ok := s.Lookup(a)
	return ok
}

// SetDecapAllow replaces the prefixes whose outer sources are accepted
// whatever the map-cache holds (decap_allow and the Map-Servers); it has no
// effect unless Options.DecapFilter is set. The plane keeps allow: the
// caller must not change it afterwards. Safe for concurrent use.
func (p *Plane) SetDecapAllow(allow []netip.Prefix) {
	if p.srcWake == nil {
		return
	}
	p.srcMu.Lock()
	p.srcAllow = allow
	p.srcMu.Unlock()
	p.rebuildSources()
}

// rebuildSources publishes the known sources of the current map-cache.
func (p *Plane) rebuildSources() {
	p.srcMu.Lock()
	defer p.srcMu.Unlock()
	t := new(decapSources)
	for _, a := range p.srcAllow {
		addSource(t, a)
	}
	add := func(m *Mapping) { addRLOCs(t, m) }
	p.cache.snap.Load().each(add)
	if p.petr != nil {
		addRLOCs(t, p.petr)
	}
	p.srcs.Store(t)
}

// addRLOCs adds m's RLOCs to t, each as a host prefix.
//
//go:noinline
func addRLOCs(t *decapSources, m *Mapping) {
	for _, r := range m.RLOCs {
		a := r.Addr.Addr().Unmap()
		addSource(t, netip.PrefixFrom(a, a.BitLen()))
	}
}

// addSource adds p to t. Not inlined: the set is built off the packet path,
// and one call site keeps bart's Insert out of the callers (size, issue 6).
//
//go:noinline
func addSource(t *decapSources, p netip.Prefix) { t.Insert(p, nil) }

// sourcesLoop rebuilds the known sources after map-cache changes.
// A rebuild walks the whole map-cache (~2 ms for 10,000 entries on x86,
// ten times that on a router's MIPS core), and a busy cache changes many
// times a second: after each rebuild the loop rests nine times as long as
// the rebuild took, so rebuilding takes at most a tenth of a core. Changes
// meanwhile are folded into the next rebuild (srcWake holds one signal).
func (p *Plane) sourcesLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.srcWake:
			start := time.Now()
			p.rebuildSources()
			p.releaseHeld(p.cache.now.Load(), heldWait)
			if rest := 9 * time.Since(start); rest > time.Millisecond {
				select {
				case <-ctx.Done():
					return
				case <-time.After(rest):
				}
			}
		}
	}
}

// srcMemo is a decapsulating goroutine's view of the filter: the snapshot
// of its batch and the last source it found there.
type srcMemo struct {
	set      *decapSources // nil: filter off
	ok       netip.Addr    // last source found in set
	miss     netip.Addr    // last inner source reported as a miss
	missedAt uint32        // coarse second of that report
}

// known reports whether from may send us encapsulated packets.
func (m *srcMemo) known(from netip.Addr) bool {
	if m.set == nil {
		return true
	}
	if from == m.ok && from.IsValid() {
		return true
	}
	if knownSource(m.set, from) {
		m.ok = from
		return true
	}
	return false
}

// unknownInner returns the inner source of pkt (a LISP packet from an unknown
// outer source) and whether the packet would otherwise be decapsulated
// (valid header, our instance-id, an inner destination of ours) with a
// remote EID as source: inside eid (the eid_space; empty is everything)
// and not one of ours. The caller counts the packet.
func (d *Decapsulator) unknownInner(pkt []byte, eid []netip.Prefix) (netip.Addr, bool) {
	h := Header(pkt)
	if len(h) < HeaderLen {
		return netip.Addr{}, false
	}
	var iid uint32
	if h.I() {
		iid = h.InstanceID()
	}
	p := &d.pkt
	ok := iid == d.cfg.iid && ParsePacket(pkt[HeaderLen:], p) == nil && inPrefixes(d.cfg.local, p.Dst) &&
		!inPrefixes(d.cfg.local, p.Src) && (len(eid) == 0 || inPrefixes(eid, p.Src))
	return p.Src, ok
}

// inPrefixes reports whether a is inside one of ps. Off the packet path
// (unknown sources only): not inlined, for size.
//
//go:noinline
func inPrefixes(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// unknown handles b, a LISP packet from an unknown outer source whose
// inner source is a remote EID: it holds the packet (see heldPackets) and
// asks for that EID's mapping (once a second per source per goroutine; the
// control plane rate-limits its Map-Requests), so that a flow a site we
// have no mapping for starts passes once the mapping is in. When a mapping
// is there already, the sender may be the site's new RLOC (a PPPoE or DHCP
// uplink renumbered, its SMR lost): the mapping is asked for again, at
// most once a minute, and the packet held meanwhile. Anything else is
// dropped as unknown-source.
func (w *decapWorker) unknown(b []byte, from netip.Addr, ttl, tos uint8) {
	src, ok := w.dec.unknownInner(b, w.p.opts.EIDSpace)
	mh := w.p.opts.MissHandler
	now := w.p.cache.now.Load()
	if !ok || mh == nil {
		w.dec.bs.drop(DropUnknownSource)
		return
	}
	ask := true
	if m := w.p.cache.snap.Load().lookup(w.p.opts.InstanceID, src); m != nil && m.State != StatePending {
		a := m.asked.Load()
		switch {
		case a != 0 && now-a < heldWait: // asked again just now: hold, ask no more
			ask = false
		case a != 0 && now-a < askAgain:
			w.dec.bs.drop(DropUnknownSource)
			return
		case !m.asked.CompareAndSwap(a, now): // another goroutine asks
			ask = false
		}
	}
	if h := w.p.held; h != nil && h.hold(b, from, ttl, tos, now) {
		w.dec.bs.queued++
	} else {
		w.dec.bs.drop(DropUnknownSource)
	}
	if !ask || src == w.src.miss && now == w.src.missedAt {
		return
	}
	w.src.miss, w.src.missedAt = src, now
	mh.Miss(w.p.opts.InstanceID, w.dec.pkt.Dst, src)
	w.dec.bs.misses++
}

// askAgain is how often (seconds) packets from unknown senders may have an
// installed mapping asked for again.
const askAgain = 60

// heldSlots is how many packets from unknown sources a plane holds while
// the mappings of their inner sources are resolved, and heldWait how long
// at most: a Map-Reply takes a round trip, and a lost Map-Request is sent
// again after a second.
const (
	heldSlots = 8
	heldWait  = 3 // seconds of the coarse clock
)

// heldPackets are the packets from unknown outer sources held, like the
// encapsulating side's pending queues, while the control plane resolves
// their inner sources: the first packets of a flow that a site we have no
// mapping for starts toward us (a TCP SYN, the first ping) are then
// delivered once that site's mapping, and with it its RLOCs, is installed,
// rather than lost. Eight fixed slots, each holding the whole LISP packet:
// a flood from unknown sources can fill them (the later packets are dropped
// as before), never grow them. A held packet whose source is still unknown
// after heldWait is dropped as unknown-source.
type heldPackets struct {
	mu    sync.Mutex
	n     atomic.Int32 // slots in use, read without the lock
	slots [heldSlots]heldPacket
	dec   *Decapsulator // the releasing goroutine's (sourcesLoop)
	out   [][]byte
}

type heldPacket struct {
	from     netip.Addr // outer source
	at       uint32     // coarse second it was held
	ttl, tos uint8      // outer TTL and TOS
	n        int        // bytes in buf; 0: the slot is free
	buf      []byte
}

func (p *Plane) newHeldPackets(size int) *heldPackets {
	h := &heldPackets{dec: newDecapsulator(decapConfig{iid: p.opts.InstanceID, local: p.opts.LocalEIDs}, &p.stats)}
	for i := range h.slots {
		h.slots[i].buf = make([]byte, size)
	}
	return h
}

// hold copies pkt into a free slot; false when none is free or pkt does
// not fit.
func (h *heldPackets) hold(pkt []byte, from netip.Addr, ttl, tos uint8, now uint32) bool {
	h.mu.Lock()
	held := false
	for i := range h.slots {
		s := &h.slots[i]
		if s.n == 0 && len(pkt) <= len(s.buf) {
			s.from, s.at, s.ttl, s.tos, s.n = from, now, ttl, tos, copy(s.buf, pkt)
			h.n.Add(1)
			held = true
			break
		}
	}
	h.mu.Unlock()
	return held
}

// releaseHeld delivers the held packets whose outer source is now known,
// and drops (as unknown-source) those held wait seconds or longer at
// coarse time now.
func (p *Plane) releaseHeld(now, wait uint32) {
	h := p.held
	if h == nil || h.n.Load() == 0 {
		return
	}
	set := p.srcs.Load()
	h.mu.Lock()
	var freed [heldSlots]bool
	for i := range h.slots {
		s := &h.slots[i]
		switch {
		case s.n == 0:
			continue
		case set != nil && knownSource(set, s.from):
			if inner, _, ok := h.dec.Decap(s.buf[:s.n], s.ttl, s.tos); ok {
				h.out = append(h.out, s.buf[:HeaderLen+len(inner)])
				p.stats.Flushed.Add(1)
			}
		case now-s.at >= wait:
			p.stats.addDrops(DropUnknownSource, 1)
		default:
			continue
		}
		freed[i] = true
	}
	if len(h.out) > 0 {
		if k, err := p.tun.Write(h.out, HeaderLen); err != nil {
			p.stats.addDrops(DropTUNWriteError, len(h.out)-k)
		}
		clear(h.out)
		h.out = h.out[:0]
	}
	h.dec.End()
	for i, f := range freed {
		if f {
			h.slots[i].n = 0
			h.n.Add(-1)
		}
	}
	h.mu.Unlock()
}
