//go:build nortr

package ctl

import (
	"context"
	"net/netip"
	"time"

	"github.com/lispd/lispd/ctl/msg"
	"github.com/lispd/lispd/internal/consterr"
	"github.com/lispd/lispd/internal/nocmp"
)

// This build leaves the RTR role out (-tags nortr): the OpenWrt package's
// default, where rtr.go would cost ~40 KB of MIPS code for a role that runs
// on a public host for NATed xTRs, rarely on a home router. Options with
// RTR set are refused (errNoRTR); the rest of the node sees a nil *rtr.
// The exported types below are rtr.go's, field for field
// (TestRTRNoneDeclarations compares them), so that callers build either
// way.

// errNoRTR is why a node with the RTR role cannot be made in this build.
const errNoRTR = consterr.Error("ctl: the RTR role is not in this build (built with -tags nortr; " +
	"OpenWrt: select LISPD_RTR in menuconfig, or make ipk IPK_RTR=1)")

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

func (r *RTROptions) fill() error { return errNoRTR }

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

// rtr is empty in this build: newRTR never makes one, so Node.rtr is nil
// and none of the methods below runs.
type rtr struct{}

// rtrEntry is a carried NAT binding; this build has none to carry.
type rtrEntry struct{}

func newRTR(*Node, *RTROptions) *rtr                                   { return nil }
func (r *rtr) start() error                                            { return errNoRTR }
func (r *rtr) close()                                                  {}
func (r *rtr) run(context.Context)                                     {}
func (r *rtr) handleRegister(*msg.ECM, netip.AddrPort)                 {}
func (r *rtr) handleNotify([]byte, *msg.ECM, netip.AddrPort)           {}
func (r *rtr) answerProbe(*msg.MapRequest, netip.AddrPort, netip.Addr) {}
func (r *rtr) mapReply(*msg.MapReply) bool                             { return false }
func (r *rtr) carry() []rtrEntry                                       { return nil }
func (r *rtr) adopt(bindings []rtrEntry) (kept, dropped int)           { return 0, len(bindings) }

// RTRBindings returns the RTR's NAT bindings: nil, the role is not in this
// build.
func (n *Node) RTRBindings() []RTRBinding { return nil }

// RTRStats returns the RTR's data counters: zero, the role is not in this
// build.
func (n *Node) RTRStats() RTRStats { return RTRStats{} }
