package fwd

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lispd/lispd/internal/consterr"
	"github.com/lispd/lispd/internal/nocmp"
)

// DataPort is the LISP data-plane UDP port (RFC 9300).
const DataPort = 4341

// Action says what to do with packets that match a negative map-cache entry
// (the ACT field of a Map-Reply record, RFC 9301 section 5.4).
type Action uint8

// Negative map-cache actions, numbered as on the wire.
const (
	ActionNoAction         Action = 0 // no-action: keep the entry, do not encapsulate
	ActionNativelyForward  Action = 1 // not a LISP destination: forward natively (via a PETR)
	ActionSendMapRequest   Action = 2 // ask the mapping system
	ActionDrop             Action = 3 // drop/no-reason
	ActionDropPolicyDenied Action = 4 // drop/policy-denied
	ActionDropAuthFailure  Action = 5 // drop/authentication-failure
)

var actionNames = [...]string{"no-action", "native-forward", "send-map-request", "drop", "drop-policy-denied", "drop-auth-failure"}

// String returns the action's name as `show map-cache` prints it.
func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("action-%d", uint8(a))
}

// State is the life stage of a map-cache entry.
type State uint8

// Map-cache entry states.
const (
	// StateComplete entries carry RLOCs; packets are encapsulated to them.
	StateComplete State = iota
	// StateNegative entries carry no RLOCs, only an Action.
	StateNegative
	// StatePending entries stand for a Map-Request in flight: packets are
	// held (by the control-plane issue's bounded queue) or dropped.
	StatePending
)

var stateNames = [...]string{"complete", "negative", "pending"}

// String returns the state's name.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state-%d", uint8(s))
}

// RLOCSpec describes one remote locator of a mapping.
type RLOCSpec struct {
	_ nocmp.DoNotCompare

	Addr     netip.Addr
	Port     uint16 // 0 = DataPort (4341); NAT traversal may set another
	Priority uint8  // lower is preferred; 255 = never used for unicast
	Weight   uint8  // share of traffic among RLOCs of one priority, 0..100
	Down     bool   // start unreachable (the R bit was clear)
	// Position is the locator's position, from 1, in the record as the
	// ETR registered or answered it (a Map-Reply may hold locators the
	// control plane could not use and left out); its locator-status bit
	// in that site's data packets is Position-1 (RFC 9300 section 10).
	// 0: its index in MappingSpec.RLOCs.
	Position int
}

// MappingSpec describes a map-cache entry for MapCache.Insert.
type MappingSpec struct {
	InstanceID uint32       // 24 bits
	Prefix     netip.Prefix // EID prefix; canonical (host bits zero)
	RLOCs      []RLOCSpec   // none = a negative entry (or pending)
	Action     Action       // for negative entries
	TTL        time.Duration
	Static     bool // configured: never evicted, never expires
	Pending    bool // a placeholder while a Map-Request is in flight
}

// Errors returned by MapCache writers.
const (
	ErrBadPrefix     = consterr.Error("map-cache: EID prefix invalid or not canonical")
	ErrBadInstanceID = consterr.Error("map-cache: instance-id wider than 24 bits")
	ErrTooManyRLOCs  = consterr.Error("map-cache: more than 255 RLOCs")
	ErrBadRLOC       = consterr.Error("map-cache: RLOC address invalid")
	ErrCacheFull     = consterr.Error("map-cache: full and no learned entry to evict")
)

// RLOC is one remote locator of a Mapping. Its address, priority and weight
// are fixed; its reachability is flipped by the control plane with SetUp,
// and its counters are read by `show`.
type RLOC struct {
	_ nocmp.DoNotCompare

	Addr     netip.AddrPort // where encapsulated packets go
	Priority uint8
	Weight   uint8

	Packets atomic.Uint64 // packets encapsulated to this RLOC
	Bytes   atomic.Uint64 // bytes of inner packets encapsulated to it

	up     atomic.Bool
	bit    int           // its locator-status bit in the sending site's packets
	pmtu   atomic.Uint32 // path MTU to Addr learned by the plane; 0 = default
	rttUS  atomic.Uint32 // last RLOC-probe round trip in microseconds; 0 = unknown
	reason atomic.Pointer[string]
	owner  *Mapping
}

// StatusBit returns the locator-status bit (from the least significant)
// that stands for this locator in data packets from the mapping's site:
// its position in the record as received (RLOCSpec.Position), else its
// index in the mapping.
func (r *RLOC) StatusBit() int { return r.bit }

// RTT returns the last RLOC-probe round trip the control plane recorded,
// or 0 when none.
func (r *RLOC) RTT() time.Duration { return time.Duration(r.rttUS.Load()) * time.Microsecond }

// SetRTT records an RLOC-probe round trip (kept in 32 bits of microseconds,
// so at most about 71 minutes; 0: unknown).
func (r *RLOC) SetRTT(d time.Duration) {
	us := max(d/time.Microsecond, 0)
	if d > 0 && us == 0 {
		us = 1
	}
	r.rttUS.Store(uint32(min(us, 0xffffffff)))
}

// Reason returns why the control plane last marked the RLOC up or down
// (e.g. "probe timeout"), or "" when it never said.
func (r *RLOC) Reason() string {
	if p := r.reason.Load(); p != nil {
		return *p
	}
	return ""
}

// SetReason records why the RLOC is up or down, for `show`.
func (r *RLOC) SetReason(s string) {
	if r.Reason() != s {
		r.reason.Store(&s)
	}
}

// PathMTU returns the path MTU toward the RLOC that the plane has learned,
// or 0 when it uses its default.
func (r *RLOC) PathMTU() int { return int(r.pmtu.Load()) }

// SetPathMTU records the path MTU toward the RLOC (0: back to the default).
func (r *RLOC) SetPathMTU(mtu int) {
	if mtu < 0 {
		mtu = 0
	}
	r.pmtu.Store(uint32(mtu))
}

// Up reports whether the RLOC is considered reachable.
func (r *RLOC) Up() bool { return r.up.Load() }

// SetUp marks the RLOC reachable or not and, if that changed, rebuilds the
// owning mapping's selection table: only flows that used this RLOC move
// when it goes down.
func (r *RLOC) SetUp(up bool) {
	if r.up.Swap(up) != up && r.owner != nil {
		r.owner.rebuild(nil)
	}
}

// Mapping is one map-cache entry: an EID prefix in an instance-id and what
// to do with packets to it. All fields but the counters, the expiry, the
// last-used time and RLOC reachability are immutable once inserted; change
// anything else by inserting a new Mapping for the same prefix.
type Mapping struct {
	InstanceID uint32
	Prefix     netip.Prefix
	State      State
	Action     Action // meaningful for StateNegative
	Static     bool
	RLOCs      []*RLOC
	TTL        time.Duration // record TTL as received; 0 = none

	Packets atomic.Uint64 // inner packets that used this entry
	Bytes   atomic.Uint64 // their bytes

	expires  atomic.Uint32 // coarse clock; 0 = never
	lastUsed atomic.Uint32 // coarse clock
	asked    atomic.Uint32 // coarse clock: an unknown sender last had the entry asked for again (decap filter)
	lsbs     atomic.Uint64 // locator-status bits last received from the site (lsbPresent | bits)
	mu       sync.Mutex    // serializes selection rebuilds
	sel      atomic.Pointer[selection]
	cache    atomic.Pointer[MapCache] // the cache it was inserted into: told about rebuilds
}

// NewMapping validates spec and builds a Mapping (not yet in any cache).
func NewMapping(spec MappingSpec) (*Mapping, error) {
	if !spec.Prefix.IsValid() || spec.Prefix != spec.Prefix.Masked() {
		return nil, fmt.Errorf("%w: %v", ErrBadPrefix, spec.Prefix)
	}
	if spec.InstanceID > 0xffffff {
		return nil, fmt.Errorf("%w: %d", ErrBadInstanceID, spec.InstanceID)
	}
	if len(spec.RLOCs) > 255 {
		return nil, fmt.Errorf("%w: %d", ErrTooManyRLOCs, len(spec.RLOCs))
	}
	m := &Mapping{
		InstanceID: spec.InstanceID,
		Prefix:     spec.Prefix,
		Action:     spec.Action,
		Static:     spec.Static,
		TTL:        spec.TTL,
	}
	switch {
	case spec.Pending:
		m.State = StatePending
	case len(spec.RLOCs) == 0:
		m.State = StateNegative
	default:
		m.State = StateComplete
	}
	if len(spec.RLOCs) > 0 {
		m.RLOCs = make([]*RLOC, len(spec.RLOCs))
		for i, rs := range spec.RLOCs {
			if !rs.Addr.IsValid() || rs.Addr.IsUnspecified() || rs.Addr.IsMulticast() {
				return nil, fmt.Errorf("%w: rloc %d: %v", ErrBadRLOC, i, rs.Addr)
			}
			port := rs.Port
			if port == 0 {
				port = DataPort
			}
			r := &RLOC{Addr: netip.AddrPortFrom(rs.Addr.Unmap(), port), Priority: rs.Priority, Weight: rs.Weight, bit: i, owner: m}
			if rs.Position > 0 {
				r.bit = rs.Position - 1
			}
			r.up.Store(!rs.Down)
			m.RLOCs[i] = r
		}
	}
	m.rebuild(nil)
	return m, nil
}

// Expires returns when the entry expires (zero time: never).
func (m *Mapping) Expires() time.Time { return clockTime(m.expires.Load()) }

// SetExpires sets when the entry expires (zero time: never). The control
// plane uses it to refresh an entry without replacing it.
func (m *Mapping) SetExpires(t time.Time) { m.expires.Store(clockFrom(t)) }

// LastUsed returns when a packet last used the entry (to the coarse clock's
// resolution, one second), or when it was inserted.
func (m *Mapping) LastUsed() time.Time { return clockTime(m.lastUsed.Load()) }

// expired reports whether the entry has expired at coarse time now.
func (m *Mapping) expired(now uint32) bool {
	e := m.expires.Load()
	return e != 0 && now >= e
}

// touch records a use at coarse time now without dirtying the cache line
// when nothing changed.
func (m *Mapping) touch(now uint32) {
	if m.lastUsed.Load() != now {
		m.lastUsed.Store(now)
	}
}

// RLOC returns the locator for a flow hash, or nil when no RLOC is usable.
// It is O(1) and does not allocate.
func (m *Mapping) RLOC(hash uint32) *RLOC {
	s := m.sel.Load()
	if s == nil {
		return nil
	}
	if s.single != nil {
		return s.single
	}
	if len(s.slots) == 0 {
		return nil
	}
	return m.RLOCs[s.slots[hash%uint32(len(s.slots))]]
}

// String describes the entry on one line.
func (m *Mapping) String() string {
	return fmt.Sprintf("iid %d %v %v", m.InstanceID, m.Prefix, m.State)
}

// The coarse clock: seconds since the process started, plus one, so that 0
// can mean "never". Stored in 32 bits because 64-bit atomics take a lock on
// 32-bit MIPS.
var clockEpoch = time.Now()

func clockFrom(t time.Time) uint32 {
	if t.IsZero() {
		return 0
	}
	d := t.Sub(clockEpoch)
	if d < 0 {
		return 1
	}
	s := int64(d/time.Second) + 1
	if s > 0xffffffff {
		s = 0xffffffff
	}
	return uint32(s)
}

func clockTime(c uint32) time.Time {
	if c == 0 {
		return time.Time{}
	}
	return clockEpoch.Add(time.Duration(c-1) * time.Second)
}
