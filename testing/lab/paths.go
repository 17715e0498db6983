package lab

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/lispd/lispd/testing/netns"
)

// RoutePlain makes the xTRs plain routers for the EIDs (no tunnel): each
// routes the other site's prefixes via the core. It returns a function that
// removes those routes again.
func (l *Lab) RoutePlain() (undo func() error, err error) {
	type rt struct {
		h   *netns.Host
		dst netip.Prefix
		gw  netip.Addr
	}
	var rts []rt
	peer1v4, peer1v6 := l.gw1v4, l.gw1v6
	peer2v4, peer2v6 := l.gw2v4, l.gw2v6
	rts = append(rts,
		rt{l.XTR1, Site2v4, peer1v4}, rt{l.XTR1, Site2v6, peer1v6},
		rt{l.XTR2, Site1v4, peer2v4}, rt{l.XTR2, Site1v6, peer2v6})
	if l.Core != nil && l.MS == nil {
		rts = append(rts,
			rt{l.Core, Site1v4, l.RLOC1v4}, rt{l.Core, Site1v6, l.RLOC1v6},
			rt{l.Core, Site2v4, l.RLOC2v4}, rt{l.Core, Site2v6, l.RLOC2v6})
	}
	undo = func() error {
		var errs []error
		for _, r := range rts {
			errs = append(errs, r.h.DelRoute(r.dst))
		}
		return errors.Join(errs...)
	}
	for _, r := range rts {
		if err := r.h.AddRoute(r.dst, r.gw); err != nil {
			undo()
			return nil, err
		}
	}
	return undo, nil
}

// VXLAN is the name of the VXLAN device SetupVXLAN creates on each xTR.
const VXLAN = "vx0"

// SetupVXLAN joins the xTRs with the kernel's VXLAN tunnel over the IPv4
// RLOCs (created with dev = the WAN interface so its MTU fits) and routes
// the other site's EIDs into it. It returns a function that removes it.
func (l *Lab) SetupVXLAN() (undo func() error, err error) {
	ends := []struct {
		h             *netns.Host
		local, remote netip.Addr
		in4, in6      string
		peer4, peer6  netip.Addr
		site4, site6  netip.Prefix
		dev           string
	}{
		{l.XTR1, l.RLOC1v4, l.RLOC2v4, "203.0.113.1/30", "2001:db8:fe::1/64",
			addr("203.0.113.2"), addr("2001:db8:fe::2"), Site2v4, Site2v6, l.XTR1WAN.Name},
		{l.XTR2, l.RLOC2v4, l.RLOC1v4, "203.0.113.2/30", "2001:db8:fe::2/64",
			addr("203.0.113.1"), addr("2001:db8:fe::1"), Site1v4, Site1v6, l.XTR2WAN.Name},
	}
	undo = func() error {
		var errs []error
		for _, e := range ends {
			if e.h.HasLink(VXLAN) {
				errs = append(errs, e.h.IP("link", "del", "dev", VXLAN))
			}
		}
		return errors.Join(errs...)
	}
	for _, e := range ends {
		err := e.h.IP("link", "add", VXLAN, "type", "vxlan", "id", "42",
			"local", e.local.String(), "remote", e.remote.String(), "dstport", "4789", "dev", e.dev)
		if err == nil {
			vx := &netns.Iface{Host: e.h, Name: VXLAN}
			for _, a := range []string{e.in4, e.in6} {
				if err == nil {
					err = vx.AddAddr(pfx(a))
				}
			}
		}
		if err == nil {
			err = e.h.IP("link", "set", "dev", VXLAN, "up")
		}
		if err == nil {
			err = e.h.AddRoute(e.site4, e.peer4)
		}
		if err == nil {
			err = e.h.AddRoute(e.site6, e.peer6)
		}
		if err != nil {
			undo()
			return nil, fmt.Errorf("vxlan on %s: %w", e.h, err)
		}
	}
	return undo, nil
}

// FlushRouteCaches forgets learned path MTUs on every host of the lab.
func (l *Lab) FlushRouteCaches() error {
	var errs []error
	for _, h := range l.Topo.Hosts() {
		errs = append(errs, h.FlushRouteCache())
	}
	return errors.Join(errs...)
}
