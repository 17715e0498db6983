package ctl

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lispd/lispd/internal/nocmp"
)

// Local locators that change while the node runs (multihoming, issue 7):
// main watches the uplinks over rtnetlink and hands the node the new set
// with SetLocalLocators. The node then registers the new set with every
// Map-Server at once and, once a Map-Server confirms it with a Map-Notify,
// sends Solicit-Map-Requests to the ITRs that sent us traffic lately
// (smr.go), so that they re-resolve our EIDs now rather than at the TTL.

// localState is the node's current set of local locators.
type localState struct {
	_ nocmp.DoNotCompare

	// mu serializes SetLocalLocators: comparing with the current set,
	// storing the new one, its generation and the SMRs it arms are one
	// step, so that concurrent callers with one new set make one change
	// and the SMRs armed are those of the set that stays. Readers use the
	// atomics without it.
	mu   sync.Mutex
	locs atomic.Pointer[[]LocalLocator] // nil: XTROptions.RLOCs
	gen  atomic.Uint64                  // bumped by each SetLocalLocators
	// smrGen, when not 0, is the generation whose confirmation (a
	// Map-Notify for a Map-Register sent at or after it) triggers the SMRs.
	smrGen atomic.Uint64
	smr    smrPacer // rate limit of the SMR rounds (smr.go)
}

// localLocators returns the current local locators, in registration order.
func (n *Node) localLocators() []LocalLocator {
	if p := n.local.locs.Load(); p != nil {
		return *p
	}
	if n.opts.XTR == nil {
		return nil
	}
	return n.opts.XTR.RLOCs
}

// LocalLocators returns the local locators the node registers now, in
// order (Down ones are registered with the R bit clear).
func (n *Node) LocalLocators() []LocalLocator {
	return append([]LocalLocator(nil), n.localLocators()...)
}

// SetLocalLocators replaces the node's own locators (the registered
// Locator-Set, in order: the locator-status bits of data packets follow it;
// ITR-RLOCs and control source addresses are taken from the ones up). If
// the set differs from the current one, it re-registers with every
// Map-Server at once and arms the Solicit-Map-Requests that follow the
// Map-Notify confirming the new registration (at once when no Map-Server
// confirms registrations). Without the xTR role it does nothing. It is
// safe to call from several goroutines; concurrent calls take effect one
// after the other.
func (n *Node) SetLocalLocators(locs []LocalLocator) {
	if n.opts.XTR == nil {
		return
	}
	n.local.mu.Lock()
	defer n.local.mu.Unlock()
	cp := make([]LocalLocator, 0, len(locs))
	for _, l := range locs {
		if l.Addr.IsValid() {
			l.Addr = l.Addr.Unmap()
			cp = append(cp, l)
		}
	}
	if cur := n.localLocators(); sameLocators(cp, cur) {
		if !sameIfaces(cp, cur) {
			// Only interfaces changed (a device re-created with the
			// same address): nothing to register, but control
			// messages leave by the new ones.
			n.local.locs.Store(&cp)
		}
		return
	}
	n.local.locs.Store(&cp)
	gen := n.local.gen.Add(1)
	// The daemon logs the locators themselves ("local locators changed").
	n.log.Info("re-registering with the new local locators")
	confirm := false
	if n.etr != nil {
		for _, p := range n.etr.peers {
			confirm = confirm || p.WantMapNotify
		}
	}
	if confirm && len(cp) > 0 {
		n.local.smrGen.Store(gen)
	} else {
		n.local.smrGen.Store(0)
	}
	n.Reregister()
	if !confirm && len(cp) > 0 {
		n.background(n.sendSMRs)
	}
}

// background runs f in a goroutine that Close waits for, unless the node
// is not running (then f does not run: there is nobody to send with).
func (n *Node) background(f func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.started || n.closed {
		return
	}
	n.spawn(f)
}

// registered is called when a Map-Notify confirmed a Map-Register sent at
// generation gen of the local locators: the first confirmation of the
// newest change sends the Solicit-Map-Requests.
func (n *Node) registered(gen uint64) {
	want := n.local.smrGen.Load()
	if want != 0 && gen >= want && n.local.smrGen.CompareAndSwap(want, 0) {
		n.background(n.sendSMRs)
	}
}

// sameLocators reports whether a and b register the same Locator-Set (the
// interfaces aside).
func sameLocators(a, b []LocalLocator) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		x.IfIndex, y.IfIndex = 0, 0
		if x != y {
			return false
		}
	}
	return true
}

// sameIfaces reports whether a and b, of one length, have the same
// interfaces.
func sameIfaces(a, b []LocalLocator) bool {
	for i := range a {
		if a[i].IfIndex != b[i].IfIndex {
			return false
		}
	}
	return true
}

// upLocators returns the locators that are up, or all of them when none is
// (better a Map-Reply address that may work than none).
func upLocators(ls []LocalLocator) []LocalLocator {
	var up []LocalLocator
	for _, l := range ls {
		if !l.Down {
			up = append(up, l)
		}
	}
	if len(up) == 0 {
		return ls
	}
	return up
}

// ProbeNow asks for an RLOC probe of each of rlocs at once (those being
// probed; others are ignored): the data plane saw their locator-status bit
// go from up to down, a hint but not proof (the bits can be spoofed). It
// never blocks.
func (n *Node) ProbeNow(rlocs []netip.Addr) {
	if n.prb == nil || len(rlocs) == 0 {
		return
	}
	n.prb.urgent(rlocs)
}

// urgent makes the locators at addrs due for a probe now.
func (p *prober) urgent(addrs []netip.Addr) {
	any := false
	p.mu.Lock()
	for _, a := range addrs {
		if t := p.targets[a.Unmap()]; t != nil && !t.waiting {
			t.next = time.Time{}
			any = true
		}
	}
	p.mu.Unlock()
	if any {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
}
