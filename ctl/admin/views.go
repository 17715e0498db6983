package admin

import (
	"net/netip"
	"time"

	"github.com/lispd/lispd/internal/nocmp"
)

// MapCacheQuery is the args of "show map-cache".
type MapCacheQuery struct {
	_ nocmp.DoNotCompare

	// EID, when set, selects one entry: for an address, the one covering it
	// (longest match); for a prefix, the entry of exactly that prefix, else
	// the longest one covering it. Empty selects every entry.
	EID string `json:"eid,omitempty"`
	// InstanceID restricts the answer to one instance-id; absent means every
	// instance-id, or, with EID, the xTR's instance_id.
	InstanceID *uint32 `json:"instance_id,omitempty"`
}

// MapCache is the data of "show map-cache".
type MapCache struct {
	Limit   int             `json:"limit"`   // map_cache_limit: most entries held
	Total   int             `json:"total"`   // entries in the cache (all of them, whatever the query)
	Entries []MapCacheEntry `json:"entries"` // the selected entries, by instance-id then prefix
	// InstanceID is the instance-id an EID query looked in; absent without
	// an EID.
	InstanceID *uint32 `json:"instance_id,omitempty"`
	// Off says the xTR role is not configured: there is no map-cache.
	Off bool `json:"off,omitempty"`
}

// Map-cache entry states (MapCacheEntry.State).
const (
	StateComplete = "complete" // has RLOCs; packets are encapsulated to them
	StateNegative = "negative" // no RLOCs; Action says what happens to packets
	StatePending  = "pending"  // a Map-Request is in flight
)

// Map-cache entry origins (MapCacheEntry.Origin).
const (
	OriginStatic  = "static"  // from [[xtr.map_cache]] or `lispd map-cache add`; never expires
	OriginLearned = "learned" // from a Map-Reply; expires with its TTL
)

// MapCacheEntry is one map-cache entry.
type MapCacheEntry struct {
	EIDPrefix  netip.Prefix `json:"eid_prefix"`  // the EID prefix, e.g. "198.51.100.0/25"
	InstanceID uint32       `json:"instance_id"` // 24-bit instance-id (0 = default)
	State      string       `json:"state"`       // complete | negative | pending
	// Action is what a negative entry does with packets: no-action,
	// native-forward, send-map-request, drop, drop-policy-denied or
	// drop-auth-failure. Empty for other states.
	Action string `json:"action,omitempty"`
	Origin string `json:"origin"` // static | learned
	// TTL is the record TTL as received, in seconds (0 for static entries).
	TTL int64 `json:"ttl_s"`
	// Age is the seconds since the entry was installed or last refreshed;
	// absent when unknown.
	Age *int64 `json:"age_s,omitempty"`
	// ExpiresIn is the seconds until the entry expires; absent = never.
	ExpiresIn *int64 `json:"expires_in_s,omitempty"`
	// Idle is the seconds since a packet last used the entry (or since it was
	// installed); absent when unknown.
	Idle    *int64         `json:"idle_s,omitempty"`
	Packets uint64         `json:"packets"` // inner packets that used the entry
	Bytes   uint64         `json:"bytes"`   // their bytes
	RLOCs   []MapCacheRLOC `json:"rlocs"`   // locators; empty for negative and pending entries
}

// MapCacheRLOC is one locator of a map-cache entry.
type MapCacheRLOC struct {
	_ nocmp.DoNotCompare

	Address  netip.Addr `json:"address"`          // the RLOC
	Port     uint16     `json:"port,omitempty"`   // UDP port when not 4341 (NAT traversal)
	Priority uint8      `json:"priority"`         // lower is preferred; 255 = never used for unicast
	Weight   uint8      `json:"weight"`           // share among RLOCs of equal priority, 0..100
	Up       bool       `json:"up"`               // reachable: traffic may use it
	Reason   string     `json:"reason,omitempty"` // why it is down or up ("R bit clear", "probe timeout", "probe reply")
	// RTT is the last RLOC-probe round trip in milliseconds; absent when not
	// probed.
	RTT     *float64 `json:"rtt_ms,omitempty"`
	Packets uint64   `json:"packets"` // packets encapsulated to this RLOC
	Bytes   uint64   `json:"bytes"`   // their inner bytes
}

// Registrations is the data of "show registrations": the xTR's state with
// each Map-Server and, on a Map-Server, each site's registrations.
type Registrations struct {
	// Time is the daemon's clock when the snapshot was taken; the tables
	// print times as ages relative to it.
	Time time.Time `json:"time"`
	// XTR lists the Map-Servers this xTR registers with; null when the xTR
	// role is not configured.
	XTR []MapServerState `json:"xtr"`
	// MapServer lists the configured sites; null when the Map-Server role
	// is not enabled.
	MapServer []SiteState `json:"map_server"`
}

// MapServerState is the xTR's registration state with one Map-Server.
type MapServerState struct {
	_ nocmp.DoNotCompare

	MapServer     netip.Addr `json:"map_server"`      // its address
	KeyType       string     `json:"key_type"`        // sha1 | sha256
	WantMapNotify bool       `json:"want_map_notify"` // Map-Registers carry the M bit
	// State is registering (sent, no Map-Notify yet), registered (the last
	// Map-Notify confirmed it), sent (no confirmation asked) or failed.
	State        string    `json:"state"`
	Reason       string    `json:"reason,omitempty"`       // why failed (e.g. "no Map-Notify for 3 Map-Registers")
	Registers    uint64    `json:"registers"`              // Map-Registers sent
	Notifies     uint64    `json:"notifies"`               // valid Map-Notifies received
	Unsolicited  uint64    `json:"unsolicited_notifies"`   // unsolicited Map-Notifies acknowledged, not in Notifies (RFC 9301 section 5.7)
	LastRegister time.Time `json:"last_register,omitzero"` // last Map-Register sent; absent = never
	LastNotify   time.Time `json:"last_notify,omitzero"`   // last valid Map-Notify; absent = never
}

// SiteState is one site configured on the Map-Server.
type SiteState struct {
	Site          string         `json:"site"`          // its name
	InstanceID    uint32         `json:"instance_id"`   // instance-id its prefixes live in
	KeyType       string         `json:"key_type"`      // sha1 | sha256
	Prefixes      []netip.Prefix `json:"prefixes"`      // EID prefixes it may register
	Registrations []Registration `json:"registrations"` // live registrations, by prefix
}

// Registration is one xTR's live registration of an EID prefix.
type Registration struct {
	EID        netip.Prefix     `json:"eid"`              // registered EID prefix
	InstanceID uint32           `json:"instance_id"`      // its instance-id
	Source     netip.AddrPort   `json:"source"`           // where the Map-Register came from
	RLOCs      []RegisteredRLOC `json:"rlocs"`            // the registered locators
	XTRID      string           `json:"xtr_id,omitempty"` // 128-bit xTR-ID in hex; absent without the I bit
	// SiteID is the 64-bit site-ID in hex (a string: JSON numbers lose
	// 64-bit precision); absent without the I bit.
	SiteID     string    `json:"site_id,omitempty"`
	ProxyReply bool      `json:"proxy_reply"`         // P bit: the Map-Server answers for the ETR
	TTL        int64     `json:"ttl_s"`               // record TTL in seconds
	FirstSeen  time.Time `json:"first_seen,omitzero"` // first Map-Register of this registration
	LastSeen   time.Time `json:"last_seen"`           // last Map-Register
	ExpiresIn  int64     `json:"expires_in_s"`        // seconds until it expires unless refreshed
}

// RegisteredRLOC is a locator of a registration.
type RegisteredRLOC struct {
	_ nocmp.DoNotCompare

	Address   netip.Addr `json:"address"`
	Priority  uint8      `json:"priority"`
	Weight    uint8      `json:"weight"`
	Reachable bool       `json:"reachable"` // R bit
}

// RTR is the data of "show rtr": the NAT bindings of the xTRs that
// register through this Re-encapsulating Tunnel Router.
type RTR struct {
	// Time is the daemon's clock when the snapshot was taken; the table
	// prints times as ages relative to it.
	Time time.Time `json:"time"`
	// Enabled says the RTR role runs; without it Bindings is empty.
	Enabled  bool         `json:"enabled"`
	Bindings []RTRBinding `json:"bindings"` // by instance-id, EID prefix, xTR-ID
}

// RTRBinding is one xTR's registration of an EID prefix through the RTR:
// where its NAT shows it, and whether the Map-Server confirmed it.
type RTRBinding struct {
	_ nocmp.DoNotCompare

	EID        netip.Prefix   `json:"eid"`         // registered EID prefix
	InstanceID uint32         `json:"instance_id"` // its instance-id
	XTRID      string         `json:"xtr_id"`      // 128-bit xTR-ID in hex
	SiteID     string         `json:"site_id"`     // 64-bit site-ID in hex (a string: JSON numbers lose 64-bit precision)
	Public     netip.AddrPort `json:"public"`      // the NAT's public address:port the RTR sends to
	Private    netip.Addr     `json:"private"`     // the xTR's own (private) RLOC
	MapServer  netip.Addr     `json:"map_server"`  // the Map-Server the registration was relayed to
	// Verified says a Map-Notify of the Map-Server matched the relayed
	// Map-Register (xTR-ID and nonce); only verified bindings carry data.
	Verified  bool      `json:"verified"`
	Rebinds   uint64    `json:"rebinds"`      // times the public address:port changed
	LastSeen  time.Time `json:"last_seen"`    // last encapsulated Map-Register
	ExpiresIn int64     `json:"expires_in_s"` // seconds until it expires unless refreshed
}

// RLOCs is the data of "show rlocs": this router's own locators.
type RLOCs struct {
	RLOCs []LocalRLOC `json:"rlocs"`
	// Off says the xTR role is not configured: there are no locators.
	Off bool `json:"off,omitempty"`
}

// LocalRLOC is one of this router's locators (an [[xtr.rloc]]); an
// interface with an IPv4 and an IPv6 address gives two.
type LocalRLOC struct {
	_ nocmp.DoNotCompare

	Interface string     `json:"interface,omitempty"` // WAN interface; absent for a fixed address
	Address   netip.Addr `json:"address,omitzero"`    // current address; absent when the interface has none
	Up        bool       `json:"up"`                  // usable: interface up with an address
	Reason    string     `json:"reason,omitempty"`    // why not up (e.g. "interface down", "no address")
	Priority  uint8      `json:"priority"`            // registered priority
	Weight    uint8      `json:"weight"`              // registered weight
	NAT       *NATState  `json:"nat,omitempty"`       // NAT traversal state; absent when off
}

// NATState is the NAT-traversal state of the xTR, shown with each locator.
type NATState struct {
	BehindNAT bool           `json:"behind_nat"`      // an Info-Reply showed a translated address
	Public    netip.AddrPort `json:"public,omitzero"` // the address and port the NAT shows
	RTR       netip.Addr     `json:"rtr,omitzero"`    // RTR traffic goes through
	// Discovered says an Info-Reply arrived (BehindNAT is known).
	Discovered bool `json:"discovered"`
	// Unanswered says the last rounds of Info-Requests got no Info-Reply:
	// discovery failed, for now (the xTR registers directly).
	Unanswered bool `json:"unanswered,omitempty"`
	// Local is the locator the Info-Requests left from: Public and RTR are
	// its. The xTR-wide outcome (BehindNAT) applies to every locator.
	Local netip.Addr `json:"local,omitzero"`
	// Mode is xtr.nat_traversal: "auto", "always" or "off".
	Mode string `json:"mode,omitempty"`
	// RTRs are the RTRs the Map-Server offered in its Info-Reply.
	RTRs []netip.Addr `json:"rtrs,omitempty"`
}

// Stats is the data of "show stats": every counter, in groups, in a fixed
// order.
type Stats struct {
	Groups []CounterGroup `json:"groups"`
	// TUNPath says how the data plane reads the TUN (xtr.tun_offload); nil
	// when the xTR role is off.
	TUNPath *TUNPath `json:"tun_path,omitempty"`
	// KernelPath says whether the in-kernel data path runs (xtr.kernel_path);
	// nil when the xTR role is off.
	KernelPath *KernelPath `json:"kernel_path,omitempty"`
}

// TUNPath is how the data plane reads the TUN: "offload" (super-packets,
// UDP GSO/GRO) or "plain" (one packet per read), with the reason the plain
// path runs.
type TUNPath struct {
	_ nocmp.DoNotCompare

	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
}

// KernelPath is the state of the in-kernel data path: "off" (not asked
// for), "on", or "fallback" with the reason the kernel refused it.
type KernelPath struct {
	_ nocmp.DoNotCompare

	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	// DecapGRO says whether the uplinks' XDP hooks decapsulate too, so
	// that inner flows are GRO-merged: "xdp", or "off (why)".
	DecapGRO string `json:"decap_gro,omitempty"`
}

// Counter group names used by StatsOf.
const (
	GroupDataPlane    = "data plane"
	GroupDataDrops    = "data plane drops"
	GroupKernelPath   = "kernel path"
	GroupControl      = "control plane"
	GroupControlIn    = "control messages in"
	GroupControlOut   = "control messages out"
	GroupControlDrops = "control plane drops"
)

// CounterGroup is a named list of counters.
type CounterGroup struct {
	Name     string    `json:"name"`
	Counters []Counter `json:"counters"`
}

// Counter is one counter.
type Counter struct {
	_ nocmp.DoNotCompare

	Name  string `json:"name"`
	Value uint64 `json:"value"`
}

// Get returns the counter name in group, and whether there is one.
func (s *Stats) Get(group, name string) (uint64, bool) {
	for _, g := range s.Groups {
		if g.Name != group {
			continue
		}
		for _, c := range g.Counters {
			if c.Name == name {
				return c.Value, true
			}
		}
	}
	return 0, false
}

// Config is the data of "show config": the running configuration with
// every key redacted.
type Config struct {
	_ nocmp.DoNotCompare

	Path string `json:"path"` // the file it was read from
	Text string `json:"text"` // TOML, keys replaced by "<redacted>"
}

// ReloadArgs is the args of "reload".
type ReloadArgs struct {
	// Path is the file to read; empty means the daemon's own (-c of
	// `lispd run`), which is what `lispd reload` sends.
	Path string `json:"path,omitempty"`
}

// ReloadResult is the data of a successful "reload".
type ReloadResult struct {
	Path string `json:"path"` // the file applied
	// Notes say what the reload did beyond applying the file that the
	// operator should know of: a role restarted (and the state it lost),
	// registrations kept or dropped. One line each.
	Notes []string `json:"notes,omitempty"`
}

// Locator is a locator given on the command line.
type Locator struct {
	_ nocmp.DoNotCompare

	Address  netip.Addr `json:"address"`
	Priority uint8      `json:"priority"` // 0..255
	Weight   uint8      `json:"weight"`   // 0..100
}

// MapCacheAddArgs is the args of "map-cache add": a static entry added (or
// replacing the entry of the same prefix) until the daemon restarts.
type MapCacheAddArgs struct {
	EIDPrefix netip.Prefix `json:"eid_prefix"` // canonical EID prefix
	// InstanceID is the entry's instance-id; absent means xtr.instance_id.
	InstanceID *uint32 `json:"instance_id,omitempty"`
	// RLOCs are the locators; none makes a negative entry, which needs
	// Action.
	RLOCs []Locator `json:"rlocs,omitempty"`
	// Action for a negative entry: one of conf.Actions (no-action,
	// native-forward, send-map-request, drop, drop-policy-denied,
	// drop-auth-failure).
	Action string `json:"action,omitempty"`
}

// MapCacheDelArgs is the args of "map-cache del".
type MapCacheDelArgs struct {
	_ nocmp.DoNotCompare

	EIDPrefix  netip.Prefix `json:"eid_prefix"`            // exact prefix of the entry
	InstanceID *uint32      `json:"instance_id,omitempty"` // absent means xtr.instance_id
}

// MapCacheDelResult is the data of "map-cache del": the entry removed.
type MapCacheDelResult struct {
	Deleted MapCacheEntry `json:"deleted"`
}
