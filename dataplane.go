package main

import (
	"net/netip"
	"time"

	"github.com/lispd/lispd/conf"
	"github.com/lispd/lispd/ctl"
	"github.com/lispd/lispd/fwd"
	"github.com/lispd/lispd/internal/logx"
)

// cacheAdapter lets the control plane drive the data plane's map-cache: ctl
// speaks its own small DataPlane interface so that it can be tested without
// a TUN, and this is the one place the two meet.
type cacheAdapter struct{ plane *fwd.Plane }

var _ ctl.DataPlane = cacheAdapter{}

// adapter returns the control plane's view of this data plane.
func (p *xtrPlane) adapter() ctl.DataPlane { return cacheAdapter{p.plane} }

// Install puts a learned mapping into the map-cache, which flushes the
// packets queued for destinations it covers. A static entry for the same
// prefix wins.
func (a cacheAdapter) Install(m ctl.Mapping) error {
	cache := a.plane.MapCache()
	old, ok := cache.Get(m.InstanceID, m.Prefix)
	if ok && old.Static {
		return nil
	}
	spec := fwd.MappingSpec{
		InstanceID: m.InstanceID,
		Prefix:     m.Prefix,
		TTL:        m.TTL,
		Action:     fwd.Action(m.Action),
	}
	// A negative entry carries only its action: the data plane sends
	// natively-forward traffic to the configured PETRs itself.
	if !m.Negative {
		for _, l := range m.Locators {
			spec.RLOCs = append(spec.RLOCs, fwd.RLOCSpec{
				Addr: l.Addr, Priority: l.Priority, Weight: l.Weight, Down: !l.Reachable, Position: l.Position,
			})
		}
	}
	nm, err := cache.Insert(spec)
	if err != nil || m.Negative {
		return err
	}
	// Say why a locator starts down, and keep the probe round trips the
	// replaced entry had learned.
	for i, r := range nm.RLOCs {
		if i < len(m.Locators) && !m.Locators[i].Reachable {
			reason := m.Locators[i].Reason
			if reason == "" {
				reason = ctl.ReasonRBitClear
			}
			r.SetReason(reason)
		}
		if old == nil {
			continue
		}
		for _, o := range old.RLOCs {
			if o.Addr == r.Addr && o.RTT() > 0 {
				r.SetRTT(o.RTT())
				if r.Up() && o.Up() && r.Reason() == "" {
					r.SetReason(o.Reason())
				}
				break
			}
		}
	}
	return nil
}

// InUse lists the learned entries with locators that a packet used at or
// after since (an entry counts as used when installed).
func (a cacheAdapter) InUse(since time.Time) []ctl.CacheEntry {
	var out []ctl.CacheEntry
	a.plane.MapCache().Walk(func(m *fwd.Mapping) bool {
		if m.Static || m.State != fwd.StateComplete || m.LastUsed().Before(since) {
			return true
		}
		e := ctl.CacheEntry{InstanceID: m.InstanceID, Prefix: m.Prefix, LastUsed: m.LastUsed()}
		for _, r := range m.RLOCs {
			e.Locators = append(e.Locators, ctl.Locator{
				Addr: r.Addr.Addr(), Priority: r.Priority, Weight: r.Weight, Reachable: r.Up(),
			})
		}
		out = append(out, e)
		return true
	})
	return out
}

// SetLocatorState marks locator rloc of the entry iid/prefix up or down
// (its flows, and only those, move to the next best locator) and records
// why and the probe's round trip.
func (a cacheAdapter) SetLocatorState(iid uint32, prefix netip.Prefix, rloc netip.Addr, st ctl.LocatorState) {
	m, ok := a.plane.MapCache().Get(iid, prefix)
	if !ok {
		return
	}
	rloc = rloc.Unmap()
	for _, r := range m.RLOCs {
		if r.Addr.Addr() != rloc {
			continue
		}
		r.SetReason(st.Reason)
		if st.RTT > 0 {
			r.SetRTT(st.RTT)
		}
		r.SetUp(st.Up)
	}
}

// RecentITRs returns the ITRs that sent us LISP packets within d: where
// Solicit-Map-Requests go after a change of our locators.
func (a cacheAdapter) RecentITRs(d time.Duration) []netip.Addr { return a.plane.RecentITRs(d) }

// ResolveFailed drops the packets queued for dst.
func (a cacheAdapter) ResolveFailed(iid uint32, dst netip.Addr) { a.plane.ResolveFailed(iid, dst) }

// Lookup returns the entry covering eid; pending entries (a Map-Request in
// flight) count as absent.
func (a cacheAdapter) Lookup(iid uint32, eid netip.Addr) (ctl.CacheEntry, bool) {
	m, ok := a.plane.MapCache().Lookup(iid, eid)
	if !ok || m.State == fwd.StatePending {
		return ctl.CacheEntry{}, false
	}
	return ctl.CacheEntry{
		InstanceID: m.InstanceID,
		Prefix:     m.Prefix,
		Static:     m.Static,
		Negative:   m.State == fwd.StateNegative,
		LastUsed:   m.LastUsed(),
	}, true
}

// nodeOptions converts the configuration into the control plane's options;
// ok is false when no role needs a control plane.
func nodeOptions(cfg *conf.Config, rlocs []ctl.LocalLocator, log *logx.Logger) (opts ctl.Options, ok bool) {
	opts.Logger = log
	if x := cfg.XTR; x != nil {
		xo := &ctl.XTROptions{
			InstanceID:        x.InstanceID,
			EIDPrefixes:       x.EIDPrefixes,
			EIDSpace:          x.EIDSpace,
			RLOCs:             rlocs,
			DynamicRLOCs:      dynamicRLOCs(x.RLOCs),
			MapResolvers:      x.MapResolvers,
			RegisterInterval:  x.RegisterInterval.Duration,
			RecordTTL:         x.RecordTTL.Duration,
			MapRequestTimeout: x.MapRequestTimeout.Duration,
			MapRequestRetries: x.MapRequestRetries,
			MapRequestRate:    x.MapRequestRate,
			RenewIdle:         x.IdleTimeout.Duration,
			ProbeInterval:     x.ProbeInterval.Duration,
			ProbeRetries:      x.ProbeRetries,
			ProbeIdle:         x.IdleTimeout.Duration,
			NATTraversal:      ctl.NATMode(x.NATTraversal),
			NATKeepalive:      x.NATKeepalive.Duration,
		}
		for _, ms := range x.MapServers {
			xo.MapServers = append(xo.MapServers, ctl.MapServerPeer{
				Addr: ms.Address, Key: ms.Key, KeyType: ctl.KeyType(ms.KeyType), WantMapNotify: ms.WantsMapNotify(),
			})
		}
		for _, l := range x.ProxyETRs {
			xo.ProxyETRs = append(xo.ProxyETRs, ctl.Locator{
				Addr: l.Address, Priority: uint8(l.Priority), Weight: uint8(l.Weight), Reachable: true,
			})
		}
		// An xTR with nothing to register and nobody to ask needs no
		// control plane (static mappings only).
		if len(xo.MapServers) > 0 || len(xo.MapResolvers) > 0 || len(xo.EIDPrefixes) > 0 {
			opts.XTR = xo
		}
	}
	if m := cfg.MapServer; m != nil && m.Enabled {
		mo := &ctl.MapServerOptions{RegistrationTimeout: m.RegistrationTimeout.Duration, RTRs: m.RTRs}
		for _, s := range m.Sites {
			mo.Sites = append(mo.Sites, ctl.SiteOptions{
				Name: s.Name, Key: s.Key, KeyType: ctl.KeyType(s.KeyType),
				InstanceID: s.InstanceID, EIDPrefixes: s.EIDPrefixes,
				MaxRegistrations: s.MaxRegistrations,
			})
		}
		opts.MapServer = mo
		// The Map-Server answers from the addresses it was configured on;
		// an xTR beside it also needs its RLOCs.
		opts.Listen = append(opts.Listen, m.Listen...)
		for _, r := range rlocs {
			opts.Listen = appendUnique(opts.Listen, r.Addr)
		}
	}
	if r := cfg.RTR; r != nil && r.Enabled {
		ro := &ctl.RTROptions{Listen: r.Listen, MapServers: r.MapServers}
		opts.RTR = ro
		// The RTR's control port serves its RLOCs: relayed registrations,
		// RLOC probes and the NAT bindings' traffic (from port 4342).
		if opts.MapServer == nil {
			for _, r := range rlocs {
				opts.Listen = appendUnique(opts.Listen, r.Addr)
			}
		}
		for _, a := range r.Listen {
			opts.Listen = appendUnique(opts.Listen, a)
		}
	}
	return opts, opts.XTR != nil || opts.MapServer != nil || opts.RTR != nil
}

func appendUnique(s []netip.Addr, a netip.Addr) []netip.Addr {
	for _, x := range s {
		if x == a {
			return s
		}
	}
	return append(s, a)
}

// dynamicRLOCs reports whether a locator is found on an interface, so may
// appear later (DHCP, PPPoE): the ETR must be ready to register then.
func dynamicRLOCs(cfg []conf.LocalRLOC) bool {
	for _, r := range cfg {
		if r.Interface != "" {
			return true
		}
	}
	return false
}
