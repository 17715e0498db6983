package fwd

import (
	"context"
	"net/netip"

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

// knownSource reports whether a (unmapped) is in s.
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
func (p *Plane) sourcesLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.srcWake:
			p.rebuildSources()
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

// Unknown counts pkt (a LISP packet from an unknown outer source) as an
// unknown-source drop and returns the inner source to resolve, when the
// packet would otherwise be decapsulated (valid header, our instance-id, an
// inner destination of ours) and its source is a remote EID: inside
// eid (the eid_space; empty is everything) and not one of ours.
func (d *Decapsulator) Unknown(pkt []byte, eid []netip.Prefix) (netip.Addr, bool) {
	d.bs.drop(DropUnknownSource)
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

// unknown drops b, from an unknown source, and asks for the mapping of
// its inner source when there is none yet (once a second per source per
// goroutine; the control plane rate-limits its Map-Requests).
func (w *decapWorker) unknown(b []byte) {
	src, ok := w.dec.Unknown(b, w.p.opts.EIDSpace)
	mh := w.p.opts.MissHandler
	if !ok || mh == nil {
		return
	}
	now := w.p.cache.now.Load()
	if src == w.src.miss && now == w.src.missedAt {
		return
	}
	w.src.miss, w.src.missedAt = src, now
	if w.p.cache.snap.Load().lookup(w.p.opts.InstanceID, src) != nil {
		return // known (or pending): its RLOCs are what they are
	}
	mh.Miss(w.p.opts.InstanceID, w.dec.pkt.Dst, src)
	w.dec.bs.misses++
}
