package ctl

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/lispd/lispd/ctl/msg"
	"github.com/lispd/lispd/internal/logx"
	"github.com/lispd/lispd/internal/nocmp"
)

// DefaultPort is the LISP control-plane UDP port (RFC 9301).
const DefaultPort = 4342

// Defaults for the protocol timers, from RFC 9301 where it gives one.
const (
	DefaultRegisterInterval    = 60 * time.Second
	DefaultRegisterRetry       = 2 * time.Second
	DefaultMapRequestTimeout   = 1 * time.Second
	DefaultMapRequestRetries   = 3
	DefaultMapRequestRate      = 100
	DefaultRecordTTL           = 24 * time.Hour
	DefaultRenewIdle           = 5 * time.Minute
	DefaultRegistrationTimeout = 3 * time.Minute
	DefaultMissQueue           = 256
	DefaultMaxPending          = 4096
	// DefaultProbeInterval and DefaultProbeRetries give a failover of about
	// one second: a locator is probed every second; after a miss (no reply
	// within a quarter interval) it is re-probed at once, and two misses in
	// a row mark it down, 1.0 s after the failure on average and 1.5 s at
	// most. It costs one probe and one reply per second per remote locator
	// in use (under 100 bytes each way), ProbeRate at most over all of them.
	DefaultProbeInterval = 1 * time.Second
	DefaultProbeRetries  = 2
	// DefaultProbeRate caps RLOC probes over all locators, per second: with
	// more remote locators in use than that, each is probed less often
	// rather than the uplink flooded.
	DefaultProbeRate = 100
	// DefaultNATKeepalive is the keepalive period toward the RTRs behind a
	// NAT: below common NAT UDP timeouts (30 s and more).
	DefaultNATKeepalive = 20 * time.Second
	// DefaultInfoTTL is the TTL of the Map-Server's Info-Replies: the xTR
	// redoes NAT discovery when it runs out.
	DefaultInfoTTL = 10 * time.Minute
	// DefaultRTRBindingTimeout is how long an RTR keeps an xTR's NAT binding
	// without an encapsulated Map-Register refreshing it.
	DefaultRTRBindingTimeout = 3 * time.Minute
	// DefaultMaxRegistrations bounds a site's live (EID-prefix, xTR)
	// registrations on the Map-Server.
	DefaultMaxRegistrations = 64

	// NegativeTTLUnregistered is the TTL of a negative Map-Reply for an EID
	// inside a configured site that has no live registration (RFC 9301
	// section 8.4: "Natively-Forward" and a 1-minute TTL).
	NegativeTTLUnregistered = 1 * time.Minute
	// NegativeTTLNotSite is the TTL of a negative Map-Reply for an EID outside
	// every configured site (RFC 9301 section 8.4: "Natively-Forward" and a
	// 15-minute TTL).
	NegativeTTLNotSite = 15 * time.Minute
)

// KeyType names the HMAC of a Map-Register/Map-Notify key: "sha1" or "sha256"
// (the same spelling as the configuration file). The full digest goes on the
// wire (20 and 32 bytes).
type KeyType string

// Key types.
const (
	KeySHA1   KeyType = "sha1"
	KeySHA256 KeyType = "sha256"
)

func (k KeyType) valid() bool { return k == KeySHA1 || k == KeySHA256 }

// alg returns the key type's HMAC algorithm (SHA-256 for an invalid type,
// which New rejects anyway).
func (k KeyType) alg() msg.Alg {
	if a, err := msg.AlgByName(string(k)); err == nil {
		return a
	}
	return msg.AlgHMACSHA256
}

// Options configures a Node. Zero timers take their defaults. At least one of
// XTR and MapServer must be set.
type Options struct {
	// Port is the control port listened on and sent to (Map-Servers,
	// Map-Resolvers, ETRs). 0 means DefaultPort; tests use other ports.
	Port uint16
	// Listen lists the local addresses to bind; empty means the IPv4 and IPv6
	// wildcards.
	Listen []netip.Addr
	// Logger receives the node's logs; nil means logx.Default().
	Logger *logx.Logger

	// XTR enables the ITR and ETR roles.
	XTR *XTROptions
	// MapServer enables the Map-Server and Map-Resolver roles.
	MapServer *MapServerOptions
	// RTR enables the Re-encapsulating Tunnel Router role (NAT traversal).
	RTR *RTROptions
	// DataPort lets the xTR's NAT traversal send from the data plane's UDP
	// 4341 sockets (Info-Requests, encapsulated Map-Registers, keepalives);
	// nil means NAT traversal sends from the control port only.
	DataPort DataPort
	// Counters, when set, are the counters the node adds to: a daemon that
	// replaces its node on a reload passes the ones of the node before, so
	// `show stats` counts from the daemon's start. nil: the node's own.
	Counters *Counters
}

// LocalLocator is one of this router's own RLOCs with the priority and weight
// it registers.
type LocalLocator struct {
	Addr     netip.Addr
	Priority uint8
	Weight   uint8
	// Down marks a locator whose interface is down: it stays in the
	// registered Locator-Set (so the locator-status bits keep their
	// positions) with its R bit clear, and is no ITR-RLOC or source.
	Down bool
	// IfIndex is the interface the address lives on (0: unknown, or the
	// route decides). Control messages sourced from the locator leave by
	// it (IP_PKTINFO), unless it is the only locator of its family. It is
	// not registered: a change of it alone re-registers nothing.
	IfIndex int
}

// MapServerPeer is a Map-Server the ETR registers with.
type MapServerPeer struct {
	_ nocmp.DoNotCompare

	Addr          netip.Addr
	Key           string
	KeyType       KeyType
	WantMapNotify bool
}

// XTROptions configures the ITR and ETR roles.
type XTROptions struct {
	InstanceID  uint32
	EIDPrefixes []netip.Prefix // this site's EIDs, registered and answered for
	EIDSpace    []netip.Prefix // destinations resolved; empty = any
	RLOCs       []LocalLocator // ITR-RLOCs and registered locators, in order
	// DynamicRLOCs says the locators come and go (SetLocalLocators): the
	// ETR runs its registration loops even while RLOCs is empty.
	DynamicRLOCs bool

	MapResolvers []netip.Addr    // tried in order, failing over on timeout
	MapServers   []MapServerPeer // each registered with
	ProxyETRs    []Locator       // installed with Natively-Forward negative entries

	// XTRID and SiteID go in every Map-Register (I bit). A zero XTRID is
	// derived by DeriveXTRID; a zero SiteID by DeriveSiteID.
	XTRID  [16]byte
	SiteID uint64

	RegisterInterval  time.Duration // Map-Register period; 60 s
	RegisterRetry     time.Duration // first retry when no Map-Notify came; doubles up to RegisterInterval; 2 s
	RecordTTL         time.Duration // TTL registered and replied (whole minutes); 24 h
	MapRequestTimeout time.Duration // first Map-Request retry after this, doubling; 1 s
	MapRequestRetries int           // retries after the first Map-Request; 3 (negative: none)
	MapRequestRate    int           // global Map-Requests per second (token bucket); 100
	PerEIDInterval    time.Duration // minimum interval between Map-Requests for one EID; 1 s (RFC 9301)
	RenewIdle         time.Duration // renew an entry before expiry only if used within this; 5 min
	MissQueue         int           // buffered misses between the data plane and the ITR; 256
	MaxPending        int           // outstanding Map-Requests at most (a scan must not grow state); 4096

	// ProbeInterval is the RLOC-probe period of each remote locator of the
	// entries in use; a probe unanswered after a quarter of it (or twice
	// the locator's last round trip, at most the interval) is a miss and
	// is retried at once. 1 s; negative disables probing.
	ProbeInterval time.Duration
	// ProbeRetries is the number of misses in a row that mark a locator
	// down; 2.
	ProbeRetries int
	// ProbeIdle: entries unused this long are not probed; RenewIdle.
	ProbeIdle time.Duration
	// ProbeRate is the most probes sent per second over all locators; 100.
	ProbeRate int

	// NATTraversal is NATAuto (discover a NAT with Info-Requests, the
	// default), NATAlways (register through an RTR without asking) or
	// NATOff.
	NATTraversal NATMode
	// NATKeepalive is the period of the encapsulated Map-Register that keeps
	// the NAT binding to each RTR open while behind a NAT; 20 s.
	NATKeepalive time.Duration
}

// SiteOptions is a site the Map-Server accepts registrations from.
type SiteOptions struct {
	Name        string
	Key         string
	KeyType     KeyType
	InstanceID  uint32
	EIDPrefixes []netip.Prefix
	// MaxRegistrations bounds the site's live registrations, counted as
	// (EID-prefix, xTR-ID) pairs: Map-Registers that would add more are
	// refused (site-full); refreshes always pass. 0 means
	// DefaultMaxRegistrations.
	MaxRegistrations int
}

// MapServerOptions configures the Map-Server and Map-Resolver roles.
type MapServerOptions struct {
	RegistrationTimeout time.Duration // registration lifetime without the T bit; 3 min
	Sites               []SiteOptions
	// RTRs are offered to xTRs behind a NAT in Info-Replies; encapsulated
	// Map-Registers (N bit) are accepted only from them.
	RTRs []netip.Addr
	// InfoTTL is the TTL of Info-Replies (whole minutes); 10 min.
	InfoTTL time.Duration
}

// withDefaults returns a copy of o with defaults filled in, or the first
// problem found.
func (o Options) withDefaults() (Options, error) {
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.Logger == nil {
		o.Logger = logx.Default()
	}
	if o.XTR == nil && o.MapServer == nil && o.RTR == nil {
		return o, errors.New("ctl: neither the xTR nor the Map-Server nor the RTR role is configured")
	}
	for _, a := range o.Listen {
		if !a.IsValid() {
			return o, errors.New("ctl: invalid listen address")
		}
	}
	if o.XTR != nil {
		x := *o.XTR
		if err := x.fill(); err != nil {
			return o, err
		}
		o.XTR = &x
	}
	if o.MapServer != nil {
		m := *o.MapServer
		if err := m.fill(); err != nil {
			return o, err
		}
		o.MapServer = &m
	}
	if o.RTR != nil {
		r := *o.RTR
		if err := r.fill(); err != nil {
			return o, err
		}
		o.RTR = &r
	}
	return o, nil
}

func (x *XTROptions) fill() error {
	setDur(&x.RegisterInterval, DefaultRegisterInterval)
	setDur(&x.RegisterRetry, DefaultRegisterRetry)
	setDur(&x.RecordTTL, DefaultRecordTTL)
	setDur(&x.MapRequestTimeout, DefaultMapRequestTimeout)
	setDur(&x.PerEIDInterval, time.Second)
	setDur(&x.RenewIdle, DefaultRenewIdle)
	if x.ProbeInterval == 0 {
		x.ProbeInterval = DefaultProbeInterval
	}
	if x.ProbeRetries <= 0 {
		x.ProbeRetries = DefaultProbeRetries
	}
	setDur(&x.ProbeIdle, x.RenewIdle)
	if x.ProbeRate <= 0 {
		x.ProbeRate = DefaultProbeRate
	}
	if x.MapRequestRetries == 0 {
		x.MapRequestRetries = DefaultMapRequestRetries
	} else if x.MapRequestRetries < 0 {
		x.MapRequestRetries = 0
	}
	if x.MapRequestRate <= 0 {
		x.MapRequestRate = DefaultMapRequestRate
	}
	if x.MissQueue <= 0 {
		x.MissQueue = DefaultMissQueue
	}
	if x.MaxPending <= 0 {
		x.MaxPending = DefaultMaxPending
	}
	setDur(&x.NATKeepalive, DefaultNATKeepalive)
	switch x.NATTraversal {
	case "":
		x.NATTraversal = NATAuto
	case NATAuto, NATAlways, NATOff:
	default:
		return fmt.Errorf("ctl: nat_traversal %q is not auto, always or off", x.NATTraversal)
	}
	if x.RecordTTL < time.Minute {
		return fmt.Errorf("ctl: record TTL %v is below one minute", x.RecordTTL)
	}
	if x.InstanceID > 0xFFFFFE {
		return fmt.Errorf("ctl: instance-id %d out of range", x.InstanceID)
	}
	for _, p := range x.EIDPrefixes {
		if !p.IsValid() || p != p.Masked() {
			return fmt.Errorf("ctl: EID prefix %v is not canonical", p)
		}
	}
	for _, r := range x.RLOCs {
		if !r.Addr.IsValid() {
			return errors.New("ctl: invalid RLOC address")
		}
	}
	for i, ms := range x.MapServers {
		if !ms.Addr.IsValid() {
			return fmt.Errorf("ctl: map-server %d: invalid address", i)
		}
		if ms.Key == "" {
			return fmt.Errorf("ctl: map-server %v: empty key", ms.Addr)
		}
		if !ms.KeyType.valid() {
			return fmt.Errorf("ctl: map-server %v: key type %q is not sha1 or sha256", ms.Addr, ms.KeyType)
		}
	}
	// Copy the slices the node keeps so the caller may reuse its own.
	x.EIDPrefixes = append([]netip.Prefix(nil), x.EIDPrefixes...)
	x.EIDSpace = append([]netip.Prefix(nil), x.EIDSpace...)
	x.RLOCs = append([]LocalLocator(nil), x.RLOCs...)
	x.MapResolvers = append([]netip.Addr(nil), x.MapResolvers...)
	x.MapServers = append([]MapServerPeer(nil), x.MapServers...)
	x.ProxyETRs = append([]Locator(nil), x.ProxyETRs...)
	if x.XTRID == ([16]byte{}) {
		x.XTRID = DeriveXTRID(x.InstanceID, x.RLOCs)
	}
	if x.SiteID == 0 {
		x.SiteID = DeriveSiteID(x.InstanceID, x.EIDPrefixes)
	}
	return nil
}

func (m *MapServerOptions) fill() error {
	setDur(&m.RegistrationTimeout, DefaultRegistrationTimeout)
	setDur(&m.InfoTTL, DefaultInfoTTL)
	for _, a := range m.RTRs {
		if !a.IsValid() {
			return errors.New("ctl: invalid RTR address")
		}
	}
	m.RTRs = append([]netip.Addr(nil), m.RTRs...)
	sites := make([]SiteOptions, len(m.Sites))
	for i, s := range m.Sites {
		if s.Key == "" {
			return fmt.Errorf("ctl: site %q: empty key", s.Name)
		}
		if !s.KeyType.valid() {
			return fmt.Errorf("ctl: site %q: key type %q is not sha1 or sha256", s.Name, s.KeyType)
		}
		if s.InstanceID > 0xFFFFFE {
			return fmt.Errorf("ctl: site %q: instance-id %d out of range", s.Name, s.InstanceID)
		}
		for _, p := range s.EIDPrefixes {
			if !p.IsValid() || p != p.Masked() {
				return fmt.Errorf("ctl: site %q: EID prefix %v is not canonical", s.Name, p)
			}
		}
		s.EIDPrefixes = append([]netip.Prefix(nil), s.EIDPrefixes...)
		if s.MaxRegistrations <= 0 {
			s.MaxRegistrations = DefaultMaxRegistrations
		}
		sites[i] = s
	}
	m.Sites = sites
	return nil
}

func setDur(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}
