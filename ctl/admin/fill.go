package admin

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lispd/lispd/conf"
	"github.com/lispd/lispd/ctl"
	"github.com/lispd/lispd/ctl/msg"
	"github.com/lispd/lispd/fwd"
	"github.com/lispd/lispd/internal/sortx"
)

// This file builds the views from the daemon's state, so that the daemon's
// handlers are a line each.

// MapCacheEntryOf describes m as seen at now.
func MapCacheEntryOf(m *fwd.Mapping, now time.Time) MapCacheEntry {
	e := MapCacheEntry{
		EIDPrefix:  m.Prefix,
		InstanceID: m.InstanceID,
		State:      m.State.String(),
		Origin:     OriginLearned,
		TTL:        int64(m.TTL / time.Second),
		Packets:    m.Packets.Load(),
		Bytes:      m.Bytes.Load(),
		RLOCs:      make([]MapCacheRLOC, 0, len(m.RLOCs)),
	}
	if m.Static {
		e.Origin = OriginStatic
	}
	if m.State == fwd.StateNegative {
		e.Action = m.Action.String()
	}
	if exp := m.Expires(); !exp.IsZero() {
		in := secs(exp.Sub(now))
		e.ExpiresIn = &in
		if m.TTL > 0 {
			age := max(secs(m.TTL-exp.Sub(now)), 0)
			e.Age = &age
		}
	}
	if lu := m.LastUsed(); !lu.IsZero() {
		idle := max(secs(now.Sub(lu)), 0)
		e.Idle = &idle
	}
	for _, r := range m.RLOCs {
		v := MapCacheRLOC{
			Address: r.Addr.Addr(), Priority: r.Priority, Weight: r.Weight,
			Up: r.Up(), Packets: r.Packets.Load(), Bytes: r.Bytes.Load(),
		}
		if p := r.Addr.Port(); p != fwd.DataPort {
			v.Port = p
		}
		v.Reason = r.Reason()
		if !v.Up && v.Reason == "" {
			v.Reason = "unreachable"
		}
		if rtt := r.RTT(); rtt > 0 {
			ms := float64(rtt) / float64(time.Millisecond)
			v.RTT = &ms
		}
		e.RLOCs = append(e.RLOCs, v)
	}
	return e
}

// secs rounds d to whole seconds (half up), so that a view taken just
// after a refresh shows the TTL rather than one second less.
func secs(d time.Duration) int64 { return int64((d + time.Second/2) / time.Second) }

// MapCacheOf answers "show map-cache" from c, at the cache's own clock.
// defaultIID is the xTR's instance_id, used when q names an EID without an
// instance-id.
func MapCacheOf(c *fwd.MapCache, q MapCacheQuery, defaultIID uint32) (MapCache, error) {
	now := c.Now()
	out := MapCache{Limit: c.Limit(), Total: c.Len(), Entries: []MapCacheEntry{}}
	if q.EID != "" {
		p, err := netip.ParsePrefix(q.EID)
		if a, aerr := netip.ParseAddr(q.EID); aerr == nil {
			a = a.Unmap()
			p, err = a.Prefix(a.BitLen())
		}
		if err != nil {
			return out, fmt.Errorf("EID %q is not an IP address or prefix", q.EID)
		}
		iid := defaultIID
		if q.InstanceID != nil {
			iid = *q.InstanceID
		}
		out.InstanceID = &iid
		// The entry of p, else the longest covering it: not Lookup, which
		// would find a more specific entry inside p.
		for b := p.Bits(); b >= 0; b-- {
			if m, ok := c.Get(iid, netip.PrefixFrom(p.Addr(), b).Masked()); ok {
				out.Entries = append(out.Entries, MapCacheEntryOf(m, now))
				break
			}
		}
		return out, nil
	}
	c.Walk(func(m *fwd.Mapping) bool {
		if q.InstanceID == nil || *q.InstanceID == m.InstanceID {
			out.Entries = append(out.Entries, MapCacheEntryOf(m, now))
		}
		return true
	})
	return out, nil
}

// RegistrationsOf builds "show registrations" from the xTR's Map-Server
// states (nil when the xTR role is off) and the Map-Server's registrations
// (nil when that role is off).
func RegistrationsOf(now time.Time, xtr []ctl.MapServerStatus, ms *ctl.Registrations) Registrations {
	out := Registrations{Time: now}
	for _, s := range xtr {
		out.XTR = append(out.XTR, MapServerState{
			MapServer: s.Addr, KeyType: string(s.KeyType), WantMapNotify: s.WantMapNotify,
			State: string(s.State), Reason: s.Reason, Registers: s.Registers, Notifies: s.Notifies,
			Unsolicited: s.Unsolicited, LastRegister: s.LastRegister, LastNotify: s.LastNotify,
		})
	}
	if ms == nil {
		return out
	}
	out.MapServer = []SiteState{}
	for _, site := range ms.Sites {
		st := SiteState{
			Site: site.Name, InstanceID: site.InstanceID, KeyType: string(site.KeyType),
			Prefixes: slices.Clone(site.EIDPrefixes), Registrations: []Registration{},
		}
		for _, ri := range ms.Registrations {
			if ri.Site != site.Name {
				continue
			}
			for _, rr := range ri.Registrants {
				reg := Registration{
					EID: ri.Prefix, InstanceID: ri.InstanceID, Source: rr.Source, XTRID: rr.XTRID,
					ProxyReply: rr.ProxyReply, TTL: secs(rr.RecordTTL),
					FirstSeen: rr.FirstSeen, LastSeen: rr.LastSeen, ExpiresIn: secs(rr.Expires.Sub(now)),
				}
				if rr.XTRID != "" {
					reg.SiteID = fmt.Sprintf("%016x", rr.SiteID)
				}
				for _, l := range rr.Locators {
					reg.RLOCs = append(reg.RLOCs, RegisteredRLOC{Address: l.Addr, Priority: l.Priority, Weight: l.Weight, Reachable: l.Reachable})
				}
				st.Registrations = append(st.Registrations, reg)
			}
		}
		out.MapServer = append(out.MapServer, st)
	}
	return out
}

// RTROf builds "show rtr" from the RTR's bindings (nil and enabled false
// when the role is off).
func RTROf(now time.Time, enabled bool, bs []ctl.RTRBinding) RTR {
	out := RTR{Time: now, Enabled: enabled, Bindings: make([]RTRBinding, 0, len(bs))}
	for _, b := range bs {
		out.Bindings = append(out.Bindings, RTRBinding{
			EID: b.Prefix, InstanceID: b.InstanceID,
			XTRID: hex.EncodeToString(b.XTRID[:]), SiteID: fmt.Sprintf("%016x", b.SiteID),
			Public: b.Public, Private: b.Private, MapServer: b.MapServer,
			Verified: b.Verified, Rebinds: b.Rebinds,
			LastSeen: b.LastSeen, ExpiresIn: max(secs(b.Expires.Sub(now)), 0),
		})
	}
	return out
}

// StatsOf builds "show stats" from the data plane's counters (nil when the
// xTR role is off) and the control plane's (nil when no control role runs).
// Every drop reason and every message type appears, zero or not, in a fixed
// order, so that scripts find the counter they look for.
func StatsOf(dp *fwd.StatsSnapshot, cp *ctl.Stats) Stats {
	var out Stats
	if dp != nil {
		out.Groups = append(out.Groups, CounterGroup{Name: GroupDataPlane, Counters: []Counter{
			{Name: "encap-packets", Value: dp.EncapPackets}, {Name: "encap-bytes", Value: dp.EncapBytes},
			{Name: "decap-packets", Value: dp.DecapPackets}, {Name: "decap-bytes", Value: dp.DecapBytes},
			{Name: "misses", Value: dp.Misses}, {Name: "icmp-sent", Value: dp.ICMPSent}, {Name: "icmp-rate-limited", Value: dp.ICMPLimited},
			{Name: "queued", Value: dp.Queued}, {Name: "flushed", Value: dp.Flushed},
			{Name: "native-packets", Value: dp.NativePackets}, {Name: "native-bytes", Value: dp.NativeBytes},
			{Name: "link-scope-ignored", Value: dp.LinkScope},
			{Name: "tun-offload", Value: dp.Offload.Active()}, {Name: "tun-super-packets", Value: dp.Offload.SuperPackets},
			{Name: "tun-segments", Value: dp.Offload.Segments}, {Name: "udp-gso-datagrams", Value: dp.Offload.GSODatagrams},
			{Name: "udp-gso-messages", Value: dp.Offload.GSOMessages},
			{Name: "udp-gro-messages", Value: dp.Offload.GROMessages}, {Name: "udp-gro-datagrams", Value: dp.Offload.GRODatagrams},
			{Name: "tun-coalesced", Value: dp.Offload.Coalesced}, {Name: "tun-coalesced-packets", Value: dp.Offload.Joined},
		}})
		out.Groups = append(out.Groups, CounterGroup{Name: GroupDataDrops, Counters: ordered(dp.Drops, func(i int) string { return fwd.DropReason(i).String() })})
		out.TUNPath = &TUNPath{State: dp.Offload.Path, Reason: dp.Offload.Reason}
		k := dp.Kernel
		out.KernelPath = &KernelPath{State: k.State, Reason: k.Reason, DecapGRO: k.DecapGRO}
		if k.State == fwd.KernelOn {
			cs := []Counter{
				{Name: "mirrored-mappings", Value: k.Mirrored}, {Name: "punt-entries", Value: k.Punted},
				{Name: "uplinks", Value: k.Uplinks}, {Name: "local-rlocs", Value: k.Locals},
				{Name: "encap-packets", Value: k.EncapPackets}, {Name: "encap-bytes", Value: k.EncapBytes},
				{Name: "decap-packets", Value: k.DecapPackets}, {Name: "decap-bytes", Value: k.DecapBytes},
				{Name: "errors", Value: k.Errors},
			}
			for i := range k.EncapStats {
				n, v := fwd.KernelStatName(i), k.EncapStats[i]
				if strings.HasPrefix(n, "decap-") {
					v = k.DecapStats[i]
				}
				cs = append(cs, Counter{Name: n, Value: v})
			}
			out.Groups = append(out.Groups, CounterGroup{Name: GroupKernelPath, Counters: cs})
		}
	}
	if cp != nil {
		out.Groups = append(out.Groups, CounterGroup{Name: GroupControl, Counters: []Counter{
			{Name: "map-requests-sent", Value: cp.MapRequestsSent}, {Name: "mappings-installed", Value: cp.MappingsInstalled},
			{Name: "registrations-accepted", Value: cp.RegistrationsAccepted}, {Name: "negative-replies", Value: cp.NegativeReplies},
			{Name: "proxy-replies", Value: cp.ProxyReplies}, {Name: "forwarded-requests", Value: cp.ForwardedRequests},
			{Name: "rloc-probes-sent", Value: cp.ProbesSent}, {Name: "rloc-probe-replies", Value: cp.ProbeReplies},
			{Name: "smrs-sent", Value: cp.SMRsSent}, {Name: "smrs-received", Value: cp.SMRsReceived},
		}})
		if r := cp.RTR; r != nil {
			g := &out.Groups[len(out.Groups)-1]
			g.Counters = append(g.Counters, Counter{Name: "rtr-to-nat", Value: r.ToNAT}, Counter{Name: "rtr-from-nat", Value: r.FromNAT},
				Counter{Name: "rtr-unrouted", Value: r.Unrouted}, Counter{Name: "rtr-open-relay-dropped", Value: r.OpenRelay}, Counter{Name: "rtr-native", Value: r.Native})
		}
		typeName := func(i int) string {
			if i < 1 || i > 15 {
				return "unknown"
			}
			return msg.Type(i).String()
		}
		out.Groups = append(out.Groups,
			CounterGroup{Name: GroupControlIn, Counters: orderedFrom(1, cp.In, typeName)},
			CounterGroup{Name: GroupControlOut, Counters: orderedFrom(1, cp.Out, typeName)},
			CounterGroup{Name: GroupControlDrops, Counters: ordered(cp.Drops, func(i int) string { return ctl.DropReason(i).String() })})
	}
	return out
}

// ordered lists counts in the order of name(0), name(1), ... (until name
// says "unknown"), then any other names in counts, sorted.
func ordered(counts map[string]uint64, name func(int) string) []Counter {
	return orderedFrom(0, counts, name)
}

func orderedFrom(first int, counts map[string]uint64, name func(int) string) []Counter {
	out := []Counter{}
	seen := map[string]bool{}
	for i := first; i < 256; i++ {
		n := name(i)
		if n == "unknown" || strings.HasPrefix(n, "Type-") {
			if i > 15 || n == "unknown" {
				break
			}
			continue
		}
		seen[n] = true
		out = append(out, Counter{Name: n, Value: counts[n]})
	}
	var rest []Counter
	for n, v := range counts {
		if !seen[n] {
			rest = append(rest, Counter{Name: n, Value: v})
		}
	}
	sortx.Sort(len(rest), func(i, j int) bool { return rest[i].Name < rest[j].Name }, func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	return append(out, rest...)
}

// ConfigOf builds "show config": cfg with its keys redacted, as TOML.
func ConfigOf(cfg *conf.Config) (Config, error) {
	var b bytes.Buffer
	if err := conf.EncodeRedacted(&b, cfg); err != nil {
		return Config{}, err
	}
	return Config{Path: cfg.Path, Text: b.String()}, nil
}

// Spec checks a and turns it into the map-cache entry to insert; defaultIID
// is the xTR's instance_id.
func (a *MapCacheAddArgs) Spec(defaultIID uint32) (fwd.MappingSpec, error) {
	spec := fwd.MappingSpec{Prefix: a.EIDPrefix, InstanceID: defaultIID, Static: true}
	if a.InstanceID != nil {
		spec.InstanceID = *a.InstanceID
	}
	switch {
	case !a.EIDPrefix.IsValid():
		return spec, errors.New("eid_prefix missing or invalid")
	case a.EIDPrefix != a.EIDPrefix.Masked():
		return spec, fmt.Errorf("eid_prefix %v has host bits set (did you mean %v?)", a.EIDPrefix, a.EIDPrefix.Masked())
	case spec.InstanceID > conf.MaxInstanceID:
		return spec, fmt.Errorf("instance_id %d out of range 0..%d", spec.InstanceID, conf.MaxInstanceID)
	case len(a.RLOCs) == 0 && a.Action == "":
		return spec, fmt.Errorf("no RLOCs: a negative entry needs an action (%s)", strings.Join(conf.Actions, ", "))
	case len(a.RLOCs) > 0 && a.Action != "" && a.Action != "no-action":
		return spec, fmt.Errorf("action %q is for negative entries; this one has RLOCs", a.Action)
	}
	if a.Action != "" {
		i := slices.Index(conf.Actions, a.Action)
		if i < 0 {
			return spec, fmt.Errorf("%q is not an action; use one of %s", a.Action, strings.Join(conf.Actions, ", "))
		}
		spec.Action = actionByName(a.Action)
	}
	for i, l := range a.RLOCs {
		switch {
		case !l.Address.IsValid() || l.Address.IsUnspecified() || l.Address.IsMulticast():
			return spec, fmt.Errorf("rloc %d: %v is not a unicast address", i+1, l.Address)
		case l.Weight > 100:
			return spec, fmt.Errorf("rloc %v: weight %d out of range 0..100", l.Address, l.Weight)
		case a.EIDPrefix.Contains(l.Address.Unmap()):
			return spec, fmt.Errorf("rloc %v lies inside the EID prefix %v", l.Address, a.EIDPrefix)
		}
		spec.RLOCs = append(spec.RLOCs, fwd.RLOCSpec{Addr: l.Address.Unmap(), Priority: l.Priority, Weight: l.Weight})
	}
	return spec, nil
}

// checkStaticAdd checks a static entry about to be added at run time with
// the rules a [[xtr.map_cache]] entry of cfg meets in `lispd check`: not
// overlapping this site's own EID prefixes, no RLOC, Map-Server or
// Map-Resolver of the configuration inside it, and so on. It validates cfg
// with the entry appended: a running configuration passed validation at
// load, so every problem found comes from the entry.
func checkStaticAdd(cfg *conf.Config, spec fwd.MappingSpec) error {
	if cfg == nil || cfg.XTR == nil {
		return nil
	}
	iid := spec.InstanceID
	m := conf.StaticMapping{EIDPrefix: spec.Prefix, InstanceID: &iid}
	for _, r := range spec.RLOCs {
		m.RLOCs = append(m.RLOCs, conf.Locator{Address: r.Addr, Priority: int(r.Priority), Weight: int(r.Weight)})
	}
	if len(m.RLOCs) == 0 {
		m.Action = spec.Action.String()
	}
	with, x := *cfg, *cfg.XTR
	x.MapCache = append(slices.Clip(x.MapCache), m)
	with.XTR = &x
	newKey := "xtr.map_cache[" + strconv.Itoa(len(x.MapCache)-1) + "]"
	var msgs []string
	if errs, ok := with.Validate().(conf.Errors); ok {
		for _, p := range errs {
			e := strings.ReplaceAll(p.Error(), newKey+".eid_prefix", newKey)
			msgs = append(msgs, strings.ReplaceAll(e, newKey, "this entry"))
		}
	}
	if len(msgs) > 0 {
		return errors.New(strings.Join(msgs, "; "))
	}
	return nil
}

// actionByName maps a conf action name to the data plane's action.
func actionByName(name string) fwd.Action {
	for a := fwd.Action(0); a < 8; a++ {
		if a.String() == name {
			return a
		}
	}
	return fwd.ActionDrop
}

// Key checks a and returns the entry's instance-id and prefix; defaultIID
// is the xTR's instance_id.
func (a *MapCacheDelArgs) Key(defaultIID uint32) (uint32, netip.Prefix, error) {
	iid := defaultIID
	if a.InstanceID != nil {
		iid = *a.InstanceID
	}
	if !a.EIDPrefix.IsValid() {
		return 0, netip.Prefix{}, errors.New("eid_prefix missing or invalid")
	}
	return iid, a.EIDPrefix.Masked(), nil
}
