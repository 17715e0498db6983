package ctl

import (
	"net/netip"
	"time"

	"github.com/lispd/lispd/internal/nocmp"
)

// The RTR role's exported types, the same in the build with the role
// (rtr.go) and without it (-tags nortr, rtr_none.go), so that callers
// build either way.

// DefaultDataPort is the LISP data-plane UDP port (RFC 9300).
const DefaultDataPort = 4341

// RTROptions configures the RTR role.
type RTROptions struct {
	// Listen are the RTR's RLOCs: its data socket (port DataPort) is bound
	// on them, and it answers RLOC probes with them. At least one.
	Listen []netip.Addr
	// MapServers are the only Map-Servers Map-Registers are relayed to;
	// the RTR also resolves destinations through them (as Map-Resolvers).
	MapServers []netip.Addr
	// BindingTimeout forgets an xTR's NAT binding not refreshed by an
	// encapsulated Map-Register within it; 3 min.
	BindingTimeout time.Duration
	// DataPort is the data port bound and sent to; 0 = 4341 (tests use
	// others).
	DataPort uint16
	// Native, when set, forwards an inner packet outside LISP: traffic
	// from a NATed site whose destination's negative mapping says
	// Natively-Forward (or No-Action). nil: such packets are dropped.
	// It must not keep pkt.
	Native func(pkt []byte) error
}

// RTRBinding is one xTR's registration through the RTR, for `show`.
type RTRBinding struct {
	_ nocmp.DoNotCompare

	InstanceID uint32
	Prefix     netip.Prefix
	XTRID      [16]byte
	SiteID     uint64         // the Map-Register's 64-bit site-ID
	Public     netip.AddrPort // where the NAT showed the xTR's data port
	Private    netip.Addr     // the xTR's own RLOC (inner source)
	MapServer  netip.Addr
	Verified   bool      // a Map-Notify for it passed
	LastSeen   time.Time // last encapsulated Map-Register
	Expires    time.Time // LastSeen + the binding timeout, set by RTRBindings
	Rebinds    uint64    // public address:port changes
}

// RTRStats are the RTR's data counters.
type RTRStats struct {
	ToNAT     uint64 // packets re-encapsulated to an xTR behind a NAT
	FromNAT   uint64 // packets from an xTR behind a NAT re-encapsulated onward
	Unrouted  uint64 // from a NATed site, destination not resolved (yet)
	OpenRelay uint64 // dropped: neither EID registered through this RTR
	Native    uint64 // from a NATed site, forwarded natively (negative mapping)
}
