package main

import (
	"errors"
	"fmt"

	"github.com/lispd/lispd/conf"
	"github.com/lispd/lispd/internal/sock"
)

func init() {
	register(&command{
		name:    "check",
		args:    "[-c FILE | FILE]",
		summary: "validate a configuration file and summarize it",
		help: `Loads and validates the configuration. When it is valid, prints a
one-screen summary and exits 0. When it is not, prints every problem
as FILE:LINE:COL: key: message on stderr and exits 1.`,
		run: runCheck,
	})
}

func runCheck(args []string) int {
	fs := newFlagSet(commands["check"])
	path := configFlag(fs)
	pos, code, stop := parseFlags(fs, args)
	if stop {
		return code
	}
	switch {
	case len(pos) > 1:
		return usageError(fs, "more than one file given")
	case len(pos) == 1:
		*path = pos[0]
	}
	cfg, err := conf.Load(*path)
	if err != nil {
		printProblems(stderr, err)
		var errs conf.Errors
		if errors.As(err, &errs) && len(errs) > 1 {
			fmt.Fprintf(stderr, "%s: %d problems\n", *path, len(errs))
		}
		return exitFail
	}
	warnMissingInterfaces(*path, cfg)
	warnWeakKeys(*path, cfg)
	fmt.Fprintf(stdout, "%s: OK\n", *path)
	if err := cfg.Summary(stdout); err != nil {
		fmt.Fprintf(stderr, "lispd check: %v\n", err)
		return exitFail
	}
	return exitOK
}

// Authentication keys: shorter ones, and the sample configuration's
// placeholder, are warned of (not refused: the other end may be an
// implementation whose key the operator does not choose).
const (
	minKeyLen      = 16
	placeholderKey = "change-me" // openwrt/lispd/files/lispd.toml
)

// warnWeakKeys warns, on stderr, of each authentication key that is the
// sample placeholder or shorter than minKeyLen bytes: anyone who captures
// one signed Map-Register can try to guess it offline.
func warnWeakKeys(path string, cfg *conf.Config) {
	for i := 0; cfg.XTR != nil && i < len(cfg.XTR.MapServers); i++ {
		warnWeakKey(path, "xtr.map_server", i, cfg.XTR.MapServers[i].Key)
	}
	for i := 0; cfg.MapServer != nil && i < len(cfg.MapServer.Sites); i++ {
		warnWeakKey(path, "map_server.site", i, cfg.MapServer.Sites[i].Key)
	}
}

func warnWeakKey(path, table string, i int, key string) {
	why := "shorter than 16 bytes: use at least 16 random bytes (a short key can be guessed from one captured message)"
	if key == placeholderKey {
		why = "the sample configuration's placeholder key: set a secret of your own"
	} else if len(key) >= minKeyLen {
		return
	}
	fmt.Fprintf(stderr, "%s: warning: %s[%d].key: %s\n", path, table, i, why)
}

// warnMissingInterfaces warns, on stderr, of each RLOC interface the host
// does not have now: the daemon would run without its locators until the
// interface appears.
func warnMissingInterfaces(path string, cfg *conf.Config) {
	for i := 0; cfg.XTR != nil && i < len(cfg.XTR.RLOCs); i++ {
		if name := cfg.XTR.RLOCs[i].Interface; name != "" {
			if _, err := sock.InterfaceByName(name); err != nil {
				fmt.Fprintf(stderr, "%s: warning: xtr.rloc[%d].interface: no interface %q here now (its RLOCs stay down until it appears)\n", path, i, name)
			}
		}
	}
}
