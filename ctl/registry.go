package ctl

import (
	"encoding/hex"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/lispd/lispd/internal/nocmp"
	"github.com/lispd/lispd/internal/sortx"
)

// site is a configured LISP site of the Map-Server.
type site struct {
	SiteOptions
}

// contains reports whether p (in instance-id iid) lies inside one of the
// site's prefixes.
func (s *site) contains(iid uint32, p netip.Prefix) bool {
	if s.InstanceID != iid {
		return false
	}
	for _, sp := range s.EIDPrefixes {
		if containsPrefix(sp, p) {
			return true
		}
	}
	return false
}

// regKey keys registrations: RFC 9301 registrations are per
// (instance-id, EID-prefix).
type regKey struct {
	iid    uint32
	prefix netip.Prefix
}

// registrant is one xTR's registration of a prefix (several xTRs of a
// multihomed site may register the same prefix; they are told apart by
// xTR-ID, or by source address when the Map-Register carried none).
type registrant struct {
	source     netip.AddrPort
	xtrID      [16]byte
	hasXTRID   bool
	siteID     uint64
	locators   []Locator
	recordTTL  time.Duration
	proxyReply bool
	firstSeen  time.Time
	lastSeen   time.Time
	expires    time.Time
	// nonces are the last nonceRing non-zero nonces of the Map-Registers
	// accepted for this registrant, whatever path they came by; next is
	// the slot the next one takes (so next-1 holds the newest).
	nonces [nonceRing]uint64
	next   uint8
}

// nonceRing is how many recent Map-Register nonces a registrant keeps for
// replay detection.
const nonceRing = 8

// replays reports whether nonce (non-zero) was accepted before, in a
// Map-Register older than the newest one accepted. The newest itself is no
// replay: an xTR that lost its Map-Notify sends the same message again, and
// an xTR behind a NAT sends one message through each of its RTRs; accepting
// it again restores nothing older than what the xTR last registered. Paths
// do not matter: a message captured on one path and replayed on another is
// still old.
func (r *registrant) replays(nonce uint64) bool {
	if nonce == 0 || nonce == r.newest() {
		return false
	}
	for _, n := range r.nonces {
		if n == nonce {
			return true
		}
	}
	return false
}

// newest returns the newest nonce remembered (0: none).
func (r *registrant) newest() uint64 {
	return r.nonces[(int(r.next)+nonceRing-1)%nonceRing]
}

// remember records nonce (unless 0, or the newest again) as accepted.
func (r *registrant) remember(nonce uint64) {
	if nonce == 0 || nonce == r.newest() {
		return
	}
	r.nonces[r.next] = nonce
	r.next = (r.next + 1) % nonceRing
}

func (r *registrant) id() string {
	if r.hasXTRID {
		return hex.EncodeToString(r.xtrID[:])
	}
	return r.source.Addr().String()
}

// registration holds the registrants of one (instance-id, prefix).
type registration struct {
	site        *site
	key         regKey
	registrants map[string]*registrant
}

// live returns the registrants that have not expired at now, most recently
// seen first.
func (g *registration) live(now time.Time) []*registrant {
	var out []*registrant
	for _, r := range g.registrants {
		if now.Before(r.expires) {
			out = append(out, r)
		}
	}
	sortx.Sort(len(out), func(i, j int) bool { return out[i].lastSeen.After(out[j].lastSeen) }, func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// registry is the Map-Server's database: sites and their registrations.
type registry struct {
	sites []*site

	mu   sync.RWMutex
	regs map[regKey]*registration
}

func newRegistry(sites []SiteOptions) *registry {
	r := &registry{regs: map[regKey]*registration{}}
	for _, s := range sites {
		r.sites = append(r.sites, &site{s})
	}
	return r
}

// candidateSites returns the sites whose prefixes contain p in iid: the only
// ones whose keys are worth trying on a Map-Register or Info-Request for p
// (any other site would refuse the record anyway), so a message that
// matches no site costs no HMAC.
func (r *registry) candidateSites(iid uint32, p netip.Prefix) []*site {
	var in []*site
	for _, s := range r.sites {
		if s.contains(iid, p) {
			in = append(in, s)
		}
	}
	return in
}

// registerLocked stores a copy of rr (the ring of nonces carried over from
// the live registrant it refreshes).
func (r *registry) registerLocked(s *site, key regKey, in *registrant) bool {
	rr := *in
	g := r.regs[key]
	if g == nil {
		g = &registration{site: s, key: key, registrants: map[string]*registrant{}}
		r.regs[key] = g
	}
	g.site = s
	id := rr.id()
	old := g.registrants[id]
	fresh := old == nil || !old.expires.After(rr.lastSeen)
	if fresh {
		rr.firstSeen = rr.lastSeen
	} else {
		rr.firstSeen = old.firstSeen
		rr.nonces, rr.next = old.nonces, old.next
	}
	g.registrants[id] = &rr
	return fresh
}

// deregisterLocked removes the registrant id from the registration of
// key; it reports whether there was one. r.mu is held.
func (r *registry) deregisterLocked(key regKey, id string) bool {
	g := r.regs[key]
	if g == nil || g.registrants[id] == nil {
		return false
	}
	delete(g.registrants, id)
	if len(g.registrants) == 0 {
		delete(r.regs, key)
	}
	return true
}

// regUpdate is one record of an authenticated Map-Register: a registrant
// to store under key or, with withdraw, to remove.
type regUpdate struct {
	key      regKey
	rr       registrant
	withdraw bool
	changed  bool // set by apply: a new registrant, or one removed
}

// apply stores the records of one authenticated Map-Register of site s
// (nonce), all of them or none: none when a record's live registrant
// accepted that non-zero nonce before its newest (DropReplayed), or when the records that are not refreshes of live
// registrants would take the site past its MaxRegistrations (DropSiteFull).
// Withdrawals in the same message are not counted as room: refusing a
// little early beats counting twice a record repeated in one message.
func (r *registry) apply(s *site, ups []regUpdate, nonce uint64) (DropReason, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	need := 0
	for i := range ups {
		u := &ups[i]
		old := r.regs[u.key].registrant(u.rr.id())
		live := old != nil && old.expires.After(u.rr.lastSeen)
		if live && old.replays(nonce) {
			return DropReplayed, false
		}
		if !live && !u.withdraw {
			need++
		}
	}
	if need > 0 && r.liveLocked(s, ups[0].rr.lastSeen)+need > s.MaxRegistrations {
		return DropSiteFull, false
	}
	for i := range ups {
		u := &ups[i]
		if u.withdraw {
			u.changed = r.deregisterLocked(u.key, u.rr.id())
		} else {
			u.changed = r.registerLocked(s, u.key, &u.rr)
			r.regs[u.key].registrants[u.rr.id()].remember(nonce)
		}
	}
	return 0, true
}

// registrant returns the registrant id of g, nil if none (or g is nil).
func (g *registration) registrant(id string) *registrant {
	if g == nil {
		return nil
	}
	return g.registrants[id]
}

// liveLocked counts the live registrants of site s at now: the
// (EID-prefix, xTR) pairs MaxRegistrations bounds.
func (r *registry) liveLocked(s *site, now time.Time) int {
	n := 0
	for _, g := range r.regs {
		if g.site != s {
			continue
		}
		for _, rr := range g.registrants {
			if now.Before(rr.expires) {
				n++
			}
		}
	}
	return n
}

// match is the result of a Map-Resolver lookup.
type match struct {
	key         regKey
	registrants []registrant // live, most recent first (copies)
}

// lookup returns the live registration with the longest prefix containing
// eid in iid.
func (r *registry) lookup(iid uint32, eid netip.Addr, now time.Time) (match, bool) {
	eid = eid.Unmap()
	r.mu.RLock()
	defer r.mu.RUnlock()
	for l := eid.BitLen(); l >= 0; l-- {
		k := regKey{iid, netip.PrefixFrom(eid, l).Masked()}
		g := r.regs[k]
		if g == nil {
			continue
		}
		live := g.live(now)
		if len(live) == 0 {
			continue
		}
		m := match{key: k}
		for _, rr := range live {
			m.registrants = append(m.registrants, *rr)
		}
		return m, true
	}
	return match{}, false
}

// negative returns the EID-prefix and TTL of the negative Map-Reply for an
// unregistered eid (RFC 9301 section 8.4): inside a configured site, the
// largest prefix in the site's prefix around eid that overlaps no live
// registration, with a 1-minute TTL; outside every site, the largest prefix
// around eid that overlaps no site prefix and no registration, with a
// 15-minute TTL. Both with action Natively-Forward.
func (r *registry) negative(iid uint32, eid netip.Addr, now time.Time) (netip.Prefix, time.Duration) {
	eid = eid.Unmap()
	var within netip.Prefix
	var sitePrefixes []netip.Prefix
	for _, s := range r.sites {
		if s.InstanceID != iid {
			continue
		}
		for _, sp := range s.EIDPrefixes {
			sitePrefixes = append(sitePrefixes, sp)
			if sp.Contains(eid) && (!within.IsValid() || sp.Bits() > within.Bits()) {
				within = sp
			}
		}
	}
	var avoid []netip.Prefix
	r.mu.RLock()
	for k, g := range r.regs {
		if k.iid == iid && k.prefix.Addr().BitLen() == eid.BitLen() && len(g.live(now)) > 0 {
			avoid = append(avoid, k.prefix)
		}
	}
	r.mu.RUnlock()
	if within.IsValid() {
		return negativePrefix(eid, within, avoid), NegativeTTLUnregistered
	}
	return negativePrefix(eid, netip.Prefix{}, append(avoid, sitePrefixes...)), NegativeTTLNotSite
}

// expiredReg describes a registrant the sweep removed.
type expiredReg struct {
	_ nocmp.DoNotCompare

	site   string
	key    regKey
	source netip.AddrPort
}

// sweep forgets registrants expired at now and returns them.
func (r *registry) sweep(now time.Time) []expiredReg {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []expiredReg
	for k, g := range r.regs {
		for id, rr := range g.registrants {
			if !now.Before(rr.expires) {
				delete(g.registrants, id)
				out = append(out, expiredReg{site: g.site.Name, key: k, source: rr.source})
			}
		}
		if len(g.registrants) == 0 {
			delete(r.regs, k)
		}
	}
	return out
}

// SiteInfo describes a configured site for `show registrations`.
type SiteInfo struct {
	Name        string
	InstanceID  uint32
	KeyType     KeyType
	EIDPrefixes []netip.Prefix
	Registered  int // live registered prefixes
}

// RegistrantInfo is one xTR's registration of a prefix.
type RegistrantInfo struct {
	Source     netip.AddrPort // where the Map-Register came from
	XTRID      string         // hex; empty when the Map-Register had no I bit
	SiteID     uint64
	Locators   []Locator
	RecordTTL  time.Duration
	ProxyReply bool
	FirstSeen  time.Time
	LastSeen   time.Time
	Expires    time.Time
}

// RegistrationInfo is one registered (instance-id, EID-prefix).
type RegistrationInfo struct {
	Site        string
	InstanceID  uint32
	Prefix      netip.Prefix
	Registrants []RegistrantInfo
}

// Registrations is the Map-Server's state for `show registrations`.
type Registrations struct {
	Sites         []SiteInfo
	Registrations []RegistrationInfo // live only, sorted by instance-id and prefix
}

func (r *registry) snapshot(now time.Time) Registrations {
	var out Registrations
	perSite := map[*site]int{}
	r.mu.RLock()
	for k, g := range r.regs {
		live := g.live(now)
		if len(live) == 0 {
			continue
		}
		perSite[g.site]++
		ri := RegistrationInfo{Site: g.site.Name, InstanceID: k.iid, Prefix: k.prefix}
		for _, rr := range live {
			info := RegistrantInfo{
				Source: rr.source, SiteID: rr.siteID, Locators: slices.Clone(rr.locators),
				RecordTTL: rr.recordTTL, ProxyReply: rr.proxyReply,
				FirstSeen: rr.firstSeen, LastSeen: rr.lastSeen, Expires: rr.expires,
			}
			if rr.hasXTRID {
				info.XTRID = hex.EncodeToString(rr.xtrID[:])
			}
			ri.Registrants = append(ri.Registrants, info)
		}
		out.Registrations = append(out.Registrations, ri)
	}
	r.mu.RUnlock()
	for _, s := range r.sites {
		out.Sites = append(out.Sites, SiteInfo{
			Name: s.Name, InstanceID: s.InstanceID, KeyType: s.KeyType,
			EIDPrefixes: slices.Clone(s.EIDPrefixes), Registered: perSite[s],
		})
	}
	regs := out.Registrations
	sortx.Sort(len(regs), func(i, j int) bool {
		a, b := regs[i], regs[j]
		if a.InstanceID != b.InstanceID {
			return a.InstanceID < b.InstanceID
		}
		return comparePrefix(a.Prefix, b.Prefix) < 0
	}, func(i, j int) { regs[i], regs[j] = regs[j], regs[i] })
	return out
}
