package fwd

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lispd/lispd/internal/nocmp"
)

// Local locators (multihoming, issue 7): the data plane's view of this
// router's own RLOCs, for the source address and outgoing interface of
// encapsulated packets.
//
// Which local locator a packet leaves from: among the local locators that
// are up and of the remote RLOC's address family, those of the best (lowest)
// priority, shared by weight with the inner flow's hash, so one flow keeps
// one uplink. These are the priorities and weights this router registers:
// the uplinks it asks the world to send to are the ones it sends from, in
// the same shares (a priority-2 backup link carries nothing while a
// priority-1 link is up, in either direction). A locator whose interface is
// down never carries traffic; with none left in the family, the kernel
// chooses the source and route.

// LocalLocator is one of this router's own RLOCs as the data plane uses it.
type LocalLocator struct {
	Addr     netip.Addr
	IfIndex  int   // the interface the address lives on; 0 = the route decides
	Priority uint8 // as registered; 255 = never a source
	Weight   uint8 // as registered
	Up       bool  // the interface is up and the address present
	// Link is the interface holding Addr even when IfIndex is left 0 (one
	// locator of its family: the route decides for the sockets); the
	// in-kernel path sends from it and decapsulates on it. 0: IfIndex.
	Link int
}

// link returns the interface holding the address: Link, else IfIndex.
func (l LocalLocator) link() int {
	if l.Link != 0 {
		return l.Link
	}
	return l.IfIndex
}

// localChoice is one candidate source of a family.
type localChoice struct {
	addr    netip.Addr
	ifindex int
	link    int    // LocalLocator.Link, else ifindex
	cum     uint32 // cumulative weight up to and including this one
}

// localSel is an immutable selection table: the best-priority up locators
// per family.
type localSel struct {
	v4, v6 []localChoice
}

// newLocalSel builds the selection for ls.
func newLocalSel(ls []LocalLocator) *localSel {
	s := &localSel{}
	for _, v6 := range []bool{false, true} {
		best := -1
		for _, l := range ls {
			if l.Up && l.Addr.IsValid() && l.Addr.Unmap().Is6() == v6 && l.Priority != 255 && (best < 0 || int(l.Priority) < best) {
				best = int(l.Priority)
			}
		}
		if best < 0 {
			continue
		}
		var out []localChoice
		zero := true
		for _, l := range ls {
			if l.Up && l.Addr.IsValid() && l.Addr.Unmap().Is6() == v6 && int(l.Priority) == best && l.Weight > 0 {
				zero = false
			}
		}
		var cum uint32
		for _, l := range ls {
			if !l.Up || !l.Addr.IsValid() || l.Addr.Unmap().Is6() != v6 || int(l.Priority) != best {
				continue
			}
			w := uint32(l.Weight)
			if zero {
				w = 1 // all weights 0: share equally
			}
			if w == 0 {
				continue
			}
			cum += w
			out = append(out, localChoice{addr: l.Addr.Unmap(), ifindex: l.IfIndex, link: l.link(), cum: cum})
		}
		if v6 {
			s.v6 = out
		} else {
			s.v4 = out
		}
	}
	return s
}

// pick returns the source for a packet to an RLOC of the given family and
// a 16-bit slice of the flow hash; ok is false when the family has none.
func (s *localSel) pick(v6 bool, h16 uint32) (netip.Addr, int, bool) {
	cs := s.v4
	if v6 {
		cs = s.v6
	}
	switch len(cs) {
	case 0:
		return netip.Addr{}, 0, false
	case 1:
		return cs[0].addr, cs[0].ifindex, true
	}
	x := h16 * cs[len(cs)-1].cum >> 16 // uniform in [0, total)
	for i := range cs {
		if x < cs[i].cum {
			return cs[i].addr, cs[i].ifindex, true
		}
	}
	return cs[len(cs)-1].addr, cs[len(cs)-1].ifindex, true
}

// SetLocalLocators replaces the local locators that encapsulated packets
// leave from (source address and interface per packet) from the next batch
// on. nil or none up: the kernel chooses, as without multihoming.
func (p *Plane) SetLocalLocators(ls []LocalLocator) {
	defer p.kernelLocators(ls)
	if len(ls) == 0 {
		p.local.Store(nil)
		return
	}
	p.local.Store(newLocalSel(ls))
}

// Recent ITRs (RFC 9301 SMR): the decapsulating side remembers the outer
// sources of the LISP packets it received lately, bounded, so that a
// change of our locators can be announced to them with Solicit-Map-Requests.
//
// Received locator-status bits: the map-cache entry of the sending site
// (the inner source EID's) keeps the bits last received for it; a bit
// going from 1 to 0 is reported (LSBFunc), a reason to probe that locator
// at once. The bits belong to the site, not to the ITR address: when a
// site's uplink fails, its packets change outer source and bits together.

// RecentITRCap bounds the recent-ITR table; the least recently seen entry
// makes room for a new one.
const RecentITRCap = 64

// LSBFunc is told that the ITR at itr, sending from the EID src, cleared
// locator-status bits: old had them set, new does not (bit i is the i-th
// locator of the sender's mapping, as registered: RLOC.StatusBit). It is called from a
// decapsulating goroutine and must not block.
type LSBFunc func(itr, src netip.Addr, old, new uint32)

type recentITR struct {
	itr  netip.Addr
	seen uint32 // coarse clock
}

// recentITRs is the table shared by the decapsulating goroutines.
type recentITRs struct {
	_ nocmp.DoNotCompare

	mu      sync.Mutex
	entries [RecentITRCap]recentITR
	n       int
}

// note records a packet from itr at coarse time now (a time before the
// one recorded already changes nothing).
func (t *recentITRs) note(itr netip.Addr, now uint32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var e *recentITR
	for i := 0; i < t.n; i++ {
		if t.entries[i].itr == itr {
			e = &t.entries[i]
			break
		}
	}
	if e == nil {
		if t.n < RecentITRCap {
			e = &t.entries[t.n]
			t.n++
		} else {
			e = &t.entries[0]
			for i := 1; i < t.n; i++ {
				if t.entries[i].seen < e.seen {
					e = &t.entries[i]
				}
			}
			if e.seen > now {
				return // older than every entry
			}
		}
		e.itr, e.seen = itr, now
	}
	e.seen = max(e.seen, now)
}

// since returns the ITRs seen at or after coarse time from.
func (t *recentITRs) since(from uint32) []netip.Addr {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []netip.Addr
	for i := 0; i < t.n; i++ {
		if t.entries[i].seen >= from {
			out = append(out, t.entries[i].itr)
		}
	}
	return out
}

// itrMemo is a decapsulating goroutine's small cache in front of the shared
// table and the map-cache: a packet from an ITR already recorded this
// second takes no lock, and one with the same locator-status bits as that
// ITR's previous packet in the same second no map-cache lookup. (Once a
// second, so that a site whose entry appears later, or is replaced, gets
// its bits recorded.)
type itrMemo struct {
	slots [16]struct {
		itr   netip.Addr
		seen  uint32
		lsb   uint32
		lsbAt uint32 // coarse second lsb was last compared with the entry
	}
}

// lsbPresent marks Mapping.lsbs as holding received bits.
const lsbPresent = 1 << 32

// noteITR records, allocation-free in the steady state, a decapsulated
// packet from itr with inner source src and the header's locator-status
// bits.
func (p *Plane) noteITR(m *itrMemo, itr, src netip.Addr, lsb uint32, hasL bool) {
	now := p.cache.now.Load()
	var h uint32
	if itr.Is4() {
		b := itr.As4()
		h = uint32(b[3]) ^ uint32(b[2])<<3
	} else {
		b := itr.As16()
		h = uint32(b[15]) ^ uint32(b[14])<<3
	}
	s := &m.slots[h%uint32(len(m.slots))]
	if s.itr != itr {
		s.itr, s.seen, s.lsbAt = itr, 0, 0
	}
	if s.seen != now {
		s.seen = now
		p.itrs.note(itr, now)
	}
	if !hasL || (s.lsbAt == now && s.lsb == lsb) {
		return
	}
	s.lsb, s.lsbAt = lsb, now
	p.noteLSB(itr, src, lsb)
}

// noteLSB records the locator-status bits lsb that itr sent in a packet
// from the EID src in the sending site's map-cache entry, and reports bits
// that went from 1 to 0 (LSBFunc).
func (p *Plane) noteLSB(itr, src netip.Addr, lsb uint32) {
	mp := p.cache.snap.Load().lookup(p.opts.InstanceID, src)
	if mp == nil || mp.State != StateComplete {
		return
	}
	old := mp.lsbs.Swap(lsbPresent | uint64(lsb))
	if old&lsbPresent != 0 && uint32(old)&^lsb != 0 && p.opts.LSBChanged != nil {
		p.opts.LSBChanged(itr, src, uint32(old), lsb)
	}
}

// RecentITRs returns the outer source addresses of the LISP packets
// received in the last within (to the coarse clock's second), at most
// RecentITRCap: the ITRs to send Solicit-Map-Requests to.
func (p *Plane) RecentITRs(within time.Duration) []netip.Addr {
	now := p.cache.now.Load()
	secs := uint32(min(max(within/time.Second, 0), 1<<31))
	from := uint32(1)
	if now > secs {
		from = now - secs
	}
	return p.itrs.since(from)
}

// localPtr is the plane's current local selection.
type localPtr = atomic.Pointer[localSel]
