package ctl

import (
	"net/netip"
	"time"

	"github.com/lispd/lispd/ctl/msg"
	"github.com/lispd/lispd/internal/logx"
)

// ecmInfo is what the dispatcher keeps of an Encapsulated Control Message
// around a Map-Request.
type ecmInfo struct {
	raw       []byte // the whole ECM as received (valid during the call)
	innerPort uint16 // inner UDP source port: where the Map-Reply goes
}

// handle dispatches one received control message whose local destination
// address is unknown.
func (n *Node) handle(b []byte, from netip.AddrPort) { n.receive(b, from, netip.Addr{}) }

// receive dispatches one received control message, sent to the local
// address to (the zero Addr when unknown), by type. It never panics on any
// input; malformed messages are counted and logged rate-limited.
func (n *Node) receive(b []byte, from netip.AddrPort, to netip.Addr) {
	t, err := msg.PeekType(b)
	if err != nil {
		n.malformed(from, "control message", err)
		return
	}
	n.ctr.in[t&0xf].Add(1)
	n.trace("control message in", t, from, len(b))
	switch t {
	case msg.TypeMapRequest:
		n.handleMapRequest(b, from, to, nil)
	case msg.TypeMapReply:
		n.handleMapReply(b, from)
	case msg.TypeMapRegister:
		if n.ms == nil {
			n.ctr.drop(DropUnsupported)
			return
		}
		n.ms.handleMapRegister(b, from, nil)
	case msg.TypeMapNotify:
		if n.etr == nil {
			n.ctr.drop(DropUnsupported)
			return
		}
		n.handleMapNotify(b, from)
	case msg.TypeMapNotifyAck:
		if n.ms == nil {
			n.ctr.drop(DropUnsupported)
			return
		}
		n.ms.handleMapNotifyAck(b, from)
	case msg.TypeECM:
		n.handleECM(b, from)
	case msg.TypeInfo:
		if n.ms == nil && n.nat == nil {
			n.ctr.drop(DropUnsupported) // neither role that takes Info messages
			return
		}
		n.handleInfo(b, from)
	default:
		n.ctr.drop(DropUnsupported)
		n.logs.logAt(logx.LevelDebug, "unsupported", from.Addr(), "unsupported control message", "type", t.String())
	}
}

// malformed counts and logs (rate-limited) an undecodable message.
func (n *Node) malformed(from netip.AddrPort, what string, err error) {
	n.ctr.drop(DropMalformed)
	n.logs.warn("malformed", from.Addr(), "malformed "+what, "err", err)
}

// send transmits the encoded message b and counts it under its type.
// traceRate is how many control messages a second (and in a burst) the
// debug trace shows: all of them at the rates of a working network, a
// bounded log under a flood.
const traceRate = 20

// trace logs one control message at debug level, the way an engineer
// reads a capture: type, peer, size; past traceRate a line says how many
// it left out. Nothing is formatted unless debug is on.
func (n *Node) trace(what string, t msg.Type, peer netip.AddrPort, size int) {
	if !n.log.Enabled(logx.LevelDebug) {
		return
	}
	if !n.traces.allow(time.Now()) {
		n.untraced.Add(1)
		return
	}
	if u := n.untraced.Swap(0); u > 0 {
		n.log.Debug(what, "type", t.String(), "peer", peer.String(), "bytes", size, "untraced_before", u)
		return
	}
	n.log.Debug(what, "type", t.String(), "peer", peer.String(), "bytes", size)
}

func (n *Node) send(src netip.Addr, dst netip.AddrPort, b []byte) error {
	if n.tx == nil {
		return errNotStarted
	}
	if len(b) == 0 {
		return nil
	}
	// Counted before the write so that a peer that has the message also
	// sees it counted; a failed write takes it back.
	out := &n.ctr.out[b[0]>>4]
	out.Add(1)
	n.trace("control message out", msg.Type(b[0]>>4), dst, len(b))
	var err error
	if ifindex, ok := n.sendIface(src); ok {
		err = n.tx.(viaSender).sendVia(src.Unmap(), ifindex, dst, b)
	} else {
		err = n.tx.send(src, dst, b)
	}
	if err != nil {
		out.Add(^uint64(0))
		return err
	}
	return nil
}

// sendIface reports whether a message sourced from src goes with src and an
// interface given per packet (IP_PKTINFO), and which interface: src must be
// a local locator that is up (another address may not be on the host: the
// kernel would refuse it as a source), and the transport able to. Like the
// data plane's sources, the only locator of its address family gets no
// forced interface (ifindex 0: the route decides; its address may live on
// an interface packets do not leave by), while with several uplinks a
// message from one leaves by that one, where its ISP expects its source.
func (n *Node) sendIface(src netip.Addr) (int, bool) {
	if n.opts.XTR == nil || !src.IsValid() || src.IsUnspecified() {
		return 0, false
	}
	if _, ok := n.tx.(viaSender); !ok {
		return 0, false
	}
	src = src.Unmap()
	ls := n.localLocators()
	found, ifindex, family := false, 0, 0
	for _, l := range ls {
		if l.Addr.Unmap().Is4() != src.Is4() {
			continue
		}
		family++
		if l.Addr.Unmap() == src && !l.Down && !found {
			found, ifindex = true, l.IfIndex
		}
	}
	if !found {
		return 0, false
	}
	if family < 2 || ifindex < 0 {
		ifindex = 0
	}
	return ifindex, true
}

// usable reports whether the node can send to a.
func (n *Node) usable(a netip.Addr) bool {
	if !a.IsValid() || a.IsUnspecified() || n.tx == nil {
		return false
	}
	v4, v6 := n.tx.families()
	a = a.Unmap()
	return (a.Is4() && v4) || (a.Is6() && v6)
}

// pickITRRLOC returns the first ITR-RLOC of an address family the node can
// send in; an ITR-RLOC encoded as an AFI-List LCAF (an IPv4 and an IPv6
// address of one ITR, as some implementations send) yields its first
// usable address.
func (n *Node) pickITRRLOC(rlocs []msg.Address) (netip.Addr, bool) {
	return n.pickITRRLOCLike(rlocs, netip.Addr{})
}

// pickITRRLOCLike is pickITRRLOC preferring an ITR-RLOC of like's family
// (when like is valid): a probe reply that must leave from the probed
// address needs a destination of its family.
func (n *Node) pickITRRLOCLike(rlocs []msg.Address, like netip.Addr) (netip.Addr, bool) {
	fam := 0 // any
	if like.IsValid() {
		fam = like.Unmap().BitLen()
	}
	for {
		for _, a := range rlocs {
			if c := a.IP.Unmap(); n.usable(c) && (fam == 0 || c.BitLen() == fam) {
				return c, true
			}
			for _, c := range a.List {
				if c = c.Unmap(); n.usable(c) && (fam == 0 || c.BitLen() == fam) {
					return c, true
				}
			}
		}
		if fam == 0 {
			return netip.Addr{}, false
		}
		fam = 0 // none of like's family: any
	}
}

// handleECM decapsulates an Encapsulated Control Message. Only Map-Requests
// travel in ECMs towards us (to the Map-Resolver, or forwarded by a
// Map-Server to this ETR).
func (n *Node) handleECM(b []byte, from netip.AddrPort) {
	var e msg.ECM
	if err := e.Decode(b); err != nil {
		n.malformed(from, "Encapsulated Control Message", err)
		return
	}
	inner := e.Message
	t, err := msg.PeekType(inner)
	if err != nil {
		n.malformed(from, "ECM inner message", err)
		return
	}
	switch {
	case t == msg.TypeMapRegister && e.N && n.ms != nil:
		n.ms.handleRelayedRegister(&e, from)
		return
	case t == msg.TypeMapRegister && e.RTR && n.rtr != nil:
		n.rtr.handleRegister(&e, from)
		return
	case t == msg.TypeMapNotify && e.RTR && n.rtr != nil:
		n.rtr.handleNotify(b, &e, from)
		return
	}
	if t != msg.TypeMapRequest {
		n.ctr.drop(DropUnsupported)
		n.logs.logAt(logx.LevelDebug, "ecm-unsupported", from.Addr(), "unsupported message inside ECM", "type", t.String())
		return
	}
	n.handleMapRequest(inner, from, netip.Addr{}, &ecmInfo{
		raw: b, innerPort: e.Src.Port(),
	})
}

// handleMapRequest serves a Map-Request that came to the local address to
// (zero when unknown or encapsulated): SMRs go to the ITR, requests for our
// own EIDs (and RLOC probes) to the ETR, ECM requests for anything else to
// the Map-Resolver.
func (n *Node) handleMapRequest(b []byte, from netip.AddrPort, to netip.Addr, ecm *ecmInfo) {
	var req msg.MapRequest
	if err := req.Decode(b); err != nil {
		n.malformed(from, "Map-Request", err)
		return
	}
	if len(req.EIDs) == 0 {
		n.malformed(from, "Map-Request", errNoRecord)
		return
	}
	if req.SMR {
		if n.itr == nil {
			n.ctr.drop(DropUnsupported)
			return
		}
		n.handleSMR(&req)
		return
	}
	replyPort := from.Port()
	if ecm != nil {
		replyPort = ecm.innerPort
	}
	// Every record counts (RFC 9301 section 5.2: one or more records):
	// the ETR answers when any is ours, the Map-Resolver resolves each.
	var eid msg.EID
	ours := false
	for _, e := range req.EIDs {
		if !e.Prefix.IsValid() {
			continue
		}
		if !eid.Prefix.IsValid() {
			eid = e
		}
		if n.etr != nil && !ours {
			_, ours = n.etr.ownPrefix(e.IID, e.Prefix.Addr())
		}
	}
	if !eid.Prefix.IsValid() {
		n.ctr.drop(DropUnsupported)
		return
	}
	switch {
	case n.etr != nil && (ours || req.Probe):
		n.etr.answer(&req, replyPort, from, to)
	case ecm != nil && n.ms != nil:
		n.ms.resolve(&req, ecm, from)
	case req.Probe && n.rtr != nil:
		n.rtr.answerProbe(&req, from, to)
	default:
		n.ctr.drop(DropNotOurEID)
		n.logs.logAt(logx.LevelDebug, "not-our-eid", from.Addr(), "Map-Request for an EID that is not ours", "eid", eid.String())
	}
}

// maxRecordTTL caps how long a Record TTL keeps a mapping: the ITR's
// map-cache entries and the Map-Server's T-bit registrations. RFC 9301
// section 5.4 leaves 0xffffffff to the recipient and suggests 1440 minutes
// (a day) as the usual TTL; a week is seven times that, so no sane site's
// TTL is shortened, yet an entry whose ETR lost its state (and so never
// sends an SMR) is still resolved again within a bounded time, and a
// registrant cannot pin Map-Server state for decades.
const maxRecordTTL = 7 * 24 * time.Hour

// ttlFromMinutes converts a Record TTL in minutes (RFC 9301 section 5.4)
// to a duration without overflow: 0 stays 0 (remove at once), anything of a
// week or more, including 0xffffffff ("the recipient decides"), is
// maxRecordTTL.
func ttlFromMinutes(minutes uint32) time.Duration {
	if uint64(minutes) >= uint64(maxRecordTTL/time.Minute) {
		return maxRecordTTL
	}
	return time.Duration(minutes) * time.Minute
}

// ttlMinutes converts a duration to a record TTL in whole minutes.
func ttlMinutes(d time.Duration) uint32 {
	m := d / time.Minute
	if m > 0xffffffff {
		m = 0xffffffff
	}
	return uint32(m)
}

// handleInfo dispatches an Info-Request to the Map-Server and an Info-Reply
// to the xTR's NAT traversal.
func (n *Node) handleInfo(b []byte, from netip.AddrPort) {
	// A role that takes the message, or it is unsupported (not decoded).
	if reply := b[0]&0x08 != 0; (reply && n.nat == nil) || (!reply && n.ms == nil) {
		n.ctr.drop(DropUnsupported)
		return
	}
	var m msg.Info
	if err := m.Decode(b); err != nil {
		n.malformed(from, "Info message", err)
		return
	}
	if m.Reply {
		n.nat.handleInfoReply(b, &m, from)
		return
	}
	n.ms.handleInfoRequest(b, &m, from)
}
