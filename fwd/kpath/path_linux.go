package kpath

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strconv"

	"golang.org/x/sys/unix"
)

// Stats are the per-CPU counters of packets the programs did not handle,
// summed over the CPUs, indexed by the Stat constants.
type Stats [NumStats]uint64

// newStatsMap creates the per-CPU stats array.
func newStatsMap(name string) (*Map, error) {
	return NewMap(MapSpec{Name: name, Type: MapPerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: NumStats})
}

// readStats sums the per-CPU stats array m into s.
func readStats(m *Map) (Stats, error) {
	var s Stats
	v := make([]byte, m.ValueLen())
	per := len(v) / PossibleCPUs()
	for i := range s {
		if err := m.Lookup(binary.NativeEndian.AppendUint32(nil, uint32(i)), v); err != nil {
			return s, err
		}
		for c := 0; c+8 <= len(v); c += per {
			s[i] += binary.NativeEndian.Uint64(v[c:])
		}
	}
	return s, nil
}

// Encap is the encapsulating program with its maps, attached to a TUN's
// egress by Attach.
type Encap struct {
	cls      bool // attach with cls_bpf even where TCX works (tests, bench)
	entries4 *Map
	entries6 *Map
	stats    *Map
	locals   *Map // the IPv4 locals table (EncapLocals), one value at key 0
	locals6  *Map // the IPv6 one
	prog     *Program
	link     *Link
}

// NewEncap creates the maps (room for maxEntries prefixes per family) and loads the
// encapsulating program.
func NewEncap(maxEntries int) (*Encap, error) {
	e := &Encap{}
	var err error
	if e.entries4, err = NewMap(MapSpec{Name: "lisp_encap4", Type: MapLPMTrie, KeySize: EncapKeyLen4,
		ValueSize: EncapEntryLen, MaxEntries: uint32(maxEntries), Flags: FlagNoPrealloc}); err != nil {
		return nil, err
	}
	if e.entries6, err = NewMap(MapSpec{Name: "lisp_encap6", Type: MapLPMTrie, KeySize: EncapKeyLen6,
		ValueSize: EncapEntryLen, MaxEntries: uint32(maxEntries), Flags: FlagNoPrealloc}); err != nil {
		e.Close()
		return nil, err
	}
	if e.stats, err = newStatsMap("lisp_encap_st"); err != nil {
		e.Close()
		return nil, err
	}
	if e.locals, err = NewMap(MapSpec{Name: "lisp_encap_src", Type: MapArray, KeySize: 4,
		ValueSize: EncapLocalsLen, MaxEntries: 1}); err != nil {
		e.Close()
		return nil, err
	}
	if e.locals6, err = NewMap(MapSpec{Name: "lisp_encap_src6", Type: MapArray, KeySize: 4,
		ValueSize: EncapLocalsLen6, MaxEntries: 1}); err != nil {
		e.Close()
		return nil, err
	}
	if e.prog, err = LoadProgram(ProgSpec{Name: "lisp_encap", Type: ProgSchedCLS, License: "GPL",
		Code: encapImage.render(bigEndian, e.fds()...)}); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// fds returns the maps' descriptors in the order the image takes them.
func (e *Encap) fds() []int {
	return []int{e.entries4.FD(), e.entries6.FD(), e.stats.FD(), e.locals.FD(), e.locals6.FD()}
}

// SetLocals replaces the IPv4 locals table: the local RLOCs the packets
// of every entry with IPv4 RLOCs leave from, and the share of the flows
// each takes. Until it is called every such packet goes to the TUN.
func (e *Encap) SetLocals(l EncapLocals) error { return e.setLocals(l, false) }

// SetLocals6 replaces the IPv6 locals table: as SetLocals for the entries
// with IPv6 RLOCs.
func (e *Encap) SetLocals6(l EncapLocals) error { return e.setLocals(l, true) }

// setLocals writes the IPv4 or (v6) the IPv6 locals table.
func (e *Encap) setLocals(l EncapLocals, v6 bool) error {
	m, what := e.locals, "encap: set the local RLOCs"
	if v6 {
		m, what = e.locals6, "encap: set the IPv6 local RLOCs"
	}
	v, err := l.appendValue(nil, v6)
	if err != nil {
		return err
	}
	if err := m.Update(make([]byte, 4), v, UpdateAny); err != nil {
		return wrap(what, err)
	}
	return nil
}

// Attach attaches the program to the TCX egress of the TUN device tunIfIndex
// (in the calling thread's network namespace).
func (e *Encap) Attach(tunIfIndex int) error {
	if e.link != nil {
		return errors.New("encap: already attached")
	}
	l, err := attachTC(e.prog, tunIfIndex, TCXEgress, e.cls)
	if err != nil {
		return err
	}
	e.link = l
	return nil
}

// entries returns the map for p's family.
func (e *Encap) entries(p netip.Prefix) *Map {
	if p.Addr().Is4() {
		return e.entries4
	}
	return e.entries6
}

// Set installs (or replaces, resetting its counters) the mapping for the
// EID prefix p (IPv4 or IPv6).
func (e *Encap) Set(p netip.Prefix, ent EncapEntry) error {
	k, err := AppendEncapKey(nil, p)
	if err != nil {
		return err
	}
	v, err := ent.AppendValue(nil)
	if err != nil {
		return err
	}
	if err := e.entries(p).Update(k, v, UpdateAny); err != nil {
		return wrap("encap: set "+p.String(), err)
	}
	return nil
}

// Delete removes the mapping for p: its packets go to the TUN again.
func (e *Encap) Delete(p netip.Prefix) error {
	k, err := AppendEncapKey(nil, p)
	if err != nil {
		return err
	}
	return e.entries(p).Delete(k)
}

// Counters returns the packets and bytes encapsulated for p since Set,
// summed over its remote RLOCs.
func (e *Encap) Counters(p netip.Prefix) (Counters, error) {
	cs, err := e.RLOCCounters(p)
	var c Counters
	for _, r := range cs {
		c.Packets += r.Packets
		c.Bytes += r.Bytes
	}
	return c, err
}

// RLOCCounters returns the packets and bytes encapsulated for p since Set
// per remote RLOC (index 0 is EncapEntry.Dst, i is Alt[i-1]).
func (e *Encap) RLOCCounters(p netip.Prefix) ([MaxEncapRLOCs]Counters, error) {
	var cs [MaxEncapRLOCs]Counters
	k, err := AppendEncapKey(nil, p)
	if err != nil {
		return cs, err
	}
	v := make([]byte, EncapEntryLen)
	if err := e.entries(p).Lookup(k, v); err != nil {
		return cs, err
	}
	for i := range cs {
		r := v[encapRLOCs+i*encapRLOCLen:]
		cs[i] = Counters{binary.NativeEndian.Uint64(r[8:]), binary.NativeEndian.Uint64(r[16:])}
	}
	return cs, nil
}

// Stats returns the counters of packets left to the TUN or dropped.
func (e *Encap) Stats() (Stats, error) { return readStats(e.stats) }

// Close detaches the program and releases the maps.
func (e *Encap) Close() error {
	err := e.link.Close()
	e.link = nil
	return firstErr(err, e.prog.Close(), e.entries4.Close(), e.entries6.Close(), e.stats.Close(), e.locals.Close(), e.locals6.Close())
}

// attachTC attaches prog to a TC hook of ifindex: through TCX, or where
// the kernel has none (before 6.6) or cls is set, as a cls_bpf filter.
func attachTC(prog *Program, ifindex int, typ AttachType, cls bool) (*Link, error) {
	if !cls {
		l, err := AttachTCX(prog, ifindex, typ)
		if !errors.Is(err, ErrNoTCX) {
			return l, err
		}
	}
	return AttachCLS(prog, ifindex, typ)
}

// firstErr returns the first non-nil error of errs.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Decap is the decapsulating program with its maps, attached to an RLOC
// interface's ingress by Attach.
type Decap struct {
	cls    bool // attach with cls_bpf even where TCX works (tests, bench)
	locals *Map
	stats  *Map
	eids4  *Map // local EID prefixes, LPM keys as the encap maps'
	eids6  *Map
	prog   *Program
	xdp    *Program // loaded by the first AttachXDP
	links  []*Link
	eids   []netip.Prefix // what SetLocalEIDs installed

	senders *Map // the ITRs decapsulated from (LRU hash, see Sender)

	locals6, senders6 *Map // the same keyed by IPv6 RLOCs
}

// MaxLocalEIDs is how many local EID prefixes (per family) SetLocalEIDs
// takes.
const MaxLocalEIDs = 256

// NewDecap creates the maps (room for maxLocals local RLOCs) and loads the
// decapsulating program.
func NewDecap(maxLocals int) (*Decap, error) {
	d := &Decap{}
	var err error
	if d.locals, err = NewMap(MapSpec{Name: "lisp_decap", Type: MapHash, KeySize: DecapKeyLen,
		ValueSize: DecapEntryLen, MaxEntries: uint32(maxLocals)}); err != nil {
		return nil, err
	}
	if d.locals6, err = NewMap(MapSpec{Name: "lisp_decap6", Type: MapHash, KeySize: DecapKeyLen6,
		ValueSize: DecapEntryLen, MaxEntries: uint32(maxLocals)}); err != nil {
		d.Close()
		return nil, err
	}
	if d.stats, err = newStatsMap("lisp_decap_st"); err != nil {
		d.Close()
		return nil, err
	}
	if d.eids4, err = NewMap(MapSpec{Name: "lisp_decap_e4", Type: MapLPMTrie, KeySize: EncapKeyLen4,
		ValueSize: 4, MaxEntries: MaxLocalEIDs, Flags: FlagNoPrealloc}); err == nil {
		d.eids6, err = NewMap(MapSpec{Name: "lisp_decap_e6", Type: MapLPMTrie, KeySize: EncapKeyLen6,
			ValueSize: 4, MaxEntries: MaxLocalEIDs, Flags: FlagNoPrealloc})
	}
	if err == nil {
		d.senders, err = NewMap(MapSpec{Name: "lisp_decap_snd", Type: MapLRUHash, KeySize: SenderKeyLen,
			ValueSize: SenderEntryLen, MaxEntries: MaxSenders})
	}
	if err == nil {
		d.senders6, err = NewMap(MapSpec{Name: "lisp_decap_snd6", Type: MapLRUHash, KeySize: SenderKeyLen6,
			ValueSize: SenderEntryLen, MaxEntries: MaxSenders})
	}
	if err == nil {
		d.prog, err = LoadProgram(ProgSpec{Name: "lisp_decap", Type: ProgSchedCLS, License: "GPL",
			Code: decapImage.render(bigEndian, d.fds()...)})
	}
	if err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// fds returns the maps' descriptors in the order the images take them.
func (d *Decap) fds() []int {
	return []int{d.locals.FD(), d.stats.FD(), d.eids4.FD(), d.eids6.FD(), d.senders.FD(), d.locals6.FD(), d.senders6.FD()}
}

// SetLocalEIDs replaces the site's EID prefixes (IPv4 and IPv6, at most
// MaxLocalEIDs per family): the programs decapsulate only packets whose
// inner destination is inside one of them and leave the others to the
// stack (and the daemon, which drops them). Until it is called nothing is
// decapsulated in the kernel. When it fails, the prefixes it added are
// taken out again: the maps keep the previous set (and d tracks whatever a
// failed deletion left in them). Not safe for concurrent use with itself.
func (d *Decap) SetLocalEIDs(prefixes []netip.Prefix) error {
	want := make(map[netip.Prefix]bool, len(prefixes))
	for _, p := range prefixes {
		if !p.IsValid() {
			return errors.New("decap: set local EIDs: invalid prefix")
		}
		want[p.Masked()] = true
	}
	have := make(map[netip.Prefix]bool, len(d.eids))
	for _, p := range d.eids {
		have[p] = true
	}
	var added []netip.Prefix
	var err error
	for p := range want {
		if have[p] {
			continue
		}
		k, _ := AppendEncapKey(nil, p)
		if err = d.eidMap(p).Update(k, []byte{1, 0, 0, 0}, UpdateAny); err != nil {
			err = wrap("decap: set local EID "+p.String(), err)
			break
		}
		have[p] = true
		added = append(added, p)
	}
	drop := added // on failure: back to the previous set
	if err == nil {
		drop = drop[:0]
		for p := range have {
			if !want[p] {
				drop = append(drop, p)
			}
		}
	}
	for _, p := range drop {
		k, _ := AppendEncapKey(nil, p)
		if d.eidMap(p).Delete(k) == nil {
			delete(have, p)
		}
	}
	d.eids = d.eids[:0]
	for p := range have {
		d.eids = append(d.eids, p)
	}
	return err
}

func (d *Decap) eidMap(p netip.Prefix) *Map {
	if p.Addr().Is4() {
		return d.eids4
	}
	return d.eids6
}

// Attach attaches the program to the TCX ingress of the interface ifindex
// (in the calling thread's network namespace); call it once per uplink.
func (d *Decap) Attach(ifindex int) error {
	l, err := attachTC(d.prog, ifindex, TCXIngress, d.cls)
	if err != nil {
		return err
	}
	d.links = append(d.links, l)
	return nil
}

// Detach detaches the programs Attach and AttachXDP attached to the
// interface ifindex (in the calling thread's network namespace, for a
// cls_bpf filter). An interface that is gone took them with it: not an
// error.
func (d *Decap) Detach(ifindex int) error { return d.closeLinks(ifindex) }

// closeLinks closes the links on the interface ifindex (every link when
// ifindex < 0), last attached first: an XDP program goes before the TC
// program behind it, so that no packet it decapsulated enters on the
// uplink. A link whose interface is gone went with it: not an error.
func (d *Decap) closeLinks(ifindex int) error {
	var err error
	for i := len(d.links) - 1; i >= 0; i-- {
		if l := d.links[i]; ifindex < 0 || l.ifindex == ifindex {
			if e := l.Close(); e != nil && !errors.Is(e, unix.ENODEV) {
				err = firstErr(err, wrap("decap: detach from ifindex "+strconv.Itoa(l.ifindex), e))
			}
		}
	}
	kept := d.links[:0]
	for _, l := range d.links {
		if ifindex >= 0 && l.ifindex != ifindex {
			kept = append(kept, l)
		}
	}
	clear(d.links[len(kept):])
	d.links = kept
	return err
}

// AttachXDP attaches the XDP variant of the program (see DecapXDPInsns in
// prog_decap_test.go) to the interface ifindex, in addition to Attach: it
// decapsulates before GRO, so inner flows are GRO-merged, and marks the
// packets, which the TC program then moves into the TUN. Without Attach on
// the same interface (the bench's kpath-xdp experiment) the inner packets
// enter the stack on that interface, not the TUN.
//
// Only in the driver's own XDP: generic XDP runs after GRO (nothing to
// gain) and copies every packet of the interface that lacks its headroom;
// a driver without native XDP fails the attach.
func (d *Decap) AttachXDP(ifindex int) error {
	if d.xdp == nil {
		p, err := LoadProgram(ProgSpec{Name: "lisp_decap_xdp", Type: ProgXDP, License: "GPL",
			Code: decapXDPImage.render(bigEndian, d.fds()...)})
		if err != nil {
			return err
		}
		d.xdp = p
	}
	l, err := attachXDP(d.xdp, ifindex, xdpFlagsDrvMode)
	if err != nil {
		return err
	}
	d.links = append(d.links, l)
	return nil
}

// localMap returns the map of local RLOCs of rloc's family.
func (d *Decap) localMap(rloc netip.Addr) *Map {
	if rloc.Is4() {
		return d.locals
	}
	return d.locals6
}

// SetLocal installs (or replaces, resetting its counters) the local RLOC
// rloc (IPv4 or IPv6).
func (d *Decap) SetLocal(rloc netip.Addr, ent DecapEntry) error {
	k, err := AppendDecapKey(nil, rloc)
	if err != nil {
		return err
	}
	if err := d.localMap(rloc).Update(k, ent.AppendValue(nil), UpdateAny); err != nil {
		return wrap("decap: set "+rloc.String(), err)
	}
	return nil
}

// DeleteLocal removes the local RLOC rloc: its packets go to the stack.
func (d *Decap) DeleteLocal(rloc netip.Addr) error {
	k, err := AppendDecapKey(nil, rloc)
	if err != nil {
		return err
	}
	return d.localMap(rloc).Delete(k)
}

// Counters returns the packets and bytes decapsulated for rloc since
// SetLocal.
func (d *Decap) Counters(rloc netip.Addr) (Counters, error) {
	k, err := AppendDecapKey(nil, rloc)
	if err != nil {
		return Counters{}, err
	}
	v := make([]byte, DecapEntryLen)
	if err := d.localMap(rloc).Lookup(k, v); err != nil {
		return Counters{}, err
	}
	return Counters{binary.NativeEndian.Uint64(v[16:]), binary.NativeEndian.Uint64(v[24:])}, nil
}

// Stats returns the counters of packets left to the stack.
func (d *Decap) Stats() (Stats, error) { return readStats(d.stats) }

// Senders appends to dst the ITRs the programs decapsulated packets from,
// as they last recorded them (at most MaxSenders: the least recently
// recorded made room for newer ones), each with its age.
func (d *Decap) Senders(dst []Sender) ([]Sender, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC_COARSE, &ts); err != nil {
		return dst, wrap("decap: senders: clock", err)
	}
	now := uint64(ts.Nano())
	dst, err := readSenders(dst, d.senders, SenderKeyLen, now)
	if err != nil {
		return dst, err
	}
	return readSenders(dst, d.senders6, SenderKeyLen6, now)
}

// readSenders appends the senders in m, whose keys are keyLen bytes.
func readSenders(dst []Sender, m *Map, keyLen int, now uint64) ([]Sender, error) {
	var prev []byte
	key, next := make([]byte, keyLen), make([]byte, keyLen)
	v := make([]byte, SenderEntryLen)
	// Bounded: a hash map's walk starts over when the key it stands on
	// was evicted meanwhile (the reader may then see an ITR twice).
	for range 2 * MaxSenders {
		err := m.NextKey(prev, next)
		if errors.Is(err, unix.ENOENT) {
			break
		}
		if err != nil {
			return dst, err
		}
		copy(key, next)
		prev = key
		if m.Lookup(key, v) != nil {
			continue // evicted meanwhile
		}
		if s, ok := decodeSender(key, v, now); ok {
			dst = append(dst, s)
		}
	}
	return dst, nil
}

// Close detaches the program and releases the maps.
func (d *Decap) Close() error {
	err := d.closeLinks(-1)
	return firstErr(err, d.prog.Close(), d.xdp.Close(), d.locals.Close(), d.stats.Close(),
		d.eids4.Close(), d.eids6.Close(), d.senders.Close(), d.locals6.Close(), d.senders6.Close())
}
