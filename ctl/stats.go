package ctl

import (
	"sync/atomic"

	"github.com/lispd/lispd/ctl/msg"
	"github.com/lispd/lispd/internal/nocmp"
)

// DropReason says why a control message, miss or request was dropped.
type DropReason uint8

// Drop reasons.
const (
	DropMalformed        DropReason = iota // failed to decode
	DropBadAuth                            // HMAC did not verify (or unknown key)
	DropBadNonce                           // nonce matches nothing outstanding
	DropNotAllowedPrefix                   // record outside the site's prefixes
	DropUnknownSite                        // no site holds the record's prefix
	DropUnsupported                        // message type not handled by a configured role
	DropNotOurEID                          // Map-Request for an EID this ETR does not own
	DropNoUsableRLOC                       // no ITR-RLOC / locator of a family we can send to
	DropRateLimited                        // Map-Request held back by the rate limits
	DropMissQueueFull                      // data-plane miss with the queue full
	DropNotEIDSpace                        // miss outside eid_space
	DropRecordMismatch                     // Map-Reply record not covering the requested EID
	DropNoResolver                         // no Map-Resolver configured
	DropSendError                          // the socket refused to send
	DropResolveFailed                      // all retries of a Map-Request timed out
	DropSMRNotCached                       // SMR for an EID not in the map-cache
	DropInstallError                       // the data plane refused a mapping
	DropPendingFull                        // too many Map-Requests outstanding
	DropNotFromRTR                         // encapsulated Map-Register (N bit) not from a listed RTR
	DropRTRNotRegistered                   // RTR: data between EIDs none registered through it (no open relay)
	DropRTRNotMapServer                    // RTR: inner destination is not a configured Map-Server
	DropRTRTableFull                       // RTR: binding or resolution table full
	DropReplyRateLimited                   // Map-Reply not sent: over the reply rate limits
	DropSiteFull                           // Map-Register would exceed the site's max_registrations
	DropReplayed                           // Map-Register nonce already accepted from that xTR
	DropForwardLimited                     // Map-Request not forwarded: over the per-ETR rate limit
	DropRecordOverclaim                    // positive Map-Reply record over our EIDs or beyond eid_space
	numDropReasons
)

var dropNames = [numDropReasons]string{
	"malformed", "bad-auth", "bad-nonce", "not-allowed-prefix", "unknown-site",
	"unsupported", "not-our-eid", "no-usable-rloc", "rate-limited", "miss-queue-full",
	"not-eid-space", "record-mismatch", "no-resolver", "send-error", "resolve-failed",
	"smr-not-cached", "install-error", "pending-full",
	"not-from-rtr", "rtr-not-registered", "rtr-not-map-server", "rtr-table-full",
	"reply-rate-limited", "site-full", "replayed",
	"forward-rate-limited", "record-overclaim",
}

// String returns the reason's name as shown by `show`.
func (r DropReason) String() string {
	if r < numDropReasons {
		return dropNames[r]
	}
	return "unknown"
}

// counters are the node's atomic counters.
type counters struct {
	_ nocmp.DoNotCompare

	in, out [16]atomic.Uint64
	drops   [numDropReasons]atomic.Uint64

	registrationsAccepted atomic.Uint64
	mapRequestsSent       atomic.Uint64
	mappingsInstalled     atomic.Uint64
	negativeReplies       atomic.Uint64
	proxyReplies          atomic.Uint64
	forwardedRequests     atomic.Uint64
	probesSent            atomic.Uint64
	probeReplies          atomic.Uint64
	smrsSent              atomic.Uint64
	smrsReceived          atomic.Uint64
}

func (c *counters) drop(r DropReason) { c.drops[r].Add(1) }

// Counters are a node's message, drop and role counters, kept outside the
// node so that they can outlive it (Options.Counters). The zero value is
// ready to use; it must not be copied after first use.
type Counters struct{ c counters }

// Stats is a snapshot of the node's counters: messages in and out per type
// name (msg.Type's String, e.g. "Map-Register"), drops per reason name, and
// a few role counters.
type Stats struct {
	In    map[string]uint64
	Out   map[string]uint64
	Drops map[string]uint64

	RegistrationsAccepted uint64 // Map-Registers that authenticated and were stored
	MapRequestsSent       uint64 // by the ITR, retries and renewals included
	MappingsInstalled     uint64 // records handed to the data plane
	NegativeReplies       uint64 // sent by the Map-Resolver
	ProxyReplies          uint64 // sent by the Map-Server on an ETR's behalf
	ForwardedRequests     uint64 // Map-Requests forwarded to an ETR
	ProbesSent            uint64 // RLOC-probe Map-Requests sent by the ITR
	ProbeReplies          uint64 // nonce-matched RLOC-probe replies received
	SMRsSent              uint64 // Solicit-Map-Requests sent after a change of our locators
	SMRsReceived          uint64 // Solicit-Map-Requests received
	// RTR holds the RTR's data counters; nil without the role.
	RTR *RTRStats
}

func (c *counters) snapshot() Stats {
	s := Stats{In: map[string]uint64{}, Out: map[string]uint64{}, Drops: map[string]uint64{}}
	for t := range c.in {
		if v := c.in[t].Load(); v != 0 {
			s.In[msg.Type(t).String()] = v
		}
		if v := c.out[t].Load(); v != 0 {
			s.Out[msg.Type(t).String()] = v
		}
	}
	for r := range c.drops {
		if v := c.drops[r].Load(); v != 0 {
			s.Drops[DropReason(r).String()] = v
		}
	}
	s.RegistrationsAccepted = c.registrationsAccepted.Load()
	s.MapRequestsSent = c.mapRequestsSent.Load()
	s.MappingsInstalled = c.mappingsInstalled.Load()
	s.NegativeReplies = c.negativeReplies.Load()
	s.ProxyReplies = c.proxyReplies.Load()
	s.ForwardedRequests = c.forwardedRequests.Load()
	s.ProbesSent = c.probesSent.Load()
	s.ProbeReplies = c.probeReplies.Load()
	s.SMRsSent = c.smrsSent.Load()
	s.SMRsReceived = c.smrsReceived.Load()
	return s
}
