package ctl

import (
	"net/netip"
	"time"

	"github.com/lispd/lispd/internal/nocmp"
)

// Action is the action of a negative mapping, with its RFC 9301 wire code.
type Action uint8

// Negative mapping actions (RFC 9301 section 5.4, ACT field).
const (
	ActionNoAction         Action = 0 // treat as Natively-Forward when there are no locators
	ActionNativelyForward  Action = 1 // to a PETR when configured, else natively
	ActionSendMapRequest   Action = 2 // keep resolving
	ActionDrop             Action = 3 // Drop/No-Reason
	ActionDropPolicyDenied Action = 4 // Drop/Policy-Denied
	ActionDropAuthFailure  Action = 5 // Drop/Auth-Failure
)

// String returns the action's RFC 9301 name.
func (a Action) String() string {
	switch a {
	case ActionNoAction:
		return "no-action"
	case ActionNativelyForward:
		return "natively-forward"
	case ActionSendMapRequest:
		return "send-map-request"
	case ActionDrop:
		return "drop"
	case ActionDropPolicyDenied:
		return "drop-policy-denied"
	case ActionDropAuthFailure:
		return "drop-auth-failure"
	}
	return "unknown"
}

// Locator is a remote RLOC with its RFC 9301 priority, weight and
// reachability (R bit).
type Locator struct {
	_ nocmp.DoNotCompare

	Addr      netip.Addr
	Priority  uint8 // 255 = never used for unicast
	Weight    uint8
	Reachable bool // the R bit; false = do not use until known up
	// Position is the locator's position, from 1, in the Map-Reply
	// record it came from (locators that cannot be used are left out,
	// so it can differ from the index): the locator-status bit
	// Position-1 of the site's data packets stands for it (RFC 9300
	// section 10). 0: not from a record.
	Position int
	// Reason says why Reachable is false when the R bit was set but RLOC
	// probing found the locator down (ReasonProbeTimeout); empty otherwise.
	Reason string
}

// Reasons for a remote locator's reachability, as `show map-cache` prints
// them.
const (
	ReasonProbeReply   = "probe reply"   // up: an RLOC-probe was answered
	ReasonProbeTimeout = "probe timeout" // down: ProbeRetries probes in a row went unanswered
	ReasonRBitClear    = "R bit clear"   // down: the Map-Reply (or probe reply) cleared its R bit
)

// LocatorState is what RLOC probing found about a remote locator.
type LocatorState struct {
	_ nocmp.DoNotCompare

	Up     bool
	Reason string        // one of the Reason constants
	RTT    time.Duration // round trip of the probe answered; 0 = unchanged
}

// Mapping is a learned map-cache entry handed to the data plane: positive
// (Negative false, Locators the ETRs) or negative (Negative true, Action what
// to do, and for Natively-Forward the configured PETRs in Locators).
type Mapping struct {
	InstanceID    uint32
	Prefix        netip.Prefix
	TTL           time.Duration // from the Map-Reply record (minutes), at most a week
	Negative      bool
	Action        Action
	Authoritative bool // A bit of the record
	Locators      []Locator
}

// CacheEntry is what the control plane needs to know about a map-cache entry.
type CacheEntry struct {
	InstanceID uint32
	Prefix     netip.Prefix
	Static     bool
	Negative   bool
	// LastUsed is when a packet last used the entry; zero when never or when
	// the data plane does not track it.
	LastUsed time.Time
	// Locators are the entry's RLOCs with Reachable saying whether the data
	// plane uses them now (filled by InUse; Lookup may leave it empty).
	Locators []Locator
}

// DataPlane is what the control plane drives. The ITR installs mappings
// learned from Map-Replies; the data plane flushes the packets it queued for
// destinations inside an installed prefix and drops them on ResolveFailed.
// Calls come from the control plane's goroutines, never from a packet path.
type DataPlane interface {
	// Install adds or replaces a learned mapping for its TTL. A static entry
	// for the same prefix wins: the data plane may ignore the call.
	Install(m Mapping) error
	// ResolveFailed reports that resolution of dst gave up: the packets
	// queued for it are dropped.
	ResolveFailed(iid uint32, dst netip.Addr)
	// Lookup returns the entry covering eid, if any.
	Lookup(iid uint32, eid netip.Addr) (CacheEntry, bool)
	// InUse returns the learned positive entries a packet used at or after
	// since (an entry counts as used when installed), with their locators:
	// the entries the ITR RLOC-probes.
	InUse(since time.Time) []CacheEntry
	// SetLocatorState records what probing found about locator rloc of the
	// entry iid/prefix: up or down (traffic moves off a down locator to the
	// next best), why, and the probe's round trip. An entry or locator that
	// is gone is ignored.
	SetLocatorState(iid uint32, prefix netip.Prefix, rloc netip.Addr, st LocatorState)
}
