package conf

import (
	"fmt"
	"io"
	"strings"

	"github.com/lispd/lispd/internal/aligned"
)

// Summary writes a one-screen description of the configuration: roles, TUN,
// EIDs, locators, Map-Servers, resolvers, static mappings and sites. Keys are
// never printed.
func (c *Config) Summary(w io.Writer) error {
	tw := aligned.NewWriter(w, 2)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }
	p("config\t%s", or(c.Path, "(in memory)"))
	p("roles\t%s", strings.Join(c.Roles(), ", "))
	p("log level\t%s", c.LogLevel)
	p("control socket\t%s", c.ControlSocket)
	if x := c.XTR; x != nil {
		mtu := "auto"
		if x.MTU != 0 {
			mtu = fmt.Sprint(x.MTU)
		}
		p("xtr")
		p("  tun\t%s, mtu %s, instance-id %d, offload %s, kernel path %s, NAT traversal %s", x.TUN, mtu, x.InstanceID, x.TUNOffload, x.KernelPath, x.NATTraversal)
		p("  EID prefixes\t%s", list(x.EIDPrefixes))
		p("  EID space\t%s", list(x.EIDSpace))
		rl := make([]string, len(x.RLOCs))
		for i, r := range x.RLOCs {
			name := r.Interface
			if name == "" {
				name = r.Address.String()
			}
			rl[i] = fmt.Sprintf("%s %d/%d", name, r.Priority, r.Weight)
		}
		p("  RLOCs (prio/weight)\t%s", or(strings.Join(rl, ", "), "none"))
		p("  map-servers\t%s", refs(x.MapServers))
		p("  map-resolvers\t%s", list(x.MapResolvers))
		p("  proxy ETRs\t%s", locators(x.ProxyETRs))
		p("  static mappings\t%d (limit %d entries)", len(x.MapCache), x.MapCacheLimit)
		for i, m := range x.MapCache {
			if i == 8 {
				p("  \t... %d more", len(x.MapCache)-i)
				break
			}
			to := m.Action
			if len(m.RLOCs) > 0 {
				to = locators(m.RLOCs)
			}
			iid := x.InstanceID
			if m.InstanceID != nil {
				iid = *m.InstanceID
			}
			p("  \t%s [%d] -> %s", m.EIDPrefix, iid, to)
		}
		p("  timers\tregister %s, request %s x%d (%d/s), TTL %s, probe %s x%d, idle %s, NAT keepalive %s",
			x.RegisterInterval, x.MapRequestTimeout, x.MapRequestRetries, x.MapRequestRate, x.RecordTTL,
			x.ProbeInterval, x.ProbeRetries, x.IdleTimeout, x.NATKeepalive)
		p("  pending\t%d per destination, %d total", x.PendingPackets, x.PendingTotal)
	}
	if m := c.MapServer; m != nil {
		p("map_server\t%s, listen %s, registration timeout %s", enabled(m.Enabled), list(m.Listen), m.RegistrationTimeout)
		if len(m.RTRs) > 0 {
			p("  RTRs\t%s", list(m.RTRs))
		}
		for i, s := range m.Sites {
			if i == 8 {
				p("  \t... %d more sites", len(m.Sites)-i)
				break
			}
			p("  site %s\t[%d] %s (%s)", s.Name, s.InstanceID, list(s.EIDPrefixes), s.KeyType)
		}
	}
	if r := c.RTR; r != nil {
		p("rtr\t%s, listen %s", enabled(r.Enabled), list(r.Listen))
		p("  map-servers\t%s", list(r.MapServers))
	}
	return tw.Flush()
}

// Roles names the roles this configuration runs: "xTR", "Map-Server",
// "RTR"; "none" when it runs none.
func (c *Config) Roles() []string {
	var r []string
	if c.XTR != nil {
		r = append(r, "xTR")
	}
	if c.MapServer != nil && c.MapServer.Enabled {
		r = append(r, "Map-Server")
	}
	if c.RTR != nil && c.RTR.Enabled {
		r = append(r, "RTR")
	}
	if len(r) == 0 {
		r = append(r, "none")
	}
	return r
}

func list[T fmt.Stringer](xs []T) string {
	if len(xs) == 0 {
		return "none"
	}
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = x.String()
	}
	return strings.Join(s, ", ")
}

func locators(ls []Locator) string {
	if len(ls) == 0 {
		return "none"
	}
	s := make([]string, len(ls))
	for i, l := range ls {
		s[i] = fmt.Sprintf("%s %d/%d", l.Address, l.Priority, l.Weight)
	}
	return strings.Join(s, ", ")
}

func refs(rs []MapServerRef) string {
	if len(rs) == 0 {
		return "none"
	}
	s := make([]string, len(rs))
	for i, r := range rs {
		notify := ""
		if r.WantsMapNotify() {
			notify = ", map-notify"
		}
		s[i] = fmt.Sprintf("%s (%s%s)", r.Address, r.KeyType, notify)
	}
	return strings.Join(s, ", ")
}

func enabled(b bool) string {
	if b {
		return "enabled"
	}
	return "disabled"
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
