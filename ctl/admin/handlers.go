package admin

import (
	"errors"
	"fmt"
	"time"

	"github.com/lispd/lispd/conf"
	"github.com/lispd/lispd/ctl"
	"github.com/lispd/lispd/fwd"
	"github.com/lispd/lispd/internal/consterr"
	"github.com/lispd/lispd/internal/jsonx"
)

// Daemon is what the standard handlers read from and do to the running
// daemon. Each function is called once per request, from the control
// socket's goroutine, so it must return the current state (e.g. read under
// the daemon's lock). A nil function, or one returning nil, means that part
// is not running.
type Daemon struct {
	// Config returns the running configuration. Required.
	Config func() *conf.Config
	// MapCache returns the data plane's map-cache (nil without the xTR role).
	MapCache func() *fwd.MapCache
	// DataStats returns the data plane's counters (nil without the xTR role).
	DataStats func() *fwd.Stats
	// Control returns the control-plane node (nil when no control role runs).
	Control func() *ctl.Node
	// RLOCs returns the local locators' state (nil: "show rlocs" lists the
	// configured ones from Config, without state).
	RLOCs func() RLOCs
	// Reload re-reads and applies the configuration file the daemon was
	// started with, returning conf.Errors when it is invalid (as
	// daemon.ReloadFile does), else notes for the operator on what the
	// reload did (a role restarted, state kept or lost). Nil: "reload"
	// is refused.
	Reload func() (notes []string, err error)
	// AddStatic installs a static entry; nil means MapCache().Insert.
	AddStatic func(fwd.MappingSpec) (*fwd.Mapping, error)
	// DelEntry removes an entry; nil means MapCache().Delete.
	DelEntry func(iid uint32, e *fwd.Mapping) error
}

// errNoXTR is the answer to map-cache commands without the xTR role.
const errNoXTR = consterr.Error("the xTR role is not configured: there is no map-cache")

// Register installs the handlers of every command (the Cmd constants) on
// srv.
// srv may serve before the daemon has started: until Config returns a
// configuration, every command answers that lispd is starting.
func (d Daemon) Register(srv *Server) {
	// One closure over d and a switch, not a map of method values: each
	// method value of d copies d (1.5 KB of MIPS code for nine), and the
	// map literal is built at run time (2 KB).
	for _, cmd := range [...]string{CmdShowMapCache, CmdShowRegistrations, CmdShowRLOCs, CmdShowRTR,
		CmdShowStats, CmdShowConfig, CmdReload, CmdMapCacheAdd, CmdMapCacheDel} {
		srv.Handle(cmd, func(args jsonx.RawMessage) (any, error) {
			if d.Config == nil || d.Config() == nil {
				return nil, errStarting
			}
			switch cmd {
			case CmdShowMapCache:
				return d.showMapCache(args)
			case CmdShowRegistrations:
				return d.showRegistrations(args)
			case CmdShowRLOCs:
				return d.showRLOCs(args)
			case CmdShowRTR:
				return d.showRTR(args)
			case CmdShowStats:
				return d.showStats(args)
			case CmdShowConfig:
				return d.showConfig(args)
			case CmdReload:
				return d.reload(args)
			case CmdMapCacheAdd:
				return d.mapCacheAdd(args)
			}
			return d.mapCacheDel(args)
		})
	}
}

// errStarting is the answer while the daemon has no configuration yet.
const errStarting = consterr.Error("lispd is starting; try again in a moment")

// decodeArgs decodes args into v; absent args leave v as is.
func decodeArgs(args jsonx.RawMessage, v any) error {
	if len(args) == 0 {
		return nil
	}
	if err := jsonx.Unmarshal(args, v); err != nil {
		return fmt.Errorf("bad arguments: %w", err)
	}
	return nil
}

func (d Daemon) mapCache() *fwd.MapCache {
	if d.MapCache == nil {
		return nil
	}
	return d.MapCache()
}

func (d Daemon) control() *ctl.Node {
	if d.Control == nil {
		return nil
	}
	return d.Control()
}

// instanceID is the xTR's instance_id, the default of map-cache commands.
func (d Daemon) instanceID() uint32 {
	if cfg := d.Config(); cfg != nil && cfg.XTR != nil {
		return cfg.XTR.InstanceID
	}
	return 0
}

func (d Daemon) showMapCache(args jsonx.RawMessage) (any, error) {
	var q MapCacheQuery
	if err := decodeArgs(args, &q); err != nil {
		return nil, err
	}
	c := d.mapCache()
	if c == nil {
		return MapCache{Entries: []MapCacheEntry{}, Off: true}, nil
	}
	return MapCacheOf(c, q, d.instanceID())
}

func (d Daemon) showRegistrations(jsonx.RawMessage) (any, error) {
	n := d.control()
	cfg := d.Config()
	out := Registrations{Time: time.Now()}
	if n == nil {
		return out, nil
	}
	var ms *ctl.Registrations
	if cfg.MapServer != nil && cfg.MapServer.Enabled {
		r := n.Registrations()
		ms = &r
	}
	out = RegistrationsOf(out.Time, n.MapServerStatus(), ms)
	if cfg.XTR != nil && out.XTR == nil {
		out.XTR = []MapServerState{}
	}
	return out, nil
}

func (d Daemon) showRTR(jsonx.RawMessage) (any, error) {
	cfg := d.Config()
	n := d.control()
	if n == nil || cfg.RTR == nil || !cfg.RTR.Enabled {
		return RTROf(time.Now(), false, nil), nil
	}
	return RTROf(time.Now(), true, n.RTRBindings()), nil
}

func (d Daemon) showRLOCs(jsonx.RawMessage) (any, error) {
	if d.Config().XTR == nil {
		return RLOCs{RLOCs: []LocalRLOC{}, Off: true}, nil
	}
	if d.RLOCs != nil {
		v := d.RLOCs()
		if v.RLOCs == nil {
			v.RLOCs = []LocalRLOC{}
		}
		return v, nil
	}
	return ConfiguredRLOCs(d.Config()), nil
}

// ConfiguredRLOCs lists the configured local locators without their state:
// fixed addresses are shown up, interfaces with the reason "state unknown".
func ConfiguredRLOCs(cfg *conf.Config) RLOCs {
	out := RLOCs{RLOCs: []LocalRLOC{}}
	if cfg == nil || cfg.XTR == nil {
		return out
	}
	for _, r := range cfg.XTR.RLOCs {
		l := LocalRLOC{Interface: r.Interface, Address: r.Address, Priority: uint8(r.Priority), Weight: uint8(r.Weight)}
		if r.Interface == "" {
			l.Up = true
		} else {
			l.Reason = "state unknown"
		}
		out.RLOCs = append(out.RLOCs, l)
	}
	return out
}

func (d Daemon) showStats(jsonx.RawMessage) (any, error) {
	var dp *fwd.StatsSnapshot
	if d.DataStats != nil {
		if s := d.DataStats(); s != nil {
			snap := s.Snapshot()
			dp = &snap
		}
	}
	var cp *ctl.Stats
	if n := d.control(); n != nil {
		s := n.Stats()
		cp = &s
	}
	v := StatsOf(dp, cp)
	if v.Groups == nil {
		v.Groups = []CounterGroup{}
	}
	return v, nil
}

func (d Daemon) showConfig(jsonx.RawMessage) (any, error) { return ConfigOf(d.Config()) }

func (d Daemon) reload(args jsonx.RawMessage) (any, error) {
	var a ReloadArgs
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	if d.Reload == nil {
		return nil, errors.New("reload is not supported by this daemon")
	}
	if a.Path != "" && a.Path != d.Config().Path {
		return nil, fmt.Errorf("the daemon re-reads only its own configuration %s, not %s", d.Config().Path, a.Path)
	}
	notes, err := d.Reload()
	if err != nil {
		return nil, err
	}
	return ReloadResult{Path: d.Config().Path, Notes: notes}, nil
}

func (d Daemon) mapCacheAdd(args jsonx.RawMessage) (any, error) {
	var a MapCacheAddArgs
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	c := d.mapCache()
	if c == nil {
		return nil, errNoXTR
	}
	spec, err := a.Spec(d.instanceID())
	if err != nil {
		return nil, err
	}
	if err := checkStaticAdd(d.Config(), spec); err != nil {
		return nil, err
	}
	add := d.AddStatic
	if add == nil {
		add = c.Insert
	}
	m, err := add(spec)
	if err != nil {
		return nil, fmt.Errorf("adding %v: %w", spec.Prefix, err)
	}
	return MapCacheEntryOf(m, c.Now()), nil
}

func (d Daemon) mapCacheDel(args jsonx.RawMessage) (any, error) {
	var a MapCacheDelArgs
	if err := decodeArgs(args, &a); err != nil {
		return nil, err
	}
	c := d.mapCache()
	if c == nil {
		return nil, errNoXTR
	}
	iid, prefix, err := a.Key(d.instanceID())
	if err != nil {
		return nil, err
	}
	m, ok := c.Get(iid, prefix)
	if !ok {
		return nil, fmt.Errorf("no map-cache entry for %v in instance-id %d", prefix, iid)
	}
	view := MapCacheEntryOf(m, c.Now())
	if d.DelEntry != nil {
		err = d.DelEntry(iid, m)
	} else if _, ok := c.Delete(iid, prefix); !ok {
		err = errors.New("it went away meanwhile")
	}
	if err != nil {
		return nil, fmt.Errorf("deleting %v: %w", prefix, err)
	}
	return MapCacheDelResult{Deleted: view}, nil
}
