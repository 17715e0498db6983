package ctl

import (
	"net/netip"
	"sync"
	"time"

	"github.com/lispd/lispd/ctl/msg"
	"github.com/lispd/lispd/internal/nocmp"
)

// Solicit-Map-Requests (RFC 9301 section 6.1): after our Locator-Set
// changed and a Map-Server confirmed the new registration, we tell the ITRs
// that sent us traffic lately to re-resolve our EIDs now, instead of using
// the old locators until their TTL or their probing notices.
//
// An SMR is a Map-Request with the S bit, sent straight to the ITR's RLOC
// (the outer source of the data packets it sent us), source EID our EID,
// one EID-record per EID prefix of ours. The receiving ITR does not believe
// the SMR itself (it could be spoofed): it sends an SMR-invoked Map-Request
// (s bit) through the mapping system and installs the Map-Reply that
// answers it, as for any miss.

// RecentITRs is implemented by a data plane that remembers the ITRs that
// sent it LISP packets lately (their RLOCs, the outer source addresses):
// the ITRs an SMR goes to.
type RecentITRs interface {
	RecentITRs(within time.Duration) []netip.Addr
}

// smrRecent is how far back an ITR counts as recent for an SMR: one that
// sent nothing for this long holds no mapping of ours worth correcting
// (or will resolve afresh anyway).
const smrRecent = 5 * time.Minute

// smrInterval is the least time between two rounds of SMRs: RFC 9301
// section 6.1 has the SMR sender rate-limit them (a flapping uplink would
// otherwise send a round to every recent ITR per flap). A change within
// the interval is announced at its end, with the locators of then.
const smrInterval = time.Second

// smrPacer spaces the rounds of SMRs by smrInterval.
type smrPacer struct {
	_ nocmp.DoNotCompare

	mu    sync.Mutex
	last  time.Time   // when the last round went
	timer *time.Timer // a deferred round, when one waits
}

// sendSMRs sends a round of SMRs now, or, within smrInterval of the last
// round, once at its end (rounds asked for meanwhile fold into that one).
func (n *Node) sendSMRs() {
	p := &n.local.smr
	p.mu.Lock()
	if wait := smrInterval - time.Since(p.last); !p.last.IsZero() && wait > 0 {
		if p.timer == nil {
			p.timer = time.AfterFunc(wait, func() {
				p.mu.Lock()
				p.timer = nil
				p.mu.Unlock()
				n.background(n.sendSMRs) // nothing once the node is closed
			})
		}
		p.mu.Unlock()
		return
	}
	p.last = time.Now()
	p.mu.Unlock()
	n.sendSMRRound()
}

// sendSMRRound sends an SMR for every EID prefix of ours to each recent ITR.
func (n *Node) sendSMRRound() {
	src, ok := n.dp.(RecentITRs)
	if !ok || n.opts.XTR == nil {
		return
	}
	itrs := src.RecentITRs(smrRecent)
	x := n.opts.XTR
	sent := 0
	for _, itr := range itrs {
		itr = itr.Unmap()
		if !n.usable(itr) || n.isLocal(itr) {
			continue
		}
		for _, p := range x.EIDPrefixes {
			if err := n.sendSMR(itr, x.InstanceID, p); err != nil {
				n.ctr.drop(DropSendError)
				n.logs.warn("send-smr", itr, "cannot send Solicit-Map-Request", "err", err)
				continue
			}
			sent++
		}
	}
	n.log.Info("Solicit-Map-Requests sent after the change of local locators", "itrs", len(itrs), "smrs", sent)
}

// isLocal reports whether a is one of our own locators.
func (n *Node) isLocal(a netip.Addr) bool {
	for _, l := range n.localLocators() {
		if l.Addr == a {
			return true
		}
	}
	return false
}

// sendSMR sends one Solicit-Map-Request for our prefix p to the ITR at itr.
func (n *Node) sendSMR(itr netip.Addr, iid uint32, p netip.Prefix) error {
	rlocs := n.itrRLOCs()
	if len(rlocs) == 0 {
		return errNoITRRLOC
	}
	req := msg.MapRequest{
		SMR:       true,
		Nonce:     randomNonce(),
		SourceEID: msg.EIDOf(iid, netip.PrefixFrom(p.Addr(), p.Addr().BitLen())),
		ITRRLOCs:  rlocs,
		EIDs:      []msg.EID{msg.EIDOf(iid, p)},
	}
	if err := n.send(n.localRLOC(itr), netip.AddrPortFrom(itr, n.opts.Port), req.Append(nil)); err != nil {
		return err
	}
	n.ctr.smrsSent.Add(1)
	return nil
}

// handleSMR serves a received Solicit-Map-Request: the sender's EID (the
// source EID, else the EID-records) names the map-cache entry to
// re-resolve through the mapping system.
func (n *Node) handleSMR(req *msg.MapRequest) {
	n.ctr.smrsReceived.Add(1)
	if src := req.SourceEID; src.Prefix.IsValid() && n.itr.cached(src.IID, src.Prefix.Addr()) {
		n.itr.smr(src.IID, src.Prefix.Addr())
		return
	}
	for _, e := range req.EIDs {
		if e.Prefix.IsValid() {
			n.itr.smr(e.IID, e.Prefix.Addr())
		}
	}
}

// cached reports whether the map-cache holds a learned entry for eid.
func (t *itr) cached(iid uint32, eid netip.Addr) bool {
	e, ok := t.n.dp.Lookup(iid, eid.Unmap())
	return ok && !e.Static
}
