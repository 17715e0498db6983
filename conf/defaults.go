package conf

import "time"

// Defaults. The protocol timers follow RFC 9301 where it gives one; the rest
// are chosen for small routers. Every one is a config key, so tests can
// shrink them.
const (
	DefaultLogLevel      = "info"                // log_level
	DefaultControlSocket = "/var/run/lispd.sock" // control_socket

	DefaultTUN               = "lisp0"          // xtr.tun
	DefaultMapCacheLimit     = 10000            // xtr.map_cache_limit
	DefaultRegisterInterval  = 60 * time.Second // RFC 9301: Map-Register every 60 s
	DefaultMapRequestTimeout = 1 * time.Second  // RFC 9301: retransmit after 1 s, doubling
	DefaultMapRequestRetries = 3                // RFC 9301: then give up
	DefaultMapRequestRate    = 100              // Map-Requests per second, all destinations together
	DefaultRecordTTL         = 24 * time.Hour   // RFC 9301 recommends 1440 minutes
	DefaultPendingPackets    = 8                // packets held per destination awaiting a Map-Reply
	DefaultPendingTotal      = 1024             // packets held across all pending destinations
	DefaultProbeInterval     = 1 * time.Second  // RLOC-probe period of each remote locator in use (~1 s failover)
	DefaultProbeRetries      = 2                // probes in a row unanswered (a quarter interval each) before a locator is down
	DefaultIdleTimeout       = 5 * time.Minute  // stop probing and renewing entries idle this long
	DefaultNATTraversal      = "auto"           // xtr.nat_traversal
	DefaultNATKeepalive      = 20 * time.Second // below common NAT UDP timeouts
	DefaultTUNOffload        = "auto"           // xtr.tun_offload
	DefaultKernelPath        = "off"            // xtr.kernel_path (experimental)
	DefaultDecapFilter       = "known"          // xtr.decap_filter

	DefaultPriority = 1   // locator priority when not given
	DefaultWeight   = 100 // locator weight when not given
	DefaultKeyType  = "sha256"

	DefaultRegistrationTimeout = 3 * time.Minute // RFC 9301: 3 x the register interval
	DefaultMaxRegistrations    = 64              // map_server.site.max_registrations
)

// Default returns a Config with every top-level default set and no role
// configured.
func Default() *Config {
	return &Config{LogLevel: DefaultLogLevel, ControlSocket: DefaultControlSocket}
}

// SetDefaults sets every field of x that has a default to that default. Call
// it on a new value before filling in the fields you mean to set.
func (x *XTR) SetDefaults() {
	x.TUN = DefaultTUN
	x.MapCacheLimit = DefaultMapCacheLimit
	x.RegisterInterval = Duration{DefaultRegisterInterval}
	x.MapRequestTimeout = Duration{DefaultMapRequestTimeout}
	x.MapRequestRetries = DefaultMapRequestRetries
	x.MapRequestRate = DefaultMapRequestRate
	x.RecordTTL = Duration{DefaultRecordTTL}
	x.PendingPackets = DefaultPendingPackets
	x.PendingTotal = DefaultPendingTotal
	x.ProbeInterval = Duration{DefaultProbeInterval}
	x.ProbeRetries = DefaultProbeRetries
	x.IdleTimeout = Duration{DefaultIdleTimeout}
	x.NATTraversal = DefaultNATTraversal
	x.NATKeepalive = Duration{DefaultNATKeepalive}
	x.TUNOffload = DefaultTUNOffload
	x.KernelPath = DefaultKernelPath
	x.DecapFilter = DefaultDecapFilter
}

// SetDefaults sets the locator's priority and weight to their defaults.
func (l *Locator) SetDefaults() { l.Priority, l.Weight = DefaultPriority, DefaultWeight }

// SetDefaults sets the locator's priority and weight to their defaults.
func (l *LocalRLOC) SetDefaults() { l.Priority, l.Weight = DefaultPriority, DefaultWeight }

// SetDefaults sets key_type to sha256 and want_map_notify to true.
func (m *MapServerRef) SetDefaults() {
	m.KeyType = DefaultKeyType
	t := true
	m.WantMapNotify = &t
}

// WantsMapNotify reports whether Map-Registers to this Map-Server ask for a
// Map-Notify (the M bit); true when WantMapNotify is unset.
func (m *MapServerRef) WantsMapNotify() bool { return m.WantMapNotify == nil || *m.WantMapNotify }

// SetDefaults sets registration_timeout to its default.
func (m *MapServer) SetDefaults() { m.RegistrationTimeout = Duration{DefaultRegistrationTimeout} }

// SetDefaults sets key_type to sha256 and max_registrations to 64.
func (s *Site) SetDefaults() { s.KeyType, s.MaxRegistrations = DefaultKeyType, DefaultMaxRegistrations }

// defaulter is a schema type whose absent keys take defaults.
type defaulter interface{ SetDefaults() }
