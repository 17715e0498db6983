package main

import (
	"github.com/lispd/lispd/ctl"
	"github.com/lispd/lispd/ctl/admin"
	"github.com/lispd/lispd/fwd"
)

// admin returns what the control socket needs from the daemon. Each
// accessor takes the daemon's lock only to read the current role, so a
// request never waits for more than a Reload's pointer swap; reload must not
// hold the lock (Reload takes it).
func (d *daemon) admin(reload func() ([]string, error)) admin.Daemon {
	return admin.Daemon{
		Config: d.config,
		MapCache: func() *fwd.MapCache {
			d.mu.Lock()
			defer d.mu.Unlock()
			if d.xtr == nil {
				return nil
			}
			return d.xtr.plane.MapCache()
		},
		DataStats: func() *fwd.Stats {
			d.mu.Lock()
			defer d.mu.Unlock()
			if d.xtr == nil {
				return nil
			}
			return d.xtr.plane.Stats()
		},
		Control: func() *ctl.Node {
			d.mu.Lock()
			defer d.mu.Unlock()
			return d.node
		},
		RLOCs:  d.rlocsView,
		Reload: reload,
	}
}

// rlocsView lists the local locators as they are now: each configured
// address, or each address found on a configured interface, with the
// interface's state; an interface without a usable address is listed as
// down with the reason. Without a running xTR (show rlocs asks only when
// [xtr] is configured, and Start and Reload hold d.mu until it runs) the
// configured ones, without state: a second probe of the interfaces here
// cost 0.3 KB of ipk for a state the daemon is never seen in.
func (d *daemon) rlocsView() admin.RLOCs {
	d.mu.Lock()
	lw := (*localWatch)(nil)
	if d.xtr != nil {
		lw = d.xtr.locals
	}
	d.mu.Unlock()
	if lw != nil {
		out := lw.view()
		d.addNATState(&out)
		return out
	}
	return admin.ConfiguredRLOCs(d.config())
}

// addNATState adds the NAT-traversal state to every locator: its outcome
// (direct or through an RTR) is the xTR's, whichever locator the
// Info-Requests left from (Local).
func (d *daemon) addNATState(out *admin.RLOCs) {
	n := d.currentNode()
	if n == nil {
		return
	}
	st, ok := n.NATStatus()
	if !ok {
		return
	}
	nat := &admin.NATState{
		BehindNAT: st.BehindNAT, Public: st.Public, RTR: st.RTR, Discovered: st.Discovered,
		Unanswered: st.Unanswered, Local: st.Local.Addr().Unmap(), Mode: string(st.Mode), RTRs: st.RTRs,
	}
	if !nat.Public.IsValid() {
		nat.Public = st.PublicControl
	}
	for i := range out.RLOCs {
		out.RLOCs[i].NAT = nat
	}
}
