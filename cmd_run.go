package main

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/lispd/lispd/conf"
	"github.com/lispd/lispd/ctl/admin"
	"github.com/lispd/lispd/internal/logx"
)

func init() {
	register(&command{
		name:    "run",
		args:    "[-c FILE] [-v | -log-level LEVEL]",
		summary: "run the daemon",
		help: `Loads and validates the configuration (exiting 1 with every problem if it
is invalid), starts the configured roles and runs until SIGTERM or SIGINT,
then stops cleanly and exits 0. SIGHUP re-reads the configuration: a valid
one is applied, an invalid one is logged and refused, and the running
configuration stays.`,
		run: runRun,
	})
}

// stopTimeout bounds a clean shutdown: procd and the tests expect the
// process gone within 2 s of SIGTERM.
const stopTimeout = 1500 * time.Millisecond

func runRun(args []string) int {
	fs := newFlagSet(commands["run"])
	path := configFlag(fs)
	lf := addLogFlags(fs)
	startProfile := addProfileFlags(fs)
	pos, code, stop := parseFlags(fs, args)
	if stop {
		return code
	}
	if len(pos) > 0 {
		return usageError(fs, "unexpected argument %q", pos[0])
	}
	if _, _, err := lf.override(); err != nil {
		return usageError(fs, "%v", err)
	}
	log := setupLogging()
	lf.applyLevel(conf.DefaultLogLevel)

	// The daemon keeps the path for reloads and reports it to clients
	// that may run elsewhere: relative to nothing.
	*path = absPath(*path)
	cfg, err := conf.Load(*path)
	if err != nil {
		printProblems(stderr, err)
		if f, oerr := os.Open(*path); oerr != nil {
			what := "configuration file unreadable, not starting"
			if errors.Is(oerr, iofs.ErrNotExist) {
				what = "configuration file missing, not starting"
			}
			log.Error(what, "config", *path, "err", oerr)
		} else {
			f.Close()
			log.Error("configuration invalid, not starting", "config", *path)
		}
		return exitFail
	}
	lf.applyLevel(cfg.LogLevel)

	defer startProfile()()

	// Subscribe before starting, so no signal is missed.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)

	// The control socket comes first: a second daemon is refused before it
	// touches the running one's TUN, routes or sockets.
	ctlSock, err := admin.Listen(cfg.ControlSocket)
	if err != nil {
		log.Error("control socket", "err", err)
		return exitFail
	}
	defer ctlSock.Close()
	ctlSock.Log = log

	d := &daemon{log: log}
	reload := func() ([]string, error) {
		notes, err := d.ReloadFile(*path)
		if err == nil {
			lf.applyLevel(d.config().LogLevel)
		}
		return notes, err
	}
	d.admin(reload).Register(ctlSock)
	go func() { _ = ctlSock.Serve() }()

	if err := d.Start(cfg); err != nil {
		log.Error("start failed", "err", err)
		return exitFail
	}
	for sig := range sigs {
		switch sig {
		case syscall.SIGHUP:
			_, _ = reload()
		default:
			log.Info("stopping", "signal", sig.String())
			_ = ctlSock.Close()
			return d.stopWithin(stopTimeout)
		}
	}
	return exitOK
}

// stopWithin runs Stop, giving up after limit, and returns the exit code.
func (d *daemon) stopWithin(limit time.Duration) int {
	done := make(chan error, 1)
	go func() { done <- d.Stop() }()
	select {
	case err := <-done:
		if err != nil {
			d.log.Error("stop failed", "err", err)
			return exitFail
		}
		return exitOK
	case <-time.After(limit):
		d.log.Error("stop timed out", "after", limit.String())
		return exitFail
	}
}

// describe logs what the configuration runs, a line per role.
func describe(log *logx.Logger, cfg *conf.Config) {
	if x := cfg.XTR; x != nil {
		rlocs := make([]string, len(x.RLOCs))
		for i, r := range x.RLOCs {
			name := r.Interface
			if name == "" {
				name = r.Address.String()
			}
			rlocs[i] = fmt.Sprintf("%s/%d/%d", name, r.Priority, r.Weight)
		}
		ms := make([]string, len(x.MapServers))
		for i, m := range x.MapServers {
			ms[i] = m.Address.String()
		}
		log.Info("xtr", "tun", x.TUN, "instance_id", x.InstanceID,
			"eid_prefixes", join(x.EIDPrefixes), "eid_space", join(x.EIDSpace),
			"rlocs", strings.Join(rlocs, ","), "map_servers", strings.Join(ms, ","),
			"map_resolvers", join(x.MapResolvers), "static_mappings", len(x.MapCache))
	}
	if m := cfg.MapServer; m != nil && m.Enabled {
		names := make([]string, len(m.Sites))
		for i, s := range m.Sites {
			names[i] = s.Name
		}
		log.Info("map-server", "listen", join(m.Listen), "sites", strings.Join(names, ","))
	}
	if r := cfg.RTR; r != nil && r.Enabled {
		log.Info("rtr", "listen", join(r.Listen), "map_servers", len(r.MapServers))
	}
}

func join[T fmt.Stringer](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = x.String()
	}
	return strings.Join(s, ",")
}
