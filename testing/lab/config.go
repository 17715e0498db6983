package lab

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// Demo Map-Server keys (test-only secrets).
const (
	Site1Key = "site1-secret"
	Site2Key = "site2-secret"
)

// XTRConfig describes one xTR's configuration.
type XTRConfig struct {
	// Side is 1 (xTR1, site 1) or 2 (xTR2, site 2).
	Side int
	// RLOC6 uses the IPv6 RLOCs instead of the IPv4 ones.
	RLOC6 bool
	// Static adds a static [[xtr.map_cache]] entry for the other site.
	Static bool
	// MapServer registers with and resolves through the lab's Map-Server
	// (CoreBridge only).
	MapServer bool
	// TUN names the TUN device ("lisp0" when empty).
	TUN string
	// MTU is xtr.mtu (0 = derived).
	MTU int
	// LogLevel is log_level ("debug" when empty).
	LogLevel string
	// Extra is TOML appended inside the [xtr] table (before its
	// sub-tables), e.g. "register_interval = \"5s\"".
	Extra string
	// EIDSpace replaces the lab's EIDSpace as xtr.eid_space when not nil.
	EIDSpace []netip.Prefix
	// ProxyETRs are written as xtr.proxy_etrs (priority 1, weight 100).
	ProxyETRs []netip.Addr
	// MapServerKey replaces the site's key in [[xtr.map_server]] (e.g. a
	// wrong key, to test that the Map-Server refuses the registration).
	MapServerKey string
	// TUNOffload is xtr.tun_offload ("auto" | "off"); empty = from
	// $LISPD_TUN_OFFLOAD (offload.go), else the daemon's default.
	TUNOffload string
	// KernelPath is xtr.kernel_path ("off" | "auto"); empty keeps the
	// daemon's default. "auto" also writes decap_filter = "off": the
	// eBPF decapsulator does not filter sources, and lispd refuses the
	// two together. Every other configuration keeps the default "known".
	KernelPath string
	// NATTraversal is xtr.nat_traversal; empty writes "off": the labs
	// without a NAT keep NAT discovery (Info-Requests, some from port 4341)
	// off the wire, so their captures and registration timing stay what
	// they test. The NAT lab sets "auto".
	NATTraversal string
}

// TUNName returns the TUN device name of c.
func (c XTRConfig) TUNName() string {
	if c.TUN == "" {
		return "lisp0"
	}
	return c.TUN
}

// Socket returns the control socket path the lab uses for the named daemon.
func (l *Lab) Socket(name string) string { return filepath.Join(l.Dir, name+".sock") }

func quoted(ps []netip.Prefix) string {
	q := make([]string, len(ps))
	for i, p := range ps {
		q[i] = fmt.Sprintf("%q", p.String())
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// XTRTOML returns the lispd configuration text for one xTR of the lab.
func (l *Lab) XTRTOML(c XTRConfig) string {
	own4, own6 := Site1v4, Site1v6
	peer4, peer6 := Site2v4, Site2v6
	name, wan := "xtr1", l.XTR1WAN
	peerRLOC := l.RLOC2v4
	if c.RLOC6 {
		peerRLOC = l.RLOC2v6
	}
	if c.Side == 2 {
		own4, own6, peer4, peer6 = peer4, peer6, own4, own6
		name, wan = "xtr2", l.XTR2WAN
		peerRLOC = l.RLOC1v4
		if c.RLOC6 {
			peerRLOC = l.RLOC1v6
		}
	}
	local := wan.Addr4()
	if c.RLOC6 {
		local = wan.Addr6()
	}
	level := c.LogLevel
	if level == "" {
		level = "debug"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# lispd configuration written by testing/lab for %s\n", name)
	fmt.Fprintf(&b, "log_level = %q\ncontrol_socket = %q\n\n", level, l.Socket(name))
	fmt.Fprintf(&b, "[xtr]\ntun = %q\nmtu = %d\ninstance_id = 0\n", c.TUNName(), c.MTU)
	if m := c.TUNOffloadMode(); m != "" {
		fmt.Fprintf(&b, "tun_offload = %q\n", m)
	}
	if c.KernelPath != "" {
		fmt.Fprintf(&b, "kernel_path = %q\n", c.KernelPath)
		if c.KernelPath == "auto" {
			b.WriteString("decap_filter = \"off\"\n")
		}
	}
	nat := c.NATTraversal
	if nat == "" {
		nat = "off"
	}
	fmt.Fprintf(&b, "nat_traversal = %q\n", nat)
	fmt.Fprintf(&b, "eid_prefixes = %s\n", quoted([]netip.Prefix{own4, own6}))
	space := EIDSpace
	if c.EIDSpace != nil {
		space = c.EIDSpace
	}
	fmt.Fprintf(&b, "eid_space = %s\n", quoted(space))
	if len(c.ProxyETRs) > 0 {
		petrs := make([]string, len(c.ProxyETRs))
		for i, a := range c.ProxyETRs {
			petrs[i] = fmt.Sprintf("{ address = %q, priority = 1, weight = 100 }", a.String())
		}
		fmt.Fprintf(&b, "proxy_etrs = [%s]\n", strings.Join(petrs, ", "))
	}
	if c.MapServer {
		fmt.Fprintf(&b, "map_resolvers = [%q]\n", l.MSv4.String())
	}
	if c.Extra != "" {
		b.WriteString(strings.TrimSpace(c.Extra) + "\n")
	}
	fmt.Fprintf(&b, "\n[[xtr.rloc]]\naddress = %q\npriority = 1\nweight = 100\n", local)
	if c.MapServer {
		key := Site1Key
		if c.Side == 2 {
			key = Site2Key
		}
		if c.MapServerKey != "" {
			key = c.MapServerKey
		}
		fmt.Fprintf(&b, "\n[[xtr.map_server]]\naddress = %q\nkey = %q\nkey_type = \"sha256\"\nwant_map_notify = true\n",
			l.MSv4.String(), key)
	}
	if c.Static {
		for _, p := range []netip.Prefix{peer4, peer6} {
			fmt.Fprintf(&b, "\n[[xtr.map_cache]]\neid_prefix = %q\nrlocs = [{ address = %q, priority = 1, weight = 100 }]\n",
				p.String(), peerRLOC.String())
		}
	}
	return b.String()
}

// MapServerTOML returns the configuration of the lab's Map-Server/
// Map-Resolver with the two sites.
func (l *Lab) MapServerTOML() string { return l.MapServerTOMLWith(MapServerConfig{}) }

// MapServerConfig shapes the lab's Map-Server configuration.
type MapServerConfig struct {
	// RegistrationTimeout is map_server.registration_timeout (e.g. "6s");
	// empty keeps the default.
	RegistrationTimeout string
	// Extra is TOML appended inside the [map_server] table (before its
	// sites).
	Extra string
}

// MapServerTOMLWith returns the configuration of the lab's Map-Server/
// Map-Resolver with the two sites, shaped by c.
func (l *Lab) MapServerTOMLWith(c MapServerConfig) string {
	var b strings.Builder
	b.WriteString("# lispd Map-Server/Map-Resolver written by testing/lab\n")
	fmt.Fprintf(&b, "log_level = \"debug\"\ncontrol_socket = %q\n\n", l.Socket("ms"))
	fmt.Fprintf(&b, "[map_server]\nenabled = true\nlisten = [%q, %q]\n", l.MSv4.String(), l.MSv6.String())
	if c.RegistrationTimeout != "" {
		fmt.Fprintf(&b, "registration_timeout = %q\n", c.RegistrationTimeout)
	}
	if c.Extra != "" {
		b.WriteString(strings.TrimSpace(c.Extra) + "\n")
	}
	for _, s := range []struct {
		name, key string
		ps        []netip.Prefix
	}{{"site1", Site1Key, []netip.Prefix{Site1v4, Site1v6}}, {"site2", Site2Key, []netip.Prefix{Site2v4, Site2v6}}} {
		fmt.Fprintf(&b, "\n[[map_server.site]]\nname = %q\nkey = %q\nkey_type = \"sha256\"\ninstance_id = 0\neid_prefixes = %s\n",
			s.name, s.key, quoted(s.ps))
	}
	return b.String()
}

// WriteConfig writes text to <Dir>/<name>.toml and returns the path.
func (l *Lab) WriteConfig(name, text string) (string, error) {
	p := filepath.Join(l.Dir, name+".toml")
	return p, os.WriteFile(p, []byte(text), 0o600)
}
