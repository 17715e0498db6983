package ctl

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/lispd/lispd/ctl/msg"
	"github.com/lispd/lispd/internal/consterr"
	"github.com/lispd/lispd/internal/nocmp"
)

const (
	errNotStarted = consterr.Error("control plane not started")
	errNoRecord   = consterr.Error("no EID record")
)

// mapServer is the Map-Server (registrations) and Map-Resolver (answering
// ECM Map-Requests from them) role.
type mapServer struct {
	n   *Node
	o   *MapServerOptions
	reg *registry
	// fwd bounds the Map-Requests forwarded to each ETR (and to all), as
	// Map-Replies are bounded: a Map-Request names any EID, so without it
	// the Map-Resolver relays a flood to a registered ETR one for one.
	fwd *replyLimiter

	mu sync.Mutex
	// unsolicited holds Map-Notifies the Map-Server sent on its own
	// initiative, by nonce, until their Map-Notify-Ack arrives. Nothing
	// sends them yet (SMR on change, issue 7, will); solicited Map-Notifies
	// are never retransmitted: a lost one makes the ETR register again.
	unsolicited map[uint64]*pendingNotify
}

// pendingNotify is an unsolicited Map-Notify awaiting its Map-Notify-Ack.
type pendingNotify struct {
	_ nocmp.DoNotCompare

	to netip.AddrPort
}

func newMapServer(n *Node, o *MapServerOptions) *mapServer {
	return &mapServer{n: n, o: o, reg: newRegistry(o.Sites), unsolicited: map[uint64]*pendingNotify{},
		fwd: newReplyLimiter(replyPerDst, replyDstBurst, replyGlobal, replyGlobalBurst)}
}

// run sweeps expired registrations until ctx ends.
func (s *mapServer) run(ctx context.Context) {
	every := min(max(s.o.RegistrationTimeout/2, 10*time.Millisecond), 30*time.Second)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			gone := s.reg.sweep(now)
			for i, e := range gone {
				if i == 8 {
					s.n.log.Info("registrations expired", "more", len(gone)-i)
					break
				}
				s.n.log.Info("registration expired", "site", e.site, "iid", e.key.iid, "eid_prefix", e.key.prefix, "source", e.source.Addr())
			}
		}
	}
}

// useTTLFactor caps the registration lifetime a Map-Register with the T
// bit may ask for (its record TTL) at this many registration timeouts: an
// hour by default. RFC 9301 has ETRs register every minute and Map-Servers
// time registrations out after three; the T bit lets the ETR choose its own
// lifetime instead (lispers.net sends 3 minutes). Shorter asks are honoured
// as they are; a longer one (a day, or 0xffffffff) would pin the Map-Server
// state, and a max_registrations slot, long after the xTR went away, while
// an xTR that refreshes as the RFC says never notices the cap.
const useTTLFactor = 20

// handleMapRegister accepts a Map-Register only if it authenticates with the
// key of a site and every record lies inside that site's prefixes (in its
// instance-id); otherwise it is dropped, counted and logged once per source
// per minute. With the M bit, the Map-Notify that acknowledges it goes back
// to the source, or, for a Map-Register an RTR relayed (via not nil), back
// to the RTR inside an ECM with the R bit.
func (s *mapServer) handleMapRegister(b []byte, from netip.AddrPort, via *msg.ECM) {
	n := s.n
	var reg msg.MapRegister
	if err := reg.Decode(b); err != nil {
		n.malformed(from, "Map-Register", err)
		return
	}
	if len(reg.Records) == 0 {
		n.malformed(from, "Map-Register", errNoRecord)
		return
	}
	first := reg.Records[0].EID
	if !first.Prefix.IsValid() {
		n.ctr.drop(DropNotAllowedPrefix)
		n.logs.warn("register-eid", from.Addr(), "Map-Register refused: EID is not an IP prefix", "eid", first.String())
		return
	}
	var site *site
	cands := s.reg.candidateSites(first.IID, first.Prefix.Masked())
	if len(cands) == 0 {
		n.ctr.drop(DropUnknownSite)
		n.logs.warn("register-site", from.Addr(), "Map-Register refused: no site holds its first EID prefix", "eid", first.String())
		return
	}
	for _, c := range cands {
		if c.KeyType.alg() == reg.Alg && msg.Verify(b, []byte(c.Key)) == nil {
			site = c
			break
		}
	}
	if site == nil {
		n.ctr.drop(DropBadAuth)
		n.logs.warn("register-auth", from.Addr(), "Map-Register refused: authentication failed with every site key",
			"eid", first.String(), "alg", reg.Alg.String())
		return
	}
	now := time.Now()
	keys := make([]regKey, len(reg.Records))
	for i := range reg.Records {
		e := reg.Records[i].EID
		if !e.Prefix.IsValid() {
			n.ctr.drop(DropNotAllowedPrefix)
			n.logs.warn("register-prefix", from.Addr(), "Map-Register refused: EID is not an IP prefix", "site", site.Name, "eid", e.String())
			return
		}
		p := e.Prefix.Masked()
		if !site.contains(e.IID, p) {
			n.ctr.drop(DropNotAllowedPrefix)
			n.logs.warn("register-prefix", from.Addr(), "Map-Register refused: EID prefix outside the site's prefixes",
				"site", site.Name, "eid", e.String())
			return
		}
		keys[i] = regKey{e.IID, p}
	}
	ups := make([]regUpdate, len(reg.Records))
	for i := range reg.Records {
		rec := &reg.Records[i]
		ttl := ttlFromMinutes(rec.TTL)
		expires := now.Add(s.o.RegistrationTimeout)
		if reg.UseTTL {
			expires = now.Add(min(ttl, useTTLFactor*s.o.RegistrationTimeout))
		}
		rr := registrant{
			source: from, xtrID: reg.XTRID, hasXTRID: reg.HasXTRID, siteID: reg.SiteID,
			recordTTL: ttl, proxyReply: reg.ProxyReply, lastSeen: now, expires: expires,
		}
		for _, l := range rec.Locators {
			if l.Addr.IP.IsValid() {
				rr.locators = append(rr.locators, Locator{Addr: l.Addr.IP.Unmap(), Priority: l.Priority, Weight: l.Weight, Reachable: l.Reachable})
			}
		}
		// A record TTL of 0 withdraws the registrant's registration
		// (RFC 9301 section 8.2: deregistration).
		ups[i] = regUpdate{key: keys[i], rr: rr, withdraw: rec.TTL == 0}
	}
	if why, ok := s.reg.apply(site, ups, reg.Nonce); !ok {
		// site-full: the site has max_registrations live registrations;
		// replayed: a nonce already accepted for that xTR's registration.
		n.ctr.drop(why)
		n.logs.warn("register-refused", from.Addr(), "Map-Register refused", "why", why.String(), "site", site.Name)
		return
	}
	for i := range ups {
		u := &ups[i]
		switch {
		case !u.changed:
		case u.withdraw:
			n.log.Info("deregistration", "site", site.Name, "iid", u.key.iid, "eid_prefix", u.key.prefix, "source", from.Addr())
		default:
			n.log.Info("registration", "site", site.Name, "iid", u.key.iid, "eid_prefix", u.key.prefix,
				"source", from.Addr(), "rlocs", len(u.rr.locators), "proxy_reply", u.rr.proxyReply)
		}
	}
	n.ctr.registrationsAccepted.Add(1)
	// A Map-Notify goes to the Map-Register's source, which a flood of
	// spoofed copies of a captured Map-Register could pick: bounded like
	// Map-Replies (before the HMAC is computed).
	if !reg.WantMapNotify || !n.replyAllowed(from.Addr()) {
		return
	}
	notify := msg.MapNotify{
		Nonce: reg.Nonce, KeyID: reg.KeyID, Alg: site.KeyType.alg(), Records: reg.Records,
		HasXTRID: reg.HasXTRID, XTRID: reg.XTRID, SiteID: reg.SiteID,
	}
	out := notify.Append(nil)
	if err := msg.Sign(out, []byte(site.Key)); err != nil {
		n.logs.warn("sign", from.Addr(), "cannot sign Map-Notify", "err", err)
		return
	}
	if via != nil {
		e := msg.ECM{RTR: true, Src: via.Dst, Dst: via.Src, Message: out}
		out = e.Append(nil)
	}
	if err := n.send(netip.Addr{}, from, out); err != nil {
		n.ctr.drop(DropSendError)
		n.logs.warn("send-map-notify", from.Addr(), "cannot send Map-Notify", "err", err)
	}
}

// handleMapNotifyAck ends the retransmission of an unsolicited Map-Notify.
// Acks of solicited Map-Notifies (which our own ETRs send) need nothing.
func (s *mapServer) handleMapNotifyAck(b []byte, from netip.AddrPort) {
	var ack msg.MapNotify
	if err := ack.Decode(b); err != nil {
		s.n.malformed(from, "Map-Notify-Ack", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.unsolicited[ack.Nonce]; p != nil && p.to.Addr() == from.Addr() {
		delete(s.unsolicited, ack.Nonce)
	}
}

// resolve is the Map-Resolver: answer an ECM Map-Request from the
// registrations, every EID-record of it (RFC 9301 section 5.2: a receiver
// MUST accept Map-Requests with one or more records). A registered EID is
// answered on the ETR's behalf when the registration asked for proxy reply,
// else the ECM is forwarded to a registered ETR (once per ETR, however many
// of its records the request holds); an unregistered EID gets a negative
// record (RFC 9301 section 8.4). The records answered here go back in one
// Map-Reply.
func (s *mapServer) resolve(req *msg.MapRequest, ecm *ecmInfo, from netip.AddrPort) {
	n := s.n
	now := time.Now()
	itrRLOC, ok := n.pickITRRLOC(req.ITRRLOCs)
	var recs []msg.Record
	proxied, negative := 0, 0
	forwarded := map[netip.Addr]bool{}
	seen := map[regKey]bool{}
	for _, eid := range req.EIDs {
		if !eid.Prefix.IsValid() {
			n.ctr.drop(DropUnsupported)
			continue
		}
		addr := eid.Prefix.Addr().Unmap()
		m, registered := s.reg.lookup(eid.IID, addr, now)
		if !registered {
			prefix, ttl := s.reg.negative(eid.IID, addr, now)
			if key := (regKey{eid.IID, prefix}); !seen[key] {
				seen[key] = true
				recs = append(recs, msg.Record{
					TTL: ttlMinutes(ttl), Action: msg.ActNativelyFwd, Authoritative: true,
					EID: msg.EIDOf(eid.IID, prefix),
				})
				negative++
			}
			continue
		}
		var proxies []registrant
		for _, r := range m.registrants {
			if r.proxyReply {
				proxies = append(proxies, r)
			}
		}
		if len(proxies) == 0 {
			s.forward(m, ecm, from, forwarded)
			continue
		}
		if seen[m.key] {
			continue
		}
		seen[m.key] = true
		rec := msg.Record{TTL: ttlMinutes(proxies[0].recordTTL), EID: msg.EIDOf(m.key.iid, m.key.prefix)}
		locs := map[netip.Addr]bool{}
		for _, r := range proxies {
			for _, l := range r.locators {
				if locs[l.Addr] {
					continue
				}
				locs[l.Addr] = true
				rec.Locators = append(rec.Locators, msg.Locator{
					Priority: l.Priority, Weight: l.Weight, MPriority: 255, Reachable: l.Reachable, Addr: msg.AddrOf(l.Addr),
				})
			}
		}
		// A is clear: a proxy Map-Reply is not from the site itself
		// (RFC 9301 section 5.4).
		recs = append(recs, rec)
		proxied++
	}
	if len(recs) == 0 {
		return
	}
	if !ok {
		n.ctr.drop(DropNoUsableRLOC)
		return
	}
	if s.reply(req.Nonce, recs, netip.AddrPortFrom(itrRLOC, ecm.innerPort)) {
		n.ctr.proxyReplies.Add(uint64(proxied))
		n.ctr.negativeReplies.Add(uint64(negative))
	}
}

// reply sends a Map-Reply with recs, reporting whether it went out.
func (s *mapServer) reply(nonce uint64, recs []msg.Record, to netip.AddrPort) bool {
	if !s.n.replyAllowed(to.Addr()) {
		return false
	}
	rep := msg.MapReply{Nonce: nonce, Records: recs}
	if err := s.n.send(netip.Addr{}, to, rep.Append(nil)); err != nil {
		s.n.ctr.drop(DropSendError)
		s.n.logs.warn("send-map-reply", to.Addr(), "cannot send Map-Reply", "err", err)
		return false
	}
	return true
}

// forward relays the ECM Map-Request unchanged to one registered ETR: the
// reachable unicast locator of best priority (of a family we can send in)
// of the most recently registered xTR that has one. done holds the ETRs
// this ECM already went to (for the other records of the same request);
// each gets it once.
func (s *mapServer) forward(m match, ecm *ecmInfo, from netip.AddrPort, done map[netip.Addr]bool) {
	n := s.n
	var to netip.Addr
	for _, r := range m.registrants {
		best := -1
		for i, l := range r.locators {
			if l.Reachable && l.Priority != 255 && n.usable(l.Addr) && (best < 0 || l.Priority < r.locators[best].Priority) {
				best = i
			}
		}
		if best >= 0 {
			to = r.locators[best].Addr
			break
		}
	}
	if !to.IsValid() {
		n.ctr.drop(DropNoUsableRLOC)
		n.logs.warn("forward-no-rloc", from.Addr(), "registered ETRs have no locator to forward the Map-Request to",
			"eid_prefix", m.key.prefix)
		return
	}
	if done[to] {
		return
	}
	done[to] = true
	if !s.fwd.allow(to, time.Now()) {
		n.ctr.drop(DropForwardLimited)
		n.logs.warn("forward-rate-limited", to, "Map-Request not forwarded to ETR: over the forwarding rate limit")
		return
	}
	n.ctr.forwardedRequests.Add(1)
	if err := n.send(netip.Addr{}, netip.AddrPortFrom(to, n.opts.Port), ecm.raw); err != nil {
		n.ctr.forwardedRequests.Add(^uint64(0))
		n.ctr.drop(DropSendError)
		n.logs.warn("forward", to, "cannot forward Map-Request to ETR", "err", err)
	}
}
