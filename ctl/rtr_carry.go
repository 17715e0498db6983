//go:build !nortr

package ctl

import "slices"

// carry returns a copy of the RTR's NAT bindings, for Node.Carry.
func (r *rtr) carry() []rtrEntry {
	var out []rtrEntry
	r.mu.Lock()
	for _, e := range r.bindings {
		cp := rtrEntry{RTRBinding: e.RTRBinding, regs: slices.Clone(e.regs)}
		out = append(out, cp)
	}
	r.mu.Unlock()
	return out
}

// adopt takes over the NAT bindings a previous node carried (Node.Adopt):
// a binding is kept when the RTR still relays to its Map-Server and the
// table has room, with the relayed Map-Registers still pending to a
// Map-Server it relays to.
func (r *rtr) adopt(bindings []rtrEntry) (kept, dropped int) {
	r.mu.Lock()
	for _, e := range bindings {
		if !r.isMapServer(e.MapServer) || len(r.bindings) >= rtrMaxBindings {
			dropped++
			continue
		}
		cp := &rtrEntry{RTRBinding: e.RTRBinding}
		for _, reg := range e.regs {
			if r.isMapServer(reg.ms) {
				cp.regs = append(cp.regs, reg)
			}
		}
		r.bindings[rtrKey{key: regKey{e.InstanceID, e.Prefix}, xtrID: e.XTRID}] = cp
		kept++
	}
	r.reindexLocked()
	r.mu.Unlock()
	return kept, dropped
}
