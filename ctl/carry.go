package ctl

import (
	"slices"
	"time"
)

// Carried is the state a control-plane node hands to the node that
// replaces it when the daemon reloads its configuration: the Map-Server's
// registrations and the RTR's NAT bindings. Without it a reload that
// restarts the control plane empties the Map-Server until every ETR has
// registered again (up to a register interval), answering Map-Requests for
// live sites negatively meanwhile.
type Carried struct {
	regs     []carriedReg
	bindings []rtrEntry
}

// carriedReg is one registration with the name and key of the site that
// accepted it.
type carriedReg struct {
	site        SiteOptions
	key         regKey
	registrants []registrant
}

// CarryResult counts what Adopt kept and dropped.
type CarryResult struct {
	RegistrationsKept, RegistrationsDropped int
	BindingsKept, BindingsDropped           int
}

// Carry returns a copy of n's live registrations and NAT bindings, for
// Adopt by the node that replaces n (call it once n is closed, so that
// nothing registers in between). It is nil when n holds neither.
func (n *Node) Carry() *Carried {
	var c Carried
	now := time.Now()
	if n.ms != nil {
		r := n.ms.reg
		r.mu.RLock()
		for k, g := range r.regs {
			var live []registrant
			for _, rr := range g.registrants {
				if now.Before(rr.expires) {
					cp := *rr
					cp.locators = slices.Clone(rr.locators)
					live = append(live, cp)
				}
			}
			if len(live) > 0 {
				c.regs = append(c.regs, carriedReg{site: g.site.SiteOptions, key: k, registrants: live})
			}
		}
		r.mu.RUnlock()
	}
	if n.rtr != nil {
		c.bindings = n.rtr.carry()
	}
	if len(c.regs) == 0 && len(c.bindings) == 0 {
		return nil
	}
	return &c
}

// Adopt takes over what a previous node carried, before Start. A
// registration is kept when the Map-Server role still runs, a site of the
// same name still has the same key (and key type) and instance-id, and the
// site's prefixes still contain the registered one; its expiry stays as it
// was. A NAT binding is kept when the RTR role still runs and still relays
// to the binding's Map-Server. Everything else is dropped and counted. c
// may be nil; Adopt does not modify it (a failed start may hand it to
// another node).
func (n *Node) Adopt(c *Carried) CarryResult {
	var res CarryResult
	if c == nil {
		return res
	}
	if n.ms == nil {
		res.RegistrationsDropped = len(c.regs)
	} else {
		r := n.ms.reg
		r.mu.Lock()
		for _, cr := range c.regs {
			s := r.siteNamed(cr.site.Name)
			if s == nil || s.Key != cr.site.Key || s.KeyType != cr.site.KeyType || !s.contains(cr.key.iid, cr.key.prefix) {
				res.RegistrationsDropped++
				continue
			}
			g := &registration{site: s, key: cr.key, registrants: map[string]*registrant{}}
			for _, rr := range cr.registrants {
				cp := rr
				cp.locators = slices.Clone(rr.locators)
				g.registrants[cp.id()] = &cp
			}
			r.regs[cr.key] = g
			res.RegistrationsKept++
		}
		r.mu.Unlock()
	}
	if n.rtr == nil {
		res.BindingsDropped = len(c.bindings)
	} else {
		res.BindingsKept, res.BindingsDropped = n.rtr.adopt(c.bindings)
	}
	return res
}

// siteNamed returns the configured site called name, nil if none.
func (r *registry) siteNamed(name string) *site {
	for _, s := range r.sites {
		if s.Name == name {
			return s
		}
	}
	return nil
}
