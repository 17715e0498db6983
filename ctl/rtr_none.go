//go:build nortr

package ctl

import (
	"context"
	"net/netip"

	"github.com/lispd/lispd/ctl/msg"
	"github.com/lispd/lispd/internal/consterr"
)

// This build leaves the RTR role out (-tags nortr): the OpenWrt package's
// default, where rtr.go would cost ~20 KB of the mips ipk for a role that runs
// on a public host for NATed xTRs, rarely on a home router. Options with
// RTR set are refused (errNoRTR); the rest of the node sees a nil *rtr.
// The role's exported types are in rtr_types.go, in both builds.

// errNoRTR is why a node with the RTR role cannot be made in this build.
const errNoRTR = consterr.Error("ctl: the RTR role is not in this build (built with -tags nortr; " +
	"OpenWrt: select LISPD_RTR in menuconfig, or make ipk IPK_RTR=1)")

func (r *RTROptions) fill() error { return errNoRTR }

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
