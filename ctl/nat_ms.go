package ctl

import (
	"net/netip"
	"slices"

	"github.com/lispd/lispd/ctl/msg"
)

// NAT traversal, Map-Server side: Info-Requests are answered with what the
// Map-Server saw of the sender and the RTRs it offers; Map-Registers
// relayed by a listed RTR (an ECM with the N bit) are accepted and
// acknowledged back through that RTR.

// handleInfoRequest answers an Info-Request that authenticates with the key
// of a site: the Info-Reply's NAT-Traversal LCAF carries the source address
// and port the request came from (the ETR's global RLOC and port), the
// Map-Server's RLOC and port, and the RTR list.
func (s *mapServer) handleInfoRequest(b []byte, req *msg.Info, from netip.AddrPort) {
	n := s.n
	var cands []*site
	if req.EID.Prefix.IsValid() {
		cands = s.reg.candidateSites(req.EID.IID, req.EID.Prefix.Masked())
	}
	if len(cands) == 0 {
		n.ctr.drop(DropUnknownSite)
		n.logs.warn("info-site", from.Addr(), "Info-Request refused: no site holds its EID prefix", "eid", req.EID.String())
		return
	}
	var site *site
	for _, c := range cands {
		if c.KeyType.alg() == req.Alg && msg.Verify(b, []byte(c.Key)) == nil {
			site = c
			break
		}
	}
	if site == nil {
		n.ctr.drop(DropBadAuth)
		n.logs.warn("info-auth", from.Addr(), "Info-Request refused: authentication failed with every site key", "eid", req.EID.String())
		return
	}
	// An Info-Request is unauthenticated as to its source (and has no
	// replay protection): its answer is bounded like a Map-Reply.
	if !n.replyAllowed(from.Addr()) {
		return
	}
	rep := msg.Info{
		Reply: true, Nonce: req.Nonce, KeyID: req.KeyID, Alg: site.KeyType.alg(),
		TTL: ttlMinutes(s.o.InfoTTL), EID: req.EID,
		NAT: msg.NATTraversal{
			MSPort:    n.opts.Port,
			ETRPort:   from.Port(),
			GlobalETR: from.Addr(),
			MS:        n.listenAddr(from.Addr()),
			// The private RLOC is not in an Info-Request (AFI 0 after the
			// EID): the xTR knows it; the RTR learns it from the inner
			// header of the encapsulated Map-Register.
			RTRs: slices.Clone(s.o.RTRs),
		},
	}
	out := rep.Append(nil)
	if err := msg.Sign(out, []byte(site.Key)); err != nil {
		n.logs.warn("sign", from.Addr(), "cannot sign Info-Reply", "err", err)
		return
	}
	if err := n.send(netip.Addr{}, from, out); err != nil {
		n.ctr.drop(DropSendError)
		n.logs.warn("send-info-reply", from.Addr(), "cannot send Info-Reply", "err", err)
	}
}

// fromRTR reports whether a is one of the configured RTRs.
func (s *mapServer) fromRTR(a netip.Addr) bool {
	a = a.Unmap()
	for _, r := range s.o.RTRs {
		if r.Unmap() == a {
			return true
		}
	}
	return false
}

// handleRelayedRegister takes a Map-Register that an RTR relayed in an ECM
// with the N bit: only from a listed RTR; the Map-Notify goes back to the
// RTR in an ECM with the R bit, inner Map-Server → the xTR's private RLOC.
func (s *mapServer) handleRelayedRegister(e *msg.ECM, from netip.AddrPort) {
	if !s.fromRTR(from.Addr()) {
		s.n.ctr.drop(DropNotFromRTR)
		s.n.logs.warn("register-not-rtr", from.Addr(), "encapsulated Map-Register refused: not from a configured RTR")
		return
	}
	s.handleMapRegister(e.Message, from, e)
}

// listenAddr returns the node's bound address of a's family, or the
// unspecified address when bound to the wildcard.
func (n *Node) listenAddr(a netip.Addr) netip.Addr {
	a = a.Unmap()
	for _, l := range n.LocalAddrs() {
		if la := l.Addr().Unmap(); la.Is4() == a.Is4() && !la.IsUnspecified() {
			return la
		}
	}
	for _, l := range n.opts.Listen {
		if l.Unmap().Is4() == a.Is4() {
			return l.Unmap()
		}
	}
	if n.opts.XTR != nil {
		return n.localRLOC(a)
	}
	return netip.Addr{}
}
