//go:build !nortr

package ctl

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gaissmai/bart"

	"github.com/lispd/lispd/ctl/msg"
	"github.com/lispd/lispd/internal/nocmp"
	"github.com/lispd/lispd/internal/sortx"
)

// The Re-encapsulating Tunnel Router (draft-ermagan-lisp-nat-traversal):
// xTRs behind a NAT register through it; it keeps their NAT bindings,
// relays their registrations to the Map-Servers it is configured for, and
// re-encapsulates traffic to and from their EIDs.

// rtrQueue bounds the packets the RTR holds while it resolves their
// destination: per destination and in all.
const (
	rtrQueuePerDst = 4
	rtrQueueDsts   = 64
)

// rtrMaxBindings bounds the RTR's NAT bindings: encapsulated Map-Registers
// create them before any authentication (the RTR holds no key), so a
// flood of them must not grow the table without end. When it is full, a
// new binding takes the place of the least recently seen unverified one,
// or is refused (counted as rtr-table-full) when all are verified.
const rtrMaxBindings = 4096

// rtrMaxResolving bounds the destinations the RTR resolves at once for
// NATed sites (and so its outstanding Map-Requests), and rtrMaxRoutes the
// mappings it keeps: a NATed host scanning addresses must not grow them
// without end.
const (
	rtrMaxResolving = 1024
	rtrMaxRoutes    = 4096
)

func (r *RTROptions) fill() error {
	setDur(&r.BindingTimeout, DefaultRTRBindingTimeout)
	if r.DataPort == 0 {
		r.DataPort = DefaultDataPort
	}
	if len(r.Listen) == 0 {
		return errors.New("ctl: the RTR needs at least one listen address")
	}
	if len(r.MapServers) == 0 {
		return errors.New("ctl: the RTR needs at least one Map-Server")
	}
	for _, a := range append(slices.Clone(r.Listen), r.MapServers...) {
		if !a.IsValid() || a.IsUnspecified() {
			return errors.New("ctl: invalid RTR address")
		}
	}
	r.Listen = slices.Clone(r.Listen)
	r.MapServers = slices.Clone(r.MapServers)
	return nil
}

type rtrKey struct {
	key   regKey
	xtrID [16]byte
}

type rtrEntry struct {
	RTRBinding
	regs []rtrReg // recent relayed Map-Registers, oldest first
}

// rtrReg is a relayed Map-Register not yet confirmed: what the binding
// becomes when the Map-Server's Map-Notify echoes its nonce.
type rtrReg struct {
	_ nocmp.DoNotCompare

	nonce   uint64
	public  netip.AddrPort
	private netip.Addr
	siteID  uint64
	ms      netip.Addr
}

// rtrRoute is a mapping the RTR resolved for traffic from NATed sites.
type rtrRoute struct {
	key      regKey
	negative bool
	action   msg.Action // of a negative mapping
	locs     []Locator
	expires  time.Time
}

// rtr is the RTR role.
type rtr struct {
	n    *Node
	o    *RTROptions
	data *udpTransport

	toNAT, fromNAT, unrouted, openRelay, native atomic.Uint64

	mu       sync.Mutex
	bindings map[rtrKey]*rtrEntry
	// verified indexes the verified bindings by instance-id and prefix for
	// the per-packet longest match; derived from bindings and rebuilt by
	// reindexLocked whenever a binding is verified or removed (the entries
	// are shared, so refreshes need no rebuild).
	verified map[uint32]*bart.Table[*rtrBindings]
	routes   map[regKey]*rtrRoute
	pending  map[uint64]regKey // Map-Request nonce → requested EID (host prefix)
	lastReq  map[regKey]time.Time
	queued   map[regKey][][]byte // packets waiting for their destination's mapping
}

func newRTR(n *Node, o *RTROptions) *rtr {
	return &rtr{
		n: n, o: o,
		bindings: map[rtrKey]*rtrEntry{}, routes: map[regKey]*rtrRoute{},
		pending: map[uint64]regKey{}, lastReq: map[regKey]time.Time{}, queued: map[regKey][][]byte{},
	}
}

// start binds the data sockets.
func (r *rtr) start() error {
	t, err := listenUDP(r.o.Listen, r.o.DataPort)
	if err != nil {
		return err
	}
	r.data = t
	t.run(func(b []byte, from netip.AddrPort, _ netip.Addr) { r.handleData(b, from) }, func(err error) {
		r.n.logs.warn("rtr-read-error", netip.Addr{}, "RTR data socket read failed", "err", err)
	})
	return nil
}

func (r *rtr) close() {
	if r.data != nil {
		r.data.close()
	}
}

// run sweeps expired bindings and routes until ctx ends.
func (r *rtr) run(ctx context.Context) {
	every := min(max(r.o.BindingTimeout/4, 10*time.Millisecond), 10*time.Second)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			r.sweep(now)
		}
	}
}

func (r *rtr) sweep(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	expired := false
	for k, e := range r.bindings {
		if now.Sub(e.LastSeen) > r.o.BindingTimeout {
			delete(r.bindings, k)
			expired = true
			r.n.log.Info("RTR binding expired", "eid_prefix", k.key.prefix, "public", e.Public)
		}
	}
	if expired {
		r.reindexLocked()
	}
	for k, rt := range r.routes {
		if now.After(rt.expires) {
			delete(r.routes, k)
		}
	}
	for k, t := range r.lastReq {
		if now.Sub(t) > 10*time.Second {
			delete(r.lastReq, k)
		}
	}
	// Packets and Map-Requests of destinations no longer in resolution:
	// answers come within the 10 s or not at all (and a destination
	// refused by the rtrMaxResolving bound has queued packets but no
	// lastReq entry).
	for k := range r.queued {
		if _, ok := r.lastReq[k]; !ok {
			delete(r.queued, k)
		}
	}
	for nonce, k := range r.pending {
		if _, ok := r.lastReq[k]; !ok {
			delete(r.pending, nonce)
		}
	}
}

// isMapServer reports whether a is one of the configured Map-Servers.
func (r *rtr) isMapServer(a netip.Addr) bool {
	return slices.Contains(r.o.MapServers, a.Unmap())
}

// local returns the RTR's RLOC of a's family.
func (r *rtr) local(a netip.Addr) netip.Addr {
	for _, l := range r.o.Listen {
		if l.Unmap().Is4() == a.Unmap().Is4() {
			return l.Unmap()
		}
	}
	return netip.Addr{}
}

// handleRegister takes an ECM Map-Register with the R bit from an xTR
// behind a NAT: it remembers, per EID prefix and xTR-ID, the public
// address:port it came from, the private RLOC and the nonce, and relays the
// Map-Register to the Map-Server (only a configured one) in an ECM with the
// N bit. The binding stays unverified until the Map-Server's Map-Notify for
// it passes.
func (r *rtr) handleRegister(e *msg.ECM, from netip.AddrPort) {
	n := r.n
	var reg msg.MapRegister
	if err := reg.Decode(e.Message); err != nil {
		n.malformed(from, "encapsulated Map-Register", err)
		return
	}
	if !reg.HasXTRID || len(reg.Records) == 0 {
		n.malformed(from, "encapsulated Map-Register", errors.New("no xTR-ID or no record"))
		return
	}
	ms := e.Dst.Addr().Unmap()
	if !r.isMapServer(ms) {
		n.ctr.drop(DropRTRNotMapServer)
		n.logs.warn("rtr-not-ms", from.Addr(), "encapsulated Map-Register for a Map-Server this RTR does not serve dropped", "inner_destination", ms)
		return
	}
	now := time.Now()
	pending := rtrReg{nonce: reg.Nonce, public: from, private: e.Src.Addr(), siteID: reg.SiteID, ms: ms}
	full := false
	r.mu.Lock()
	for i := range reg.Records {
		eid := reg.Records[i].EID
		if !eid.Prefix.IsValid() {
			continue
		}
		k := rtrKey{regKey{eid.IID, eid.Prefix.Masked()}, reg.XTRID}
		b := r.bindings[k]
		if b == nil {
			if len(r.bindings) >= rtrMaxBindings && !r.evictUnverifiedLocked() {
				full = true
				continue
			}
			b = &rtrEntry{RTRBinding: RTRBinding{InstanceID: eid.IID, Prefix: k.key.prefix, XTRID: reg.XTRID,
				Public: from, Private: pending.private, SiteID: reg.SiteID, MapServer: ms, LastSeen: now}}
			r.bindings[k] = b
		}
		// Nothing here is authenticated (the RTR holds no key): a verified
		// binding changes only when the Map-Server's Map-Notify confirms
		// the Map-Register (handleNotify), so that a forged one cannot
		// move an xTR's traffic or take it down. An unverified binding
		// has nothing to protect and follows the latest Map-Register.
		switch {
		case b.Public == from:
			b.LastSeen = now
		case !b.Verified:
			b.Public, b.Private, b.SiteID, b.MapServer, b.LastSeen = from, pending.private, reg.SiteID, ms, now
		}
		b.regs = trimRegs(append(b.regs, pending), b.Public)
	}
	r.mu.Unlock()
	if full {
		n.ctr.drop(DropRTRTableFull)
		n.logs.warn("rtr-bindings-full", from.Addr(), "RTR binding table full: encapsulated Map-Register not relayed", "bindings", rtrMaxBindings)
		return
	}
	fwd := msg.ECM{N: true, Src: e.Src, Dst: e.Dst, Message: e.Message}
	if err := n.send(r.local(ms), netip.AddrPortFrom(ms, n.opts.Port), fwd.Append(nil)); err != nil {
		n.ctr.drop(DropSendError)
		n.logs.warn("rtr-relay", ms, "cannot relay Map-Register to the Map-Server", "err", err)
	}
}

// handleNotify takes the Map-Server's ECM Map-Notify (R bit) for a
// Map-Register it relayed: the bindings of that xTR-ID whose nonce matches
// become verified, and the Map-Notify goes to each one's public binding as
// a Data-Map-Notify (LISP data header, instance-id 0xFFFFFF, then the inner
// IP/UDP/Map-Notify), from the RTR's control port 4342 (the port the xTR's
// NAT binding was opened to).
func (r *rtr) handleNotify(raw []byte, e *msg.ECM, from netip.AddrPort) {
	n := r.n
	if !r.isMapServer(from.Addr()) {
		n.ctr.drop(DropRTRNotMapServer)
		n.logs.warn("rtr-notify-not-ms", from.Addr(), "encapsulated Map-Notify not from a configured Map-Server dropped")
		return
	}
	var notify msg.MapNotify
	if err := notify.Decode(e.Message); err != nil {
		n.malformed(from, "encapsulated Map-Notify", err)
		return
	}
	if !notify.HasXTRID {
		n.malformed(from, "encapsulated Map-Notify", errors.New("no xTR-ID"))
		return
	}
	// Only the prefixes the Map-Notify confirms: a Map-Server that took
	// part of a Map-Register must not vouch for the rest at the RTR.
	confirmed := make(map[regKey]bool, len(notify.Records))
	for i := range notify.Records {
		if e := notify.Records[i].EID; e.Prefix.IsValid() {
			confirmed[regKey{e.IID, e.Prefix.Masked()}] = true
		}
	}
	var to []netip.AddrPort
	now := time.Now()
	r.mu.Lock()
	for k, b := range r.bindings {
		if k.xtrID != notify.XTRID || !confirmed[k.key] {
			continue
		}
		i := slices.IndexFunc(b.regs, func(g rtrReg) bool { return g.nonce == notify.Nonce })
		if i < 0 {
			continue
		}
		g := b.regs[i]
		b.regs = slices.Delete(b.regs, 0, i+1) // this one and any older
		if b.Verified && b.Public != g.public {
			// NAT rebinding, now confirmed: the new public address:port
			// replaces the old one.
			n.log.Info("RTR: xTR behind NAT rebound", "eid_prefix", k.key.prefix, "old", b.Public, "new", g.public)
			b.Rebinds++
		} else if !b.Verified {
			n.log.Info("RTR: registration through NAT verified", "eid_prefix", k.key.prefix, "public", g.public, "private", g.private)
		}
		b.Public, b.Private, b.SiteID, b.MapServer = g.public, g.private, g.siteID, g.ms
		b.Verified = true
		b.LastSeen = now
		if !slices.Contains(to, g.public) {
			to = append(to, g.public)
		}
	}
	if len(to) > 0 {
		r.reindexLocked()
	}
	r.mu.Unlock()
	if len(to) == 0 {
		n.ctr.drop(DropBadNonce)
		n.logs.warn("rtr-notify-nonce", from.Addr(), "encapsulated Map-Notify matching no relayed Map-Register dropped")
		return
	}
	out := appendDataHeader(nil, nonce24(), NATInstanceID, true)
	out = append(out, raw[4:]...) // the ECM's inner IP, UDP and Map-Notify
	for _, pub := range to {
		if err := n.tx.send(r.local(pub.Addr()), pub, out); err != nil {
			n.ctr.drop(DropSendError)
			n.logs.warn("rtr-notify-send", pub.Addr(), "cannot send Data-Map-Notify", "err", err)
			continue
		}
		n.ctr.out[msg.TypeMapNotify].Add(1)
	}
}

// trimRegs keeps the noncesKept most recent Map-Registers from the
// binding's current public address:port and as many from elsewhere, so
// that forged ones (from another address) cannot push out the nonce of the
// xTR's own before its Map-Notify arrives.
func trimRegs(regs []rtrReg, public netip.AddrPort) []rtrReg {
	same, other := 0, 0
	for i := len(regs) - 1; i >= 0; i-- {
		if regs[i].public == public {
			same++
			if same <= noncesKept {
				continue
			}
		} else {
			other++
			if other <= noncesKept {
				continue
			}
		}
		regs = slices.Delete(regs, i, i+1)
	}
	return regs
}

// evictUnverifiedLocked removes the least recently seen unverified
// binding; false when every binding is verified.
func (r *rtr) evictUnverifiedLocked() bool {
	var oldest rtrKey
	var at time.Time
	found := false
	for k, b := range r.bindings {
		if !b.Verified && (!found || b.LastSeen.Before(at)) {
			oldest, at, found = k, b.LastSeen, true
		}
	}
	if found {
		delete(r.bindings, oldest)
	}
	return found
}

// answerProbe answers an RLOC probe of the RTR (by xTRs behind a NAT and by
// ITRs sending to NATed sites) with the probed EIDs mapped to the RTR's
// own RLOCs, to the address and port the probe came from (behind a NAT the
// ITR-RLOC is a private address). The RLOC the probe was sent to, to, is
// the one marked probed and the reply's source (RFC 9301 section 5.4).
func (r *rtr) answerProbe(req *msg.MapRequest, from netip.AddrPort, to netip.Addr) {
	n := r.n
	rep := msg.MapReply{Probe: true, Nonce: req.Nonce}
	for _, eid := range req.EIDs {
		if !eid.Prefix.IsValid() {
			continue
		}
		rec := msg.Record{TTL: 1, EID: eid}
		for _, l := range r.o.Listen {
			rec.Locators = append(rec.Locators, msg.Locator{Priority: 1, Weight: 100, MPriority: 255, Local: true, Reachable: true, Addr: msg.AddrOf(l.Unmap())})
		}
		rep.Records = append(rep.Records, rec)
	}
	if len(rep.Records) == 0 {
		n.ctr.drop(DropNotOurEID)
		return
	}
	if !n.replyAllowed(from.Addr()) {
		return
	}
	src := r.local(from.Addr())
	if markProbed(rep.Records, to) {
		src = to.Unmap()
	}
	if err := n.send(src, from, rep.Append(nil)); err != nil {
		n.ctr.drop(DropSendError)
		n.logs.warn("rtr-probe-reply", from.Addr(), "cannot answer RLOC probe", "err", err)
	}
}

// bindingFor returns the verified binding, most recently refreshed, whose
// prefix is the longest covering eid in iid.
func (r *rtr) bindingFor(iid uint32, eid netip.Addr) (RTRBinding, bool) {
	t := r.verified[iid]
	if t == nil {
		return RTRBinding{}, false
	}
	bs, ok := t.Lookup(eid.Unmap())
	if !ok {
		return RTRBinding{}, false
	}
	best := bs.list[0]
	for _, b := range bs.list[1:] {
		if b.LastSeen.After(best.LastSeen) {
			best = b
		}
	}
	return best.RTRBinding, true
}

// rtrBindings are the verified bindings of one prefix. The table holds a
// pointer rather than the slice: every pointer has the same GC shape, so
// bart's code for it is the instantiation fwd's Table[*Mapping] already
// links, not a second copy (~35 KB of MIPS code).
type rtrBindings struct{ list []*rtrEntry }

// reindexLocked rebuilds r.verified from r.bindings.
func (r *rtr) reindexLocked() {
	idx := make(map[uint32]*bart.Table[*rtrBindings])
	for k, b := range r.bindings {
		if !b.Verified {
			continue
		}
		t := idx[k.key.iid]
		if t == nil {
			t = new(bart.Table[*rtrBindings])
			idx[k.key.iid] = t
		}
		if bs, ok := t.Get(k.key.prefix); ok {
			bs.list = append(bs.list, b)
		} else {
			t.Insert(k.key.prefix, &rtrBindings{list: []*rtrEntry{b}})
		}
	}
	r.verified = idx
}

// handleData re-encapsulates one LISP data packet that arrived on the RTR's
// data port: to an EID registered through this RTR, toward the xTR's public
// binding from port 4342; from such an EID, toward the destination's
// locator as an ITR would. Anything else is dropped and counted: the RTR is
// not an open relay.
func (r *rtr) handleData(b []byte, from netip.AddrPort) {
	n := r.n
	h, err := parseDataHeader(b)
	if err != nil {
		n.malformed(from, "data packet", err)
		return
	}
	inner := b[DataHeaderLen:]
	src, dst, ok := innerAddrs(inner)
	if !ok {
		n.malformed(from, "data packet", errors.New("inner packet is not IPv4 or IPv6"))
		return
	}
	iid := h.iid
	r.mu.Lock()
	to, toNAT := r.bindingFor(iid, dst)
	own, fromNAT := r.bindingFor(iid, src)
	// Traffic from a NATed site comes from its NAT's public address (any
	// port: the xTR's send sockets are not the registered one).
	fromNAT = fromNAT && own.Public.Addr() == from.Addr().Unmap()
	var route *rtrRoute
	if !toNAT && fromNAT {
		route = r.lookupLocked(iid, dst, time.Now())
	}
	r.mu.Unlock()
	switch {
	case toNAT:
		// A new header in place of the old one: no copy of the packet.
		appendDataHeader(b[:0], nonce24(), iid, h.hasIID)
		out := b
		// Counted before the write, so that a receiver sees it counted.
		r.toNAT.Add(1)
		if err := n.tx.send(r.local(to.Public.Addr()), to.Public, out); err != nil {
			r.toNAT.Add(^uint64(0))
			n.ctr.drop(DropSendError)
			return
		}
	case fromNAT && route != nil:
		r.forward(route, b)
	case fromNAT:
		r.queue(iid, dst, b)
		r.resolve(iid, dst)
	default:
		r.openRelay.Add(1)
		n.ctr.drop(DropRTRNotRegistered)
		n.logs.warn("rtr-open-relay", from.Addr(), "RTR dropped a packet between EIDs not registered through it", "src", src, "dst", dst)
	}
}

// forward sends the packet b (LISP header + inner packet) from a NATed site
// onward as its destination's mapping says: to the best locator, natively
// when the mapping is negative with Natively-Forward or No-Action (and a
// native forwarder is configured), else nowhere (counted as unrouted).
func (r *rtr) forward(route *rtrRoute, b []byte) {
	n := r.n
	if route.negative {
		if r.o.Native != nil && (route.action == msg.ActNativelyFwd || route.action == msg.ActNoAction) {
			r.native.Add(1)
			if err := r.o.Native(b[DataHeaderLen:]); err != nil {
				r.native.Add(^uint64(0))
				n.ctr.drop(DropSendError)
			}
			return
		}
		r.unrouted.Add(1)
		return
	}
	loc, ok := bestLocator(route.locs)
	if !ok || r.data == nil {
		r.unrouted.Add(1)
		return
	}
	r.fromNAT.Add(1)
	if err := r.data.send(r.local(loc), netip.AddrPortFrom(loc, r.o.DataPort), b); err != nil {
		r.fromNAT.Add(^uint64(0))
		n.ctr.drop(DropSendError)
	}
}

// queue holds a copy of b until dst's mapping arrives (bounded; beyond
// the bounds the packet is dropped as unrouted).
func (r *rtr) queue(iid uint32, dst netip.Addr, b []byte) {
	dst = dst.Unmap()
	k := regKey{iid, netip.PrefixFrom(dst, dst.BitLen())}
	r.mu.Lock()
	defer r.mu.Unlock()
	q, ok := r.queued[k]
	if (!ok && len(r.queued) >= rtrQueueDsts) || len(q) >= rtrQueuePerDst {
		r.unrouted.Add(1)
		return
	}
	r.queued[k] = append(q, append([]byte(nil), b...))
}

func bestLocator(locs []Locator) (netip.Addr, bool) {
	best := -1
	for i, l := range locs {
		if l.Reachable && l.Priority != 255 && (best < 0 || l.Priority < locs[best].Priority) {
			best = i
		}
	}
	if best < 0 {
		return netip.Addr{}, false
	}
	return locs[best].Addr, true
}

// lookupLocked returns the live route covering eid.
func (r *rtr) lookupLocked(iid uint32, eid netip.Addr, now time.Time) *rtrRoute {
	eid = eid.Unmap()
	for l := eid.BitLen(); l >= 0; l-- {
		if rt := r.routes[regKey{iid, netip.PrefixFrom(eid, l).Masked()}]; rt != nil && now.Before(rt.expires) {
			return rt
		}
	}
	return nil
}

// resolve sends an ECM Map-Request for dst to the first Map-Server (as
// Map-Resolver), at most once a second per destination.
func (r *rtr) resolve(iid uint32, dst netip.Addr) {
	n := r.n
	dst = dst.Unmap()
	k := regKey{iid, netip.PrefixFrom(dst, dst.BitLen())}
	now := time.Now()
	nonce := randomNonce()
	r.mu.Lock()
	t, ok := r.lastReq[k]
	if ok && now.Sub(t) < time.Second {
		r.mu.Unlock()
		return
	}
	if !ok && (len(r.lastReq) >= rtrMaxResolving || len(r.pending) >= 4*rtrMaxResolving) {
		// Too many destinations in resolution: this one waits until the
		// sweep makes room (its queued packets, if any, are dropped then).
		r.mu.Unlock()
		n.ctr.drop(DropRTRTableFull)
		return
	}
	r.lastReq[k] = now
	r.pending[nonce] = k
	r.mu.Unlock()
	mr := r.o.MapServers[0]
	var itr []msg.Address
	for _, l := range r.o.Listen {
		itr = append(itr, msg.AddrOf(l.Unmap()))
	}
	req := msg.MapRequest{Nonce: nonce, ITRRLOCs: itr, EIDs: []msg.EID{msg.EIDOf(iid, k.prefix)}}
	ecm := msg.ECM{
		Src:     netip.AddrPortFrom(r.local(dst), n.opts.Port),
		Dst:     netip.AddrPortFrom(dst, msg.ControlPort),
		Message: req.Append(nil),
	}
	if !ecm.Src.Addr().IsValid() {
		// No RLOC of the EID's family: the unspecified address (as the
		// ITR does); the Map-Reply goes to the ITR-RLOCs anyway.
		un := netip.IPv6Unspecified()
		if dst.Is4() {
			un = netip.IPv4Unspecified()
		}
		ecm.Src = netip.AddrPortFrom(un, n.opts.Port)
	}
	n.ctr.mapRequestsSent.Add(1)
	if err := n.send(r.local(mr), netip.AddrPortFrom(mr, n.opts.Port), ecm.Append(nil)); err != nil {
		n.ctr.drop(DropSendError)
	}
}

// mapReply takes a Map-Reply to one of the RTR's Map-Requests; it reports
// whether the nonce was the RTR's. The packets queued for the destination
// go out at once.
func (r *rtr) mapReply(rep *msg.MapReply) bool {
	r.mu.Lock()
	k, ok := r.pending[rep.Nonce]
	if !ok {
		r.mu.Unlock()
		return false
	}
	r.learnLocked(k, rep)
	var route *rtrRoute
	if rt := r.lookupLocked(k.iid, k.prefix.Addr(), time.Now()); rt != nil {
		c := *rt
		route = &c
	}
	q := r.queued[k]
	if route != nil {
		delete(r.queued, k)
	}
	r.mu.Unlock()
	if route != nil {
		for _, b := range q {
			r.forward(route, b)
		}
	}
	return true
}

// learnLocked stores the records of a Map-Reply to the request k.
func (r *rtr) learnLocked(k regKey, rep *msg.MapReply) {
	delete(r.pending, rep.Nonce)
	now := time.Now()
	for i := range rep.Records {
		rec := &rep.Records[i]
		if !rec.EID.Prefix.IsValid() || rec.EID.IID != k.iid || !rec.EID.Prefix.Contains(k.prefix.Addr()) {
			continue
		}
		rt := &rtrRoute{key: regKey{k.iid, rec.EID.Prefix.Masked()}, negative: len(rec.Locators) == 0, action: rec.Action}
		// The record's TTL without overflow (ttlFromMinutes). TTL 0 says
		// "do not cache": the route serves the queued packets and lives
		// one second, so that re-resolving stays within RFC 9301's one
		// Map-Request per second per destination.
		ttl := max(ttlFromMinutes(rec.TTL), time.Second)
		rt.expires = now.Add(ttl)
		for _, l := range rec.Locators {
			if l.Addr.IP.IsValid() {
				rt.locs = append(rt.locs, Locator{Addr: l.Addr.IP.Unmap(), Priority: l.Priority, Weight: l.Weight, Reachable: l.Reachable})
			}
		}
		if _, ok := r.routes[rt.key]; !ok && len(r.routes) >= rtrMaxRoutes {
			// Full: one (arbitrary) route makes room; it is resolved
			// again when used.
			for k := range r.routes {
				delete(r.routes, k)
				break
			}
			r.n.ctr.drop(DropRTRTableFull)
		}
		r.routes[rt.key] = rt
	}
}

// snapshot returns the RTR's bindings, for `show`, by instance-id,
// prefix, then xTR-ID.
func (r *rtr) snapshot() []RTRBinding {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]RTRBinding, 0, len(r.bindings))
	for _, b := range r.bindings {
		v := b.RTRBinding
		v.Expires = v.LastSeen.Add(r.o.BindingTimeout)
		out = append(out, v)
	}
	// sortx, not slices.SortFunc: the generic sort instantiated for
	// this struct shape is ~20 KB of MIPS code (issue 6's size budget).
	sortx.Sort(len(out), func(i, j int) bool {
		a, b := &out[i], &out[j]
		if a.InstanceID != b.InstanceID {
			return a.InstanceID < b.InstanceID
		}
		if c := comparePrefix(a.Prefix, b.Prefix); c != 0 {
			return c < 0
		}
		return bytes.Compare(a.XTRID[:], b.XTRID[:]) < 0
	}, func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// RTRBindings returns the RTR's NAT bindings (nil without the role).
func (n *Node) RTRBindings() []RTRBinding {
	if n.rtr == nil {
		return nil
	}
	return n.rtr.snapshot()
}

// RTRStats returns the RTR's data counters (zero without the role).
func (n *Node) RTRStats() RTRStats {
	if n.rtr == nil {
		return RTRStats{}
	}
	return RTRStats{
		ToNAT: n.rtr.toNAT.Load(), FromNAT: n.rtr.fromNAT.Load(),
		Unrouted: n.rtr.unrouted.Load(), OpenRelay: n.rtr.openRelay.Load(), Native: n.rtr.native.Load(),
	}
}
