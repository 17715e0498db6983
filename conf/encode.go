package conf

import (
	_ "embed"
	"encoding"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
)

// Example is conf/lispd.example.toml: an annotated configuration documenting
// every key with its default. It parses and validates.
//
//go:embed lispd.example.toml
var Example []byte

// RedactedKey is the placeholder that replaces keys in Config.Redacted.
const RedactedKey = "<redacted>"

// Encode writes cfg as TOML that Parse reads back to an equal Config.
// Keys are written in schema order; the output carries no comments.
//
// The layout is the one github.com/BurntSushi/toml's Encoder writes with no
// indent (the tests compare the two byte for byte): in each table the keys
// whose values are not tables first, in field order, then the arrays of
// tables; nil pointers and nil slices are left out, a non-nil empty slice is
// "key = []". Written out here rather than by that Encoder, which is ~40 KB
// of the MIPS binary for this one use (reading stays with BurntSushi/toml).
func Encode(w io.Writer, cfg *Config) error {
	return encode(w, cfg, false)
}

// EncodeRedacted is Encode(w, cfg.Redacted()) without the copy: every
// authentication key that is set is written as RedactedKey. For `lispd
// show config` and logs.
func EncodeRedacted(w io.Writer, cfg *Config) error {
	return encode(w, cfg, true)
}

func encode(w io.Writer, cfg *Config, redact bool) error {
	e := &tomlWriter{b: make([]byte, 0, 1024), redact: redact}
	e.b = append(e.b, "# lispd configuration (generated)\n"...)
	e.str("log_level", cfg.LogLevel)
	e.str("control_socket", cfg.ControlSocket)
	if x := cfg.XTR; x != nil {
		e.table("xtr")
		e.xtr(x)
	}
	if m := cfg.MapServer; m != nil {
		e.table("map_server")
		e.boolean("enabled", m.Enabled)
		e.addrs("listen", m.Listen)
		e.text("registration_timeout", m.RegistrationTimeout)
		e.addrs("rtrs", m.RTRs)
		e.emptyTables("site", len(m.Sites), m.Sites == nil)
		for _, s := range m.Sites {
			e.arrayTable("map_server.site")
			e.str("name", s.Name)
			e.str("key", e.secret(s.Key))
			e.str("key_type", s.KeyType)
			e.uint("instance_id", uint64(s.InstanceID))
			e.prefixes("eid_prefixes", s.EIDPrefixes)
			e.int("max_registrations", int64(s.MaxRegistrations))
		}
	}
	if r := cfg.RTR; r != nil {
		e.table("rtr")
		e.boolean("enabled", r.Enabled)
		e.addrs("listen", r.Listen)
		e.addrs("map_servers", r.MapServers)
	}
	if _, err := w.Write(e.b); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

func (e *tomlWriter) xtr(x *XTR) {
	e.str("tun", x.TUN)
	e.int("mtu", int64(x.MTU))
	e.uint("instance_id", uint64(x.InstanceID))
	e.prefixes("eid_prefixes", x.EIDPrefixes)
	e.prefixes("eid_space", x.EIDSpace)
	e.addrs("map_resolvers", x.MapResolvers)
	e.emptyTables("proxy_etrs", len(x.ProxyETRs), x.ProxyETRs == nil)
	e.int("map_cache_limit", int64(x.MapCacheLimit))
	e.emptyTables("rloc", len(x.RLOCs), x.RLOCs == nil)
	e.emptyTables("map_server", len(x.MapServers), x.MapServers == nil)
	e.emptyTables("map_cache", len(x.MapCache), x.MapCache == nil)
	e.text("register_interval", x.RegisterInterval)
	e.text("map_request_timeout", x.MapRequestTimeout)
	e.int("map_request_retries", int64(x.MapRequestRetries))
	e.int("map_request_rate", int64(x.MapRequestRate))
	e.text("record_ttl", x.RecordTTL)
	e.int("pending_packets", int64(x.PendingPackets))
	e.int("pending_total", int64(x.PendingTotal))
	e.text("probe_interval", x.ProbeInterval)
	e.int("probe_retries", int64(x.ProbeRetries))
	e.text("idle_timeout", x.IdleTimeout)
	e.str("nat_traversal", x.NATTraversal)
	e.text("nat_keepalive", x.NATKeepalive)
	e.str("tun_offload", x.TUNOffload)
	e.str("kernel_path", x.KernelPath)
	e.str("decap_filter", x.DecapFilter)
	e.prefixes("decap_allow", x.DecapAllow)
	for _, l := range x.ProxyETRs {
		e.arrayTable("xtr.proxy_etrs")
		e.locator(l)
	}
	for _, r := range x.RLOCs {
		e.arrayTable("xtr.rloc")
		if r.Interface != "" {
			e.str("interface", r.Interface)
		}
		if r.Address != (netip.Addr{}) {
			e.text("address", r.Address)
		}
		e.int("priority", int64(r.Priority))
		e.int("weight", int64(r.Weight))
	}
	for _, m := range x.MapServers {
		e.arrayTable("xtr.map_server")
		e.text("address", m.Address)
		e.str("key", e.secret(m.Key))
		e.str("key_type", m.KeyType)
		if m.WantMapNotify != nil {
			e.boolean("want_map_notify", *m.WantMapNotify)
		}
	}
	for _, m := range x.MapCache {
		e.arrayTable("xtr.map_cache")
		e.text("eid_prefix", m.EIDPrefix)
		if m.InstanceID != nil {
			e.uint("instance_id", uint64(*m.InstanceID))
		}
		if m.Action != "" {
			e.str("action", m.Action)
		}
		for _, l := range m.RLOCs {
			e.arrayTable("xtr.map_cache.rlocs")
			e.locator(l)
		}
	}
}

func (e *tomlWriter) locator(l Locator) {
	e.text("address", l.Address)
	e.int("priority", int64(l.Priority))
	e.int("weight", int64(l.Weight))
}

// tomlWriter appends TOML key/value lines and table headers to b.
type tomlWriter struct {
	b      []byte
	redact bool // write keys as RedactedKey
}

// secret is key, or RedactedKey when redacting a key that is set.
func (e *tomlWriter) secret(key string) string {
	if e.redact && key != "" {
		return RedactedKey
	}
	return key
}

// key starts the line "name = ".
func (e *tomlWriter) key(name string) {
	e.b = append(e.b, name...)
	e.b = append(e.b, " = "...)
}

// table starts the table [name] after a blank line.
func (e *tomlWriter) table(name string) {
	e.b = append(e.b, '\n', '[')
	e.b = append(e.b, name...)
	e.b = append(e.b, "]\n"...)
}

// arrayTable starts an element [[name]] of an array of tables after a
// blank line.
func (e *tomlWriter) arrayTable(name string) {
	e.b = append(e.b, "\n[["...)
	e.b = append(e.b, name...)
	e.b = append(e.b, "]]\n"...)
}

// emptyTables writes "name = []" for a non-nil empty array of tables, which
// is not a table array but a plain value (written among the plain keys); a
// nil or non-empty one is written elsewhere or not at all.
func (e *tomlWriter) emptyTables(name string, n int, isNil bool) {
	if n == 0 && !isNil {
		e.key(name)
		e.b = append(e.b, "[]\n"...)
	}
}

func (e *tomlWriter) str(name, v string) {
	e.key(name)
	e.quote(v)
	e.b = append(e.b, '\n')
}

func (e *tomlWriter) int(name string, v int64) {
	e.key(name)
	e.b = strconv.AppendInt(e.b, v, 10)
	e.b = append(e.b, '\n')
}

func (e *tomlWriter) uint(name string, v uint64) {
	e.key(name)
	e.b = strconv.AppendUint(e.b, v, 10)
	e.b = append(e.b, '\n')
}

func (e *tomlWriter) boolean(name string, v bool) {
	e.key(name)
	e.b = strconv.AppendBool(e.b, v)
	e.b = append(e.b, '\n')
}

// text writes v's MarshalText as a string; none of the schema's text types
// fails to marshal.
func (e *tomlWriter) text(name string, v encoding.TextMarshaler) {
	e.key(name)
	e.marshaled(v)
	e.b = append(e.b, '\n')
}

func (e *tomlWriter) marshaled(v encoding.TextMarshaler) {
	t, _ := v.MarshalText()
	e.quote(string(t))
}

func (e *tomlWriter) addrs(name string, v []netip.Addr) {
	if v == nil {
		return
	}
	e.key(name)
	e.b = append(e.b, '[')
	for i, a := range v {
		if i > 0 {
			e.b = append(e.b, ", "...)
		}
		e.marshaled(a)
	}
	e.b = append(e.b, "]\n"...)
}

func (e *tomlWriter) prefixes(name string, v []netip.Prefix) {
	if v == nil {
		return
	}
	e.key(name)
	e.b = append(e.b, '[')
	for i, p := range v {
		if i > 0 {
			e.b = append(e.b, ", "...)
		}
		e.marshaled(p)
	}
	e.b = append(e.b, "]\n"...)
}

// quote appends s as a TOML basic string: quote and backslash escaped,
// \b \t \n \f \r for those controls, \uXXXX for the other C0 controls
// and DEL, every other byte as it is.
func (e *tomlWriter) quote(s string) {
	const hex = "0123456789abcdef"
	e.b = append(e.b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			e.b = append(e.b, '\\', c)
		case c == '\b':
			e.b = append(e.b, '\\', 'b')
		case c == '\t':
			e.b = append(e.b, '\\', 't')
		case c == '\n':
			e.b = append(e.b, '\\', 'n')
		case c == '\f':
			e.b = append(e.b, '\\', 'f')
		case c == '\r':
			e.b = append(e.b, '\\', 'r')
		case c < 0x20 || c == 0x7f:
			e.b = append(e.b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			e.b = append(e.b, c)
		}
	}
	e.b = append(e.b, '"')
}

// DeepCopy returns a deep copy of c. (Not named Clone: bart looks for a
// Clone method through a generic interface, which keeps every method of
// that name in the binary, used or not.)
func (c *Config) DeepCopy() *Config {
	n := *c
	if c.XTR != nil {
		x := *c.XTR
		x.EIDPrefixes = slices.Clone(x.EIDPrefixes)
		x.EIDSpace = slices.Clone(x.EIDSpace)
		x.MapResolvers = slices.Clone(x.MapResolvers)
		x.ProxyETRs = slices.Clone(x.ProxyETRs)
		x.RLOCs = slices.Clone(x.RLOCs)
		x.MapServers = cloneRefs(x.MapServers)
		x.MapCache = slices.Clone(x.MapCache)
		for i := range x.MapCache {
			m := &x.MapCache[i]
			m.RLOCs = slices.Clone(m.RLOCs)
			if m.InstanceID != nil {
				id := *m.InstanceID
				m.InstanceID = &id
			}
		}
		n.XTR = &x
	}
	if c.MapServer != nil {
		m := *c.MapServer
		m.Listen = slices.Clone(m.Listen)
		m.RTRs = slices.Clone(m.RTRs)
		m.Sites = slices.Clone(m.Sites)
		for i := range m.Sites {
			m.Sites[i].EIDPrefixes = slices.Clone(m.Sites[i].EIDPrefixes)
		}
		n.MapServer = &m
	}
	if c.RTR != nil {
		r := *c.RTR
		r.Listen = slices.Clone(r.Listen)
		r.MapServers = slices.Clone(r.MapServers)
		n.RTR = &r
	}
	return &n
}

func cloneRefs(refs []MapServerRef) []MapServerRef {
	refs = slices.Clone(refs)
	for i := range refs {
		if refs[i].WantMapNotify != nil {
			b := *refs[i].WantMapNotify
			refs[i].WantMapNotify = &b
		}
	}
	return refs
}

// Redacted returns a deep copy of c with every authentication key replaced
// by "<redacted>", for `lispd show config` and logs.
func (c *Config) Redacted() *Config {
	n := c.DeepCopy()
	if n.XTR != nil {
		redactRefs(n.XTR.MapServers)
	}
	if n.MapServer != nil {
		for i := range n.MapServer.Sites {
			if n.MapServer.Sites[i].Key != "" {
				n.MapServer.Sites[i].Key = RedactedKey
			}
		}
	}
	return n
}

func redactRefs(refs []MapServerRef) {
	for i := range refs {
		if refs[i].Key != "" {
			refs[i].Key = RedactedKey
		}
	}
}
