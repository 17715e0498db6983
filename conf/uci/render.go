package uci

import (
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/lispd/lispd/conf"
	"github.com/lispd/lispd/internal/nocmp"
)

// PackageName is the UCI package lispd reads: /etc/config/lispd.
const PackageName = "lispd"

// MainSection is the name of the lispd section: config lispd 'main'.
const MainSection = "main"

// Section types. The `lispd` section holds the service settings; the others
// are optional and, when any is present, the configuration is rendered from
// UCI instead of read from the TOML on flash.
const (
	TypeLispd       = "lispd"        // enabled, config, log_level (+ tun, instance_id, mtu, eid_space)
	TypeEID         = "eid"          // prefix: this site's EID prefixes
	TypeRLOC        = "rloc"         // interface | device | address, priority, weight
	TypeMapServer   = "map_server"   // address, key, key_type, want_map_notify
	TypeMapResolver = "map_resolver" // address
	TypePETR        = "petr"         // address, priority, weight
)

// renderTypes are the section types whose presence switches to rendering.
var renderTypes = []string{TypeEID, TypeRLOC, TypeMapServer, TypeMapResolver, TypePETR}

// Mode says where the effective configuration comes from.
type Mode int

const (
	// ModeFlash: no optional sections; the TOML on flash is used as is.
	ModeFlash Mode = iota
	// ModeUCI: the configuration is rendered from the UCI sections alone.
	ModeUCI
)

// String names the mode.
func (m Mode) String() string {
	if m == ModeUCI {
		return "uci"
	}
	return "flash"
}

// Settings are the service options of the lispd section.
type Settings struct {
	_ nocmp.DoNotCompare

	Enabled  bool
	Config   string // the TOML on flash (default conf.DefaultPath)
	LogLevel string // empty: not set in UCI
}

// Result is what Render found.
type Result struct {
	_ nocmp.DoNotCompare

	Mode     Mode
	Settings Settings
	// Config is the rendered configuration (ModeUCI only).
	Config *conf.Config

	from *renderer // what Config's keys came from, for Run's messages
}

// Problem is one invalid UCI value, named the way `uci show` names it.
type Problem struct {
	Option string // e.g. lispd.@map_server[0].key_type
	Msg    string
}

// Error implements error.
func (p Problem) Error() string { return p.Option + ": " + p.Msg }

// Problems lists every invalid value found; Render returns all of them at
// once so a user fixes everything in one pass.
type Problems []Problem

// Error implements error: one problem per line.
func (ps Problems) Error() string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.Error())
	}
	return b.String()
}

// Options are the inputs to Render besides the UCI text.
type Options struct {
	// Devices maps logical interface names (`wan`) to kernel devices
	// (`eth1`, `pppoe-wan`): the init script resolves them with
	// network_get_device. An rloc naming an interface missing here is an error.
	Devices map[string]string
}

// sectionTypes are the known section types with their known options, and
// those of them that may be given as `list` (several values); the rest are
// single. (A table, not maps: map literals cost ~2 KB of init code on MIPS.)
var sectionTypes = [...]struct {
	typ            string
	options, lists []string
}{
	{TypeLispd, []string{"enabled", "config", "log_level", "tun", "instance_id", "mtu", "eid_space"}, []string{"eid_space"}},
	{TypeEID, []string{"prefix"}, []string{"prefix"}},
	{TypeRLOC, []string{"interface", "device", "address", "priority", "weight"}, nil},
	{TypeMapServer, []string{"address", "key", "key_type", "want_map_notify"}, nil},
	{TypeMapResolver, []string{"address"}, []string{"address"}},
	{TypePETR, []string{"address", "priority", "weight"}, nil},
}

// Render validates the lispd UCI package and, when it has any optional
// section (eid, rloc, map_server, map_resolver, petr), renders the
// effective configuration from it. Without them the result is ModeFlash:
// "use the flash TOML" (Settings.Config). Invalid values come back as
// Problems naming each UCI option. Rloc sections on one device with the
// same priority and weight (wan and wan6 on eth1) render as one locator
// entry. What conf's own rules find wrong in the rendered configuration,
// Run reports against the UCI options too.
func Render(p *Package, opt Options) (*Result, error) {
	r := &renderer{pkg: p, opt: opt}
	res := r.render()
	if len(r.problems) > 0 {
		return nil, r.problems
	}
	res.from = r
	return res, nil
}

type renderer struct {
	pkg      *Package
	opt      Options
	problems Problems
	rlocs    []*Section // the section of each rendered xtr.rloc (some merge)
}

func (r *renderer) bad(s *Section, option, format string, args ...any) {
	ref := PackageName + ".(unknown)"
	if s != nil {
		ref = s.Ref(PackageName)
	}
	if option != "" {
		ref += "." + option
	}
	r.problems = append(r.problems, Problem{Option: ref, Msg: fmt.Sprintf(format, args...)})
}

func (r *renderer) render() *Result {
	res := &Result{Settings: Settings{Config: conf.DefaultPath}}
	if r.pkg.Name != PackageName {
		r.problems = append(r.problems, Problem{Option: r.pkg.Name, Msg: "not the lispd package (want `uci export lispd`)"})
		return nil
	}
	// Shape: known types, known options, option vs list.
	for _, s := range r.pkg.Sections {
		i := 0
		for i < len(sectionTypes) && sectionTypes[i].typ != s.Type {
			i++
		}
		if i == len(sectionTypes) {
			r.bad(s, "", "unknown section type %q (known: lispd, eid, rloc, map_server, map_resolver, petr)", s.Type)
			continue
		}
		known := sectionTypes[i].options
		for _, o := range s.Options {
			if !slices.Contains(known, o.Name) {
				r.bad(s, o.Name, "unknown option (known: %s)", strings.Join(known, ", "))
				continue
			}
			if o.List && !slices.Contains(sectionTypes[i].lists, o.Name) {
				r.bad(s, o.Name, "must be a single option, not a list")
			}
		}
	}
	main := r.pkg.OfType(TypeLispd)
	switch len(main) {
	case 0:
		r.bad(nil, "", "no `config lispd` section")
		r.problems[len(r.problems)-1].Option = PackageName + ".@lispd[0]"
	case 1:
	default:
		r.bad(main[1], "", "more than one lispd section")
	}
	var ms *Section
	if len(main) > 0 {
		ms = main[0]
		if ms.Name != MainSection {
			// The init script and the firewall defaults read lispd.main.
			r.bad(ms, "", "the lispd section must be named %q (config lispd '%s')", MainSection, MainSection)
		}
		res.Settings = r.settings(ms)
	}
	for _, t := range renderTypes {
		if len(r.pkg.OfType(t)) > 0 {
			res.Mode = ModeUCI
		}
	}
	if res.Mode == ModeUCI {
		res.Config = r.config(ms, res.Settings)
	} else if ms != nil {
		// The xTR keys of the lispd section only mean something when rendering.
		for _, name := range []string{"tun", "instance_id", "mtu", "eid_space"} {
			if ms.Option(name) != nil {
				r.bad(ms, name, "only used when rendering from UCI sections (eid, rloc, map_server, ...); with none, set it in %s", res.Settings.Config)
			}
		}
	}
	return res
}

func (r *renderer) settings(s *Section) Settings {
	st := Settings{Config: conf.DefaultPath}
	if o := s.Option("enabled"); o != nil {
		b, ok := parseBool(o.Value())
		if !ok {
			r.bad(s, "enabled", "must be 0 or 1 (got %q)", o.Value())
		}
		st.Enabled = b
	}
	if o := s.Option("config"); o != nil {
		v := o.Value()
		if !path.IsAbs(v) || path.Clean(v) != v || strings.ContainsAny(v, "\n\x00") {
			r.bad(s, "config", "must be a clean absolute path to the TOML on flash (got %q)", v)
		} else {
			st.Config = v
		}
	}
	if o := s.Option("log_level"); o != nil {
		switch v := o.Value(); v {
		case "debug", "info", "warn", "error":
			st.LogLevel = v
		default:
			r.bad(s, "log_level", "must be debug, info, warn or error (got %q)", v)
		}
	}
	return st
}

func (r *renderer) config(ms *Section, st Settings) *conf.Config {
	c := conf.Default()
	if st.LogLevel != "" {
		c.LogLevel = st.LogLevel
	}
	x := &conf.XTR{}
	x.SetDefaults()
	c.XTR = x
	if ms != nil {
		if o := ms.Option("tun"); o != nil {
			if v := o.Value(); validIfName(v) {
				x.TUN = v
			} else {
				r.bad(ms, "tun", "must be a network device name of 1 to 15 characters without spaces or '/' (got %q)", v)
			}
		}
		if o := ms.Option("instance_id"); o != nil {
			n, err := strconv.ParseUint(o.Value(), 10, 32)
			if err != nil || n > 0xFFFFFE {
				r.bad(ms, "instance_id", "must be an integer from 0 to 16777214 (got %q)", o.Value())
			}
			x.InstanceID = uint32(n)
		}
		if o := ms.Option("mtu"); o != nil {
			n, err := strconv.Atoi(o.Value())
			if err != nil || n < 0 || n > 65535 {
				r.bad(ms, "mtu", "must be 0 (derive from the path MTU) or an MTU up to 65535 (got %q)", o.Value())
			}
			x.MTU = n
		}
		if o := ms.Option("eid_space"); o != nil {
			x.EIDSpace = r.prefixes(ms, o)
		}
	}
	for _, s := range r.pkg.OfType(TypeEID) {
		o := s.Option("prefix")
		if o == nil {
			r.bad(s, "prefix", "missing: an eid section needs at least one prefix")
			continue
		}
		x.EIDPrefixes = append(x.EIDPrefixes, r.prefixes(s, o)...)
	}
rlocs:
	for _, s := range r.pkg.OfType(TypeRLOC) {
		l := r.rloc(s)
		for _, o := range x.RLOCs {
			if l.Interface != "" && o.Interface == l.Interface && o.Priority == l.Priority && o.Weight == l.Weight {
				// Interface wan and wan6 both on eth1 (the usual
				// OpenWrt set-up): one interface entry already stands
				// for every global address of its device, IPv4 and
				// IPv6. With another priority or weight, conf reports
				// the device twice.
				continue rlocs
			}
		}
		x.RLOCs = append(x.RLOCs, l)
		r.rlocs = append(r.rlocs, s)
	}
	for _, s := range r.pkg.OfType(TypeMapServer) {
		x.MapServers = append(x.MapServers, r.mapServer(s))
	}
	for _, s := range r.pkg.OfType(TypeMapResolver) {
		o := s.Option("address")
		if o == nil {
			r.bad(s, "address", "missing: the Map-Resolver's IP address")
			continue
		}
		for _, v := range o.Values {
			if a, ok := r.unicast(s, "address", v); ok {
				x.MapResolvers = append(x.MapResolvers, a)
			}
		}
	}
	for _, s := range r.pkg.OfType(TypePETR) {
		l := conf.Locator{Priority: r.intOpt(s, "priority", conf.DefaultPriority, 0, 255), Weight: r.intOpt(s, "weight", conf.DefaultWeight, 0, 100)}
		if o := s.Option("address"); o == nil {
			r.bad(s, "address", "missing: the proxy ETR's IP address")
		} else if a, ok := r.unicast(s, "address", o.Value()); ok {
			l.Address = a
		}
		x.ProxyETRs = append(x.ProxyETRs, l)
	}
	return c
}

func (r *renderer) rloc(s *Section) conf.LocalRLOC {
	l := conf.LocalRLOC{Priority: r.intOpt(s, "priority", conf.DefaultPriority, 0, 255), Weight: r.intOpt(s, "weight", conf.DefaultWeight, 0, 100)}
	var given []string
	for _, n := range []string{"interface", "device", "address"} {
		if s.Option(n) != nil {
			given = append(given, n)
		}
	}
	if len(given) != 1 {
		r.bad(s, "", "needs exactly one of interface (a logical interface such as wan), device (a kernel device) or address (got %d)", len(given))
		return l
	}
	o := s.Option(given[0])
	v := o.Value()
	switch given[0] {
	case "interface":
		if !validName(v) {
			r.bad(s, "interface", "must be a logical interface name from /etc/config/network (got %q)", v)
			break
		}
		dev, ok := r.opt.Devices[v]
		if !ok || dev == "" {
			r.bad(s, "interface", "logical interface %q has no kernel device (is it defined in /etc/config/network and up?)", v)
			break
		}
		if !validIfName(dev) {
			r.bad(s, "interface", "logical interface %q resolved to an invalid device name %q", v, dev)
			break
		}
		l.Interface = dev
	case "device":
		if !validIfName(v) {
			r.bad(s, "device", "must be a network device name of 1 to 15 characters without spaces or '/' (got %q)", v)
			break
		}
		l.Interface = v
	case "address":
		if a, ok := r.unicast(s, "address", v); ok {
			l.Address = a
		}
	}
	return l
}

func (r *renderer) mapServer(s *Section) conf.MapServerRef {
	var m conf.MapServerRef
	m.SetDefaults()
	if o := s.Option("address"); o == nil {
		r.bad(s, "address", "missing: the Map-Server's IP address")
	} else if a, ok := r.unicast(s, "address", o.Value()); ok {
		m.Address = a
	}
	if o := s.Option("key"); o == nil || o.Value() == "" {
		r.bad(s, "key", "missing: the authentication key shared with the Map-Server")
	} else {
		m.Key = o.Value()
	}
	if o := s.Option("key_type"); o != nil {
		switch v := o.Value(); v {
		case "sha1", "sha256":
			m.KeyType = v
		default:
			r.bad(s, "key_type", "must be sha1 or sha256 (got %q)", v)
		}
	}
	if o := s.Option("want_map_notify"); o != nil {
		b, ok := parseBool(o.Value())
		if !ok {
			r.bad(s, "want_map_notify", "must be 0 or 1 (got %q)", o.Value())
		}
		m.WantMapNotify = &b
	}
	return m
}

func (r *renderer) prefixes(s *Section, o *Option) []netip.Prefix {
	var out []netip.Prefix
	for _, v := range o.Values {
		p, err := netip.ParsePrefix(v)
		switch {
		case err != nil:
			r.bad(s, o.Name, "%q is not an IP prefix such as 198.51.100.0/24 or 2001:db8::/48", v)
		case p.Masked() != p:
			r.bad(s, o.Name, "%q has host bits set (did you mean %s?)", v, p.Masked())
		default:
			out = append(out, p)
		}
	}
	return out
}

func (r *renderer) unicast(s *Section, name, v string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(v)
	if err != nil || a.Zone() != "" {
		r.bad(s, name, "%q is not an IP address", v)
		return netip.Addr{}, false
	}
	if a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		r.bad(s, name, "%s is not a unicast address", v)
		return netip.Addr{}, false
	}
	return a, true
}

func (r *renderer) intOpt(s *Section, name string, def, lo, hi int) int {
	o := s.Option(name)
	if o == nil {
		return def
	}
	n, err := strconv.Atoi(o.Value())
	if err != nil || n < lo || n > hi {
		r.bad(s, name, "must be an integer from %d to %d (got %q)", lo, hi, o.Value())
		return def
	}
	return n
}

// parseBool accepts the spellings UCI's bool type accepts.
func parseBool(v string) (b, ok bool) {
	switch v {
	case "1", "yes", "on", "true", "enabled":
		return true, true
	case "0", "no", "off", "false", "disabled":
		return false, true
	}
	return false, false
}

// validIfName reports whether v can be a Linux network device name.
func validIfName(v string) bool {
	if v == "" || len(v) > 15 || v == "." || v == ".." {
		return false
	}
	return !strings.ContainsAny(v, "/: \t\n\x00'\"\\")
}
