// Package conf defines lispd's configuration: the TOML schema, its defaults
// and its validation.
//
// The schema is a contract: later versions may add keys but never rename
// them. Unknown keys are errors, so a typo never silently does nothing.
//
// Load and Parse decode a file (github.com/BurntSushi/toml parses the
// syntax), fill in the defaults of absent keys (defaults.go) and validate the
// result (validate.go). Every problem is reported, each as
// "FILE:LINE:COL: key.path[i].name: message", the position found by a small
// structural index of the text (position.go), since the TOML library does not
// expose key positions. Example is the annotated reference configuration;
// Encode writes a Config back as TOML that Parse reads to an equal Config.
package conf

import (
	"net/netip"
	"strings"
	"time"

	"github.com/lispd/lispd/internal/nocmp"
)

// DefaultPath is where lispd looks for its configuration when no -c is given.
const DefaultPath = "/etc/lispd/lispd.toml"

// OpenWrtPath is where the OpenWrt init script renders the effective
// configuration from UCI.
const OpenWrtPath = "/var/etc/lispd.toml"

// Config is the whole configuration file. A Config from Load or Parse has
// every default filled in and is valid; treat it as immutable (a reload
// builds a new one).
type Config struct {
	_ nocmp.DoNotCompare

	LogLevel      string `toml:"log_level"`      // debug | info | warn | error
	ControlSocket string `toml:"control_socket"` // Unix socket of `lispd show`

	XTR       *XTR       `toml:"xtr"`        // tunnel-router role; nil = no tunnel
	MapServer *MapServer `toml:"map_server"` // built-in Map-Server/Map-Resolver role
	RTR       *RTR       `toml:"rtr"`        // Re-encapsulating Tunnel Router role

	// Path is the file the configuration was read from (not a TOML key).
	Path string `toml:"-"`
}

// XTR configures the ITR+ETR role.
type XTR struct {
	TUN         string         `toml:"tun"`          // TUN device name
	MTU         int            `toml:"mtu"`          // 0 = path MTU minus encapsulation
	InstanceID  uint32         `toml:"instance_id"`  // 0..0xFFFFFE
	EIDPrefixes []netip.Prefix `toml:"eid_prefixes"` // this site's EIDs
	EIDSpace    []netip.Prefix `toml:"eid_space"`    // destinations routed into the tunnel

	MapResolvers  []netip.Addr `toml:"map_resolvers"`
	ProxyETRs     []Locator    `toml:"proxy_etrs"`
	MapCacheLimit int          `toml:"map_cache_limit"`

	RLOCs      []LocalRLOC     `toml:"rloc"`
	MapServers []MapServerRef  `toml:"map_server"`
	MapCache   []StaticMapping `toml:"map_cache"`

	// Protocol timers and limits (RFC 9301 defaults).
	RegisterInterval  Duration `toml:"register_interval"`   // Map-Register period, 60s
	MapRequestTimeout Duration `toml:"map_request_timeout"` // first retry after, 1s (doubles)
	MapRequestRetries int      `toml:"map_request_retries"` // retries before giving up, 3
	MapRequestRate    int      `toml:"map_request_rate"`    // global Map-Requests per second, 100
	RecordTTL         Duration `toml:"record_ttl"`          // TTL registered/replied for our EIDs, 24h (1440 min)
	PendingPackets    int      `toml:"pending_packets"`     // packets buffered per destination on a miss, 8
	PendingTotal      int      `toml:"pending_total"`       // packets buffered across all misses, 1024
	ProbeInterval     Duration `toml:"probe_interval"`      // RLOC probe period for entries in use
	ProbeRetries      int      `toml:"probe_retries"`       // unanswered probes before a locator is down
	IdleTimeout       Duration `toml:"idle_timeout"`        // stop probing/renewing entries unused this long
	NATTraversal      string   `toml:"nat_traversal"`       // auto | always | off
	NATKeepalive      Duration `toml:"nat_keepalive"`       // keepalive to the RTR behind NAT, 20s
	TUNOffload        string   `toml:"tun_offload"`         // auto | off
	KernelPath        string   `toml:"kernel_path"`         // off | auto

	// Decapsulation source filter (security: who may send us packets).
	DecapFilter string         `toml:"decap_filter"` // known | off
	DecapAllow  []netip.Prefix `toml:"decap_allow"`  // outer sources always accepted
}

// Locator is a remote locator with its RFC 9301 priority and weight.
type Locator struct {
	Address  netip.Addr `toml:"address"`
	Priority int        `toml:"priority"` // 0..255; 255 = never used for unicast
	Weight   int        `toml:"weight"`   // 0..100
}

// LocalRLOC is one of this router's own locators, named by interface or by
// a fixed address (exactly one of the two).
type LocalRLOC struct {
	_ nocmp.DoNotCompare

	Interface string     `toml:"interface,omitempty"` // WAN device whose address is the locator
	Address   netip.Addr `toml:"address,omitempty"`   // a fixed locator address
	Priority  int        `toml:"priority"`            // 0..255, lower is preferred; 255 = never for unicast
	Weight    int        `toml:"weight"`              // 0..100, share among equal priorities
}

// MapServerRef is a Map-Server this xTR registers with.
type MapServerRef struct {
	_ nocmp.DoNotCompare

	Address       netip.Addr `toml:"address"`
	Key           string     `toml:"key"`
	KeyType       string     `toml:"key_type"`        // sha1 | sha256
	WantMapNotify *bool      `toml:"want_map_notify"` // default true; never nil after Parse
}

// StaticMapping is a map-cache entry typed in by the operator.
type StaticMapping struct {
	EIDPrefix  netip.Prefix `toml:"eid_prefix"`
	InstanceID *uint32      `toml:"instance_id"` // defaults to xtr.instance_id; never nil after Parse
	RLOCs      []Locator    `toml:"rlocs,omitempty"`
	Action     string       `toml:"action,omitempty"` // negative entries (no rlocs): one of Actions
}

// MapServer configures the built-in Map-Server + Map-Resolver role.
type MapServer struct {
	Enabled             bool         `toml:"enabled"`
	Listen              []netip.Addr `toml:"listen"`
	RegistrationTimeout Duration     `toml:"registration_timeout"` // 3m
	RTRs                []netip.Addr `toml:"rtrs"`
	Sites               []Site       `toml:"site"`
}

// Site is a LISP site the Map-Server accepts registrations from.
type Site struct {
	Name        string         `toml:"name"`
	Key         string         `toml:"key"`
	KeyType     string         `toml:"key_type"`
	InstanceID  uint32         `toml:"instance_id"`
	EIDPrefixes []netip.Prefix `toml:"eid_prefixes"`
	// MaxRegistrations bounds the site's live registrations, counted as
	// (EID-prefix, xTR-ID) pairs; 64.
	MaxRegistrations int `toml:"max_registrations"`
}

// RTR configures the Re-encapsulating Tunnel Router role (NAT traversal).
type RTR struct {
	Enabled bool         `toml:"enabled"`
	Listen  []netip.Addr `toml:"listen"`
	// MapServers are the addresses of the only Map-Servers the RTR relays
	// Map-Registers to and takes Map-Notifies from. No key: the relayed
	// messages are signed with the site's key, which the xTR and the
	// Map-Server check (draft-ermagan-lisp-nat-traversal); the Map-Server
	// trusts the RTR by its address in map_server.rtrs.
	MapServers []netip.Addr `toml:"map_servers"`
}

// Duration is a time.Duration written in TOML as a string such as "60s".
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string ("90s", "1m30s", "24h").
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration as a short Go duration string: "24h"
// rather than "24h0m0s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// String is the duration in its shortest Go form: "1m", "24h", "1h30m", "500ms".
func (d Duration) String() string {
	s := d.Duration.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
