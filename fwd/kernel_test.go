//go:build !nokernelpath

package fwd

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lispd/lispd/fwd/kpath"
)

// fakeEncap is the encapsulating program's maps in memory: entries with
// counters the test moves as the program would.
type fakeEncap struct {
	mu      sync.Mutex
	entries map[netip.Prefix]kpath.EncapEntry
	cnt     map[netip.Prefix][kpath.MaxEncapRLOCs]kpath.Counters
	sets    int
	failSet bool

	locals     kpath.EncapLocals // the IPv4 locals table
	locals6    kpath.EncapLocals // the IPv6 one
	localSets  int               // writes of either
	failLocals bool              // refuse both
	fail6      bool              // refuse the IPv6 one
	ops        []string          // "set", "delete", "locals", "locals6": the writes in order
}

func newFakeEncap() *fakeEncap {
	return &fakeEncap{entries: map[netip.Prefix]kpath.EncapEntry{}, cnt: map[netip.Prefix][kpath.MaxEncapRLOCs]kpath.Counters{}}
}

func (f *fakeEncap) Set(p netip.Prefix, e kpath.EncapEntry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failSet {
		return errors.New("fake: set refused")
	}
	if _, err := e.AppendValue(nil); err != nil {
		return err
	}
	f.sets++
	f.ops = append(f.ops, "set")
	f.entries[p] = e
	f.cnt[p] = [kpath.MaxEncapRLOCs]kpath.Counters{}
	return nil
}

func (f *fakeEncap) Delete(p netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ops = append(f.ops, "delete")
	delete(f.entries, p)
	delete(f.cnt, p)
	return nil
}

func (f *fakeEncap) SetLocals(l kpath.EncapLocals) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failLocals {
		return errors.New("fake: locals refused")
	}
	if _, err := l.AppendValue(nil); err != nil {
		return err
	}
	f.localSets++
	f.ops = append(f.ops, "locals")
	f.locals = l
	return nil
}

func (f *fakeEncap) SetLocals6(l kpath.EncapLocals) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failLocals || f.fail6 {
		return errors.New("fake: IPv6 locals refused")
	}
	if _, err := l.AppendValue6(nil); err != nil {
		return err
	}
	f.localSets++
	f.ops = append(f.ops, "locals6")
	f.locals6 = l
	return nil
}

func (f *fakeEncap) RLOCCounters(p netip.Prefix) ([kpath.MaxEncapRLOCs]kpath.Counters, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.cnt[p]
	if !ok {
		return c, errors.New("fake: no entry")
	}
	return c, nil
}

// count adds what the program would for packets to p's first RLOC.
func (f *fakeEncap) count(p netip.Prefix, pkts, bytes uint64) { f.countRLOC(p, 0, pkts, bytes) }

// countRLOC adds what the program would for packets to p's RLOC i.
func (f *fakeEncap) countRLOC(p netip.Prefix, i int, pkts, bytes uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.cnt[p]
	c[i].Packets += pkts
	c[i].Bytes += bytes
	f.cnt[p] = c
}

func (f *fakeEncap) get(p netip.Prefix) (kpath.EncapEntry, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.entries[p]
	return e, ok
}

func (f *fakeEncap) Stats() (kpath.Stats, error) { return kpath.Stats{kpath.StatEncapMiss: 7}, nil }
func (f *fakeEncap) Close() error                { return nil }

// fakeDecap records attaches, detaches and local RLOCs, and returns the
// senders the test sets; with failXDP it refuses XDP attaches as a driver
// without XDP would.
type fakeDecap struct {
	attached []int
	detached []int
	xdp      []int
	failXDP  bool
	locals   map[netip.Addr]kpath.DecapEntry
	senders  []kpath.Sender
}

func (f *fakeDecap) Attach(ifindex int) error {
	f.attached = append(f.attached, ifindex)
	return nil
}

func (f *fakeDecap) Detach(ifindex int) error {
	f.detached = append(f.detached, ifindex)
	return nil
}

func (f *fakeDecap) Senders(dst []kpath.Sender) ([]kpath.Sender, error) {
	return append(dst, f.senders...), nil
}

func (f *fakeDecap) AttachXDP(ifindex int) error {
	if f.failXDP {
		return errors.New("fake: XDP refused")
	}
	f.xdp = append(f.xdp, ifindex)
	return nil
}

func (f *fakeDecap) SetLocal(a netip.Addr, e kpath.DecapEntry) error {
	f.locals[a] = e
	return nil
}

func (f *fakeDecap) DeleteLocal(a netip.Addr) error {
	delete(f.locals, a)
	return nil
}

func (f *fakeDecap) Counters(netip.Addr) (kpath.Counters, error) {
	return kpath.Counters{Packets: 3, Bytes: 300}, nil
}
func (f *fakeDecap) Stats() (kpath.Stats, error) { return kpath.Stats{}, nil }
func (f *fakeDecap) Close() error                { return nil }

var (
	kLocal4 = netip.MustParseAddr("192.0.2.1")
	kLocal6 = netip.MustParseAddr("2001:db8::1")
	kRLOC1  = netip.MustParseAddr("198.51.100.1")
	kRLOC2  = netip.MustParseAddr("198.51.100.2")
	kRLOC6  = netip.MustParseAddr("2001:db8:1::1")
)

func TestMirrorEligibility(t *testing.T) {
	one := []LocalLocator{{Addr: kLocal4, Priority: 1, Weight: 100, Up: true, Link: 7}}
	pfx := netip.MustParsePrefix("203.0.113.0/24")
	pfx6 := netip.MustParsePrefix("2001:db8:99::/48")
	rl := func(a netip.Addr, prio uint8, down bool) RLOCSpec {
		return RLOCSpec{Addr: a, Priority: prio, Weight: 50, Down: down}
	}
	base := kpath.EncapEntry{Dst: kRLOC1, MTU: 1500, Flags: FlagN | FlagL, LSBs: 1}
	both := append([]LocalLocator{{Addr: kLocal6, Priority: 1, Weight: 100, Up: true, Link: 9}}, one...)
	base6 := kpath.EncapEntry{Dst: kRLOC6, MTU: 1500, Flags: FlagN | FlagL, LSBs: 1}
	with := func(f func(*kpath.EncapEntry)) kpath.EncapEntry {
		e := base
		f(&e)
		return e
	}
	tests := []struct {
		name   string
		spec   MappingSpec
		iid    uint32
		local  []LocalLocator
		lsbs   uint32
		pmtu   int // learned path MTU of the RLOC
		expire bool
		eid    []netip.Prefix
		want   *kpath.EncapEntry // nil: not mirrored
	}{
		{name: "one IPv4 RLOC", spec: MappingSpec{Prefix: pfx, RLOCs: []RLOCSpec{rl(kRLOC1, 1, false)}}, local: one, lsbs: 1, want: &base},
		{name: "inner IPv6", spec: MappingSpec{Prefix: pfx6, RLOCs: []RLOCSpec{rl(kRLOC1, 1, false)}}, local: one, lsbs: 1, want: &base},
		{name: "instance-id and LSBs", iid: 0x123456, spec: MappingSpec{InstanceID: 0x123456, Prefix: pfx, RLOCs: []RLOCSpec{rl(kRLOC1, 1, false)}}, local: one, lsbs: 0x1ff,
			want: ptr(with(func(e *kpath.EncapEntry) { e.Flags |= FlagI; e.InstanceID = 0x123456; e.LSBs = 0xff }))},
		{name: "32-bit LSBs without instance-id", spec: MappingSpec{Prefix: pfx, RLOCs: []RLOCSpec{rl(kRLOC1, 1, false)}}, local: one, lsbs: 0x10203,
			want: ptr(with(func(e *kpath.EncapEntry) { e.LSBs = 0x10203 }))},
		{name: "learned path MTU", spec: MappingSpec{Prefix: pfx, RLOCs: []RLOCSpec{rl(kRLOC1, 1, false)}}, local: one, lsbs: 1, pmtu: 1400,
			want: ptr(with(func(e *kpath.EncapEntry) { e.MTU = 1400 }))},
		{name: "backup RLOC of a worse priority is not load sharing", spec: MappingSpec{Prefix: pfx, RLOCs: []RLOCSpec{rl(kRLOC1, 1, false), rl(kRLOC2, 2, false)}}, local: one, lsbs: 1, want: &base},
		{name: "failover to the backup", spec: MappingSpec{Prefix: pfx, RLOCs: []RLOCSpec{rl(kRLOC1, 1, true), rl(kRLOC2, 2, false)}}, local: one, lsbs: 1,
			want: ptr(with(func(e *kpath.EncapEntry) { e.Dst = kRLOC2 }))},
		{name: "all RLOCs down", spec: MappingSpec{Prefix: pfx, RLOCs: []RLOCSpec{rl(kRLOC1, 1, true)}}, local: one},
		{name: "IPv6 RLOC without an IPv6 local locator", spec: MappingSpec{Prefix: pfx, RLOCs: []RLOCSpec{rl(kRLOC6, 1, false)}}, local: one},
		{name: "IPv6 RLOC", spec: MappingSpec{Prefix: pfx, RLOCs: []RLOCSpec{rl(kRLOC6, 1, false)}}, local: both, lsbs: 1, want: &base6},
		{name: "IPv6 RLOC, inner IPv6", spec: MappingSpec{Prefix: pfx6, RLOCs: []RLOCSpec{rl(kRLOC6, 1, false)}}, local: both, lsbs: 1, want: &base6},
		{name: "IPv4 RLOC with both local locators", spec: MappingSpec{Prefix: pfx, RLOCs: []RLOCSpec{rl(kRLOC1, 1, false)}}, local: both, lsbs: 1, want: &base},
		{name: "IPv6 RLOC, two IPv6 local locators", spec: MappingSpec{Prefix: pfx, RLOCs: []RLOCSpec{rl(kRLOC6, 1, false)}}, lsbs: 1,
			local: []LocalLocator{{Addr: kLocal6, Priority: 1, Weight: 50, Up: true, Link: 9}, {Addr: netip.MustParseAddr("2001:db8::2"), Priority: 1, Weight: 50, Up: true, Link: 8}}, want: &base6},
		{name: "IPv6 RLOC, four IPv6 local locators", spec: MappingSpec{Prefix: pfx, RLOCs: []RLOCSpec{rl(kRLOC6, 1, false)}}, lsbs: 1, local: locals6(4), want: &base6},
		{name: "IPv6 RLOC, five IPv6 local locators", spec: MappingSpec{Prefix: pfx, RLOCs: []RLOCSpec{rl(kRLOC6, 1, false)}}, local: append(locals6(5), one...)},
		{name: "IPv6 RLOC, one of two IPv6 local locators without interface", spec: MappingSpec{Prefix: pfx, RLOCs: []RLOCSpec{rl(kRLOC6, 1, false)}},
			local: []LocalLocator{{Addr: kLocal6, Priority: 1, Weight: 50, Up: true, Link: 9}, {Addr: netip.MustParseAddr("2001:db8::2"), Priority: 1, Weight: 50, Up: true}}},
		{name: "IPv4 RLOC, five IPv6 local locators beside one IPv4", spec: MappingSpec{Prefix: pfx, RLOCs: []RLOCSpec{rl(kRLOC1, 1, false)}}, lsbs: 1,
			local: append(locals6(5), one...), want: &base},
		{name: "IPv4-mapped RLOC is IPv4", spec: MappingSpec{Prefix: pfx, RLOCs: []RLOCSpec{rl(netip.MustParseAddr("::ffff:198.51.100.1"), 1, false)}}, local: both, lsbs: 1, want: &base},
		{name: "NAT port", spec: MappingSpec{Prefix: pfx, RLOCs: []RLOCSpec{{Addr: kRLOC1, Port: 4500, Priority: 1}}}, local: one},
		{name: "negative", spec: MappingSpec{Prefix: pfx, Action: ActionNativelyForward}, local: one},
		{name: "pending", spec: MappingSpec{Prefix: pfx, Pending: true}, local: one},
		{name: "expired", spec: MappingSpec{Prefix: pfx, RLOCs: []RLOCSpec{rl(kRLOC1, 1, false)}}, local: one, expire: true},
		{name: "other instance-id", iid: 5, spec: MappingSpec{InstanceID: 6, Prefix: pfx, RLOCs: []RLOCSpec{rl(kRLOC1, 1, false)}}, local: one},
		{name: "outside eid_space", spec: MappingSpec{Prefix: pfx, RLOCs: []RLOCSpec{rl(kRLOC1, 1, false)}}, local: one, eid: []netip.Prefix{netip.MustParsePrefix("203.0.113.128/25")}},
		{name: "inside eid_space", spec: MappingSpec{Prefix: pfx, RLOCs: []RLOCSpec{rl(kRLOC1, 1, false)}}, local: one, lsbs: 1, eid: []netip.Prefix{netip.MustParsePrefix("203.0.0.0/16")}, want: &base},
		{name: "no local locators", spec: MappingSpec{Prefix: pfx, RLOCs: []RLOCSpec{rl(kRLOC1, 1, false)}}},
		{name: "local locator without interface", spec: MappingSpec{Prefix: pfx, RLOCs: []RLOCSpec{rl(kRLOC1, 1, false)}},
			local: []LocalLocator{{Addr: kLocal4, Priority: 1, Up: true}}},
		{name: "IfIndex stands for Link", spec: MappingSpec{Prefix: pfx, RLOCs: []RLOCSpec{rl(kRLOC1, 1, false)}}, lsbs: 1,
			local: []LocalLocator{{Addr: kLocal4, Priority: 1, Up: true, IfIndex: 7}}, want: &base},
		{name: "two IPv4 local locators", spec: MappingSpec{Prefix: pfx, RLOCs: []RLOCSpec{rl(kRLOC1, 1, false)}}, lsbs: 1,
			local: []LocalLocator{{Addr: kLocal4, Priority: 1, Weight: 50, Up: true, Link: 7}, {Addr: netip.MustParseAddr("192.0.2.2"), Priority: 1, Weight: 50, Up: true, Link: 8}}, want: &base},
		{name: "four IPv4 local locators", spec: MappingSpec{Prefix: pfx, RLOCs: []RLOCSpec{rl(kRLOC1, 1, false)}}, lsbs: 1, local: locals4(4), want: &base},
		{name: "five IPv4 local locators", spec: MappingSpec{Prefix: pfx, RLOCs: []RLOCSpec{rl(kRLOC1, 1, false)}}, local: locals4(5)},
		{name: "one of two local locators without interface", spec: MappingSpec{Prefix: pfx, RLOCs: []RLOCSpec{rl(kRLOC1, 1, false)}},
			local: []LocalLocator{{Addr: kLocal4, Priority: 1, Weight: 50, Up: true, Link: 7}, {Addr: netip.MustParseAddr("192.0.2.2"), Priority: 1, Weight: 50, Up: true}}},
		{name: "backup local locator does not count", spec: MappingSpec{Prefix: pfx, RLOCs: []RLOCSpec{rl(kRLOC1, 1, false)}}, lsbs: 1,
			local: []LocalLocator{{Addr: kLocal4, Priority: 1, Up: true, Link: 7}, {Addr: netip.MustParseAddr("192.0.2.2"), Priority: 2, Up: true, Link: 8}, {Addr: kLocal6, Priority: 1, Up: true, Link: 9}}, want: &base},
		{name: "only an IPv6 local locator", spec: MappingSpec{Prefix: pfx, RLOCs: []RLOCSpec{rl(kRLOC1, 1, false)}},
			local: []LocalLocator{{Addr: kLocal6, Priority: 1, Up: true, Link: 9}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewMapCache(16)
			c.Tick(time.Now())
			m, err := c.Insert(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			if tt.pmtu > 0 {
				m.RLOCs[0].SetPathMTU(tt.pmtu)
			}
			if tt.expire {
				m.SetExpires(time.Now().Add(-time.Hour))
			}
			mc := mirrorConfig{iid: tt.iid, eidSpace: tt.eid, pathMTU: DefaultPathMTU, lsbs: tt.lsbs, now: c.now.Load()}
			if tt.local != nil {
				mc.local = newLocalSel(tt.local)
			}
			want := mc.wanted(c.snap.Load())
			got := want[m.Prefix]
			switch {
			case tt.want == nil && got != nil:
				t.Fatalf("mirrored as %+v, want not mirrored", got.ent)
			case tt.want != nil && got == nil:
				t.Fatalf("not mirrored, want %+v", *tt.want)
			case tt.want != nil && got.ent != *tt.want:
				t.Fatalf("entry %+v, want %+v", got.ent, *tt.want)
			case tt.want != nil && (got.m != m || got.rs[0] == nil || got.rs[0].Addr.Addr() != got.ent.Dst || got.rs[1] != nil):
				t.Fatalf("entry for the wrong mapping or RLOC: %v %v", got.m, got.rs)
			}
			if tt.want != nil {
				// The value the program reads: what fwd/encap.go writes.
				v, err := got.ent.AppendValue(nil)
				if err != nil {
					t.Fatal(err)
				}
				if v[8] != got.ent.Flags {
					t.Errorf("flags byte %#x, want %#x", v[8], got.ent.Flags)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestMirrorPunt checks that an ineligible mapping under a mirrored prefix
// gets a punt entry (its packets go to the TUN) and one under none gets no
// entry at all.
func TestMirrorPunt(t *testing.T) {
	c := NewMapCache(16)
	c.Tick(time.Now())
	must := func(s MappingSpec) {
		if _, err := c.Insert(s); err != nil {
			t.Fatal(err)
		}
	}
	cover := netip.MustParsePrefix("10.0.0.0/8")
	must(MappingSpec{Prefix: cover, RLOCs: []RLOCSpec{{Addr: kRLOC1, Priority: 1}}})
	must(MappingSpec{Prefix: netip.MustParsePrefix("10.1.0.0/16"), Action: ActionDrop})
	must(MappingSpec{Prefix: netip.MustParsePrefix("10.2.0.0/16"), RLOCs: []RLOCSpec{{Addr: kRLOC1, Priority: 1}, {Addr: kRLOC6, Priority: 1}}})
	must(MappingSpec{Prefix: netip.MustParsePrefix("172.16.0.0/12"), Action: ActionDrop})
	mc := mirrorConfig{pathMTU: DefaultPathMTU, lsbs: 1, now: c.now.Load(), local: newLocalSel([]LocalLocator{{Addr: kLocal4, Priority: 1, Up: true, Link: 3}})}
	want := mc.wanted(c.snap.Load())
	if len(want) != 3 {
		t.Fatalf("%d entries, want 3: %v", len(want), want)
	}
	for _, p := range []string{"10.1.0.0/16", "10.2.0.0/16"} {
		w := want[netip.MustParsePrefix(p)]
		if w == nil || w.m != nil || w.ent.MTU != 0 {
			t.Errorf("%s: %+v, want a punt entry", p, w)
		}
		if _, err := w.ent.AppendValue(nil); err != nil {
			t.Errorf("%s: punt entry does not encode: %v", p, err)
		}
	}
	if w := want[cover]; w == nil || w.m == nil {
		t.Errorf("covering prefix not mirrored")
	}
}

// TestMirrorSync checks the diffing against the maps, counter folding and
// the decapsulating side's locals.
func TestMirrorSync(t *testing.T) {
	c := NewMapCache(16)
	c.Tick(time.Now())
	pfx := netip.MustParsePrefix("203.0.113.0/24")
	m, err := c.Insert(MappingSpec{Prefix: pfx, RLOCs: []RLOCSpec{{Addr: kRLOC1, Priority: 1}, {Addr: kRLOC2, Priority: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	enc, dec := newFakeEncap(), &fakeDecap{locals: map[netip.Addr]kpath.DecapEntry{}}
	k := newKernelPathWith(enc, dec, 42)
	ls := []LocalLocator{{Addr: kLocal4, Priority: 1, Up: true, Link: 7}, {Addr: kLocal6, Priority: 1, Up: true, Link: 7}}
	mc := mirrorConfig{iid: 9, pathMTU: 1500, lsbs: 1, now: c.now.Load(), local: newLocalSel(ls)}
	sync := func(fold bool) {
		mc.now = c.now.Load()
		k.syncEncap(mc.wanted(c.snap.Load()), mc.now, fold, t.Logf)
		k.syncDecap(ls, 9, mc.now, t.Logf)
	}
	// Instance-id 9 has no mapping: nothing mirrored.
	sync(true)
	if len(enc.entries) != 0 {
		t.Fatalf("entries %v", enc.entries)
	}
	mc.iid = 0
	sync(true)
	if e, ok := enc.get(pfx); !ok || e.Dst != kRLOC1 {
		t.Fatalf("entry %+v %v", e, ok)
	}
	sets := enc.sets
	sync(false)
	if enc.sets != sets {
		t.Errorf("an unchanged entry was written again")
	}
	// Counters fold into the mapping and the RLOC, once.
	enc.count(pfx, 10, 1000)
	sync(false)
	if m.Packets.Load() != 0 {
		t.Errorf("folded outside the once-a-second pass")
	}
	sync(true)
	sync(true)
	if m.Packets.Load() != 10 || m.Bytes.Load() != 1000 || m.RLOCs[0].Packets.Load() != 10 || k.encPkts.Load() != 10 {
		t.Errorf("folded %d/%d packets, rloc %d, total %d; want 10/1000", m.Packets.Load(), m.Bytes.Load(), m.RLOCs[0].Packets.Load(), k.encPkts.Load())
	}
	// Failover: the primary goes down, the entry follows to the backup
	// and what it counted before goes to the primary.
	enc.count(pfx, 5, 500)
	m.RLOCs[0].SetUp(false)
	sync(false)
	if e, _ := enc.get(pfx); e.Dst != kRLOC2 {
		t.Fatalf("after failover the entry sends to %v, want %v", e.Dst, kRLOC2)
	}
	if m.RLOCs[0].Packets.Load() != 15 {
		t.Errorf("primary counted %d, want 15", m.RLOCs[0].Packets.Load())
	}
	enc.count(pfx, 1, 100)
	sync(true)
	if m.RLOCs[1].Packets.Load() != 1 || m.Packets.Load() != 16 {
		t.Errorf("backup counted %d, mapping %d; want 1, 16", m.RLOCs[1].Packets.Load(), m.Packets.Load())
	}
	// Both down: the entry goes, packets go to the TUN (ICMP unreachable).
	m.RLOCs[1].SetUp(false)
	sync(false)
	if _, ok := enc.get(pfx); ok || k.mirrored.Load() != 0 {
		t.Errorf("entry kept with no usable RLOC")
	}
	m.RLOCs[0].SetUp(true)
	sync(false)
	if e, ok := enc.get(pfx); !ok || e.Dst != kRLOC1 {
		t.Errorf("entry not back on the primary: %+v", e)
	}
	// A failed write leaves nothing behind that userspace would not do.
	enc.failSet = true
	mc.lsbs = 3
	sync(false)
	if _, ok := enc.get(pfx); ok {
		t.Errorf("stale entry kept after a failed update")
	}
	if k.errors.Load() == 0 {
		t.Errorf("failed update not counted")
	}
	enc.failSet = false
	// Deleting the mapping deletes the entry.
	c.Delete(0, pfx)
	sync(false)
	if len(enc.entries) != 0 {
		t.Errorf("entries %v after delete", enc.entries)
	}
	// Decapsulating side: attached once to the uplink, the IPv4 and IPv6
	// local RLOCs installed with the TUN and instance-id.
	if len(dec.attached) != 1 || dec.attached[0] != 7 {
		t.Errorf("attached to %v, want [7]", dec.attached)
	}
	if len(dec.xdp) != 1 || dec.xdp[0] != 7 || k.snapshot().DecapGRO != "xdp" {
		t.Errorf("XDP attached to %v (decap GRO %q), want [7] (xdp)", dec.xdp, k.snapshot().DecapGRO)
	}
	if e, e6 := dec.locals[kLocal4], dec.locals[kLocal6]; e.TUNIfIndex != 42 || e.InstanceID != 9 || e6 != e || len(dec.locals) != 2 {
		t.Errorf("locals %v", dec.locals)
	}
	ls = ls[1:]
	k.syncDecap(ls, 9, 0, t.Logf)
	if _, ok := dec.locals[kLocal6]; !ok || len(dec.locals) != 1 {
		t.Errorf("locals %v after the IPv4 locator went", dec.locals)
	}
	if k.decPkts.Load() != 3+3 {
		t.Errorf("decapsulated %d, want the 3 counted before the locator went and the IPv6 one's 3", k.decPkts.Load())
	}
	k.syncDecap(nil, 9, 0, t.Logf)
	if len(dec.locals) != 0 || k.decPkts.Load() != 6 || !slices.Equal(dec.detached, []int{7}) {
		t.Errorf("locals %v, decapsulated %d, detached %v after the IPv6 locator went; want none, 6, [7]", dec.locals, k.decPkts.Load(), dec.detached)
	}
}

// TestMirrorDecapWithoutXDP checks that an uplink whose XDP hook refuses
// the program keeps the TC program (a complete decap on its own), without
// an error, and that the snapshot says why decapsulated flows are not
// GRO-merged.
func TestMirrorDecapWithoutXDP(t *testing.T) {
	dec := &fakeDecap{locals: map[netip.Addr]kpath.DecapEntry{}, failXDP: true}
	k := newKernelPathWith(newFakeEncap(), dec, 42)
	if g := k.snapshot().DecapGRO; g != "" {
		t.Errorf("decap GRO %q before any uplink", g)
	}
	k.syncDecap([]LocalLocator{{Addr: kLocal4, Priority: 1, Up: true, Link: 7}}, 0, 0, t.Logf)
	s := k.snapshot()
	if len(dec.attached) != 1 || len(dec.xdp) != 0 || s.Uplinks != 1 || s.Errors != 0 {
		t.Errorf("TC on %v, XDP on %v, %d uplinks, %d errors; want TC on [7] alone, no error", dec.attached, dec.xdp, s.Uplinks, s.Errors)
	}
	if want := "off (fake: XDP refused)"; s.DecapGRO != want {
		t.Errorf("decap GRO %q, want %q", s.DecapGRO, want)
	}
	dec.failXDP = false
	k.syncDecap([]LocalLocator{{Addr: kLocal4, Priority: 1, Up: true, Link: 7}, {Addr: netip.MustParseAddr("192.0.2.9"), Up: true, Link: 8}}, 0, 0, t.Logf)
	if s := k.snapshot(); len(dec.xdp) != 1 || dec.xdp[0] != 8 || !strings.HasPrefix(s.DecapGRO, "xdp on 1 of 2 uplinks") {
		t.Errorf("XDP on %v, decap GRO %q; want [8], on 1 of 2", dec.xdp, s.DecapGRO)
	}
}

// TestMirrorWatch checks that the cache signals the mirror on inserts,
// deletes and RLOC reachability changes, without blocking.
func TestMirrorWatch(t *testing.T) {
	c := NewMapCache(16)
	ch := make(chan struct{}, 1)
	c.watch.Store(&ch)
	pfx := netip.MustParsePrefix("203.0.113.0/24")
	got := func(what string) {
		t.Helper()
		select {
		case <-ch:
		default:
			t.Errorf("%s: no signal", what)
		}
	}
	m, err := c.Insert(MappingSpec{Prefix: pfx, RLOCs: []RLOCSpec{{Addr: kRLOC1, Priority: 1}, {Addr: kRLOC2, Priority: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	got("insert")
	m.RLOCs[0].SetUp(false)
	got("rloc down")
	m.RLOCs[0].SetUp(false)
	select {
	case <-ch:
		t.Errorf("signal without a change")
	default:
	}
	c.SetLocatorUp(kRLOC1, true)
	c.SetLocatorUp(kRLOC2, false) // two signals, one pending: must not block
	got("SetLocatorUp")
	c.Delete(0, pfx)
	got("delete")
}

// TestKernelPathFallback checks that a plane asked for the kernel path
// runs without it when it cannot be had, and says why.
func TestKernelPathFallback(t *testing.T) {
	var n fakeNet
	c := n.listen("192.0.2.1:4341")
	socks := Sockets{Recv: []BatchConn{c}, Send4: []BatchConn{c}}
	for _, tt := range []struct {
		name  string
		opts  Options
		state string
	}{
		{"off", Options{}, KernelOff},
		{"no TUN ifindex", Options{KernelPath: true}, KernelFallback},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.opts, newFakeTUN(1400), socks)
			if err != nil {
				t.Fatal(err)
			}
			k := p.KernelPath()
			if k.State != tt.state || (tt.state == KernelFallback) != (k.Reason != "") {
				t.Fatalf("kernel path %q (%q), want %q", k.State, k.Reason, tt.state)
			}
			if s := p.Stats().Snapshot().Kernel; s.State != tt.state || s.Reason != k.Reason {
				t.Errorf("stats say %q (%q)", s.State, s.Reason)
			}
			p.SetLocalLocators([]LocalLocator{{Addr: kLocal4, Up: true}}) // no mirror: must not block
			p.SetLocatorStatusBits(3)
		})
	}
}

// TestKernelSenders: the senders the decapsulating program recorded reach
// the same bookkeeping as the packets lispd decapsulates itself, in the
// once-a-second fold: recent ITRs (SMR targets) and received
// locator-status bits, the newest record of a site winning.
func TestKernelSenders(t *testing.T) {
	_, dw, _ := batchFixture(t)
	p := dw.p
	p.cache.Tick(time.Now())
	type change struct {
		itr, src netip.Addr
		old, new uint32
	}
	var got []change
	p.opts.LSBChanged = func(itr, src netip.Addr, old, new uint32) { got = append(got, change{itr, src, old, new}) }
	dec := &fakeDecap{locals: map[netip.Addr]kpath.DecapEntry{}}
	p.kern = newKernelPathWith(newFakeEncap(), dec, 42)
	src := netip.MustParseAddr("198.51.100.200") // in the mapping 198.51.100.128/25
	itr1, itr2, itr3 := netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3"), netip.MustParseAddr("192.0.2.4")
	stale := netip.MustParseAddr("192.0.2.9")
	lsbs := func() uint64 {
		m, ok := p.MapCache().Lookup(0, src)
		if !ok {
			t.Fatal("no mapping")
		}
		return m.lsbs.Load()
	}
	recent := func() []netip.Addr {
		r := p.RecentITRs(time.Minute)
		slices.SortFunc(r, netip.Addr.Compare)
		return r
	}

	dec.senders = []kpath.Sender{
		{ITR: itr1, Src: src, LSBs: 3, HasLSBs: true, Age: 300 * time.Millisecond, At: 10},
		{ITR: stale, Src: src, LSBs: 1, HasLSBs: true, Age: 10 * time.Second, At: 1},
	}
	p.kernelSync(true)
	if r := recent(); !slices.Equal(r, []netip.Addr{itr1}) {
		t.Fatalf("recent ITRs %v, want [%v] (not the stale one)", r, itr1)
	}
	if l := lsbs(); l != lsbPresent|3 || len(got) != 0 {
		t.Fatalf("bits %#x, changes %+v: want 3 recorded, nothing reported", l, got)
	}
	// Only the once-a-second pass reads the senders.
	dec.senders = []kpath.Sender{{ITR: itr3, Src: src, LSBs: 3, HasLSBs: true, At: 11}}
	p.kernelSync(false)
	if r := recent(); slices.Contains(r, itr3) {
		t.Errorf("senders read outside the fold: %v", r)
	}
	// The site failed over to another ITR address with bit 1 cleared:
	// the newer record wins, whatever the order read, reported once
	// (the older ITR's record, read again, is not news).
	dec.senders = []kpath.Sender{
		{ITR: itr2, Src: src, LSBs: 1, HasLSBs: true, Age: 100 * time.Millisecond, At: 20},
		{ITR: itr1, Src: src, LSBs: 3, HasLSBs: true, Age: 500 * time.Millisecond, At: 12},
	}
	p.kernelSync(true)
	dec.senders[1].Age = 1500 * time.Millisecond
	p.kernelSync(true)
	if l := lsbs(); l != lsbPresent|1 {
		t.Errorf("bits %#x, want 1", l)
	}
	if want := []change{{itr2, src, 3, 1}}; !slices.Equal(got, want) {
		t.Errorf("changes %+v, want %+v", got, want)
	}
	if r := recent(); !slices.Equal(r, []netip.Addr{itr1, itr2}) {
		t.Errorf("recent ITRs %v, want [%v %v]", r, itr1, itr2)
	}
	// Without the L bit the bits mean nothing.
	dec.senders = []kpath.Sender{{ITR: itr2, Src: src, LSBs: 0, At: 21}}
	p.kernelSync(true)
	if l := lsbs(); l != lsbPresent|1 || len(got) != 1 {
		t.Errorf("bits %#x, %d changes after a packet without L", l, len(got))
	}
	// An ITR with an IPv6 RLOC (the decapsulating programs' second
	// senders map) is learned alike.
	itr6 := netip.MustParseAddr("2001:db8:ff::1")
	dec.senders = []kpath.Sender{{ITR: itr6, Src: src, LSBs: 3, HasLSBs: true, At: 30}}
	p.kernelSync(true)
	if r := recent(); !slices.Contains(r, itr6) {
		t.Errorf("recent ITRs %v, want %v among them", r, itr6)
	}
	if l := lsbs(); l != lsbPresent|3 {
		t.Errorf("bits %#x after the IPv6 ITR's 3", l)
	}
}

// TestMirrorDetach: the decapsulating program leaves an uplink once no
// locator is on it (removed, or its address gone: no interface).
func TestMirrorDetach(t *testing.T) {
	dec := &fakeDecap{locals: map[netip.Addr]kpath.DecapEntry{}}
	k := newKernelPathWith(newFakeEncap(), dec, 42)
	second := netip.MustParseAddr("192.0.2.11")
	ls := []LocalLocator{
		{Addr: kLocal4, Priority: 1, Up: true, Link: 7},
		{Addr: second, Priority: 2, Up: true, IfIndex: 8, Link: 8},
	}
	k.syncDecap(ls, 0, 0, t.Logf)
	k.syncDecap(ls, 0, 0, t.Logf)
	if !slices.Equal(dec.attached, []int{7, 8}) || len(dec.detached) != 0 {
		t.Fatalf("attached %v, detached %v; want [7 8], none", dec.attached, dec.detached)
	}
	// A locator down keeps its uplink: it comes back.
	ls[1].Up = false
	k.syncDecap(ls, 0, 0, t.Logf)
	if len(dec.detached) != 0 {
		t.Fatalf("detached %v from a locator that is only down", dec.detached)
	}
	// The address left interface 8.
	ls[1].IfIndex, ls[1].Link = 0, 0
	k.syncDecap(ls, 0, 0, t.Logf)
	if !slices.Equal(dec.detached, []int{8}) || len(k.uplinks) != 1 || !k.uplinks[7] {
		t.Fatalf("detached %v, uplinks %v; want [8], {7}", dec.detached, k.uplinks)
	}
	if g := k.snapshot().DecapGRO; g != "xdp" {
		t.Errorf("decap GRO %q after the detach, want xdp (the XDP link left with the uplink)", g)
	}
	if _, ok := dec.locals[second]; !ok {
		t.Errorf("the local RLOC of an address-less locator went: %v", dec.locals)
	}
	// It comes back on interface 8; then the first locator is removed.
	ls[1].IfIndex, ls[1].Link = 8, 8
	k.syncDecap(ls, 0, 0, t.Logf)
	k.syncDecap(ls[1:], 0, 0, t.Logf)
	if !slices.Equal(dec.attached, []int{7, 8, 8}) || !slices.Equal(dec.detached, []int{8, 7}) {
		t.Errorf("attached %v, detached %v; want [7 8 8], [8 7]", dec.attached, dec.detached)
	}
	if _, ok := dec.locals[kLocal4]; ok || len(k.uplinks) != 1 || !k.uplinks[8] {
		t.Errorf("locals %v, uplinks %v after the first locator went", dec.locals, k.uplinks)
	}
}

// checkSlots checks that the kernel entry w sends each slot's flows to the
// RLOC the userspace selection table gives that slot.
func checkSlots(t *testing.T, m *Mapping, w *mirrorEntry) {
	t.Helper()
	s := m.sel.Load()
	for j := range kpath.EncapSlots {
		want := m.RLOC(uint32(j)) // RLOC(hash) takes slot hash%64
		i := int(w.ent.Slots[j])
		dst, _ := w.ent.RLOC(i)
		if w.rs[i] != want || dst != want.Addr.Addr() {
			t.Fatalf("slot %d: kernel RLOC %d (%v), userspace %v (table %v)", j, i, dst, want.Addr, s.slots)
		}
	}
}

// TestMirrorLoadSharing checks which load-sharing mappings are mirrored,
// and that their entries carry every usable RLOC with its MTU and the
// userspace selection's slot table.
func TestMirrorLoadSharing(t *testing.T) {
	pfx := netip.MustParsePrefix("203.0.113.0/24")
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}) }
	rls := func(weights ...uint8) []RLOCSpec {
		var rs []RLOCSpec
		for i, w := range weights {
			rs = append(rs, RLOCSpec{Addr: addr(i + 1), Priority: 1, Weight: w})
		}
		return rs
	}
	tests := []struct {
		name   string
		rlocs  []RLOCSpec
		down   []int // RLOCs (index) set down
		pmtu   int   // learned path MTU of RLOC 1
		n      int   // RLOCs in the entry, 0: not mirrored
		shares []int // slots per entry RLOC
		v6     bool  // IPv6 RLOCs: from kLocal6
	}{
		{name: "50/50", rlocs: rls(50, 50), n: 2, shares: []int{32, 32}},
		{name: "75/25", rlocs: rls(75, 25), n: 2, shares: []int{48, 16}},
		{name: "learned path MTU of the second", rlocs: rls(50, 50), pmtu: 1400, n: 2, shares: []int{32, 32}},
		{name: "four, the most an entry holds", rlocs: rls(1, 1, 1, 1), n: 4, shares: []int{16, 16, 16, 16}},
		{name: "five", rlocs: rls(1, 1, 1, 1, 1)},
		{name: "five, one down", rlocs: rls(1, 1, 1, 1, 1), down: []int{2}, n: 4, shares: []int{16, 16, 16, 16}},
		{name: "a backup of a worse priority is left out", rlocs: append(rls(10, 30), RLOCSpec{Addr: addr(9), Priority: 2, Weight: 100}),
			n: 2, shares: []int{16, 48}},
		{name: "IPv4 and IPv6", rlocs: append(rls(50), RLOCSpec{Addr: kRLOC6, Priority: 1, Weight: 50})},
		{name: "IPv6 and IPv4", rlocs: []RLOCSpec{{Addr: kRLOC6, Priority: 1, Weight: 50}, {Addr: addr(1), Priority: 1, Weight: 50}}},
		{name: "IPv6 75/25", rlocs: []RLOCSpec{{Addr: kRLOC6, Priority: 1, Weight: 75}, {Addr: kRLOC6.Next(), Priority: 1, Weight: 25}},
			n: 2, shares: []int{48, 16}, v6: true},
		{name: "one behind a NAT port", rlocs: append(rls(50), RLOCSpec{Addr: addr(7), Port: 4500, Priority: 1, Weight: 50})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewMapCache(16)
			c.Tick(time.Now())
			m, err := c.Insert(MappingSpec{Prefix: pfx, RLOCs: tt.rlocs})
			if err != nil {
				t.Fatal(err)
			}
			for _, i := range tt.down {
				m.RLOCs[i].SetUp(false)
			}
			if tt.pmtu > 0 {
				m.RLOCs[1].SetPathMTU(tt.pmtu)
			}
			mc := mirrorConfig{pathMTU: 1500, lsbs: 3, now: c.now.Load(),
				local: newLocalSel([]LocalLocator{{Addr: kLocal4, Priority: 1, Up: true, Link: 7}, {Addr: kLocal6, Priority: 1, Up: true, Link: 9}})}
			w := mc.wanted(c.snap.Load())[pfx]
			if tt.n == 0 {
				if w != nil {
					t.Fatalf("mirrored as %+v, want it left to userspace", w.ent)
				}
				return
			}
			if w == nil || w.m != m {
				t.Fatalf("not mirrored: %+v", w)
			}
			e := w.ent
			if e.Flags != FlagN|FlagL || e.LSBs != 3 || e.Dst.Is6() != tt.v6 {
				t.Errorf("shared fields %+v", e)
			}
			shares := make([]int, kpath.MaxEncapRLOCs)
			for _, i := range e.Slots {
				shares[i]++
			}
			for i := range kpath.MaxEncapRLOCs {
				dst, mtu := e.RLOC(i)
				if (i < tt.n) != (w.rs[i] != nil) || (i < tt.n) != dst.IsValid() {
					t.Fatalf("RLOC %d: %v (%v); want %d RLOCs", i, dst, w.rs[i], tt.n)
				}
				if i >= tt.n {
					continue
				}
				if shares[i] != tt.shares[i] {
					t.Errorf("RLOC %d (%v): %d slots, want %d", i, dst, shares[i], tt.shares[i])
				}
				wantMTU := 1500
				if tt.pmtu > 0 && w.rs[i] == m.RLOCs[1] {
					wantMTU = tt.pmtu
				}
				if mtu != wantMTU {
					t.Errorf("RLOC %d (%v): MTU %d, want %d", i, dst, mtu, wantMTU)
				}
			}
			checkSlots(t, m, w)
			if _, err := e.AppendValue(nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestMirrorLoadSharingSync follows a two-RLOC mapping through the mirror:
// counters folded into each RLOC, the entry rewritten to the remaining RLOC
// when one goes down (what it counted before folded first), and back to
// both, with the userspace table, when it comes back.
func TestMirrorLoadSharingSync(t *testing.T) {
	c := NewMapCache(16)
	c.Tick(time.Now())
	pfx := netip.MustParsePrefix("203.0.113.0/24")
	m, err := c.Insert(MappingSpec{Prefix: pfx, RLOCs: []RLOCSpec{{Addr: kRLOC1, Priority: 1, Weight: 75}, {Addr: kRLOC2, Priority: 1, Weight: 25}}})
	if err != nil {
		t.Fatal(err)
	}
	enc, dec := newFakeEncap(), &fakeDecap{locals: map[netip.Addr]kpath.DecapEntry{}}
	k := newKernelPathWith(enc, dec, 42)
	mc := mirrorConfig{pathMTU: 1500, lsbs: 3, now: c.now.Load(),
		local: newLocalSel([]LocalLocator{{Addr: kLocal4, Priority: 1, Up: true, Link: 7}})}
	sync := func(fold bool) {
		mc.now = c.now.Load()
		k.syncEncap(mc.wanted(c.snap.Load()), mc.now, fold, t.Logf)
	}
	sync(true)
	e, ok := enc.get(pfx)
	if !ok || e.Dst != kRLOC1 || e.Alt[0].Dst != kRLOC2 {
		t.Fatalf("entry %+v %v, want %v and %v", e, ok, kRLOC1, kRLOC2)
	}
	checkSlots(t, m, k.installed[pfx])
	if k.mirrored.Load() != 1 {
		t.Errorf("mirrored %d", k.mirrored.Load())
	}
	// Per-RLOC counters fold into their RLOCs, the sum into the mapping.
	enc.countRLOC(pfx, 0, 30, 3000)
	enc.countRLOC(pfx, 1, 10, 1000)
	sync(true)
	sync(true)
	r1, r2 := m.RLOCs[0], m.RLOCs[1]
	if r1.Packets.Load() != 30 || r1.Bytes.Load() != 3000 || r2.Packets.Load() != 10 || r2.Bytes.Load() != 1000 ||
		m.Packets.Load() != 40 || m.Bytes.Load() != 4000 || k.encPkts.Load() != 40 {
		t.Errorf("folded %d/%d and %d/%d, mapping %d/%d, total %d; want 30/3000, 10/1000, 40/4000, 40",
			r1.Packets.Load(), r1.Bytes.Load(), r2.Packets.Load(), r2.Bytes.Load(), m.Packets.Load(), m.Bytes.Load(), k.encPkts.Load())
	}
	// The second RLOC goes down: one RLOC left, every slot on it; what
	// the old entry counted since the last fold is folded first.
	enc.countRLOC(pfx, 1, 2, 200)
	sets := enc.sets
	r2.SetUp(false)
	sync(false)
	e, _ = enc.get(pfx)
	if e.Dst != kRLOC1 || e.Alt[0].Dst.IsValid() || e.Slots != [kpath.EncapSlots]uint8{} || enc.sets != sets+1 {
		t.Fatalf("after RLOC 2 went down: %+v (%d writes), want %v alone", e, enc.sets-sets, kRLOC1)
	}
	if r2.Packets.Load() != 12 || m.Packets.Load() != 42 {
		t.Errorf("RLOC 2 counted %d, mapping %d; want 12, 42", r2.Packets.Load(), m.Packets.Load())
	}
	enc.countRLOC(pfx, 0, 1, 100)
	sync(true)
	if r1.Packets.Load() != 31 || r2.Packets.Load() != 12 {
		t.Errorf("RLOCs counted %d and %d, want 31 and 12", r1.Packets.Load(), r2.Packets.Load())
	}
	// Back up: both again, with the table userspace rebuilt.
	r2.SetUp(true)
	sync(false)
	e, _ = enc.get(pfx)
	if e.Dst != kRLOC1 || e.Alt[0].Dst != kRLOC2 {
		t.Fatalf("after RLOC 2 came back: %+v", e)
	}
	checkSlots(t, m, k.installed[pfx])
	// A change of the slots alone (a rebuild that moves flows) rewrites
	// the entry too: the RLOCs swap their weights.
	sets = enc.sets
	m.RLOCs[0].Weight, m.RLOCs[1].Weight = 25, 75
	m.rebuild(nil)
	sync(false)
	if enc.sets != sets+1 {
		t.Errorf("%d writes after the table changed, want 1", enc.sets-sets)
	}
	checkSlots(t, m, k.installed[pfx])
	n := 0
	for _, i := range k.installed[pfx].ent.Slots {
		n += int(i)
	}
	if n != 48 {
		t.Errorf("RLOC 2 has %d slots after the weights swapped, want 48", n)
	}
}
