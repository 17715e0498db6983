package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lispd/lispd/conf"
	"github.com/lispd/lispd/ctl"
	"github.com/lispd/lispd/fwd"
	"github.com/lispd/lispd/fwd/netio"
	"github.com/lispd/lispd/internal/logx"
	"github.com/lispd/lispd/internal/sock"

	"github.com/lispd/lispd/fwd/rtnl"
)

// localRLOC is one of this router's locators as resolved at start: a
// configured address, or an address found on a configured interface.
type localRLOC struct {
	Interface string // "" when configured by address
	Addr      netip.Addr
	Priority  uint8
	Weight    uint8
	// Known from rtnetlink (localrloc.go); zero when resolved without it.
	IfIndex int    // the interface holding Addr
	Up      bool   // the interface is up and holds Addr
	Reason  string // why not Up
}

// xtrPlane is the running data plane of the xTR role: the TUN device with
// its routes, the UDP sockets and the forwarding goroutines.
type xtrPlane struct {
	log    *logx.Logger
	plane  *fwd.Plane
	tun    netio.TUN
	rlocs  []localRLOC
	iid    uint32
	static map[staticKey]bool // static prefixes installed from the config

	removeRoutes func() error
	native       *fwd.RawForwarder
	pools        []*netio.SendPool
	recv         []*netio.UDPConn
	miss         missRelay
	locals       *localWatch // nil when rtnetlink is unavailable
	closing      atomic.Bool
	done         chan struct{}
	closeOnce    sync.Once
}

type staticKey struct {
	iid    uint32
	prefix netip.Prefix
}

// missRelay forwards the data plane's misses to the control-plane node set
// last; it exists because the plane is built before the node that drives it.
type missRelay struct{ to atomic.Pointer[ctl.Node] }

// Miss implements fwd.MissHandler.
func (r *missRelay) Miss(iid uint32, src, dst netip.Addr) {
	if n := r.to.Load(); n != nil {
		n.Miss(iid, src, dst)
	}
}

// startXTR opens the TUN, installs the eid_space routes, opens the sockets,
// loads the static mappings and starts forwarding.
func startXTR(ctx context.Context, log *logx.Logger, x *conf.XTR) (_ *xtrPlane, err error) {
	p := &xtrPlane{log: log, iid: x.InstanceID, done: make(chan struct{}), static: map[staticKey]bool{}}
	defer func() {
		if err != nil {
			p.release()
		}
	}()

	p.rlocs = resolveRLOCs(log, x.RLOCs)
	if len(p.rlocs) == 0 {
		log.Warn("no local RLOC has an address yet: encapsulated packets use the kernel's source address")
	}
	addrs := make([]netip.Addr, len(p.rlocs))
	for i, r := range p.rlocs {
		addrs[i] = r.Addr
	}
	for _, a := range addrs {
		for _, s := range x.EIDSpace {
			if s.Contains(a) {
				return nil, fmt.Errorf("RLOC %v lies inside eid_space %v: encapsulated packets would loop into the tunnel", a, s)
			}
		}
	}

	pathMTU, v6Only := pathMTUOf(p.rlocs)
	mtu := x.MTU
	if mtu == 0 {
		mtu = fwd.TUNMTU(pathMTU, v6Only)
	}
	var plainReason string
	p.tun, plainReason, err = openXTRTUN(log, x.TUN, mtu, x.TUNOffload)
	if err != nil {
		return nil, err // netio's errors name the TUN
	}
	// eid_space goes into the TUN through a table of its own, consulted
	// for every packet not marked by the native forwarder; the main table's
	// more specific routes (a connected site subnet) still win.
	p.removeRoutes, err = rtnl.AddPolicyRoutes(rtnl.PolicyRoutes{
		Ifname: p.tun.Name(), Prefixes: x.EIDSpace, Mark: fwd.DefaultNativeMark,
	})
	if err != nil {
		return nil, fmt.Errorf("routes for eid_space into %s: %w", p.tun.Name(), err)
	}

	socks, err := p.openSockets(x.RLOCs)
	if err != nil {
		return nil, err
	}
	// Packets whose negative mapping says natively-forward (and no PETR
	// is configured) leave outside the tunnel, marked past its routes.
	p.native, err = fwd.NewRawForwarder(fwd.DefaultNativeMark)
	if err != nil {
		return nil, fmt.Errorf("native forwarding socket: %w", err)
	}

	petrs := make([]fwd.RLOCSpec, len(x.ProxyETRs))
	for i, l := range x.ProxyETRs {
		petrs[i] = fwd.RLOCSpec{Addr: l.Address, Priority: uint8(l.Priority), Weight: uint8(l.Weight)}
	}
	errLimit := logx.NewLimiter(5, time.Minute)
	opts := fwd.Options{
		InstanceID:      x.InstanceID,
		LocalEIDs:       x.EIDPrefixes,
		EIDSpace:        x.EIDSpace,
		LocalRLOCs:      addrs,
		ProxyETRs:       petrs,
		PathMTU:         pathMTU,
		PathMTUFunc:     fwd.KernelPathMTU,
		MissHandler:     &p.miss,
		MapCacheLimit:   x.MapCacheLimit,
		PendingPackets:  x.PendingPackets,
		PendingTotal:    x.PendingTotal,
		PendingTimeout:  pendingTimeout(x),
		NativeForwarder: p.native,
		LSBChanged:      p.lsbChanged,
		Divert:          p.miss.divert,
		TUNPlainReason:  plainReason,
		DecapFilter:     x.DecapFilter == "known",
		DecapAllow:      decapAllow(x),
		ErrorLog: func(format string, args ...any) {
			// I/O errors the plane survives can repeat per batch: the
			// plane logs one line a second per goroutine, this a few
			// lines a minute, each with the count of lines suppressed
			// before it when there were any. Format only what is logged.
			if ok, n := errLimit.Allow(); ok {
				if n > 0 {
					log.Warn(fmt.Sprintf(format, args...), "suppressed", n)
				} else {
					log.Warn(fmt.Sprintf(format, args...))
				}
			}
		},
	}
	if x.KernelPath == "auto" {
		opts.KernelPath = true
		if ifi, err := sock.InterfaceByName(p.tun.Name()); err == nil {
			opts.TUNIndex = ifi.Index
		}
	}
	p.plane, err = fwd.New(opts, p.tun, socks)
	if err != nil {
		return nil, err
	}
	switch k := p.plane.KernelPath(); k.State {
	case fwd.KernelOn:
		log.Info("in-kernel data path on (eBPF at the TUN egress and the uplinks' ingress)")
	case fwd.KernelFallback:
		log.Warn("in-kernel data path unavailable, using lispd's own", "reason", k.Reason)
	}
	if err := p.applyStatic(x); err != nil {
		return nil, err
	}
	if len(x.RLOCs) > 0 {
		p.locals = newLocalWatch(log, x.RLOCs, p.plane, p.miss.to.Load)
	}
	if p.locals == nil { // no rtnetlink: the locators as resolved now
		setPlaneLocals(p.plane, p.rlocs)
	}
	go func() {
		defer close(p.done)
		if err := p.plane.Run(ctx); err != nil && !errors.Is(err, context.Canceled) && !p.closing.Load() {
			log.Error("data plane stopped", "err", err)
		}
	}()
	log.Info("data plane up", "tun", p.tun.Name(), "mtu", mtu, "path_mtu", pathMTU,
		"routes", len(x.EIDSpace), "rlocs", len(p.rlocs))
	return p, nil
}

// openSockets opens the UDP 4341 receive sockets (IPv4 and IPv6 wildcards:
// RLOC addresses may change under us) and a send pool per address family,
// bound to the RLOC of that family when it is the only one and configured
// by address (the outer source is the RLOC), else to the wildcard: with
// several uplinks, or an address that may change, the data plane sets the
// source and interface per packet (IP_PKTINFO).
func (p *xtrPlane) openSockets(cfg []conf.LocalRLOC) (fwd.Sockets, error) {
	var s fwd.Sockets
	for _, a := range []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()} {
		c, err := netio.ListenUDP(netip.AddrPortFrom(a, fwd.DataPort))
		if err != nil {
			if a.Is6() && len(p.recv) > 0 {
				p.log.Warn("no IPv6 data socket", "err", err)
				continue
			}
			return s, fmt.Errorf("listen on UDP %d: %w", fwd.DataPort, err)
		}
		p.recv = append(p.recv, c)
		s.Recv = append(s.Recv, c)
	}
	for _, v6 := range []bool{false, true} {
		src := netip.IPv4Unspecified()
		if v6 {
			src = netip.IPv6Unspecified()
		}
		if fixedSource(cfg, v6) {
			for _, r := range p.rlocs {
				if r.Addr.Is6() == v6 {
					src = r.Addr
					break
				}
			}
		}
		pool, err := netio.NewSendPool(src, 0)
		if err != nil {
			if v6 {
				p.log.Warn("no IPv6 send sockets", "err", err)
				continue
			}
			return s, fmt.Errorf("send sockets on %v: %w", src, err)
		}
		p.pools = append(p.pools, pool)
		if v6 {
			s.Send6 = fwd.PoolConns(pool)
		} else {
			s.Send4 = fwd.PoolConns(pool)
		}
	}
	return s, nil
}

// applyStatic makes the map-cache's static entries those of x.MapCache:
// new and changed ones are inserted (an unchanged entry keeps its counters),
// removed ones deleted. Learned entries are left alone.
func (p *xtrPlane) applyStatic(x *conf.XTR) error {
	cache := p.plane.MapCache()
	want := map[staticKey]bool{}
	for _, sm := range x.MapCache {
		spec := staticSpec(x, sm)
		k := staticKey{spec.InstanceID, spec.Prefix}
		if _, err := cache.Insert(spec); err != nil {
			// Take out the entries this call added, so that the caller's
			// rollback (applyStatic of the old configuration, which knows
			// only p.static) leaves none behind.
			for k := range want {
				if !p.static[k] {
					cache.Delete(k.iid, k.prefix)
				}
			}
			return fmt.Errorf("static mapping %v: %w", sm.EIDPrefix, err)
		}
		want[k] = true
	}
	for k := range p.static {
		if !want[k] {
			cache.Delete(k.iid, k.prefix)
			p.log.Info("static mapping removed", "eid", k.prefix, "iid", k.iid)
		}
	}
	p.static = want
	return nil
}

// staticSpec turns a configured static mapping into a map-cache entry.
func staticSpec(x *conf.XTR, sm conf.StaticMapping) fwd.MappingSpec {
	iid := x.InstanceID
	if sm.InstanceID != nil {
		iid = *sm.InstanceID
	}
	spec := fwd.MappingSpec{InstanceID: iid, Prefix: sm.EIDPrefix, Static: true}
	for _, l := range sm.RLOCs {
		spec.RLOCs = append(spec.RLOCs, fwd.RLOCSpec{Addr: l.Address, Priority: uint8(l.Priority), Weight: uint8(l.Weight)})
	}
	if len(spec.RLOCs) == 0 {
		spec.Action = actionByName(sm.Action)
	}
	return spec
}

// actionByName maps a configured action name to the data plane's action.
func actionByName(name string) fwd.Action {
	for a := fwd.ActionNoAction; a <= fwd.ActionDropAuthFailure; a++ {
		if a.String() == name {
			return a
		}
	}
	return fwd.ActionDrop
}

// setMissHandler points the plane's misses at n (nil: count and drop).
func (p *xtrPlane) setMissHandler(n *ctl.Node) {
	p.miss.to.Store(n)
	if n != nil {
		p.locals.syncNode() // a change between nodeOptions and now
	}
}

// localLocators returns the locators the control plane registers and puts
// in Map-Requests, in configuration order. A nil plane has none.
func (p *xtrPlane) localLocators() []ctl.LocalLocator {
	if p == nil {
		return nil
	}
	if p.locals != nil {
		return registeredLocators(p.locals.current())
	}
	return locators(p.rlocs)
}

// fixedSource reports whether the send sockets of a family may be bound to
// its RLOC: exactly one locator of that family, configured by address. An
// interface entry could be of either family, so it rules it out.
func fixedSource(cfg []conf.LocalRLOC, v6 bool) bool {
	n := 0
	for _, r := range cfg {
		if r.Interface != "" {
			return false
		}
		if r.Address.Unmap().Is6() == v6 {
			n++
		}
	}
	return n == 1
}

// lsbChanged is told by the data plane that an ITR cleared locator-status
// bits: the locators of the sender's mapping at those positions (as the
// record named them, RLOC.StatusBit: not the index in the map-cache entry,
// which lacks the locators we could not use) are probed at once (a hint,
// not proof: the bits can be spoofed).
func (p *xtrPlane) lsbChanged(itr, src netip.Addr, old, new uint32) {
	n := p.miss.to.Load()
	if n == nil || p.plane == nil {
		return
	}
	m, ok := p.plane.MapCache().Lookup(p.iid, src)
	if !ok {
		return
	}
	if probe := clearedLocators(m, old, new); len(probe) > 0 {
		p.log.Debug("locator-status bits cleared: probing at once", "itr", itr, "eid", src, "rlocs", probe)
		n.ProbeNow(probe)
	}
}

// clearedLocators returns the locators of m whose locator-status bit is
// set in old and clear in new.
func clearedLocators(m *fwd.Mapping, old, new uint32) []netip.Addr {
	var out []netip.Addr
	for _, r := range m.RLOCs {
		if i := r.StatusBit(); i < 32 && old&(1<<i) != 0 && new&(1<<i) == 0 {
			out = append(out, r.Addr.Addr())
		}
	}
	return out
}

// locators converts resolved local locators for the control plane.
func locators(rlocs []localRLOC) []ctl.LocalLocator {
	out := make([]ctl.LocalLocator, len(rlocs))
	for i, r := range rlocs {
		out[i] = ctl.LocalLocator{Addr: r.Addr, Priority: r.Priority, Weight: r.Weight, IfIndex: r.IfIndex}
	}
	return out
}

// Close stops forwarding and removes what startXTR installed: routes, TUN
// device and sockets.
func (p *xtrPlane) Close() {
	p.closeOnce.Do(func() {
		p.setMissHandler(nil)
		p.locals.close()
		p.closing.Store(true)
		if p.plane != nil {
			_ = p.plane.Close()
			<-p.done
		}
		p.release()
	})
}

// release frees what was acquired, in reverse order; each step tolerates
// the earlier ones having failed.
func (p *xtrPlane) release() {
	if p.removeRoutes != nil {
		if err := p.removeRoutes(); err != nil {
			p.log.Warn("removing routes", "err", err)
		}
		p.removeRoutes = nil
	}
	if p.tun != nil {
		_ = p.tun.Close()
	}
	for _, c := range p.recv {
		_ = c.Close()
	}
	for _, pool := range p.pools {
		_ = pool.Close()
	}
	if p.native != nil {
		_ = p.native.Close()
	}
}

// pendingTimeout bounds how long packets wait for a Map-Reply: as long as
// the control plane keeps trying (the first timeout, doubled on each
// retry), and a second more.
func pendingTimeout(x *conf.XTR) time.Duration {
	t := x.MapRequestTimeout.Duration
	if t <= 0 {
		t = ctl.DefaultMapRequestTimeout
	}
	return t*time.Duration(1<<(min(x.MapRequestRetries, 10)+1)-1) + time.Second
}

// resolveRLOCs finds the address of each configured locator: the address
// itself, or the global unicast addresses of the interface (each becomes a
// locator with the entry's priority and weight). An interface without an
// address is skipped with a warning.
func resolveRLOCs(log *logx.Logger, cfg []conf.LocalRLOC) []localRLOC {
	var out []localRLOC
	for _, r := range cfg {
		lr := localRLOC{Interface: r.Interface, Priority: uint8(r.Priority), Weight: uint8(r.Weight)}
		if r.Interface == "" {
			lr.Addr = r.Address
			out = append(out, lr)
			continue
		}
		addrs, err := interfaceAddrs(r.Interface)
		if err != nil || len(addrs) == 0 {
			log.Warn("RLOC interface has no usable address", "interface", r.Interface, "err", err)
			continue
		}
		for _, a := range addrs {
			lr.Addr = a
			out = append(out, lr)
		}
	}
	return out
}

// interfaceAddrs returns the global unicast addresses of an interface,
// IPv4 first.
func interfaceAddrs(name string) ([]netip.Addr, error) {
	ifi, err := sock.InterfaceByName(name)
	if err != nil {
		return nil, err
	}
	return globalAddrs(ifi.Index)
}

// globalAddrs returns the global unicast addresses of the interface with
// index, IPv4 first.
func globalAddrs(index int) ([]netip.Addr, error) {
	as, err := sock.InterfaceAddrs(index)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, p := range as {
		if ip := p.Addr().Unmap(); ip.IsGlobalUnicast() {
			out = append(out, ip)
		}
	}
	return out, nil
}

// pathMTUOf returns the smallest MTU of the locators' interfaces (1500 when
// none is known), and whether every locator is IPv6 (so the outer header is
// always the larger IPv6 one).
func pathMTUOf(rlocs []localRLOC) (mtu int, v6Only bool) {
	mtu, v6Only = 0, len(rlocs) > 0
	for _, r := range rlocs {
		if r.Addr.Is4() {
			v6Only = false
		}
		if m := interfaceMTUFor(r); m > 0 && (mtu == 0 || m < mtu) {
			mtu = m
		}
	}
	if mtu == 0 {
		mtu = fwd.DefaultPathMTU
	}
	return mtu, v6Only
}

// interfaceMTUFor returns the MTU of the interface a locator lives on, 0 if
// unknown.
func interfaceMTUFor(r localRLOC) int {
	if r.Interface != "" {
		if ifi, err := sock.InterfaceByName(r.Interface); err == nil {
			return ifi.MTU
		}
		return 0
	}
	if ifi := interfaceWith(r.Addr); ifi != nil {
		return ifi.MTU
	}
	return 0
}

// interfaceWith returns the interface that holds address a, nil if none.
func interfaceWith(a netip.Addr) *sock.Interface {
	ifs, err := sock.Interfaces()
	if err != nil {
		return nil
	}
	for i := range ifs {
		addrs, _ := globalAddrs(ifs[i].Index)
		for _, x := range addrs {
			if x == a {
				return &ifs[i]
			}
		}
	}
	return nil
}

// openOffloadTUN opens the offload TUN; tests replace it to make the
// kernel refuse.
var openOffloadTUN = netio.OpenOffloadTUN

// openXTRTUN opens the TUN as xtr.tun_offload says: "auto" tries the
// offload device (IFF_VNET_HDR, TSO/USO; UDP GSO on the send sockets) and
// falls back to the plain one when the kernel refuses; "off" opens the
// plain one. For a plain TUN it says why, for `show stats`.
func openXTRTUN(log *logx.Logger, name string, mtu int, mode string) (tun netio.TUN, plainReason string, err error) {
	if mode == "off" {
		tun, err = netio.OpenTUN(name, mtu)
		return tun, "tun_offload = off", err
	}
	t, oerr := openOffloadTUN(netio.TUNConfig{Name: name, MTU: mtu})
	if oerr == nil {
		log.Info("TUN offloads on", "uso", t.USO())
		return t, "", nil
	}
	// When the plain TUN fails too (no permission, the name taken), its
	// error says why; the offload error would only mislead.
	if tun, err = netio.OpenTUN(name, mtu); err != nil {
		return nil, "", err
	}
	log.Warn("TUN offloads unavailable, using the plain TUN", "err", oerr)
	return tun, "offloads refused: " + oerr.Error(), nil
}

// decapAllow returns the outer sources the decapsulation filter accepts
// whatever the map-cache holds: decap_allow and the Map-Servers.
func decapAllow(x *conf.XTR) []netip.Prefix {
	out := append([]netip.Prefix(nil), x.DecapAllow...)
	for _, m := range x.MapServers {
		out = append(out, netip.PrefixFrom(m.Address, m.Address.BitLen()))
	}
	return out
}
