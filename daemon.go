package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lispd/lispd/conf"
	"github.com/lispd/lispd/ctl"
	"github.com/lispd/lispd/fwd"
	"github.com/lispd/lispd/internal/logx"
)

// daemon owns the running roles: the data plane of the xTR role (TUN,
// sockets, map-cache) and the control-plane node (ITR, ETR, Map-Server,
// Map-Resolver). Start, Reload and Stop are serialized by mu; they are
// called from the signal loop of `lispd run` and from the control socket.
type daemon struct {
	log *logx.Logger

	mu   sync.Mutex
	cfg  *conf.Config // the running configuration
	xtr  *xtrPlane    // nil without the xTR role
	node *ctl.Node    // nil without any control-plane role
	// counters are every node's control-plane counters: a reload that
	// restarts the node keeps counting (operators read `show stats` as
	// counts since the daemon started).
	counters ctl.Counters
	// rtrNative forwards natively for the RTR role; nil without it.
	rtrNative *fwd.RawForwarder
	// carried is what the last node closed held (registrations, NAT
	// bindings) until a node started by a reload adopts it.
	carried *ctl.Carried
	// notes tell the operator what a reload did beyond applying the new
	// configuration (a role restarted and lost state), for `lispd reload`.
	notes []string
	ctx   context.Context
	stop  context.CancelFunc
}

// Start brings up every role cfg configures. On error, whatever was brought
// up is torn down again.
func (d *daemon) Start(cfg *conf.Config) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cfg = cfg
	d.carried = nil
	d.log.Info("starting", "version", version, "config", cfg.Path, "roles", strings.Join(cfg.Roles(), ","))
	describe(d.log, cfg)
	d.ctx, d.stop = context.WithCancel(context.Background())
	if err := d.startRoles(cfg); err != nil {
		d.stopRoles()
		return err
	}
	return nil
}

// startRoles brings up the data plane, then the control plane, which drives
// the data plane's map-cache.
func (d *daemon) startRoles(cfg *conf.Config) error {
	if cfg.XTR != nil {
		x, err := startXTR(d.ctx, d.log, cfg.XTR)
		if err != nil {
			return fmt.Errorf("xtr: %w", err)
		}
		d.xtr = x
	}
	return d.startNode(cfg)
}

// startNode starts the control-plane node for cfg, if any role needs one.
func (d *daemon) startNode(cfg *conf.Config) error {
	opts, ok := nodeOptions(cfg, d.xtr.localLocators(), d.log)
	if !ok {
		return nil
	}
	opts.Counters = &d.counters
	var dp ctl.DataPlane
	if d.xtr != nil {
		dp = d.xtr.adapter()
		if opts.XTR != nil {
			opts.DataPort = &dataPort{p: d.xtr}
		}
	}
	if opts.RTR != nil {
		d.startRTRNative(opts.RTR)
	}
	n, err := ctl.New(opts, dp)
	if err != nil {
		d.closeRTRNative()
		return fmt.Errorf("control plane: %w", err)
	}
	if d.carried != nil {
		d.adopt(n, opts)
	}
	// The data plane hands misses and the data port's control messages to
	// the node from before its start: the first Info-Reply may come back
	// before Start returns.
	if d.xtr != nil {
		d.xtr.setMissHandler(n)
	}
	if err := n.Start(d.ctx); err != nil {
		if d.xtr != nil {
			d.xtr.setMissHandler(nil)
		}
		d.closeRTRNative()
		return fmt.Errorf("control plane: %w", err)
	}
	d.node = n
	d.carried = nil
	return nil
}

// adopt hands what the previous node held to n (not started yet), and
// says what was kept and what dropped: a Map-Server keeps the registrations
// of the sites it still has with the same key, an RTR the NAT bindings of
// the Map-Servers it still relays to, so neither answers as if every site
// were gone until the ETRs register again.
func (d *daemon) adopt(n *ctl.Node, opts ctl.Options) {
	res := n.Adopt(d.carried)
	if opts.MapServer != nil || res.RegistrationsDropped > 0 {
		d.log.Info("registrations carried over the control plane's restart",
			"kept", res.RegistrationsKept, "dropped", res.RegistrationsDropped)
		d.note(fmt.Sprintf("Map-Server: %d registrations kept, %d dropped (site removed, its key or prefixes changed)",
			res.RegistrationsKept, res.RegistrationsDropped))
	}
	if opts.RTR != nil || res.BindingsDropped > 0 {
		d.log.Info("RTR NAT bindings carried over the control plane's restart",
			"kept", res.BindingsKept, "dropped", res.BindingsDropped)
		d.note(fmt.Sprintf("RTR: %d NAT bindings kept, %d dropped (Map-Server no longer relayed to)",
			res.BindingsKept, res.BindingsDropped))
	}
}

// note records a line for `lispd reload` to print.
func (d *daemon) note(s string) { d.notes = append(d.notes, s) }

// stopRoles tears down in the reverse order of startRoles.
func (d *daemon) stopRoles() {
	d.closeNode()
	if d.xtr != nil {
		d.xtr.Close()
		d.xtr = nil
	}
}

// Reload applies a new, already validated configuration. Parts that did not
// change keep running untouched: the data plane (TUN, routes, sockets,
// learned map-cache entries) when the [xtr] data-plane keys are the same,
// and the control plane when its inputs are the same. Static mappings are
// applied as a difference, and so are the priorities and weights of the
// local RLOCs (the data plane's locator selection changes in place, the ETR
// re-registers). A control plane that restarts hands the Map-Server's
// registrations and the RTR's NAT bindings to the new one. A configuration
// that validates but cannot be applied (say, an RLOC address this host does
// not have) is undone: the previous configuration is started again and
// stays the running one. The notes say what the reload did that the
// operator should know of (a role restarted, state kept or lost).
func (d *daemon) Reload(cfg *conf.Config) (notes []string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.notes = nil
	defer func() {
		if err == nil {
			notes = d.notes // the returns below leave them to this
		}
		d.notes = nil
	}()
	old := d.cfg
	d.log.Info("reloading", "config", cfg.Path, "roles", strings.Join(cfg.Roles(), ","))
	describe(d.log, cfg)

	// EID prefixes no longer configured are withdrawn from the Map-Servers
	// at once rather than left to expire there.
	// A new first RLOC gives a new xTR-ID, under which the new node
	// registers afresh: then everything the old one registered goes.
	if d.node != nil && old.XTR != nil {
		removed := removedPrefixes(old.XTR, cfg.XTR)
		if cfg.XTR == nil || d.node.XTRID() != d.nextXTRID(old, cfg) {
			removed = old.XTR.EIDPrefixes
		}
		d.node.Deregister(removed)
	}

	if !sameDataPlane(old.XTR, cfg.XTR) {
		// The TUN, its routes or the sockets change: rebuild everything.
		keys := strings.Join(changedDataPlaneKeys(old.XTR, cfg.XTR), ", ")
		d.log.Warn("data-plane keys changed: restarting the xTR role (learned map-cache entries are lost)", "keys", keys)
		d.stopRoles()
		if err := d.startRoles(cfg); err != nil {
			d.log.Error("new configuration cannot be applied, going back to the running one", "err", err)
			d.stopRoles()
			if rerr := d.startRoles(old); rerr != nil {
				d.log.Error("restarting the previous configuration failed", "err", rerr)
			}
			return nil, err
		}
		switch {
		case old.XTR == nil:
			d.note("xTR role started")
		case cfg.XTR == nil:
			d.note("xTR role stopped: TUN removed")
		default:
			d.note("xTR role restarted (" + keys + " changed): TUN recreated, map-cache flushed " +
				"(learned entries and `lispd map-cache add` entries are gone)")
		}
		d.cfg = cfg
		return nil, nil
	}
	if d.xtr != nil {
		// A higher limit before the static entries (they may need it), a
		// lower one only once they took: a failed reload then evicted
		// nothing.
		lower := cacheLimit(cfg.XTR) < cacheLimit(old.XTR)
		if !lower {
			d.applyLimits(old.XTR, cfg.XTR)
		}
		if err := d.xtr.applyStatic(cfg.XTR); err != nil {
			if rerr := d.xtr.applyStatic(old.XTR); rerr != nil {
				d.log.Error("restoring the previous static mappings failed", "err", rerr)
			}
			if !lower {
				d.applyLimits(cfg.XTR, old.XTR)
			}
			return nil, err
		}
		if lower {
			d.applyLimits(old.XTR, cfg.XTR)
		}
		d.xtr.plane.SetDecapAllow(decapAllow(cfg.XTR)) // decap_allow, Map-Servers
		if !sameRLOCs(old.XTR.RLOCs, cfg.XTR.RLOCs) {
			// Only priorities and weights differ (else the data plane
			// would have restarted).
			d.log.Info("local RLOC priorities or weights changed: applied in place, re-registering")
			d.xtr.setRLOCConfig(cfg.XTR.RLOCs)
		}
	}
	if !sameNode(old, cfg) {
		what := "control-plane keys changed: restarting the control plane"
		if cfg.XTR != nil && len(cfg.XTR.MapServers) > 0 {
			what += " (the ETR registers again)"
		}
		d.log.Info(what, "roles", strings.Join(cfg.Roles(), ","))
		d.note("control plane restarted" + strings.TrimPrefix(what, "control-plane keys changed: restarting the control plane"))
		d.closeNode()
		if err := d.startNode(cfg); err != nil {
			d.log.Error("new control-plane configuration cannot be applied, going back to the running one", "err", err)
			d.closeNode()
			if d.xtr != nil {
				_ = d.xtr.applyStatic(old.XTR)
				d.xtr.setRLOCConfig(old.XTR.RLOCs)
				d.applyLimits(cfg.XTR, old.XTR)
				d.xtr.plane.SetDecapAllow(decapAllow(old.XTR))
			}
			if rerr := d.startNode(old); rerr != nil {
				d.log.Error("restarting the previous control plane failed", "err", rerr)
			}
			return nil, err
		}
	}
	d.cfg = cfg
	return nil, nil
}

// cacheLimit is x's map-cache limit, the default for 0.
func cacheLimit(x *conf.XTR) int {
	if x.MapCacheLimit <= 0 {
		return fwd.DefaultMapCacheLimit
	}
	return x.MapCacheLimit
}

// applyLimits gives the running data plane x's map-cache limit and pending
// queue bounds (and the pending wait, which follows map_request_timeout
// and map_request_retries), and notes the keys that changed from old. The
// map-cache keeps its entries but the least recently used learned ones
// beyond a lower limit, the queues their packets but the oldest beyond
// lower bounds.
func (d *daemon) applyLimits(old, x *conf.XTR) {
	evicted := d.xtr.plane.MapCache().SetLimit(x.MapCacheLimit)
	dropped := d.xtr.plane.SetPending(x.PendingPackets, x.PendingTotal, pendingTimeout(x))
	k := ""
	if old.MapCacheLimit != x.MapCacheLimit {
		k += ", xtr.map_cache_limit"
	}
	if old.PendingPackets != x.PendingPackets {
		k += ", xtr.pending_packets"
	}
	if old.PendingTotal != x.PendingTotal {
		k += ", xtr.pending_total"
	}
	if k != "" {
		msg := fmt.Sprintf("%s applied in place: map-cache kept (%d entries evicted to fit, %d queued packets dropped)", k[2:], evicted, dropped)
		d.log.Info(msg)
		d.note(msg)
	}
}

// nextXTRID returns the xTR-ID that registers cfg's EID prefixes after a
// reload from old (both with the xTR role): the running node's when the
// node keeps running; else the one derived from the first locator the new
// node starts with, which is the watcher's current set when the data plane
// stays (an uplink may have a new address since the running node started)
// and the configured locators resolved afresh when it restarts.
func (d *daemon) nextXTRID(old, cfg *conf.Config) [16]byte {
	switch {
	case !sameDataPlane(old.XTR, cfg.XTR):
		return ctl.DeriveXTRID(cfg.XTR.InstanceID, locators(resolveRLOCs(logx.Discard(), cfg.XTR.RLOCs)))
	case !sameNode(old, cfg):
		return ctl.DeriveXTRID(cfg.XTR.InstanceID, d.xtr.localLocators())
	}
	return d.node.XTRID()
}

// closeNode stops the control-plane node, if any; misses are counted and
// dropped until a new node is started.
func (d *daemon) closeNode() {
	if d.node == nil {
		return
	}
	if d.xtr != nil {
		d.xtr.setMissHandler(nil)
	}
	if err := d.node.Close(); err != nil {
		d.log.Warn("control plane close", "err", err)
	}
	d.carried = d.node.Carry()
	d.node = nil
	d.closeRTRNative()
}

// ReloadFile re-reads the configuration at path and applies it when it is
// valid. When it is not, every problem is logged, the running configuration
// stays, and the conf.Errors are returned (for `lispd reload` to print).
func (d *daemon) ReloadFile(path string) (notes []string, err error) {
	cfg, err := conf.Load(path)
	if err != nil {
		var errs conf.Errors
		if errors.As(err, &errs) {
			for _, p := range errs {
				d.log.Error("config problem", "problem", p.Error())
			}
		}
		d.log.Error("reload refused: configuration invalid, keeping the running one", "config", path)
		return nil, err
	}
	notes, err = d.Reload(cfg)
	if err != nil {
		d.log.Error("reload failed", "err", err)
		return nil, err
	}
	d.log.Info("reloaded", "config", path)
	return notes, nil
}

// Stop tears every role down: the control plane first (nothing half-built is
// sent), then the data plane (routes and the TUN device removed, sockets
// closed).
func (d *daemon) Stop() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.withdraw(withdrawTimeout)
	if d.stop != nil {
		d.stop()
	}
	d.stopRoles()
	d.log.Info("stopped")
	return nil
}

// withdrawTimeout bounds the deregistration at a clean stop: the
// Map-Registers are single UDP datagrams, but a stuck send must not hold
// the shutdown (stopTimeout) back.
const withdrawTimeout = 500 * time.Millisecond

// withdraw deregisters every EID prefix from every Map-Server (a
// Map-Register whose records carry TTL 0), so that the Map-Servers stop
// answering for a site whose xTR is gone instead of forwarding
// Map-Requests to it until the registration expires. It is best effort and
// gives up after limit.
func (d *daemon) withdraw(limit time.Duration) {
	if d.node == nil || d.cfg == nil || d.cfg.XTR == nil || len(d.cfg.XTR.EIDPrefixes) == 0 || len(d.cfg.XTR.MapServers) == 0 {
		return
	}
	n, prefixes := d.node, d.cfg.XTR.EIDPrefixes
	d.log.Info("stopping: withdrawing the EID prefixes from the Map-Servers", "eid_prefixes", len(prefixes))
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.Withdraw(prefixes)
	}()
	select {
	case <-done:
	case <-time.After(limit):
		d.log.Warn("stopping: deregistration unfinished, going on", "after", limit.String())
	}
}

// config returns the running configuration.
func (d *daemon) config() *conf.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// sameDataPlane reports whether two [xtr] sections need the same TUN,
// routes, sockets and data-plane options (static mappings and control-plane
// keys aside).
func sameDataPlane(a, b *conf.XTR) bool {
	if a == nil || b == nil {
		return a == b
	}
	return bytes.Equal(dataPlaneText(a), dataPlaneText(b))
}

// dataPlaneText is the TOML of x without its control-plane keys and
// without what a reload applies in place: the local RLOCs' priorities and
// weights, the pending queue bounds, and the map-cache limit unless the
// in-kernel path may run (its map is sized for the limit at start, and
// must hold every entry the cache has: a larger limit needs a new one).
// eid_space stays: it is the TUN's policy routes and the in-kernel path's
// filter, not only the userspace path's check.
func dataPlaneText(x *conf.XTR) []byte {
	c := *x
	c.RLOCs = withoutPriorities(x.RLOCs)
	c.PendingPackets, c.PendingTotal = 0, 0
	if c.KernelPath != "auto" {
		c.MapCacheLimit = 0
	}
	c.MapCache = nil
	c.MapServers = nil
	c.MapResolvers = nil
	c.RegisterInterval, c.MapRequestTimeout, c.RecordTTL = conf.Duration{}, conf.Duration{}, conf.Duration{}
	c.MapRequestRetries, c.MapRequestRate = 0, 0
	c.ProbeInterval, c.ProbeRetries, c.IdleTimeout = conf.Duration{}, 0, conf.Duration{}
	c.NATKeepalive = conf.Duration{}
	c.DecapAllow = nil // applied in place (SetDecapAllow)
	return configText(&conf.Config{XTR: &c})
}

// sameNode reports whether two configurations give the control plane the
// same options: everything but log_level, control_socket, the static
// map-cache and the data plane's limits (map_cache_limit, pending_*).
func sameNode(a, b *conf.Config) bool {
	strip := func(c *conf.Config) []byte {
		v := *c
		v.LogLevel, v.ControlSocket, v.Path = "", "", ""
		if v.XTR != nil {
			x := *v.XTR
			x.MapCache = nil
			x.MapCacheLimit, x.PendingPackets, x.PendingTotal = 0, 0, 0
			x.RLOCs = withoutPriorities(x.RLOCs)
			x.DecapAllow = nil // the data plane's, applied in place
			v.XTR = &x
		}
		return configText(&v)
	}
	return bytes.Equal(strip(a), strip(b))
}

// sameRLOCs reports whether two [[xtr.rloc]] lists are the same, entry by
// entry.
func sameRLOCs(a, b []conf.LocalRLOC) bool {
	return slices.EqualFunc(a, b, func(x, y conf.LocalRLOC) bool {
		return x.Interface == y.Interface && x.Address == y.Address && x.Priority == y.Priority && x.Weight == y.Weight
	})
}

// withoutPriorities returns a copy of rlocs with priorities and weights
// zeroed: a change of only those reaches the running data and control
// planes in place (xtrPlane.setRLOCConfig). A nil list stays nil.
func withoutPriorities(rlocs []conf.LocalRLOC) []conf.LocalRLOC {
	out := slices.Clone(rlocs)
	for i := range out {
		out[i].Priority, out[i].Weight = 0, 0
	}
	return out
}

// changedDataPlaneKeys names the data-plane keys that differ between a and
// b (either may be nil), for the operator: the keys of the TOML lines
// either has and the other does not, in the order of the encoding.
func changedDataPlaneKeys(a, b *conf.XTR) []string {
	if a == nil || b == nil {
		return []string{"[xtr]"}
	}
	ta, tb := dataPlaneText(a), dataPlaneText(b)
	keys := func(text []byte) []string {
		var out []string
		section := ""
		for _, l := range strings.Split(string(text), "\n") {
			l = strings.TrimSpace(l)
			switch {
			case strings.HasPrefix(l, "["):
				section = strings.Trim(l, "[]")
				out = append(out, "")
			case strings.Contains(l, " = "):
				out = append(out, section+"."+strings.TrimSpace(l[:strings.Index(l, " = ")])+"\x00"+l)
			default:
				out = append(out, "")
			}
		}
		return out
	}
	ka, kb := keys(ta), keys(tb)
	var out []string
	for _, side := range [][2][]string{{ka, kb}, {kb, ka}} {
		for _, k := range side[0] {
			if k == "" || slices.Contains(side[1], k) {
				continue
			}
			name, _, _ := strings.Cut(k, "\x00")
			if !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	if len(out) == 0 {
		out = []string{"[xtr]"}
	}
	return out
}

// configText is c as conf.Encode writes it. Two Configs from Parse or
// Validate (whose prefixes are all valid) have the same text exactly when
// reflect.DeepEqual finds them equal: every field is written, a nil list
// ("key" absent) differs from an empty one ("key = []"), a nil pointer
// from a set one, and strings, numbers, addresses, prefixes and durations
// are written one way each. The tests check this against DeepEqual; it
// spares the binary reflect's deep comparison and a field-by-field copy.
func configText(c *conf.Config) []byte {
	var b bytes.Buffer
	_ = conf.Encode(&b, c) // a bytes.Buffer does not fail
	return b.Bytes()
}

// removedPrefixes returns the EID prefixes of a that b no longer has.
func removedPrefixes(a, b *conf.XTR) []netip.Prefix {
	if a == nil {
		return nil
	}
	var out []netip.Prefix
	for _, p := range a.EIDPrefixes {
		if b == nil || !slices.Contains(b.EIDPrefixes, p) {
			out = append(out, p)
		}
	}
	return out
}
