package fwd

import (
	"fmt"
	"slices"

	"github.com/lispd/lispd/internal/nocmp"
)

// The in-kernel data path (fwd/kpath, xtr.kernel_path): eBPF programs at
// the TUN's egress that encapsulate, and at the uplinks' ingress that
// decapsulate (at their XDP hooks too where the driver has them, so that
// inner flows are GRO-merged: KernelSnapshot.DecapGRO), for the map-cache
// entries the plane mirrors into their maps.
// The userspace path stays whole behind them: what the kernel does not
// handle reaches the TUN (or the 4341 socket) as before.
//
// A mapping is mirrored (Encap.Set) when the encapsulating program would do
// exactly what Encapsulator.forward does with it: a complete, unexpired
// entry of the plane's instance-id whose prefix lies in eid_space, whose
// usable RLOCs (one, or up to kpath.MaxEncapRLOCs sharing the load) are
// all IPv4 or all IPv6 on port 4341, and one to kpath.MaxEncapLocals
// local locators of that family to send from (those the userspace path
// picks among: up, of the best priority), each with a known interface
// (IPv6 RLOCs get an outer IPv6 header with a zero UDP checksum, RFC
// 6935/6936). The entry carries the RLOCs' family, each RLOC with its
// path MTU (a packet that would not fit is left to the TUN, where it gets
// its ICMP too-big), the selection table's slots (the kernel's flow hash
// picks a slot, so flows are shared in the weights' proportions, each
// flow on one RLOC), and the LISP header's flags, instance-id and
// locator-status bits as forward writes them. The local locators are one
// table per family for all entries of that RLOC family
// (kpath.EncapLocals): their addresses and interfaces, and a slot table
// built from their weights as the RLOCs' is, from other bits of the flow
// hash, so that multihomed sites share their flows among their uplinks
// as the userspace path does (localSel), each flow on one uplink; a
// change of the local locators rewrites that table alone, before the
// entries. A mapping whose RLOCs mix the families stays in userspace.
//
// A mapping that is not eligible but lies under a mirrored, less specific
// one gets a punt entry (MTU 0: every packet is "too big" for it and goes
// to the TUN), so that the kernel's longest-prefix match never sends a
// packet where the map-cache would not. Mappings under no mirrored prefix
// need no entry: a miss goes to the TUN.
//
// The mirror goroutine resyncs on every map-cache change (a new snapshot,
// an RLOC going up or down: MapCache.watch), on local-locator and LSB
// changes, and once a second, when it also folds the kernel's per-entry
// counters into the Mapping and RLOC counters and touches LastUsed, and
// the ITRs the decapsulating program recorded into the recent ITRs (SMR
// targets) and the received locator-status bits, as the userspace ETR
// notes them per packet.

// KernelPath states as KernelSnapshot.State reports them.
const (
	KernelOff      = "off"      // not asked for (xtr.kernel_path = "off")
	KernelOn       = "on"       // the programs are loaded and attached
	KernelFallback = "fallback" // asked for, but the kernel refused: userspace only
)

// KernelSnapshot says whether the in-kernel path runs and counts its work,
// for `show stats`.
type KernelSnapshot struct {
	_ nocmp.DoNotCompare

	// State is KernelOff, KernelOn or KernelFallback; Reason says why
	// the kernel refused (KernelFallback).
	State, Reason string
	// Mirrored are the mappings encapsulated in the kernel; Punted the
	// entries that send a more specific mapping's packets to the TUN.
	Mirrored, Punted uint64
	// Uplinks are the interfaces the decapsulating program is attached to;
	// Locals the local RLOCs it decapsulates for.
	Uplinks, Locals uint64
	// DecapGRO says whether the uplinks' XDP hooks decapsulate too, so
	// that inner flows are GRO-merged: "xdp", or "off (why)".
	DecapGRO string
	// Packets and inner bytes encapsulated and decapsulated in the kernel.
	EncapPackets, EncapBytes uint64
	DecapPackets, DecapBytes uint64
	// EncapStats and DecapStats are the programs' counters of packets left
	// to userspace (or dropped), indexed by kpath.Stat*.
	EncapStats, DecapStats KernelStats
	// Errors counts map updates and attaches that failed.
	Errors uint64
}

// KernelStats are the in-kernel programs' per-reason counters, indexed by
// kpath.Stat* (kpath.Stats; this file does not import kpath, so that a build
// without the kernel path does not link it).
type KernelStats [len(kernelStatNames)]uint64

// kernelStatNames name the kpath.Stat* slots in their order.
var kernelStatNames = [...]string{
	"encap-miss", "encap-skip", "encap-error", "encap-gso",
	"decap-pass", "decap-gro", "decap-bad", "decap-error", "decap-not-ip",
	"decap-foreign", "decap-ttl", "decap-ecn",
}

// KernelStatName returns the name `show stats` gives the kpath.Stat* slot
// i (as in KernelSnapshot.EncapStats and DecapStats): "encap-..." slots
// count in the encapsulating program, "decap-..." ones in the
// decapsulating program.
func KernelStatName(i int) string {
	if i >= 0 && i < len(kernelStatNames) {
		return kernelStatNames[i]
	}
	return fmt.Sprintf("stat-%d", i)
}

// KernelPath returns the state of the in-kernel path and its counters.
func (p *Plane) KernelPath() KernelSnapshot {
	if p.kern != nil {
		return p.kern.snapshot()
	}
	if p.kernErr != nil {
		return KernelSnapshot{State: KernelFallback, Reason: p.kernErr.Error()}
	}
	return KernelSnapshot{State: KernelOff}
}

// setupKernel loads and attaches the in-kernel path when Options ask for
// it; a failure is kept (KernelPath says why) and the plane runs on the
// userspace path alone. Its map is sized for the map-cache's limit now: a
// larger MapCache.SetLimit later would let it fill, and a punt entry it
// cannot take would leave packets to a mirrored entry that userspace
// handles otherwise (main rebuilds the plane for a new limit instead).
func (p *Plane) setupKernel() {
	if !p.opts.KernelPath {
		return
	}
	f := p.KernelPath
	p.stats.kernel.Store(&f)
	k, err := openKernelPath(p.opts.TUNIndex, max(p.cache.Limit(), 64), p.opts.LocalEIDs)
	if err != nil {
		p.kernErr = err
		return
	}
	p.kern = k
	p.cache.watch.Store(&k.wake)
}

// kernelLocators records the local locators for the decapsulating side
// and asks for a resync.
func (p *Plane) kernelLocators(ls []LocalLocator) {
	if p.kern == nil {
		return
	}
	p.localMu.Lock()
	p.localLocs = slices.Clone(ls)
	p.localMu.Unlock()
	p.kern.signal()
}
