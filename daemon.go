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
	ctx       context.Context
	stop      context.CancelFunc
}

// Start brings up every role cfg configures. On error, whatever was brought
// up is torn down again.
func (d *daemon) Start(cfg *conf.Config) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cfg = cfg
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
	return nil
}

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
// applied as a difference. A configuration that validates but cannot be
// applied (say, an RLOC address this host does not have) is undone: the
// previous configuration is started again and stays the running one.
func (d *daemon) Reload(cfg *conf.Config) error {
	d.mu.Lock()
	defer d.mu.Unlock()
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
		d.log.Warn("data-plane keys changed: restarting the xTR role (learned map-cache entries are lost)")
		d.stopRoles()
		if err := d.startRoles(cfg); err != nil {
			d.log.Error("new configuration cannot be applied, going back to the running one", "err", err)
			d.stopRoles()
			if rerr := d.startRoles(old); rerr != nil {
				d.log.Error("restarting the previous configuration failed", "err", rerr)
			}
			return err
		}
		d.cfg = cfg
		return nil
	}
	if d.xtr != nil {
		if err := d.xtr.applyStatic(cfg.XTR); err != nil {
			if rerr := d.xtr.applyStatic(old.XTR); rerr != nil {
				d.log.Error("restoring the previous static mappings failed", "err", rerr)
			}
			return err
		}
	}
	if !sameNode(old, cfg) {
		d.log.Info("control-plane keys changed: restarting the control plane (Map-Servers re-registered)")
		d.closeNode()
		if err := d.startNode(cfg); err != nil {
			d.log.Error("new control-plane configuration cannot be applied, going back to the running one", "err", err)
			d.closeNode()
			if rerr := d.startNode(old); rerr != nil {
				d.log.Error("restarting the previous control plane failed", "err", rerr)
			}
			if d.xtr != nil {
				_ = d.xtr.applyStatic(old.XTR)
			}
			return err
		}
	}
	d.cfg = cfg
	return nil
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
	d.node = nil
	d.closeRTRNative()
}

// ReloadFile re-reads the configuration at path and applies it when it is
// valid. When it is not, every problem is logged, the running configuration
// stays, and the conf.Errors are returned (for `lispd reload` to print).
func (d *daemon) ReloadFile(path string) error {
	cfg, err := conf.Load(path)
	if err != nil {
		var errs conf.Errors
		if errors.As(err, &errs) {
			for _, p := range errs {
				d.log.Error("config problem", "problem", p.Error())
			}
		}
		d.log.Error("reload refused: configuration invalid, keeping the running one", "config", path)
		return err
	}
	if err := d.Reload(cfg); err != nil {
		d.log.Error("reload failed", "err", err)
		return err
	}
	d.log.Info("reloaded", "config", path)
	return nil
}

// Stop tears every role down: the control plane first (nothing half-built is
// sent), then the data plane (routes and the TUN device removed, sockets
// closed).
func (d *daemon) Stop() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stop != nil {
		d.stop()
	}
	d.stopRoles()
	d.log.Info("stopped")
	return nil
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

// dataPlaneText is the TOML of x without its control-plane keys.
func dataPlaneText(x *conf.XTR) []byte {
	c := *x
	c.MapCache = nil
	c.MapServers = nil
	c.MapResolvers = nil
	c.RegisterInterval, c.MapRequestTimeout, c.RecordTTL = conf.Duration{}, conf.Duration{}, conf.Duration{}
	c.MapRequestRetries, c.MapRequestRate = 0, 0
	c.ProbeInterval, c.ProbeRetries, c.IdleTimeout = conf.Duration{}, 0, conf.Duration{}
	c.NATKeepalive = conf.Duration{}
	return configText(&conf.Config{XTR: &c})
}

// sameNode reports whether two configurations give the control plane the
// same options: everything but log_level, control_socket and the static
// map-cache.
func sameNode(a, b *conf.Config) bool {
	strip := func(c *conf.Config) []byte {
		v := *c
		v.LogLevel, v.ControlSocket, v.Path = "", "", ""
		if v.XTR != nil {
			x := *v.XTR
			x.MapCache = nil
			v.XTR = &x
		}
		return configText(&v)
	}
	return bytes.Equal(strip(a), strip(b))
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
