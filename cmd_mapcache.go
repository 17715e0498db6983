package main

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/lispd/lispd/conf"
	"github.com/lispd/lispd/ctl/admin"
)

func init() {
	register(&command{
		name:    "map-cache",
		args:    "add EID-PREFIX [RLOC[,PRIORITY[,WEIGHT]]...] [--iid N] [--action ACTION] | del EID-PREFIX [--iid N]",
		summary: "add or delete a static map-cache entry in the running daemon",
		help: `Changes the running daemon's map-cache over its control socket.

  add  installs a static entry for EID-PREFIX (replacing any entry for the
       same prefix) with the given RLOCs, each ADDRESS or
       ADDRESS,PRIORITY or ADDRESS,PRIORITY,WEIGHT (default priority 1,
       weight 100). Without RLOCs the entry is negative and needs
       --action (` + "no-action, native-forward, send-map-request, drop,\n       drop-policy-denied, drop-auth-failure" + `).
  del  removes the entry for exactly EID-PREFIX.

--iid defaults to xtr.instance_id. Changes are LOST ON RESTART: to keep an
entry, add it to [[xtr.map_cache]] in the configuration.`,
		run: runMapCache,
	})
}

func runMapCache(args []string) int {
	fs := newFlagSet(commands["map-cache"])
	cf := addClientFlags(fs)
	iid := fs.Uint("iid", 0, "instance-id `N` (default: xtr.instance_id)")
	action := fs.String("action", "", "`ACTION` of a negative entry (add without RLOCs)")
	pos, code, stop := parseFlags(fs, args)
	if stop {
		return code
	}
	if len(pos) < 2 {
		return usageError(fs, "need add|del and an EID-PREFIX")
	}
	verb := pos[0]
	prefix, err := netip.ParsePrefix(pos[1])
	if err != nil {
		return usageError(fs, "EID-PREFIX %q: %v", pos[1], err)
	}
	if prefix != prefix.Masked() {
		return usageError(fs, "EID-PREFIX %v has host bits set (did you mean %v?)", prefix, prefix.Masked())
	}
	var iidp *uint32
	if flagGiven(fs, "iid") {
		if *iid > conf.MaxInstanceID {
			return usageError(fs, "--iid %d out of range 0..%d", *iid, conf.MaxInstanceID)
		}
		v := uint32(*iid)
		iidp = &v
	}
	switch verb {
	case "add":
		a := admin.MapCacheAddArgs{EIDPrefix: prefix, InstanceID: iidp, Action: *action}
		for _, s := range pos[2:] {
			l, err := parseLocator(s)
			if err != nil {
				return usageError(fs, "%v", err)
			}
			a.RLOCs = append(a.RLOCs, l)
		}
		if a.Action != "" && !slices.Contains(conf.Actions, a.Action) {
			return usageError(fs, "--action %q: use one of %s", a.Action, strings.Join(conf.Actions, ", "))
		}
		if len(a.RLOCs) == 0 && a.Action == "" {
			return usageError(fs, "no RLOCs given: a negative entry needs --action (%s)", strings.Join(conf.Actions, ", "))
		}
		var e admin.MapCacheEntry
		if err := cf.call(admin.CmdMapCacheAdd, a, &e); err != nil {
			fmt.Fprintf(stderr, "lispd map-cache add: %v\n", err)
			return exitFail
		}
		fmt.Fprintf(stdout, "added static entry (lost on restart; add it to [[xtr.map_cache]] to keep it):\n")
		if err := renderMapCache(stdout, &admin.MapCache{Entries: []admin.MapCacheEntry{e}, InstanceID: &e.InstanceID}, &admin.MapCacheQuery{EID: e.EIDPrefix.String()}); err != nil {
			fmt.Fprintf(stderr, "lispd map-cache add: %v\n", err)
			return exitFail
		}
	case "del":
		if len(pos) > 2 {
			return usageError(fs, "unexpected argument %q", pos[2])
		}
		if flagGiven(fs, "action") {
			return usageError(fs, "--action applies to add only")
		}
		var res admin.MapCacheDelResult
		if err := cf.call(admin.CmdMapCacheDel, admin.MapCacheDelArgs{EIDPrefix: prefix, InstanceID: iidp}, &res); err != nil {
			fmt.Fprintf(stderr, "lispd map-cache del: %v\n", err)
			return exitFail
		}
		fmt.Fprintf(stdout, "deleted %s entry %v (iid %d)\n", res.Deleted.Origin, res.Deleted.EIDPrefix, res.Deleted.InstanceID)
	default:
		return usageError(fs, "unknown action %q: add or del", verb)
	}
	return exitOK
}

// parseLocator parses ADDRESS[,PRIORITY[,WEIGHT]].
func parseLocator(s string) (admin.Locator, error) {
	parts := strings.Split(s, ",")
	if len(parts) > 3 {
		return admin.Locator{}, fmt.Errorf("RLOC %q: want ADDRESS[,PRIORITY[,WEIGHT]]", s)
	}
	a, err := netip.ParseAddr(parts[0])
	if err != nil || a.IsUnspecified() || a.IsMulticast() {
		return admin.Locator{}, fmt.Errorf("RLOC %q: %q is not a unicast IP address", s, parts[0])
	}
	l := admin.Locator{Address: a.Unmap(), Priority: conf.DefaultPriority, Weight: conf.DefaultWeight}
	if len(parts) > 1 {
		p, err := strconv.ParseUint(parts[1], 10, 8)
		if err != nil {
			return l, fmt.Errorf("RLOC %q: priority %q is not 0..255", s, parts[1])
		}
		l.Priority = uint8(p)
	}
	if len(parts) > 2 {
		w, err := strconv.ParseUint(parts[2], 10, 8)
		if err != nil || w > 100 {
			return l, fmt.Errorf("RLOC %q: weight %q is not 0..100", s, parts[2])
		}
		l.Weight = uint8(w)
	}
	return l, nil
}
