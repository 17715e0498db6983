package main

import (
	"errors"
	"fmt"

	"github.com/lispd/lispd/ctl/admin"
)

func init() {
	register(&command{
		name:    "reload",
		args:    "[-c FILE] [--socket PATH]",
		summary: "make the running daemon re-read its configuration",
		help: `Asks the running daemon, over its control socket, to re-read the
configuration file it was started with (as SIGHUP does). A valid new
configuration is applied without disturbing what did not change. An
invalid one is refused: the daemon keeps running the old one, and reload
prints every problem as FILE:LINE:COL: key: message and exits 1.

-c FILE says where to find the control socket (its control_socket) and
must be the daemon's own file: the daemon re-reads only the file it was
started with, and a reload naming another is refused.

When the reload restarted a role (an xTR whose TUN or sockets changed:
its map-cache is flushed) or restarted the control plane (a Map-Server
keeps the registrations of unchanged sites), reload says so, a line each;
it also names the limits applied in place (map_cache_limit, pending_*).`,
		run: runReload,
	})
}

func runReload(args []string) int {
	fs := newFlagSet(commands["reload"])
	cf := addClientFlags(fs)
	pos, code, stop := parseFlags(fs, args)
	if stop {
		return code
	}
	if len(pos) > 0 {
		return usageError(fs, "unexpected argument %q", pos[0])
	}
	var ra admin.ReloadArgs
	if configGiven(fs) {
		// The daemon compares it with its own, which is absolute.
		ra.Path = absPath(*cf.config)
	}
	var res admin.ReloadResult
	err := cf.call(admin.CmdReload, ra, &res)
	var re *admin.RemoteError
	switch {
	case errors.As(err, &re) && len(re.Problems) > 0:
		for _, p := range re.Problems {
			fmt.Fprintln(stderr, p)
		}
		fmt.Fprintf(stderr, "lispd reload: %s; refused, the daemon keeps running its previous configuration\n", re.Msg)
		return exitFail
	case err != nil:
		fmt.Fprintf(stderr, "lispd reload: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "reloaded %s\n", res.Path)
	for _, n := range res.Notes {
		fmt.Fprintln(stdout, n)
	}
	return exitOK
}
