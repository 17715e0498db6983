package conf

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Value sets and limits enforced by validation.
var (
	// LogLevels are the values of log_level.
	LogLevels = []string{"debug", "info", "warn", "error"}
	// NATTraversalModes are the values of xtr.nat_traversal.
	NATTraversalModes = []string{"auto", "always", "off"}
	// TUNOffloadModes are the values of xtr.tun_offload.
	TUNOffloadModes = []string{"auto", "off"}
	// KernelPathModes are the values of xtr.kernel_path.
	KernelPathModes = []string{"off", "auto"}
	// DecapFilterModes are the values of xtr.decap_filter.
	DecapFilterModes = []string{"known", "off"}
	// KeyTypes are the values of key_type: HMAC-SHA-1 and HMAC-SHA-256.
	KeyTypes = []string{"sha1", "sha256"}
	// Actions are the RFC 9301 Map-Reply actions a static negative mapping
	// (xtr.map_cache without rlocs) may take.
	Actions = []string{"no-action", "native-forward", "send-map-request", "drop", "drop-policy-denied", "drop-auth-failure"}
)

// MaxInstanceID is the largest usable instance-id; 0xFFFFFF is reserved for
// NAT-traversal control messages.
const MaxInstanceID = 0xFFFFFE

// maxMapCacheLimit bounds xtr.map_cache_limit (and keeps it within a 32-bit
// int, so a file means the same on every router).
const maxMapCacheLimit = 1 << 24

// maxSocketPath is the longest Unix socket path (sun_path less its NUL).
const maxSocketPath = 107

// Validate checks a Config built in code (for example by the UCI renderer)
// with the same rules Parse applies. The problems carry key paths but no
// positions.
func (c *Config) Validate() error {
	found := c.validate()
	if len(found) == 0 {
		return nil
	}
	probs := make([]Problem, len(found))
	for i, f := range found {
		probs[i] = f.Problem
		probs[i].File = c.Path
	}
	return sortProblems(probs)
}

type validator struct {
	probs []finding
	rlocs []keyedAddr   // every underlay address named in the file
	eids  []keyedPrefix // every EID prefix named in the file
}

type keyedAddr struct {
	key  string
	addr netip.Addr
}

type keyedPrefix struct {
	key string
	p   netip.Prefix
	iid uint32
}

// finding is a problem found by validation, with the keys whose values it
// was derived from: when one of those failed to decode, the finding is only a
// consequence and is not reported.
type finding struct {
	Problem
	deps []string
}

// msgEmpty is the problem of a required string that is empty; Parse says
// "is missing" instead when the key is not written at all.
const msgEmpty = "must not be empty"

func (v *validator) add(key, format string, args ...any) {
	v.probs = append(v.probs, finding{Problem: Problem{Key: key, Msg: fmt.Sprintf(format, args...)}})
}

// addFrom is add for a problem about a table as a whole, derived from the
// values of the keys deps.
func (v *validator) addFrom(deps []string, key, format string, args ...any) {
	v.add(key, format, args...)
	v.probs[len(v.probs)-1].deps = deps
}

func (c *Config) validate() []finding {
	v := &validator{}
	v.oneOf("log_level", c.LogLevel, LogLevels)
	switch {
	case c.ControlSocket == "":
		v.add("control_socket", msgEmpty)
	case len(c.ControlSocket) > maxSocketPath:
		v.add("control_socket", "%d bytes is too long for a Unix socket path (at most %d)", len(c.ControlSocket), maxSocketPath)
	}
	if c.XTR != nil {
		v.xtr(c.XTR)
	}
	if c.MapServer != nil {
		v.mapServer(c.MapServer)
	}
	if c.RTR != nil {
		v.rtr(c.RTR)
	}
	if c.XTR == nil && (c.MapServer == nil || !c.MapServer.Enabled) && (c.RTR == nil || !c.RTR.Enabled) {
		v.addFrom([]string{"xtr", "map_server", "rtr"}, "", "no role configured: add an [xtr] table, or set enabled = true in [map_server] or [rtr]")
	}
	v.rlocsOutsideEIDs()
	return v.probs
}

func (v *validator) xtr(x *XTR) {
	v.ifname("xtr.tun", x.TUN)
	if x.MTU != 0 && (x.MTU < 576 || x.MTU > 65535) {
		v.add("xtr.mtu", "%d is out of range: 0 (derive from the path MTU) or 576..65535", x.MTU)
	}
	v.instanceID("xtr.instance_id", x.InstanceID)
	v.prefixList("xtr.eid_prefixes", x.EIDPrefixes, x.InstanceID)
	v.prefixList("xtr.eid_space", x.EIDSpace, x.InstanceID)
	if x.MTU >= 576 && x.MTU < 1280 {
		for i, p := range slices.Concat(x.EIDPrefixes, x.EIDSpace) {
			if p.Addr().Is6() {
				key := indexKey("xtr.eid_prefixes", i)
				if i >= len(x.EIDPrefixes) {
					key = indexKey("xtr.eid_space", i-len(x.EIDPrefixes))
				}
				v.add("xtr.mtu", "%d is below 1280, the IPv6 minimum, but %s is IPv6 (%s)", x.MTU, key, p)
				break
			}
		}
	}
	v.addrList("xtr.map_resolvers", x.MapResolvers)
	for i := range x.ProxyETRs {
		v.locator(indexKey("xtr.proxy_etrs", i), &x.ProxyETRs[i])
	}
	if x.MapCacheLimit < 1 || x.MapCacheLimit > maxMapCacheLimit {
		v.add("xtr.map_cache_limit", "%d is out of range 1..%d", x.MapCacheLimit, maxMapCacheLimit)
	} else if x.MapCacheLimit < len(x.MapCache) {
		v.addFrom([]string{"xtr.map_cache"}, "xtr.map_cache_limit", "%d is less than the %d static mappings in xtr.map_cache", x.MapCacheLimit, len(x.MapCache))
	}

	// Local locators.
	if len(x.RLOCs) == 0 {
		v.addFrom([]string{"xtr.rloc"}, "xtr", "needs at least one [[xtr.rloc]]: the locator it sends from and is reached at")
	}
	seenRLOC := map[string]string{}
	usable := false
	for i := range x.RLOCs {
		r := &x.RLOCs[i]
		key := indexKey("xtr.rloc", i)
		switch {
		case r.Interface == "" && !r.Address.IsValid():
			v.add(key, "needs one of interface or address")
		case r.Interface != "" && r.Address.IsValid():
			v.add(key+".address", "give either interface or address, not both")
		case r.Interface != "":
			v.ifname(key+".interface", r.Interface)
			if first, dup := seenRLOC["if:"+r.Interface]; dup {
				v.add(key+".interface", "interface %s is already %s", r.Interface, first)
			}
			seenRLOC["if:"+r.Interface] = key
		default:
			if v.addr(key+".address", r.Address) {
				v.rlocs = append(v.rlocs, keyedAddr{key + ".address", r.Address})
			}
			if first, dup := seenRLOC[r.Address.String()]; dup {
				v.add(key+".address", "address %s is already %s", r.Address, first)
			}
			seenRLOC[r.Address.String()] = key
		}
		v.priorityWeight(key, r.Priority, r.Weight)
		if r.Priority < 255 {
			usable = true
		}
	}
	if len(x.RLOCs) > 0 && !usable {
		v.addFrom([]string{"xtr.rloc"}, "xtr.rloc", "every locator has priority 255 (never used for unicast): give at least one a lower priority")
	}

	// Map-Servers.
	if len(x.MapServers) > 0 && len(x.EIDPrefixes) == 0 {
		v.addFrom([]string{"xtr.eid_prefixes"}, "xtr.map_server", "there is nothing to register: xtr.eid_prefixes is empty")
	}
	v.mapServerRefs("xtr.map_server", x.MapServers)

	// Static mappings.
	seenMap := map[keyedPrefix]string{}
	for i := range x.MapCache {
		m := &x.MapCache[i]
		key := indexKey("xtr.map_cache", i)
		iid := x.InstanceID
		if m.InstanceID != nil {
			iid = *m.InstanceID
			v.instanceID(key+".instance_id", iid)
		}
		if !m.EIDPrefix.IsValid() {
			v.add(key+".eid_prefix", "is required")
		} else if v.prefix(key+".eid_prefix", m.EIDPrefix) {
			k := keyedPrefix{p: m.EIDPrefix, iid: iid}
			if first, dup := seenMap[k]; dup {
				v.add(key+".eid_prefix", "%s (instance-id %d) is already mapped by %s", m.EIDPrefix, iid, first)
			}
			seenMap[k] = key
			for j, own := range x.EIDPrefixes {
				if iid == x.InstanceID && own.Overlaps(m.EIDPrefix) {
					v.add(key+".eid_prefix", "%s overlaps this site's own EID prefix %s (xtr.eid_prefixes[%d])", m.EIDPrefix, own, j)
				}
			}
			v.eids = append(v.eids, keyedPrefix{key + ".eid_prefix", m.EIDPrefix, iid})
		}
		for j := range m.RLOCs {
			v.locator(indexKey(key+".rlocs", j), &m.RLOCs[j])
		}
		switch {
		case m.Action != "" && !slices.Contains(Actions, m.Action):
			v.add(key+".action", "%q is not an action; use one of %s", m.Action, strings.Join(Actions, ", "))
		case len(m.RLOCs) == 0 && m.Action == "":
			v.add(key, "a mapping without rlocs is negative and needs an action (%s)", strings.Join(Actions, ", "))
		case len(m.RLOCs) > 0 && m.Action != "" && m.Action != "no-action":
			v.add(key+".action", "action %q is for negative mappings; this one has rlocs", m.Action)
		}
	}
	if len(x.EIDPrefixes) == 0 && len(x.EIDSpace) == 0 && len(x.MapCache) == 0 {
		v.addFrom([]string{"xtr.eid_prefixes", "xtr.eid_space", "xtr.map_cache"}, "xtr", "does nothing: give eid_prefixes (ETR), eid_space (ITR) or map_cache")
	}

	// Timers and limits.
	v.positive("xtr.register_interval", x.RegisterInterval)
	v.positive("xtr.map_request_timeout", x.MapRequestTimeout)
	v.intRange("xtr.map_request_retries", x.MapRequestRetries, 0, 100)
	v.intRange("xtr.map_request_rate", x.MapRequestRate, 1, 1_000_000)
	if v.positive("xtr.record_ttl", x.RecordTTL) {
		switch {
		case x.RecordTTL.Duration%time.Minute != 0:
			v.add("xtr.record_ttl", "%s is not a whole number of minutes (the wire format counts minutes)", x.RecordTTL)
		case x.RecordTTL.Duration/time.Minute > 0xFFFFFFFF:
			v.add("xtr.record_ttl", "%s is too long", x.RecordTTL)
		}
	}
	v.intRange("xtr.pending_packets", x.PendingPackets, 0, 1<<16)
	v.intRange("xtr.pending_total", x.PendingTotal, 0, 1<<24)
	if x.PendingTotal < x.PendingPackets && x.PendingTotal >= 0 {
		v.add("xtr.pending_total", "%d is less than pending_packets (%d)", x.PendingTotal, x.PendingPackets)
	}
	v.positive("xtr.probe_interval", x.ProbeInterval)
	v.intRange("xtr.probe_retries", x.ProbeRetries, 1, 100)
	v.positive("xtr.idle_timeout", x.IdleTimeout)
	v.oneOf("xtr.nat_traversal", x.NATTraversal, NATTraversalModes)
	if v.positive("xtr.nat_keepalive", x.NATKeepalive) {
		// Below the NAT's UDP timeout (often 30 s, 120 s for flows that saw
		// replies) to keep the binding; a second at least, not to flood.
		if k := x.NATKeepalive.Duration; k < time.Second || k > time.Hour {
			v.add("xtr.nat_keepalive", "%s is out of range 1s..1h (keep it below the NAT's UDP timeout, often 30s)", x.NATKeepalive)
		}
	}
	v.oneOf("xtr.tun_offload", x.TUNOffload, TUNOffloadModes)
	v.oneOf("xtr.kernel_path", x.KernelPath, KernelPathModes)

	// The decapsulation source filter; the eBPF decapsulator has none.
	v.oneOf("xtr.decap_filter", x.DecapFilter, DecapFilterModes)
	for i, p := range x.DecapAllow {
		v.prefix(indexKey("xtr.decap_allow", i), p)
	}
	if x.KernelPath == "auto" && x.DecapFilter == "known" {
		v.addFrom([]string{"xtr.decap_filter"}, "xtr.kernel_path", "%q decapsulates in the kernel, which would bypass decap_filter = \"known\": set decap_filter = \"off\" or leave kernel_path off", x.KernelPath)
	}
}

func (v *validator) mapServer(m *MapServer) {
	if m.Enabled && len(m.Listen) == 0 {
		v.add("map_server.listen", "an enabled map_server needs at least one address to listen on")
	}
	v.addrList("map_server.listen", m.Listen)
	v.positive("map_server.registration_timeout", m.RegistrationTimeout)
	v.addrList("map_server.rtrs", m.RTRs)
	if m.Enabled && len(m.Sites) == 0 {
		v.addFrom([]string{"map_server.site"}, "map_server", "an enabled map_server needs at least one [[map_server.site]]")
	}
	names := map[string]string{}
	var prefixes []keyedPrefix
	for i := range m.Sites {
		s := &m.Sites[i]
		key := indexKey("map_server.site", i)
		if s.Name == "" {
			v.add(key+".name", "is required")
		} else if first, dup := names[s.Name]; dup {
			v.add(key+".name", "site %q is already defined at %s", s.Name, first)
		} else {
			names[s.Name] = key
		}
		v.authKey(key, s.Key, s.KeyType)
		v.instanceID(key+".instance_id", s.InstanceID)
		v.intRange(key+".max_registrations", s.MaxRegistrations, 1, 1<<20)
		if len(s.EIDPrefixes) == 0 {
			v.add(key+".eid_prefixes", "a site needs at least one EID prefix")
		}
		for j, p := range s.EIDPrefixes {
			pk := indexKey(key+".eid_prefixes", j)
			if !v.prefix(pk, p) {
				continue
			}
			for _, o := range prefixes {
				if o.iid == s.InstanceID && o.p.Overlaps(p) {
					v.add(pk, "%s overlaps %s (%s)", p, o.p, o.key)
				}
			}
			kp := keyedPrefix{pk, p, s.InstanceID}
			prefixes = append(prefixes, kp)
			v.eids = append(v.eids, kp)
		}
	}
}

// noRTRRole is the problem with rtr.enabled = true in a build without the
// role (RTRBuilt false).
const noRTRRole = "this lispd is built without the RTR role (-tags nortr): set enabled = false, " +
	"or install a build with it (OpenWrt: the package option LISPD_RTR in make menuconfig)"

func (v *validator) rtr(r *RTR) {
	if r.Enabled && !RTRBuilt {
		v.add("rtr.enabled", noRTRRole)
	}
	if r.Enabled && len(r.Listen) == 0 {
		v.add("rtr.listen", "an enabled rtr needs at least one address to listen on")
	}
	v.addrList("rtr.listen", r.Listen)
	if r.Enabled && len(r.MapServers) == 0 {
		v.add("rtr.map_servers", "an enabled rtr needs at least one Map-Server")
	}
	v.addrList("rtr.map_servers", r.MapServers)
}

func (v *validator) mapServerRefs(key string, refs []MapServerRef) {
	seen := map[netip.Addr]string{}
	for i := range refs {
		m := &refs[i]
		k := indexKey(key, i)
		if !m.Address.IsValid() {
			v.add(k+".address", "is required")
		} else if v.addr(k+".address", m.Address) {
			v.rlocs = append(v.rlocs, keyedAddr{k + ".address", m.Address})
			if first, dup := seen[m.Address]; dup {
				v.add(k+".address", "Map-Server %s is already %s", m.Address, first)
			}
			seen[m.Address] = k
		}
		v.authKey(k, m.Key, m.KeyType)
	}
}

func (v *validator) authKey(key, k, typ string) {
	if k == "" {
		v.add(key+".key", msgEmpty)
	}
	v.oneOf(key+".key_type", typ, KeyTypes)
}

func (v *validator) locator(key string, l *Locator) {
	if !l.Address.IsValid() {
		v.add(key+".address", "is required")
	} else if v.addr(key+".address", l.Address) {
		v.rlocs = append(v.rlocs, keyedAddr{key + ".address", l.Address})
	}
	v.priorityWeight(key, l.Priority, l.Weight)
}

func (v *validator) priorityWeight(key string, p, w int) {
	if p < 0 || p > 255 {
		v.add(key+".priority", "%d is out of range 0..255 (255 = never used for unicast)", p)
	}
	if w < 0 || w > 100 {
		v.add(key+".weight", "%d is out of range 0..100", w)
	}
}

// addr checks that a is a usable unicast address and reports whether it is.
func (v *validator) addr(key string, a netip.Addr) bool {
	switch {
	case !a.IsValid():
		v.add(key, "is not an address")
	case a.Zone() != "":
		v.add(key, "%s: a zone is not allowed", a)
	case a.Is4In6():
		v.add(key, "%s is IPv4-mapped: write it as %s", a, a.Unmap())
	case a.IsUnspecified():
		v.add(key, "%s is unspecified, not a unicast address", a)
	case a.IsMulticast():
		v.add(key, "%s is multicast, not a unicast address", a)
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		v.add(key, "%s is broadcast, not a unicast address", a)
	default:
		return true
	}
	return false
}

func (v *validator) addrList(key string, as []netip.Addr) {
	seen := map[netip.Addr]int{}
	for i, a := range as {
		k := indexKey(key, i)
		if !v.addr(k, a) {
			continue
		}
		if first, dup := seen[a]; dup {
			v.add(k, "%s is already %s", a, indexKey(key, first))
			continue
		}
		seen[a] = i
		v.rlocs = append(v.rlocs, keyedAddr{k, a})
	}
}

// prefix checks that p is a canonical EID prefix and reports whether it is.
func (v *validator) prefix(key string, p netip.Prefix) bool {
	switch {
	case !p.IsValid():
		v.add(key, "is not a prefix")
	case p.Addr().Is4In6():
		v.add(key, "%s is IPv4-mapped: write it in IPv4 form", p)
	case p != p.Masked():
		v.add(key, "%s has host bits set: did you mean %s?", p, p.Masked())
	default:
		return true
	}
	return false
}

func (v *validator) prefixList(key string, ps []netip.Prefix, iid uint32) {
	var good []int
	for i, p := range ps {
		k := indexKey(key, i)
		if !v.prefix(k, p) {
			continue
		}
		for _, j := range good {
			if ps[j].Overlaps(p) {
				v.add(k, "%s overlaps %s (%s)", p, ps[j], indexKey(key, j))
			}
		}
		good = append(good, i)
		v.eids = append(v.eids, keyedPrefix{k, p, iid})
	}
}

func (v *validator) instanceID(key string, id uint32) {
	if id > MaxInstanceID {
		v.add(key, "%d is out of range 0..%d (0xFFFFFF is reserved for NAT traversal)", id, MaxInstanceID)
	}
}

// ifname checks a Linux interface name.
func (v *validator) ifname(key, name string) {
	switch {
	case name == "":
		v.add(key, msgEmpty)
	case len(name) > 15:
		v.add(key, "%q is longer than 15 bytes, the Linux limit for interface names", name)
	case strings.ContainsAny(name, "/: \t\n") || name == "." || name == "..":
		v.add(key, "%q is not a valid interface name", name)
	}
}

func (v *validator) oneOf(key, val string, set []string) {
	if !slices.Contains(set, val) {
		v.add(key, "%q is not one of %s", val, strings.Join(set, ", "))
	}
}

func (v *validator) positive(key string, d Duration) bool {
	if d.Duration <= 0 {
		v.add(key, "must be positive, got %s", d)
		return false
	}
	return true
}

func (v *validator) intRange(key string, n, lo, hi int) {
	if n < lo || n > hi {
		v.add(key, "%d is out of range %d..%d", n, lo, hi)
	}
}

// rlocsOutsideEIDs reports every underlay address that lies inside an EID
// prefix: traffic to it would be routed into the tunnel it carries.
func (v *validator) rlocsOutsideEIDs() {
	for _, r := range v.rlocs {
		for _, e := range v.eids {
			if e.p.Contains(r.addr) {
				v.add(r.key, "%s is inside EID prefix %s (%s): an RLOC may not be an EID", r.addr, e.p, e.key)
				break
			}
		}
	}
}
