//go:build !nokernelpath

package fwd

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lispd/lispd/fwd/kpath"
)

// kernelEncap is the encapsulating program's maps as the mirror uses them;
// *kpath.Encap satisfies it.
type kernelEncap interface {
	Set(p netip.Prefix, ent kpath.EncapEntry) error
	SetLocals(l kpath.EncapLocals) error
	SetLocals6(l kpath.EncapLocals) error
	Delete(p netip.Prefix) error
	RLOCCounters(p netip.Prefix) ([kpath.MaxEncapRLOCs]kpath.Counters, error)
	Stats() (kpath.Stats, error)
	Close() error
}

// KernelStats is kpath.Stats (and kernelStatNames names every slot).
const _ = uint(len(KernelStats{})-kpath.NumStats) + uint(kpath.NumStats-len(KernelStats{}))

// The kernel's slot table is the selection table: a mirrored mapping
// shares its flows among its RLOCs in the same proportions, the locals
// table among the local locators.
const _ = uint(kpath.EncapSlots-selSlots) + uint(selSlots-kpath.EncapSlots)

// kernelDecap is the decapsulating program as the mirror uses it;
// *kpath.Decap satisfies it.
type kernelDecap interface {
	Attach(ifindex int) error
	AttachXDP(ifindex int) error
	Detach(ifindex int) error
	Senders(dst []kpath.Sender) ([]kpath.Sender, error)
	SetLocal(rloc netip.Addr, ent kpath.DecapEntry) error
	DeleteLocal(rloc netip.Addr) error
	Counters(rloc netip.Addr) (kpath.Counters, error)
	Stats() (kpath.Stats, error)
	Close() error
}

// mirrorEntry is one entry of the encapsulating program's maps, as wanted
// or as installed.
type mirrorEntry struct {
	ent  kpath.EncapEntry
	m    *Mapping                    // nil for a punt entry
	rs   [kpath.MaxEncapRLOCs]*RLOC  // the RLOCs of ent (ent.RLOC(i)), nil where unused
	pkts [kpath.MaxEncapRLOCs]uint64 // per RLOC, kernel counters already folded into m and rs
	byts [kpath.MaxEncapRLOCs]uint64
}

// same reports whether the entry w wants is the one in installed.
func (w *mirrorEntry) same(in *mirrorEntry) bool {
	return in != nil && w.ent == in.ent && w.m == in.m && w.rs == in.rs
}

// kernelPath is the in-kernel path of a Plane: the programs and what the
// mirror goroutine installed in their maps.
type kernelPath struct {
	enc      kernelEncap
	dec      kernelDecap
	tunIndex int
	wake     chan struct{}

	mu        sync.Mutex // serializes sync; guards the fields below
	installed map[netip.Prefix]*mirrorEntry
	encLocals [2]kpath.EncapLocals // the locals tables as the maps hold them: [0] IPv4, [1] IPv6 (a new map holds zeros)
	locals    map[netip.Addr]kpath.DecapEntry
	localCnt  map[netip.Addr]kpath.Counters // decapsulated by entries since removed or replaced
	uplinks   map[int]bool
	applied   map[netip.Addr]uint64 // per sender, the record (kpath.Sender.At) folded last
	lastErr   uint32                // coarse time of the last logged error
	closed    bool

	xdpLinks map[int]bool // uplinks whose XDP hook decapsulates too
	xdpErr   error        // why the last XDP attach failed

	mirrored, punted          atomic.Uint64
	encPkts, encBytes         atomic.Uint64
	decPkts, decBytes, errors atomic.Uint64
	decBase                   kpath.Counters // of local RLOCs no longer set
}

// newKernelPathWith wraps loaded programs (attached by the caller).
func newKernelPathWith(enc kernelEncap, dec kernelDecap, tunIndex int) *kernelPath {
	return &kernelPath{
		enc: enc, dec: dec, tunIndex: tunIndex, wake: make(chan struct{}, 1),
		installed: map[netip.Prefix]*mirrorEntry{},
		locals:    map[netip.Addr]kpath.DecapEntry{},
		localCnt:  map[netip.Addr]kpath.Counters{},
		uplinks:   map[int]bool{},
		applied:   map[netip.Addr]uint64{},
		xdpLinks:  map[int]bool{},
	}
}

// openKernelPath loads both programs and attaches the encapsulating one to
// the TUN tunIndex. The decapsulating one is attached to the uplinks as the
// local locators become known.
func openKernelPath(tunIndex, maxEntries int, localEIDs []netip.Prefix) (*kernelPath, error) {
	if tunIndex <= 0 {
		return nil, errors.New("kernel path: TUN ifindex unknown")
	}
	enc, err := kpath.NewEncap(maxEntries)
	if err != nil {
		return nil, fmt.Errorf("kernel path: load encapsulating program: %w", err)
	}
	if err := enc.Attach(tunIndex); err != nil {
		enc.Close()
		return nil, fmt.Errorf("kernel path: attach to TUN egress: %w", err)
	}
	dec, err := kpath.NewDecap(64)
	if err != nil {
		enc.Close()
		return nil, fmt.Errorf("kernel path: load decapsulating program: %w", err)
	}
	// The decapsulating program checks the inner destination against the
	// site's EID prefixes (as Decapsulator does: DropNotLocalEID) and
	// decapsulates nothing without them.
	if err := dec.SetLocalEIDs(localEIDs); err != nil {
		enc.Close()
		dec.Close()
		return nil, fmt.Errorf("kernel path: local EID prefixes: %w", err)
	}
	return newKernelPathWith(enc, dec, tunIndex), nil
}

// signal asks the mirror goroutine for a resync without blocking.
func (k *kernelPath) signal() {
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

// mirrorConfig is what decides eligibility and the entries' bytes, taken
// once per sync.
type mirrorConfig struct {
	iid      uint32
	eidSpace []netip.Prefix
	pathMTU  int // default path MTU
	lsbs     uint32
	local    *localSel // nil: no local locators: nothing is eligible
	now      uint32
}

// sources returns the local locators of one family (IPv6 when v6) the
// kernel sends from: those the userspace path picks among (localSel.v4 or
// v6: the up ones of the best priority), when they are one to
// kpath.MaxEncapLocals, each with its interface known; else nil (the
// mappings with RLOCs of that family stay in userspace).
func (c *mirrorConfig) sources(v6 bool) []localChoice {
	if c.local == nil {
		return nil
	}
	cs := c.local.v4
	if v6 {
		cs = c.local.v6
	}
	if len(cs) == 0 || len(cs) > kpath.MaxEncapLocals {
		return nil
	}
	for _, l := range cs {
		if l.link <= 0 {
			return nil
		}
	}
	return cs
}

// locals returns the locals table of one family (IPv6 when v6) for the
// local locators, the empty one (every packet to the TUN) when
// c.sources(v6) is nil. prev is the table installed: a locator in it keeps
// its index (so that a packet read during the write pairs an address with
// its own interface) and the slots it still has a share for (so that its
// flows stay on their uplink); a new one takes a free index, one unused in
// prev if there is one.
func (c *mirrorConfig) locals(v6 bool, prev *kpath.EncapLocals) kpath.EncapLocals {
	var t kpath.EncapLocals
	cs := c.sources(v6)
	if cs == nil {
		return t
	}
	idx := make([]int, len(cs)) // the table index of each of cs
	var taken [kpath.MaxEncapLocals]bool
	for k, l := range cs {
		idx[k] = -1
		for i, p := range prev.Locals {
			if !taken[i] && p.IfIndex == l.link && p.Src == l.addr {
				idx[k], taken[i] = i, true
				break
			}
		}
	}
	for k := range cs { // len(cs) <= len(prev.Locals): the second pass finds one
		for pass := 0; idx[k] < 0 && pass < 2; pass++ {
			for i, p := range prev.Locals {
				if !taken[i] && (pass > 0 || p.IfIndex == 0) {
					idx[k], taken[i] = i, true
					break
				}
			}
		}
	}
	weights := make([]int, len(cs))
	var seed [selSlots]int
	for k, l := range cs {
		weights[k] = int(l.cum)
		if k > 0 {
			weights[k] -= int(cs[k-1].cum)
		}
		t.Locals[idx[k]] = kpath.EncapLocal{Src: l.addr, IfIndex: l.link}
	}
	for j, i := range prev.Slots {
		seed[j] = -1
		if i := int(i) % kpath.MaxEncapLocals; prev.Locals[i].IfIndex > 0 && prev.Locals[i] == t.Locals[i] {
			seed[j] = slices.Index(idx, i)
		}
	}
	for j, k := range shareSlots(weights, &seed) {
		t.Slots[j] = uint8(idx[k])
	}
	return t
}

// inEIDSpace reports whether every address of p is in eid_space (as the
// userspace path checks per destination).
func (c *mirrorConfig) inEIDSpace(p netip.Prefix) bool {
	if len(c.eidSpace) == 0 {
		return true
	}
	for _, s := range c.eidSpace {
		if s.Bits() <= p.Bits() && s.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// eligible returns the kernel entry for m and the RLOCs it sends to (in
// the entry's order), or ok false when m must stay on the userspace path.
// The RLOCs are those the selection table hands flows to: one, or up to
// kpath.MaxEncapRLOCs sharing the load, whose slots the entry copies; all
// IPv4 (sent from the IPv4 locals table's uplinks), or all IPv6 (from the
// IPv6 table's, with an outer IPv6 header). A mapping whose RLOCs mix the
// families stays in userspace.
func (c *mirrorConfig) eligible(m *Mapping) (ent kpath.EncapEntry, rs [kpath.MaxEncapRLOCs]*RLOC, ok bool) {
	if m.InstanceID != c.iid || m.State != StateComplete || m.expired(c.now) || !c.inEIDSpace(m.Prefix) {
		return ent, rs, false
	}
	s := m.sel.Load()
	switch {
	case s == nil:
		return ent, rs, false
	case s.single != nil:
		rs[0] = s.single
	case len(s.slots) == selSlots:
		// The kernel's RLOC index of each of m.RLOCs the slots name,
		// in the order of m.RLOCs: a rebuild that only moves slots
		// keeps every RLOC at its index (and its counters there).
		var used [256]bool
		var idx [256]uint8
		for _, i := range s.slots {
			used[i] = true
		}
		n := 0
		for i := range m.RLOCs {
			if i >= len(used) || !used[i] {
				continue
			}
			if n == len(rs) {
				return ent, rs, false // more RLOCs than an entry holds
			}
			idx[i] = uint8(n)
			rs[n] = m.RLOCs[i]
			n++
		}
		for j, i := range s.slots {
			ent.Slots[j] = idx[i]
		}
	default:
		return ent, rs, false // none usable
	}
	v6 := !rs[0].Addr.Addr().Is4()
	if c.sources(v6) == nil {
		return ent, rs, false
	}
	for i, r := range rs {
		if r == nil {
			break
		}
		if a := r.Addr.Addr(); a.Is4() == v6 || a.Is4In6() || r.Addr.Port() != DataPort {
			return ent, rs, false
		}
		mtu := int(r.pmtu.Load())
		if mtu == 0 {
			mtu = c.pathMTU
		}
		if i == 0 {
			ent.Dst, ent.MTU = r.Addr.Addr(), mtu
		} else {
			ent.Alt[i-1] = kpath.EncapRLOC{Dst: r.Addr.Addr(), MTU: mtu}
		}
	}
	flags := uint8(FlagN | FlagL)
	lsbs := c.lsbs
	if c.iid != 0 {
		flags |= FlagI
		lsbs &= 0xff
	}
	ent.Flags, ent.InstanceID, ent.LSBs = flags, c.iid, lsbs
	return ent, rs, true
}

// puntEntry sends every packet of its prefix to the TUN: MTU 0, nothing
// fits.
var puntEntry = kpath.EncapEntry{Dst: netip.IPv4Unspecified()}

// wanted computes the entries the encapsulating program's maps should
// hold for snapshot s.
func (c *mirrorConfig) wanted(s *snapshot) map[netip.Prefix]*mirrorEntry {
	want := map[netip.Prefix]*mirrorEntry{}
	var rest []*Mapping
	s.each(func(m *Mapping) {
		if ent, rs, ok := c.eligible(m); ok {
			want[m.Prefix] = &mirrorEntry{ent: ent, m: m, rs: rs}
		} else if m.InstanceID == c.iid {
			rest = append(rest, m)
		}
	})
	if len(want) == 0 {
		return want
	}
	for _, m := range rest {
		for bits := m.Prefix.Bits() - 1; bits >= 0; bits-- {
			up, _ := m.Prefix.Addr().Prefix(bits)
			if w := want[up]; w != nil && w.m != nil {
				want[m.Prefix] = &mirrorEntry{ent: puntEntry}
				break
			}
		}
	}
	return want
}

// syncLocals writes the locals table of one family (IPv6 when v6) when
// it changed and reports whether the map holds it. It goes before the
// entries (syncEncap): new entries find their sources in place, and when
// the locators can no longer be mirrored the emptied table sends every
// packet to the TUN before the entries go.
func (k *kernelPath) syncLocals(v6 bool, t kpath.EncapLocals, now uint32, logf func(string, ...any)) bool {
	f := 0
	set, what := k.enc.SetLocals, "IPv4"
	if v6 {
		f, set, what = 1, k.enc.SetLocals6, "IPv6"
	}
	if t == k.encLocals[f] {
		return true
	}
	if err := set(t); err != nil {
		k.failed(now, logf, "kernel path: set the %s local RLOCs: %v", what, err)
		return false
	}
	k.encLocals[f] = t
	return true
}

// syncMirror brings the encapsulating program's maps to the snapshot s
// and the local locators of c: the locals tables first (one per RLOC
// family), then the entries.
func (k *kernelPath) syncMirror(c *mirrorConfig, s *snapshot, fold bool, logf func(string, ...any)) {
	want := c.wanted(s)
	for f, v6 := range []bool{false, true} {
		if k.syncLocals(v6, c.locals(v6, &k.encLocals[f]), c.now, logf) {
			continue
		}
		// The kernel would send from stale local locators: every
		// mapping with RLOCs of that family to userspace until a write
		// succeeds. Punted, not deleted: deleted, its packets would
		// match a less specific mirrored entry of the other family.
		for p, w := range want {
			if w.m != nil && w.ent.Dst.Is6() == v6 {
				want[p] = &mirrorEntry{ent: puntEntry}
			}
		}
	}
	k.syncEncap(want, c.now, fold, logf)
}

// syncEncap brings the maps to want, folding the counters of entries it
// replaces or deletes; with fold it also folds those of the entries it
// keeps (the once-a-second pass).
func (k *kernelPath) syncEncap(want map[netip.Prefix]*mirrorEntry, now uint32, fold bool, logf func(string, ...any)) {
	for p, in := range k.installed {
		w := want[p]
		if w != nil && w.same(in) {
			if fold {
				k.fold(p, in, now)
			}
			continue
		}
		k.fold(p, in, now)
		if w == nil {
			if err := k.enc.Delete(p); err != nil {
				k.failed(now, logf, "kernel path: delete %v: %v", p, err)
			}
			delete(k.installed, p)
		}
	}
	for p, w := range want {
		in := k.installed[p]
		if w.same(in) {
			continue
		}
		if err := k.enc.Set(p, w.ent); err != nil {
			k.failed(now, logf, "kernel path: set %v: %v", p, err)
			if in != nil {
				// Whatever the map holds now, it is not what the
				// userspace path would do: take it out.
				k.enc.Delete(p)
				delete(k.installed, p)
			}
			continue
		}
		k.installed[p] = &mirrorEntry{ent: w.ent, m: w.m, rs: w.rs}
	}
	var mirrored, punted uint64
	for _, in := range k.installed {
		if in.m != nil {
			mirrored++
		} else {
			punted++
		}
	}
	k.mirrored.Store(mirrored)
	k.punted.Store(punted)
}

// fold adds what the kernel counted for p since the last fold to the
// mapping's and each RLOC's counters and marks the mapping used.
func (k *kernelPath) fold(p netip.Prefix, in *mirrorEntry, now uint32) {
	if in.m == nil {
		return
	}
	cs, err := k.enc.RLOCCounters(p)
	if err != nil {
		return
	}
	var dp, db uint64
	for i, r := range in.rs {
		c := cs[i]
		if r == nil || c.Packets <= in.pkts[i] || c.Bytes < in.byts[i] {
			continue
		}
		rp, rb := c.Packets-in.pkts[i], c.Bytes-in.byts[i]
		in.pkts[i], in.byts[i] = c.Packets, c.Bytes
		r.Packets.Add(rp)
		r.Bytes.Add(rb)
		dp += rp
		db += rb
	}
	if dp == 0 {
		return
	}
	in.m.Packets.Add(dp)
	in.m.Bytes.Add(db)
	in.m.touch(now)
	k.encPkts.Add(dp)
	k.encBytes.Add(db)
}

// syncDecap attaches the decapsulating program to the uplinks of the local
// locators (IPv4 and IPv6) and installs their addresses.
func (k *kernelPath) syncDecap(ls []LocalLocator, iid uint32, now uint32, logf func(string, ...any)) {
	want := map[netip.Addr]kpath.DecapEntry{}
	links := map[int]bool{}
	for _, l := range ls {
		a := l.Addr.Unmap()
		if !a.IsValid() {
			continue
		}
		want[a] = kpath.DecapEntry{TUNIfIndex: k.tunIndex, InstanceID: iid}
		link := l.link()
		links[link] = link > 0
		if link > 0 && !k.uplinks[link] {
			if err := k.dec.Attach(link); err != nil {
				k.failed(now, logf, "kernel path: attach to uplink %d ingress: %v", link, err)
			} else {
				k.uplinks[link] = true
				k.attachXDP(link, logf)
			}
		}
	}
	// An uplink no locator is on any more (its address gone, the
	// locator removed): take the program off it.
	for link := range k.uplinks {
		if links[link] {
			continue
		}
		if err := k.dec.Detach(link); err != nil {
			k.failed(now, logf, "kernel path: detach from uplink %d: %v", link, err)
		}
		delete(k.uplinks, link)
		delete(k.xdpLinks, link)
	}
	for a, e := range k.locals {
		if w, ok := want[a]; ok && w == e {
			continue
		}
		if c, err := k.dec.Counters(a); err == nil {
			k.decBase.Packets += c.Packets
			k.decBase.Bytes += c.Bytes
		}
		if err := k.dec.DeleteLocal(a); err != nil {
			k.failed(now, logf, "kernel path: delete local RLOC %v: %v", a, err)
		}
		delete(k.locals, a)
	}
	for a, w := range want {
		if _, ok := k.locals[a]; ok {
			continue
		}
		if err := k.dec.SetLocal(a, w); err != nil {
			k.failed(now, logf, "kernel path: set local RLOC %v: %v", a, err)
			continue
		}
		k.locals[a] = w
	}
	k.foldDecap()
}

// attachXDP adds the XDP variant of the decapsulating program to an uplink
// whose TC ingress has the program (never alone: its packets would enter
// the stack on the uplink), so that decapsulated flows are GRO-merged
// before the TC program moves them into the TUN. Where the kernel or the
// driver refuses (another XDP program, no XDP support), the TC program
// decapsulates alone, as complete as before, and the snapshot says why.
func (k *kernelPath) attachXDP(link int, logf func(string, ...any)) {
	if err := k.dec.AttachXDP(link); err != nil {
		k.xdpErr = err
		if logf != nil {
			logf("kernel path: decapsulating at uplink %d ingress without GRO (XDP attach: %v)", link, err)
		}
		return
	}
	k.xdpLinks[link] = true
}

// decapGRO describes KernelSnapshot.DecapGRO (k.mu held).
func (k *kernelPath) decapGRO() string {
	switch {
	case len(k.uplinks) == 0:
		return ""
	case len(k.xdpLinks) == len(k.uplinks):
		return "xdp"
	case len(k.xdpLinks) > 0:
		return fmt.Sprintf("xdp on %d of %d uplinks (%v)", len(k.xdpLinks), len(k.uplinks), k.xdpErr)
	}
	return fmt.Sprintf("off (%v)", k.xdpErr)
}

// foldDecap refreshes the decapsulated totals.
func (k *kernelPath) foldDecap() {
	tot := k.decBase
	for a := range k.locals {
		if c, err := k.dec.Counters(a); err == nil {
			tot.Packets += c.Packets
			tot.Bytes += c.Bytes
		}
	}
	k.decPkts.Store(tot.Packets)
	k.decBytes.Store(tot.Bytes)
}

// failed counts an error and logs it at most once a second.
func (k *kernelPath) failed(now uint32, logf func(string, ...any), format string, args ...any) {
	k.errors.Add(1)
	if logf != nil && now != k.lastErr {
		k.lastErr = now
		logf(format, args...)
	}
}

// snapshot returns the kernel path's counters.
func (k *kernelPath) snapshot() KernelSnapshot {
	s := KernelSnapshot{State: KernelOn,
		Mirrored: k.mirrored.Load(), Punted: k.punted.Load(),
		EncapPackets: k.encPkts.Load(), EncapBytes: k.encBytes.Load(),
		DecapPackets: k.decPkts.Load(), DecapBytes: k.decBytes.Load(),
		Errors: k.errors.Load(),
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	s.Uplinks, s.Locals = uint64(len(k.uplinks)), uint64(len(k.locals))
	s.DecapGRO = k.decapGRO()
	if k.closed {
		return s
	}
	if st, err := k.enc.Stats(); err == nil {
		s.EncapStats = KernelStats(st)
	}
	if st, err := k.dec.Stats(); err == nil {
		s.DecapStats = KernelStats(st)
	}
	return s
}

// close deletes nothing (the maps go with the programs) and detaches both
// programs.
func (k *kernelPath) close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.closed = true
	return errors.Join(k.enc.Close(), k.dec.Close())
}

// mirrorConfig takes the plane's current settings.
func (p *Plane) mirrorConfig() mirrorConfig {
	return mirrorConfig{iid: p.opts.InstanceID, eidSpace: p.opts.EIDSpace, pathMTU: p.opts.PathMTU,
		lsbs: p.lsb.Load(), local: p.local.Load(), now: p.cache.now.Load()}
}

// kernelSync brings the kernel's maps to the map-cache's state; fold says
// whether to fold the counters of all entries and the senders the
// decapsulating program recorded (the once-a-second pass).
func (p *Plane) kernelSync(fold bool) {
	k := p.kern
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return
	}
	c := p.mirrorConfig()
	k.syncMirror(&c, p.cache.snap.Load(), fold, p.logf)
	p.localMu.Lock()
	ls := p.localLocs
	p.localMu.Unlock()
	k.syncDecap(ls, p.opts.InstanceID, c.now, p.logf)
	var ss []kpath.Sender
	if fold {
		ss = k.newSenders(c.now, p.logf)
	}
	k.mu.Unlock()
	p.kernelSenders(ss) // LSBChanged is called without k.mu
}

// newSenders returns the senders the decapsulating program recorded since
// the last call (a sender rewritten since, or new).
func (k *kernelPath) newSenders(now uint32, logf func(string, ...any)) []kpath.Sender {
	ss, err := k.dec.Senders(nil)
	if err != nil {
		k.failed(now, logf, "kernel path: read the senders: %v", err)
	}
	seen := make(map[netip.Addr]uint64, len(ss))
	fresh := ss[:0]
	for _, s := range ss {
		if at, ok := k.applied[s.ITR]; !ok || at != s.At {
			fresh = append(fresh, s)
		}
		seen[s.ITR] = s.At
	}
	k.applied = seen // the ones the map evicted go
	return fresh
}

// senderFresh is how recently the decapsulating program must have recorded
// a sender for the once-a-second fold to take it: a sender that keeps
// sending is rewritten every kpath.SenderRefresh, so this covers the
// second since the last fold, with room for a late one.
const senderFresh = 2 * time.Second

// kernelSenders hands the ITRs the decapsulating program recorded lately
// to the bookkeeping of the packets lispd decapsulates itself (noteITR):
// the recent ITRs, which Solicit-Map-Requests go to, and the
// locator-status bits received per sending site. The oldest record comes
// first, so that the newest bits of a site (which may have come from
// another of its ITRs, after an uplink failed there) are the ones kept.
func (p *Plane) kernelSenders(ss []kpath.Sender) {
	// Oldest first: an insertion sort (a few records a second; a generic
	// sort of this type would cost ~13 KB of binary).
	for i := 1; i < len(ss); i++ {
		for j := i; j > 0 && ss[j].Age > ss[j-1].Age; j-- {
			ss[j], ss[j-1] = ss[j-1], ss[j]
		}
	}
	now := p.cache.now.Load()
	for _, s := range ss {
		if s.Age > senderFresh {
			continue
		}
		seen := now
		if d := uint32(s.Age / time.Second); d < now {
			seen = now - d
		}
		p.itrs.note(s.ITR, seen)
		if s.HasLSBs {
			p.noteLSB(s.ITR, s.Src, s.LSBs)
		}
	}
}

// kernelLoop is the mirror goroutine: a resync per change signal, and a
// resync with counters once a second.
func (p *Plane) kernelLoop(done <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	p.kernelSync(true)
	for {
		select {
		case <-done:
			return
		case <-p.kern.wake:
			p.kernelSync(false)
		case <-t.C:
			p.kernelSync(true)
		}
	}
}
