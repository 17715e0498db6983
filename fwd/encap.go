package fwd

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"
)

// Encapsulation overhead in front of the inner packet on the wire: outer IP
// header, UDP header, LISP header.
const (
	Overhead4 = 20 + 8 + HeaderLen // 36 with an IPv4 RLOC
	Overhead6 = 40 + 8 + HeaderLen // 56 with an IPv6 RLOC
)

// DefaultPathMTU is the path MTU assumed toward an RLOC until one is learned.
const DefaultPathMTU = 1500

// MissHandler is told about map-cache misses: a packet to dst in instance
// iid, inside eid_space, found no usable entry; src is the packet's source
// (the EID of the host that caused the miss, which the Map-Request carries
// as its Source-EID, RFC 9301 section 5.3). Miss is called on the packet
// path and must not block (e.g. a select with default on a channel); the
// control plane answers by inserting a mapping into the MapCache.
type MissHandler interface {
	Miss(iid uint32, src, dst netip.Addr)
}

// Verdict is what the caller must do with a packet after Encap or Decap.
type Verdict uint8

// Verdicts.
const (
	// VerdictDrop: the packet was dropped and counted (EncapResult.Reason).
	VerdictDrop Verdict = iota
	// VerdictSend: send EncapResult.Pkt to EncapResult.Dst.
	VerdictSend
	// VerdictReply: the packet was dropped and an ICMP error for its sender
	// was written to the reply buffer (EncapResult.ReplyLen bytes) to be
	// written into the TUN.
	VerdictReply
	// VerdictQueued: the packet was copied into its destination's pending
	// queue while the mapping is resolved; the caller's buffer is free.
	VerdictQueued
	// VerdictNative: a negative mapping says forward natively and there is
	// no proxy ETR: hand EncapResult.Pkt (the inner packet, unchanged) to
	// the NativeForwarder.
	VerdictNative
)

// EncapResult describes one encapsulated packet.
type EncapResult struct {
	Pkt      []byte         // LISP header + inner packet: the UDP payload, inside the caller's buffer (VerdictNative: the inner packet alone)
	Dst      netip.AddrPort // the RLOC and port
	Hash     uint32         // flow hash: pick the send socket (source port) with it
	TOS      uint8          // outer TOS / traffic class: inner DSCP and ECN (RFC 6040 normal mode)
	TTL      uint8          // outer TTL / hop limit: copied from the inner packet
	RLOC     *RLOC          // the chosen locator
	Src      netip.Addr     // the local locator to send from; zero = the kernel's choice
	IfIndex  int            // its interface; 0 = the route's
	ReplyLen int            // VerdictReply: length of the ICMP error in the reply buffer
	Reason   DropReason     // VerdictDrop / VerdictReply: why
}

// encapConfig is the part of Options the encapsulator needs.
type encapConfig struct {
	iid      uint32
	eidSpace []netip.Prefix
	petr     *Mapping // proxy ETRs for native-forward, or nil
	pathMTU  int
	icmpSrc4 netip.Addr
	icmpSrc6 netip.Addr
	miss     MissHandler
	seed     uint64
	pend     *pendingQueue // nil: misses are dropped (no queue)
	native   bool          // a NativeForwarder takes native-forward packets
	flush    bool          // re-processing queued packets: never queue again
}

// Encapsulator is the ITR side of the data plane for one goroutine: it turns
// inner packets read from the TUN into LISP packets in place. Use Begin once
// per batch, Encap per packet, End after the batch. Not safe for concurrent
// use; every method is allocation-free.
type Encapsulator struct {
	cfg   encapConfig
	cache *MapCache
	stats *Stats
	lsb   *atomic.Uint32
	local *localPtr // nil: no source selection
	icmp  rateLimit
	rng   rng

	// dsts caches map-cache results per destination for the current
	// snapshot: a hit skips the trie walk, and on 32-bit targets (mips,
	// mipsle, arm) it also avoids the heap allocation of bart's Lookup there
	// (netip.Addr.AsSlice is not inlined on them, so its array escapes).
	dsts     [dstCacheSize]dstCacheEntry
	dstsSnap *snapshot

	// per batch
	snap     *snapshot
	now      uint32
	flags    uint8
	lsbs     uint32
	srcs     *localSel
	bs       batchStats
	lastMiss netip.Addr
	accM     *Mapping
	accR     *RLOC
	accPkts  uint64
	accBytes uint64
	pkt      Packet
}

// dstCacheSize is the number of slots of the per-goroutine destination
// cache (direct-mapped; 32 bytes a slot on 64-bit, 32 KB in all).
const dstCacheSize = 1024

type dstCacheEntry struct {
	dst netip.Addr
	m   *Mapping
}

func newEncapsulator(cfg encapConfig, cache *MapCache, stats *Stats, lsb *atomic.Uint32, icmp rateLimit) *Encapsulator {
	return &Encapsulator{cfg: cfg, cache: cache, stats: stats, lsb: lsb, icmp: icmp, rng: rng{s: cfg.seed ^ 0x5851f42d4c957f2d}}
}

// withLocal makes e pick the source of each packet among the local
// locators in *l.
func (e *Encapsulator) withLocal(l *localPtr) *Encapsulator {
	e.local = l
	return e
}

// Begin starts a batch: it takes the map-cache snapshot, the coarse clock
// and the locator-status bits once for all packets of the batch.
func (e *Encapsulator) Begin() {
	e.snap = e.cache.snap.Load()
	if e.snap != e.dstsSnap {
		e.dsts = [dstCacheSize]dstCacheEntry{}
		e.dstsSnap = e.snap
	}
	e.now = e.cache.now.Load()
	e.lsbs = e.lsb.Load()
	if e.local != nil {
		e.srcs = e.local.Load()
	}
	e.flags = FlagN | FlagL
	if e.cfg.iid != 0 {
		e.flags |= FlagI
	}
	e.lastMiss = netip.Addr{}
}

// End finishes a batch: it adds the batch's counters to the shared ones.
func (e *Encapsulator) End() {
	e.flushAcc()
	e.bs.flush(e.stats, true)
}

func (e *Encapsulator) flushAcc() {
	if e.accM != nil {
		e.accM.Packets.Add(e.accPkts)
		e.accM.Bytes.Add(e.accBytes)
		e.accR.Packets.Add(e.accPkts)
		e.accR.Bytes.Add(e.accBytes)
	}
	e.accM, e.accR, e.accPkts, e.accBytes = nil, nil, 0, 0
}

// Encap encapsulates the inner packet buf[off:off+n] in place: the LISP
// header goes into buf[off-HeaderLen:off]. off must be at least HeaderLen.
// reply must hold ICMPBufLen bytes; it receives an ICMP error for the
// sender when the verdict is VerdictReply.
func (e *Encapsulator) Encap(buf []byte, off, n int, reply []byte, out *EncapResult) Verdict {
	*out = EncapResult{}
	if off < HeaderLen || off+n > len(buf) {
		return e.dropped(out, DropMalformed)
	}
	inner := buf[off : off+n]
	p := &e.pkt
	if err := ParsePacket(inner, p); err != nil {
		return e.dropped(out, DropMalformed)
	}
	inner = inner[:p.Len]
	dst := p.Dst

	if !e.inEIDSpace(dst) {
		if isLinkScopeMulticast(dst) {
			// The kernel's own MLD/IGMP chatter on the TUN (a router
			// reports ff02::2 even on an interface without an address):
			// nobody's traffic, so not a drop.
			e.bs.linkScope++
			out.Reason = DropNotEIDSpace
			return VerdictDrop
		}
		return e.dropped(out, DropNotEIDSpace)
	}
	var slot uint32
	if p.Is6 {
		slot = binary.BigEndian.Uint32(inner[36:40]) ^ binary.BigEndian.Uint32(inner[28:32])
	} else {
		slot = binary.BigEndian.Uint32(inner[16:20])
	}
	slot = (slot * 0x9e3779b1) >> 22 // Fibonacci hashing onto 1024 slots
	ce := &e.dsts[slot]
	m := ce.m
	if m == nil || ce.dst != dst {
		if m = e.snap.lookup(e.cfg.iid, dst); m != nil {
			ce.dst, ce.m = dst, m
		}
	}
	if m == nil || m.expired(e.now) {
		return e.unresolved(buf, off, p, inner, reply, out, true)
	}
	return e.forward(buf, off, p, inner, m, reply, out)
}

// forward finishes Encap for the packet p (inner, at buf[off:]) once its
// map-cache entry m is known.
func (e *Encapsulator) forward(buf []byte, off int, p *Packet, inner []byte, m *Mapping, reply []byte, out *EncapResult) Verdict {
	m.touch(e.now)

	switch m.State {
	case StatePending:
		if e.cfg.pend == nil && !e.cfg.flush {
			return e.dropped(out, DropPending)
		}
		return e.unresolved(buf, off, p, inner, reply, out, true)
	case StateNegative:
		switch m.Action {
		case ActionSendMapRequest:
			return e.unresolved(buf, off, p, inner, reply, out, false)
		case ActionNativelyForward:
			if e.cfg.petr == nil {
				if e.cfg.native {
					return e.nativeVerdict(inner, p, out)
				}
				return e.reply(inner, p, ICMPHostUnreachable, 0, reply, out, DropNegative)
			}
			m = e.cfg.petr
		case ActionNoAction:
			// RFC 9301: no encapsulation occurs.
			if e.cfg.native {
				return e.nativeVerdict(inner, p, out)
			}
			return e.dropped(out, DropNegative)
		case ActionDropPolicyDenied, ActionDropAuthFailure:
			return e.reply(inner, p, ICMPAdminProhibited, 0, reply, out, DropNegative)
		default:
			return e.reply(inner, p, ICMPHostUnreachable, 0, reply, out, DropNegative)
		}
	}

	hash := FlowHash(inner, p, e.cfg.seed)
	r := m.RLOC(hash >> 24) // bits apart from those of the source port
	if r == nil {
		return e.reply(inner, p, ICMPHostUnreachable, 0, reply, out, DropNoRLOC)
	}

	// Path MTU: a packet that will not fit the path after encapsulation gets
	// a too-big error when it may not be fragmented (DF, or IPv6).
	over := Overhead4
	if r.Addr.Addr().Is6() {
		over = Overhead6
	}
	pmtu := int(r.pmtu.Load())
	if pmtu == 0 {
		pmtu = e.cfg.pathMTU
	}
	if p.Len+over > pmtu && p.DF {
		return e.reply(inner, p, ICMPTooBig, pmtu-over, reply, out, DropTooBig)
	}

	h := Header(buf[off-HeaderLen : off])
	h[0] = e.flags
	h.SetNonce(uint32(e.rng.next()))
	if e.flags&FlagI != 0 {
		h.SetInstanceID(e.cfg.iid)
		h[7] = byte(e.lsbs)
	} else {
		h[4], h[5], h[6], h[7] = byte(e.lsbs>>24), byte(e.lsbs>>16), byte(e.lsbs>>8), byte(e.lsbs)
	}

	*out = EncapResult{
		Pkt:  buf[off-HeaderLen : off+p.Len],
		Dst:  r.Addr,
		Hash: hash,
		TOS:  p.TOS,
		TTL:  p.TTL,
		RLOC: r,
	}
	if e.srcs != nil {
		// The hash scrambled again, so that the local choice does not
		// follow the remote one (bits 24..31) or the source port.
		out.Src, out.IfIndex, _ = e.srcs.pick(r.Addr.Addr().Is6(), (hash*0x85ebca6b)>>16)
	}
	if m != e.accM || r != e.accR {
		e.flushAcc()
		e.accM, e.accR = m, r
	}
	e.accPkts++
	e.accBytes += uint64(p.Len)
	e.bs.pkts++
	e.bs.bytes += uint64(p.Len)
	return VerdictSend
}

// unresolved handles a packet whose destination has no usable mapping yet
// (a miss, an expired or pending entry, a negative entry saying
// Send-Map-Request): queue it and tell the MissHandler once per
// destination, or, without a queue, report the miss and drop.
// placeholder says whether a new queue also puts a pending entry for the
// destination in the map-cache (not under a Send-Map-Request entry, which
// already stands for the destination).
func (e *Encapsulator) unresolved(buf []byte, off int, p *Packet, inner []byte, reply []byte, out *EncapResult, placeholder bool) Verdict {
	switch {
	case e.cfg.flush:
		// The mapping just installed does not resolve this packet either.
		return e.dropped(out, DropNoMapping)
	case e.cfg.pend == nil:
		e.miss(p.Src, p.Dst)
		return e.dropped(out, DropNoMapping)
	}
	res, first, m := e.cfg.pend.enqueue(e.cache, pendKey{e.cfg.iid, p.Dst}, inner, e.now, placeholder)
	if first {
		e.report(p.Src, p.Dst)
	}
	switch res {
	case enqQueued:
		e.bs.queued++
		return VerdictQueued
	case enqResolved:
		return e.forward(buf, off, p, inner, m, reply, out)
	}
	if res == enqNoQueue {
		e.miss(p.Src, p.Dst) // no queue for it (all taken): at least keep resolving
	}
	return e.dropped(out, DropQueueFull)
}

// nativeVerdict hands the inner packet to the caller for native forwarding.
func (e *Encapsulator) nativeVerdict(inner []byte, p *Packet, out *EncapResult) Verdict {
	out.Pkt = inner
	out.TOS, out.TTL = p.TOS, p.TTL
	e.bs.native++
	e.bs.nativeBytes += uint64(p.Len)
	return VerdictNative
}

// NoRoute handles the packet the last Encap call said VerdictNative for
// (out.Pkt, still parsed in e.pkt) when the NativeForwarder could not send
// it for want of a route: it counts the drop and, as a router without a
// route would, returns VerdictReply with an ICMP net unreachable (no route
// to destination) to the sender in reply (ICMPBufLen bytes;
// out.ReplyLen), or VerdictDrop when none may be sent.
func (e *Encapsulator) NoRoute(reply []byte, out *EncapResult) Verdict {
	return e.reply(out.Pkt, &e.pkt, ICMPNoRoute, 0, reply, out, DropNativeError)
}

// Dropped counts a packet the caller could not send after Encap said
// VerdictSend (for example a failed sendmmsg).
func (e *Encapsulator) Dropped(r DropReason) { e.bs.drop(r) }

func (e *Encapsulator) dropped(out *EncapResult, r DropReason) Verdict {
	e.bs.drop(r)
	out.Reason = r
	return VerdictDrop
}

func (e *Encapsulator) reply(inner []byte, p *Packet, kind ICMPKind, mtu int, reply []byte, out *EncapResult, r DropReason) Verdict {
	e.bs.drop(r)
	out.Reason = r
	if len(reply) < ICMPBufLen {
		return VerdictDrop
	}
	src := e.cfg.icmpSrc4
	if p.Is6 {
		src = e.cfg.icmpSrc6
	}
	// Check whether an error may be sent before spending a token.
	if !mayReply(inner, p) {
		return VerdictDrop
	}
	if !e.icmp.allow(e.now) {
		e.bs.icmpLimited++
		return VerdictDrop
	}
	n := BuildICMPError(reply, inner, p, kind, mtu, src)
	if n == 0 {
		return VerdictDrop
	}
	e.bs.icmp++
	out.ReplyLen = n
	return VerdictReply
}

func (e *Encapsulator) miss(src, dst netip.Addr) {
	if dst == e.lastMiss {
		return // one report per destination per batch
	}
	e.lastMiss = dst
	e.report(src, dst)
}

// report tells the MissHandler about dst (missed by a packet from src).
func (e *Encapsulator) report(src, dst netip.Addr) {
	if e.cfg.miss != nil {
		e.cfg.miss.Miss(e.cfg.iid, src, dst)
		e.bs.misses++
	}
}

func (e *Encapsulator) inEIDSpace(a netip.Addr) bool {
	if len(e.cfg.eidSpace) == 0 {
		return true
	}
	for _, p := range e.cfg.eidSpace {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// isLinkScopeMulticast reports whether a is a link-local multicast group
// (ff02::/16, 224.0.0.0/24): packets to it never leave the link they are
// sent on, so they are never meant for a tunnel.
func isLinkScopeMulticast(a netip.Addr) bool {
	return a.IsLinkLocalMulticast() || (a.Is6() && a.IsInterfaceLocalMulticast())
}
