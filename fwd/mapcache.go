package fwd

import (
	"net/netip"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gaissmai/bart"

	"github.com/lispd/lispd/internal/sortx"
)

// MapCache maps EIDs to RLOCs: a longest-prefix-match table per instance-id
// for IPv4 and IPv6 EID prefixes.
//
// Readers are lock-free: they load an immutable snapshot through an atomic
// pointer (the packet path does so once per batch). Writers are serialized
// by a mutex and publish a new snapshot built with bart's persistent
// (path-copying) insert and delete, so a write costs microseconds and never
// disturbs a reader.
//
// The cache holds at most Limit entries (SetLimit changes it in place).
// Inserting beyond that evicts the least recently used learned (never a
// static) entry; if there is none the insert fails with ErrCacheFull.
//
// Time is a coarse clock of one-second resolution (Tick, called by the
// plane once a second), so the packet path never reads the system clock.
type MapCache struct {
	mu    sync.Mutex
	snap  atomic.Pointer[snapshot]
	limit int           // guarded by mu
	now   atomic.Uint32 // coarse clock, see clockFrom

	// Eviction candidates: the oldest learned entries found by the last
	// scan, oldest first, with their last-used time at that scan.
	cands []evictCand

	// pendings are the placeholder entries the data plane inserted for
	// destinations being resolved (host prefixes, StatePending), so that
	// installing a covering prefix removes them in the same snapshot
	// without a walk of the table. Guarded by mu.
	pendings map[pendKey]*Mapping

	// onInstall, when set (by the Plane), is called after every insert of
	// a complete or negative entry, outside the lock, from the inserting
	// goroutine: it sends the packets queued for destinations it covers.
	onInstall atomic.Pointer[func(*Mapping)]

	// watch, when set (by the Plane's kernel mirror), is signalled without
	// blocking after every new snapshot and every rebuilt RLOC selection
	// of an entry in the cache (see Mapping.rebuild).
	watch atomic.Pointer[chan struct{}]

	// sources, when set (by the Plane's decapsulation filter), is
	// signalled without blocking after every new snapshot but a pending
	// placeholder's (which adds no RLOC): the set of known RLOCs changed.
	sources atomic.Pointer[chan struct{}]
}

// store publishes snapshot s and signals the watchers.
//
// store, signal, stamp and forgetPendingLocked are on the write paths
// only, and not inlined: inlined, they cost ~1.2 KB of the mips binary
// (issue 6) for no packet.
//
//go:noinline
func (c *MapCache) store(s *snapshot) {
	c.snap.Store(s)
	c.signal()
	if w := c.sources.Load(); w != nil {
		select {
		case *w <- struct{}{}:
		default:
		}
	}
}

// signal tells the watcher, if any, that the cache changed; it never
// blocks (a signal already pending covers this one).
//
//go:noinline
func (c *MapCache) signal() {
	if w := c.watch.Load(); w != nil {
		select {
		case *w <- struct{}{}:
		default:
		}
	}
}

type evictCand struct {
	m    *Mapping
	used uint32
}

// snapshot is an immutable view of the cache.
type snapshot struct {
	tables []iidTable // one per instance-id in use; a handful at most
	n      int        // entries in all tables
}

type iidTable struct {
	iid uint32
	t   *bart.Table[*Mapping]
}

// table returns the LPM table of iid, or nil.
func (s *snapshot) table(iid uint32) *bart.Table[*Mapping] {
	for i := range s.tables {
		if s.tables[i].iid == iid {
			return s.tables[i].t
		}
	}
	return nil
}

// lookup is the packet path's longest-prefix match. It does not check
// expiry.
func (s *snapshot) lookup(iid uint32, addr netip.Addr) *Mapping {
	t := s.table(iid)
	if t == nil {
		return nil
	}
	m, _ := t.Lookup(addr)
	return m
}

// with returns a copy of s with iid's table replaced by t (nil removes it).
func (s *snapshot) with(iid uint32, t *bart.Table[*Mapping], dn int) *snapshot {
	ns := &snapshot{n: s.n + dn, tables: make([]iidTable, 0, len(s.tables)+1)}
	found := false
	for _, it := range s.tables {
		if it.iid == iid {
			found = true
			if t != nil && t.Size() > 0 {
				ns.tables = append(ns.tables, iidTable{iid, t})
			}
			continue
		}
		ns.tables = append(ns.tables, it)
	}
	if !found && t != nil && t.Size() > 0 {
		ns.tables = append(ns.tables, iidTable{iid, t})
	}
	return ns
}

// DefaultMapCacheLimit is the limit NewMapCache uses for limit <= 0.
const DefaultMapCacheLimit = 10000

// NewMapCache returns an empty map-cache holding at most limit entries.
func NewMapCache(limit int) *MapCache {
	if limit <= 0 {
		limit = DefaultMapCacheLimit
	}
	c := &MapCache{limit: limit}
	c.snap.Store(&snapshot{})
	c.Tick(time.Now())
	return c
}

// Tick advances the cache's coarse clock to t. The plane calls it once a
// second; tests call it to move time.
func (c *MapCache) Tick(t time.Time) { c.now.Store(clockFrom(t)) }

// Now returns the cache's coarse clock.
func (c *MapCache) Now() time.Time { return clockTime(c.now.Load()) }

// Limit returns the maximum number of entries.
func (c *MapCache) Limit() int {
	c.mu.Lock()
	n := c.limit
	c.mu.Unlock()
	return n
}

// SetLimit changes the maximum number of entries to limit
// (DefaultMapCacheLimit for limit <= 0) and returns how many entries it
// evicted. A cache holding more than the new limit does at once what an
// insert into a full cache does: it evicts the least recently used learned
// entries until it fits. Static entries are never evicted: a cache with
// more of them than limit keeps them all and refuses new entries
// (ErrCacheFull) until deletes bring it under the limit.
func (c *MapCache) SetLimit(limit int) (evicted int) {
	if limit <= 0 {
		limit = DefaultMapCacheLimit
	}
	c.mu.Lock()
	c.limit = limit
	for c.snap.Load().n > limit && c.evictLocked(c.now.Load()) {
		evicted++
	}
	c.mu.Unlock()
	return evicted
}

// Len returns the number of entries (expired ones included until Expire
// removes them).
func (c *MapCache) Len() int { return c.snap.Load().n }

// Insert builds a Mapping from spec and installs it, replacing any entry for
// the same instance-id and prefix. A replacement inherits the old entry's
// counters, last-used time and, for RLOCs with the same address, their
// counters and the flows on them. When the cache is full the least recently
// used learned entry is evicted first.
//
// A complete or negative entry also replaces, in the same snapshot, the
// data plane's pending placeholders for destinations it covers; when the
// cache belongs to a Plane, the packets queued for those destinations are
// then sent, from the calling goroutine, before Insert returns.
func (c *MapCache) Insert(spec MappingSpec) (*Mapping, error) {
	m, err := NewMapping(spec)
	if err != nil {
		return nil, err
	}
	if err := c.insert(m); err != nil {
		return nil, err
	}
	c.installed(m)
	return m, nil
}

// installed runs the install hook for a complete or negative entry.
func (c *MapCache) installed(m *Mapping) {
	if m.State == StatePending {
		return
	}
	if h := c.onInstall.Load(); h != nil {
		(*h)(m)
	}
}

func (c *MapCache) insert(m *Mapping) error {
	now := c.now.Load()
	c.stamp(m, now)

	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.snap.Load()
	t := s.table(m.InstanceID)
	if t == nil {
		t = new(bart.Table[*Mapping])
	}
	dn := 0
	if m.State != StatePending && len(c.pendings) > 0 {
		t, dn = c.dropCoveredLocked(t, m)
	}
	old, exists := t.Get(m.Prefix)
	if exists {
		inherit(m, old)
		c.forgetPendingLocked(old)
	} else if s.n+dn >= c.limit {
		if dn != 0 {
			// Publish the removal first, so that eviction sees it.
			s = s.with(m.InstanceID, t, dn)
			c.store(s)
			dn = 0
		}
		if !c.evictLocked(now) {
			return ErrCacheFull
		}
		s = c.snap.Load()
		if t = s.table(m.InstanceID); t == nil {
			t = new(bart.Table[*Mapping])
		}
	}
	if !exists {
		dn++
	}
	c.store(s.with(m.InstanceID, t.InsertPersist(m.Prefix, m), dn))
	return nil
}

// dropCoveredLocked removes from t the pending placeholders of m's
// instance-id that m's prefix covers (other than m's own prefix, which the
// insert replaces) and returns the new table and the change in entries.
func (c *MapCache) dropCoveredLocked(t *bart.Table[*Mapping], m *Mapping) (*bart.Table[*Mapping], int) {
	dn := 0
	for k, pm := range c.pendings {
		if k.iid != m.InstanceID || !m.Prefix.Contains(k.dst) || pm.Prefix == m.Prefix {
			continue
		}
		delete(c.pendings, k)
		if cur, ok := t.Get(pm.Prefix); ok && cur == pm {
			t = t.DeletePersist(pm.Prefix)
			dn--
		}
	}
	return t, dn
}

// forgetPendingLocked drops m from the pending placeholders if it is one.
//
//go:noinline
func (c *MapCache) forgetPendingLocked(m *Mapping) {
	if m.State != StatePending || c.pendings == nil {
		return
	}
	k := pendKey{m.InstanceID, m.Prefix.Addr()}
	if c.pendings[k] == m {
		delete(c.pendings, k)
	}
}

// insertPending installs a pending placeholder (StatePending, expiring
// after ttl) for the host prefix of dst, unless an entry that is neither
// pending nor expired exists for exactly that prefix, or the cache is full:
// a placeholder never evicts anything. It returns the placeholder or nil.
func (c *MapCache) insertPending(iid uint32, dst netip.Addr, ttl time.Duration) *Mapping {
	m, err := NewMapping(MappingSpec{InstanceID: iid, Prefix: netip.PrefixFrom(dst, dst.BitLen()), Pending: true, TTL: ttl})
	if err != nil {
		return nil
	}
	now := c.now.Load()
	c.stamp(m, now)
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.snap.Load()
	t := s.table(iid)
	if t == nil {
		t = new(bart.Table[*Mapping])
	}
	dn := 1
	if old, ok := t.Get(m.Prefix); ok {
		if old.Static || old.State != StatePending && !old.expired(now) {
			return nil
		}
		c.forgetPendingLocked(old)
		dn = 0
	} else if s.n >= c.limit {
		return nil
	}
	c.snap.Store(s.with(iid, t.InsertPersist(m.Prefix, m), dn)) // no RLOC: not store
	c.signal()
	if c.pendings == nil {
		c.pendings = make(map[pendKey]*Mapping)
	}
	c.pendings[pendKey{iid, dst}] = m
	return m
}

// deletePending removes the pending placeholder m if it is still in the
// cache.
func (c *MapCache) deletePending(m *Mapping) {
	if m == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.Get(m.InstanceID, m.Prefix); ok && cur == m {
		c.deleteLocked(m.InstanceID, m.Prefix)
	}
	c.forgetPendingLocked(m)
}

// stamp sets the expiry (from the mapping's TTL) and last use of a mapping
// being installed at coarse time now.
//
//go:noinline
func (c *MapCache) stamp(m *Mapping, now uint32) {
	m.cache.Store(c)
	if m.TTL > 0 && !m.Static && m.expires.Load() == 0 {
		m.expires.Store(clockFrom(clockTime(now).Add(m.TTL)))
	}
	if m.lastUsed.Load() < now {
		m.lastUsed.Store(now)
	}
}

// inherit carries counters, last use, the decapsulation filter's last ask
// and flow placement from old to m.
func inherit(m, old *Mapping) {
	m.Packets.Store(old.Packets.Load())
	m.Bytes.Store(old.Bytes.Load())
	if u := old.lastUsed.Load(); u > m.lastUsed.Load() {
		m.lastUsed.Store(u)
	}
	m.asked.Store(old.asked.Load())
	for _, r := range m.RLOCs {
		for _, o := range old.RLOCs {
			if o.Addr == r.Addr {
				r.Packets.Store(o.Packets.Load())
				r.Bytes.Store(o.Bytes.Load())
				break
			}
		}
	}
	if sameLocatorOrder(m, old) {
		// The received locator-status bits still mean the same locators.
		m.lsbs.Store(old.lsbs.Load())
	}
	m.rebuild(old)
}

// sameLocatorOrder reports whether m and old list the same RLOC addresses
// in the same order, at the same locator-status bits.
func sameLocatorOrder(m, old *Mapping) bool {
	if len(m.RLOCs) != len(old.RLOCs) {
		return false
	}
	for i, r := range m.RLOCs {
		if r.Addr != old.RLOCs[i].Addr || r.bit != old.RLOCs[i].bit {
			return false
		}
	}
	return true
}

// Delete removes the entry for exactly iid and prefix and returns it.
func (c *MapCache) Delete(iid uint32, prefix netip.Prefix) (*Mapping, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deleteLocked(iid, prefix)
}

func (c *MapCache) deleteLocked(iid uint32, prefix netip.Prefix) (*Mapping, bool) {
	s := c.snap.Load()
	t := s.table(iid)
	if t == nil {
		return nil, false
	}
	m, ok := t.Get(prefix)
	if !ok {
		return nil, false
	}
	c.store(s.with(iid, t.DeletePersist(prefix), -1))
	c.forgetPendingLocked(m)
	return m, true
}

// Lookup returns the longest-prefix match for addr in iid. Expired entries
// are misses.
func (c *MapCache) Lookup(iid uint32, addr netip.Addr) (*Mapping, bool) {
	m := c.snap.Load().lookup(iid, addr.Unmap())
	if m == nil || m.expired(c.now.Load()) {
		return nil, false
	}
	return m, true
}

// Get returns the entry for exactly iid and prefix, expired or not.
func (c *MapCache) Get(iid uint32, prefix netip.Prefix) (*Mapping, bool) {
	t := c.snap.Load().table(iid)
	if t == nil {
		return nil, false
	}
	return t.Get(prefix)
}

// Walk calls fn for every entry, by instance-id then prefix, on one
// snapshot, until fn returns false.
func (c *MapCache) Walk(fn func(*Mapping) bool) {
	s := c.snap.Load()
	ms := make([]*Mapping, 0, s.n)
	s.each(func(m *Mapping) { ms = append(ms, m) })
	// Prefixes in bart's AllSorted order (address, then length), sorted
	// here: AllSorted's generic sort is ~10 KB of MIPS code (issue 6).
	sortx.Sort(len(ms), func(i, j int) bool {
		a, b := ms[i], ms[j]
		if a.InstanceID != b.InstanceID {
			return a.InstanceID < b.InstanceID
		}
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c < 0
		}
		return a.Prefix.Bits() < b.Prefix.Bits()
	}, func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
	for _, m := range ms {
		if !fn(m) {
			return
		}
	}
}

// All returns every entry, by instance-id then prefix (for `show map-cache`).
func (c *MapCache) All() []*Mapping {
	out := make([]*Mapping, 0, c.Len())
	c.Walk(func(m *Mapping) bool { out = append(out, m); return true })
	return out
}

// Expire removes every learned entry that has expired at now and returns
// them (the control plane may ask again for those still in use).
func (c *MapCache) Expire(now time.Time) []*Mapping {
	cn := clockFrom(now)
	var dead []*Mapping
	c.snap.Load().each(func(m *Mapping) {
		if !m.Static && m.expired(cn) {
			dead = append(dead, m)
		}
	})
	if len(dead) == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := dead[:0]
	for _, m := range dead {
		if cur, ok := c.Get(m.InstanceID, m.Prefix); ok && cur == m {
			c.deleteLocked(m.InstanceID, m.Prefix)
			out = append(out, m)
		}
	}
	return out
}

// SetLocatorUp marks every RLOC with address addr (any port) reachable or
// not, in every entry, and returns how many RLOCs it changed.
func (c *MapCache) SetLocatorUp(addr netip.Addr, up bool) int {
	addr = addr.Unmap()
	n := 0
	c.snap.Load().each(func(m *Mapping) {
		for _, r := range m.RLOCs {
			if r.Addr.Addr() == addr && r.Up() != up {
				r.SetUp(up)
				n++
			}
		}
	})
	return n
}

// evictCandidates is how many of the oldest learned entries one scan keeps.
const evictCandidates = 32

// evictLocked removes the least recently used learned entry. It keeps a
// short list of the oldest entries from one scan of the cache: a candidate
// whose last-used time has not changed since the scan is still older than
// every entry outside the list, so eviction is exact LRU (to the clock's
// resolution) at an amortized cost of one scan per evictCandidates
// evictions.
func (c *MapCache) evictLocked(now uint32) bool {
	for attempt := 0; attempt < 2; attempt++ {
		for len(c.cands) > 0 {
			cd := c.cands[0]
			c.cands = c.cands[1:]
			if cd.m.lastUsed.Load() != cd.used {
				continue // used since the scan: no longer known to be oldest
			}
			if cur, ok := c.Get(cd.m.InstanceID, cd.m.Prefix); !ok || cur != cd.m {
				continue // deleted or replaced
			}
			c.deleteLocked(cd.m.InstanceID, cd.m.Prefix)
			return true
		}
		c.scanLocked()
		if len(c.cands) == 0 {
			return false
		}
	}
	return false
}

// scanLocked refills the eviction candidates with the oldest learned
// entries: one pass keeping the evictCandidates oldest in a sorted array.
func (c *MapCache) scanLocked() {
	cands := make([]evictCand, 0, evictCandidates)
	c.snap.Load().each(func(m *Mapping) {
		if m.Static {
			return
		}
		u := m.lastUsed.Load()
		if len(cands) == evictCandidates && u >= cands[len(cands)-1].used {
			return
		}
		i := sort.Search(len(cands), func(j int) bool { return cands[j].used > u })
		if len(cands) == evictCandidates {
			cands = cands[:len(cands)-1]
		}
		cands = slices.Insert(cands, i, evictCand{m, u})
	})
	c.cands = cands
}

// each calls fn for every entry of the snapshot, in no particular order.
func (s *snapshot) each(fn func(*Mapping)) {
	for _, it := range s.tables {
		for _, m := range it.t.All() {
			fn(m)
		}
	}
}

// Load installs many mappings at once (for example a large static
// configuration): one new snapshot, built by cloning the tables and
// inserting in place, instead of one persistent insert per mapping. Entries
// replace existing ones for the same prefix; the limit is not enforced
// beyond refusing the whole load when it would exceed it.
func (c *MapCache) Load(ms []*Mapping) error {
	if err := c.load(ms); err != nil {
		return err
	}
	if c.onInstall.Load() != nil {
		for _, m := range ms {
			c.installed(m)
		}
	}
	return nil
}

func (c *MapCache) load(ms []*Mapping) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.snap.Load()
	tables := map[uint32]*bart.Table[*Mapping]{}
	for _, it := range s.tables {
		tables[it.iid] = it.t.Clone()
	}
	now := c.now.Load()
	for _, m := range ms {
		t := tables[m.InstanceID]
		if t == nil {
			t = new(bart.Table[*Mapping])
			tables[m.InstanceID] = t
		}
		if old, ok := t.Get(m.Prefix); ok && old != m {
			inherit(m, old)
		}
		c.stamp(m, now)
		t.Insert(m.Prefix, m)
	}
	ns := &snapshot{}
	for iid, t := range tables {
		ns.tables = append(ns.tables, iidTable{iid, t})
		ns.n += t.Size()
	}
	if ns.n > c.limit {
		return ErrCacheFull
	}
	c.cands = nil
	c.store(ns)
	for k, pm := range c.pendings {
		t := ns.table(k.iid)
		if t == nil {
			delete(c.pendings, k)
			continue
		}
		if cur, ok := t.Get(pm.Prefix); !ok || cur != pm {
			delete(c.pendings, k)
		}
	}
	return nil
}
