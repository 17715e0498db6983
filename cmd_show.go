package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/lispd/lispd/conf"
	"github.com/lispd/lispd/ctl/admin"
	"github.com/lispd/lispd/internal/aligned"
	flag "github.com/lispd/lispd/internal/flagx"
	"github.com/lispd/lispd/internal/jsonx"
)

func init() {
	register(&command{
		name:    "show",
		args:    "map-cache [EID] | registrations | rlocs | rtr | stats | config  [--json] [--iid N] [--socket PATH | -c FILE]",
		summary: "show the running daemon's map-cache, registrations, locators, RTR bindings, counters or config",
		help: `Asks the running daemon over its control socket and prints a table, or
with --json the view as indented JSON (for scripts and LuCI).

  map-cache [EID]   map-cache entries with their RLOCs; with EID (address or
                    prefix), the longest entry covering it, in --iid N or
                    xtr.instance_id
  registrations     xTR: state with each Map-Server; Map-Server: each site's
                    registered prefixes, RLOCs, xTR-ID, last seen, expiry
  rlocs             this router's locators: interface, address, up/down
  rtr               RTR: per xTR behind a NAT, its EID prefix, instance-id,
                    xTR-ID, site-ID, public address:port, private RLOC,
                    verified or not, last seen, expiry
  stats             every counter: data plane, drops per reason, control
                    messages in/out per type, control drops per reason
  config            the running configuration, keys redacted

The socket is --socket PATH, else control_socket of the configuration named
by -c FILE, else of /var/etc/lispd.toml when present, else of
/etc/lispd/lispd.toml, else /var/run/lispd.sock.`,
		run: runShow,
	})
}

func runShow(args []string) int {
	fs := newFlagSet(commands["show"])
	cf := addClientFlags(fs)
	asJSON := fs.Bool("json", false, "print the view as JSON")
	iid := fs.Uint("iid", 0, "instance-id `N` for map-cache (default: all; with EID: xtr.instance_id)")
	pos, code, stop := parseFlags(fs, args)
	if stop {
		return code
	}
	if len(pos) == 0 {
		return usageError(fs, "what to show? map-cache, registrations, rlocs, rtr, stats or config")
	}
	what := pos[0]
	// A switch, not a map: a map literal costs its start-up code in every
	// binary.
	var (
		cmd  string
		view any
	)
	switch what {
	case "map-cache":
		cmd, view = admin.CmdShowMapCache, new(admin.MapCache)
	case "registrations":
		cmd, view = admin.CmdShowRegistrations, new(admin.Registrations)
	case "rlocs":
		cmd, view = admin.CmdShowRLOCs, new(admin.RLOCs)
	case "rtr":
		cmd, view = admin.CmdShowRTR, new(admin.RTR)
	case "stats":
		cmd, view = admin.CmdShowStats, new(admin.Stats)
	case "config":
		cmd, view = admin.CmdShowConfig, new(admin.Config)
	default:
		return usageError(fs, "cannot show %q: map-cache, registrations, rlocs, rtr, stats or config", what)
	}
	maxArgs := 1
	if what == "map-cache" {
		maxArgs = 2
	}
	if len(pos) > maxArgs {
		return usageError(fs, "unexpected argument %q", pos[maxArgs])
	}
	var q *admin.MapCacheQuery
	if what == "map-cache" {
		q = &admin.MapCacheQuery{}
		if len(pos) == 2 {
			p, err := netip.ParsePrefix(pos[1])
			q.EID = p.Masked().String()
			if a, aerr := netip.ParseAddr(pos[1]); aerr == nil {
				q.EID, err = a.String(), nil
			}
			if err != nil {
				return usageError(fs, "EID %q is not an IP address or prefix", pos[1])
			}
		}
		if flagGiven(fs, "iid") {
			if *iid > 0xffffff {
				return usageError(fs, "--iid %d is wider than 24 bits", *iid)
			}
			v := uint32(*iid)
			q.InstanceID = &v
		}
	} else if flagGiven(fs, "iid") {
		return usageError(fs, "--iid applies to show map-cache only")
	}

	var reqArgs any
	if q != nil {
		reqArgs = q
	}
	if err := cf.call(cmd, reqArgs, view); err != nil {
		fmt.Fprintf(stderr, "lispd show %s: %v\n", what, err)
		return exitFail
	}
	if err := writeView(stdout, view, q, *asJSON); err != nil {
		fmt.Fprintf(stderr, "lispd show %s: %v\n", what, err)
		return exitFail
	}
	return exitOK
}

// writeView prints view as its table, or with asJSON as JSON. A view of a
// role the daemon does not run is one line naming the configuration that
// enables it, or {}.
func writeView(w io.Writer, view any, q *admin.MapCacheQuery, asJSON bool) error {
	off, what, section := false, "", "an [xtr] section"
	switch v := view.(type) {
	case *admin.MapCache:
		off, what = v.Off, "No map-cache: the xTR role is not"
		if !off && !asJSON {
			return renderMapCache(w, v, q)
		}
	case *admin.RLOCs:
		off, what = v.Off, "No local RLOCs: the xTR role is not"
		if !off && !asJSON {
			return renderRLOCs(w, v)
		}
	case *admin.RTR:
		off, what, section = !v.Enabled, "No RTR bindings: the RTR role is not", "[rtr] enabled = true"
		if !off && !asJSON {
			return renderRTR(w, v)
		}
		if off && !asJSON && !conf.RTRBuilt {
			_, err := fmt.Fprintln(w, rtrNotBuilt)
			return err
		}
	case *admin.Registrations:
		off, what, section = v.XTR == nil && v.MapServer == nil, "No registrations: neither the xTR nor the Map-Server role is",
			"an [xtr] section or [map_server] enabled = true"
		if !off && !asJSON {
			return renderRegistrations(w, v)
		}
	case *admin.Stats:
		off, what, section = len(v.Groups) == 0, "No counters: no role is", "[xtr], [map_server] or [rtr]"
		if !off && !asJSON {
			return renderStats(w, v)
		}
	case *admin.Config:
		if !asJSON {
			return renderConfig(w, v)
		}
	}
	switch {
	case !off:
		return writeJSON(w, view)
	case asJSON:
		_, err := io.WriteString(w, "{}\n")
		return err
	}
	_, err := fmt.Fprintln(w, what+" configured ("+section+" enables it).")
	return err
}

// flagGiven reports whether the flag name was on the command line.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			given = true
		}
	})
	return given
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	b, err := jsonx.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// newTable returns a writer of aligned columns two spaces apart.
func newTable(w io.Writer) *aligned.Writer {
	return aligned.NewWriter(w, 2)
}

// clock formats seconds as Cisco does: hh:mm:ss, or 1d02h beyond a day.
func clock(s int64) string {
	if s < 0 {
		s = 0
	}
	if s >= 86400 {
		return fmt.Sprintf("%dd%02dh", s/86400, s%86400/3600)
	}
	return fmt.Sprintf("%02d:%02d:%02d", s/3600, s%3600/60, s%60)
}

// optClock formats an optional number of seconds; none when absent.
func optClock(s *int64, none string) string {
	if s == nil {
		return none
	}
	return clock(*s)
}

// ago formats how long before now t was; never for the zero time.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return clock(int64(now.Sub(t).Round(time.Second) / time.Second))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// renderMapCache prints the map-cache the Cisco way: a line per entry, its
// locators in an aligned table beneath.
func renderMapCache(w io.Writer, v *admin.MapCache, q *admin.MapCacheQuery) error {
	if q != nil && q.EID != "" {
		var iid uint32 // the daemon says which (lispd older than the client: 0)
		if v.InstanceID != nil {
			iid = *v.InstanceID
		}
		if len(v.Entries) == 0 {
			_, err := fmt.Fprintf(w, "No map-cache entry covers %s in instance-id %d; %s in the cache.\n", q.EID, iid, plural(v.Total, "entry", "entries"))
			return err
		}
		match := "exact match"
		p := v.Entries[0].EIDPrefix
		if p.String() != q.EID && !(p.IsSingleIP() && p.Addr().String() == q.EID) {
			match = "covered by " + p.String()
		}
		fmt.Fprintf(w, "LISP map-cache entry for %s, instance-id %d: %s\n", q.EID, iid, match)
	} else {
		counts := map[string]int{}
		for _, e := range v.Entries {
			counts[e.State]++
		}
		fmt.Fprintf(w, "LISP map-cache: %s (%d complete, %d negative, %d pending), limit %d\n",
			plural(len(v.Entries), "entry", "entries"), counts[admin.StateComplete], counts[admin.StateNegative], counts[admin.StatePending], v.Limit)
		if len(v.Entries) < v.Total {
			fmt.Fprintf(w, "(%d of %d entries shown)\n", len(v.Entries), v.Total)
		}
	}
	for _, e := range v.Entries {
		fmt.Fprintln(w)
		state := e.State
		if e.State == admin.StateNegative {
			state = "negative, action " + e.Action
		}
		fmt.Fprintf(w, "%v, iid %d, %s, %s, uptime %s, expires %s, idle %s, ttl %s\n",
			e.EIDPrefix, e.InstanceID, e.Origin, state,
			optClock(e.Age, "-"), optClock(e.ExpiresIn, "never"), optClock(e.Idle, "-"), ttlText(e.TTL))
		fmt.Fprintf(w, "  packets %d, bytes %d\n", e.Packets, e.Bytes)
		if len(e.RLOCs) == 0 {
			continue
		}
		tw := newTable(w)
		fmt.Fprintln(tw, "  Locator\tPri/Wgt\tState\tRTT\tPackets\tBytes")
		for _, r := range e.RLOCs {
			addr := r.Address.String()
			if r.Port != 0 {
				addr = netip.AddrPortFrom(r.Address, r.Port).String()
			}
			st := "up"
			if !r.Up {
				st = "down"
				if r.Reason != "" {
					st += " (" + r.Reason + ")"
				}
			}
			rtt := "-"
			if r.RTT != nil {
				rtt = strconv.FormatFloat(*r.RTT, 'f', 2, 64) + "ms"
			}
			fmt.Fprintf(tw, "  %s\t%d/%d\t%s\t%s\t%d\t%d\n", addr, r.Priority, r.Weight, st, rtt, r.Packets, r.Bytes)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func ttlText(s int64) string {
	if s == 0 {
		return "-"
	}
	if s%60 == 0 {
		return fmt.Sprintf("%dm", s/60)
	}
	return fmt.Sprintf("%ds", s)
}

// renderRegistrations prints the xTR's Map-Servers, then the Map-Server's
// sites with their registrations.
func renderRegistrations(w io.Writer, v *admin.Registrations) error {
	now := v.Time
	if v.XTR != nil {
		registered := 0
		for _, s := range v.XTR {
			if s.State == "registered" {
				registered++
			}
		}
		fmt.Fprintf(w, "xTR registrations: %s, %d registered\n\n", plural(len(v.XTR), "Map-Server", "Map-Servers"), registered)
		tw := newTable(w)
		fmt.Fprintln(tw, "Map-Server\tKey\tState\tLast register\tLast notify\tRegisters\tNotifies\tReason")
		for _, s := range v.XTR {
			key := s.KeyType
			if !s.WantMapNotify {
				key += ",no-notify"
			}
			reason := s.Reason
			if reason == "" {
				reason = "-"
			}
			notifies := strconv.FormatUint(s.Notifies, 10)
			if s.Unsolicited > 0 {
				notifies += " (+" + strconv.FormatUint(s.Unsolicited, 10) + " unsolicited)"
			}
			fmt.Fprintf(tw, "%v\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", s.MapServer, key, s.State,
				ago(now, s.LastRegister), ago(now, s.LastNotify), s.Registers, notifies, reason)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if v.MapServer != nil {
		if v.XTR != nil {
			fmt.Fprintln(w)
		}
		regs := 0
		for _, s := range v.MapServer {
			regs += len(s.Registrations)
		}
		fmt.Fprintf(w, "Map-Server: %s, %s\n", plural(len(v.MapServer), "site", "sites"), plural(regs, "registration", "registrations"))
		for _, s := range v.MapServer {
			ps := make([]string, len(s.Prefixes))
			for i, p := range s.Prefixes {
				ps[i] = p.String()
			}
			fmt.Fprintf(w, "\nSite %s, iid %d, key %s, prefixes %s: %s\n", s.Site, s.InstanceID, s.KeyType,
				strings.Join(ps, " "), plural(len(s.Registrations), "registration", "registrations"))
			if len(s.Registrations) == 0 {
				continue
			}
			tw := newTable(w)
			fmt.Fprintln(tw, "  EID-prefix\tSource\tRLOCs (pri/wgt)\txTR-ID\tSite-ID\tProxy\tLast seen\tExpires")
			for _, r := range s.Registrations {
				rl := make([]string, len(r.RLOCs))
				for i, l := range r.RLOCs {
					rl[i] = fmt.Sprintf("%v %d/%d", l.Address, l.Priority, l.Weight)
					if !l.Reachable {
						rl[i] += " down"
					}
				}
				eid := r.EID.String()
				if r.InstanceID != s.InstanceID {
					eid = fmt.Sprintf("[%d]%s", r.InstanceID, eid)
				}
				fmt.Fprintf(tw, "  %s\t%v\t%s\t%s\t%s\t%s\t%s\t%s\n", eid, r.Source, strings.Join(rl, ", "),
					dash(r.XTRID), dash(r.SiteID), yesNo(r.ProxyReply), ago(now, r.LastSeen), clock(r.ExpiresIn))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// renderRLOCs prints the local locators.
func renderRLOCs(w io.Writer, v *admin.RLOCs) error {
	up := 0
	for _, r := range v.RLOCs {
		if r.Up {
			up++
		}
	}
	fmt.Fprintf(w, "Local RLOCs: %s, %d up\n", plural(len(v.RLOCs), "locator", "locators"), up)
	if len(v.RLOCs) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := newTable(w)
	fmt.Fprintln(tw, "Interface\tAddress\tState\tPri/Wgt\tNAT")
	for _, r := range v.RLOCs {
		addr := "-"
		if r.Address.IsValid() {
			addr = r.Address.String()
		}
		st := "up"
		if !r.Up {
			st = "down"
			if r.Reason != "" {
				st += " (" + r.Reason + ")"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\n", dash(r.Interface), addr, st, r.Priority, r.Weight, natText(&r))
	}
	return tw.Flush()
}

// natText is the NAT column of a locator: the xTR's NAT-traversal outcome,
// the same words on every locator; the details on the one the
// Info-Requests left from, the others saying which that was.
func natText(r *admin.LocalRLOC) string {
	n := r.NAT
	if n == nil {
		return "-" // NAT traversal off
	}
	s := "no NAT"
	if n.BehindNAT {
		s = "behind NAT"
	}
	if !n.Discovered {
		s = "discovering"
		if n.Unanswered {
			s = "unknown: no Info-Reply"
		}
	}
	if n.Local.IsValid() && n.Local != r.Address {
		return s + " (checked from " + n.Local.String() + ")"
	}
	if n.BehindNAT && n.Public.IsValid() {
		s += ", public " + n.Public.String()
	}
	if n.BehindNAT && n.RTR.IsValid() {
		s += ", RTR " + n.RTR.String()
	}
	sep := ", RTRs offered "
	for _, a := range n.RTRs {
		s += sep + a.String()
		sep = " "
	}
	return s
}

// renderRTR prints the RTR's NAT bindings, a line each.
func renderRTR(w io.Writer, v *admin.RTR) error {
	verified := 0
	for _, b := range v.Bindings {
		if b.Verified {
			verified++
		}
	}
	fmt.Fprintf(w, "RTR NAT bindings: %s, %d verified\n", plural(len(v.Bindings), "binding", "bindings"), verified)
	if len(v.Bindings) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := newTable(w)
	fmt.Fprintln(tw, "EID-prefix\tIID\txTR-ID\tSite-ID\tPublic\tPrivate\tVerified\tLast seen\tExpires")
	for _, b := range v.Bindings {
		fmt.Fprintf(tw, "%v\t%d\t%s\t%s\t%v\t%v\t%s\t%s\t%s\n", b.EID, b.InstanceID, dash(b.XTRID), dash(b.SiteID),
			b.Public, b.Private, yesNo(b.Verified), ago(v.Time, b.LastSeen), clock(b.ExpiresIn))
	}
	return tw.Flush()
}

// renderStats prints every counter, by group, names and values aligned.
func renderStats(w io.Writer, v *admin.Stats) error {
	tw := newTable(w)
	if t := v.TUNPath; t != nil {
		stateLine(tw, "TUN path", t.State, t.Reason)
	}
	if k := v.KernelPath; k != nil {
		stateLine(tw, "Kernel path", k.State, k.Reason)
		if k.DecapGRO != "" {
			fmt.Fprintf(tw, "Decap GRO: %s\n", k.DecapGRO)
		}
	}
	if v.TUNPath != nil || v.KernelPath != nil {
		fmt.Fprintln(tw, "")
	}
	for i, g := range v.Groups {
		if i > 0 {
			fmt.Fprintln(tw, "")
		}
		var total uint64
		for _, c := range g.Counters {
			total += c.Value
		}
		fmt.Fprintf(tw, "%s:\n", capitalize(g.Name))
		for _, c := range g.Counters {
			if c.Name == "tun-offload" { // the TUN path line says it (JSON keeps it)
				continue
			}
			fmt.Fprintf(tw, "  %s\t%d\n", c.Name, c.Value)
		}
		if isCountGroup(g.Name) {
			fmt.Fprintf(tw, "  total\t%d\n", total)
		}
	}
	return tw.Flush()
}

// stateLine prints "What: state" or "What: state (reason)".
func stateLine(w io.Writer, what, state, reason string) {
	if reason != "" {
		fmt.Fprintf(w, "%s: %s (%s)\n", what, state, reason)
	} else {
		fmt.Fprintf(w, "%s: %s\n", what, state)
	}
}

// isCountGroup reports whether the counters of a group add up to a
// meaningful total (drops and messages do; packets and bytes mixed do not).
func isCountGroup(name string) bool {
	switch name {
	case admin.GroupDataDrops, admin.GroupControlIn, admin.GroupControlOut, admin.GroupControlDrops:
		return true
	}
	return false
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// renderConfig prints the running configuration.
func renderConfig(w io.Writer, v *admin.Config) error {
	if v.Text == "" {
		return errors.New("the daemon sent an empty configuration")
	}
	fmt.Fprintf(w, "# Running configuration, read from %s (keys redacted)\n", v.Path)
	_, err := io.WriteString(w, v.Text)
	if err == nil && !strings.HasSuffix(v.Text, "\n") {
		_, err = io.WriteString(w, "\n")
	}
	return err
}
