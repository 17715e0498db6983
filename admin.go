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
func (d *daemon) admin(reload func() error) admin.Daemon {
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
		Reload: reload,
	}
}
