package kpath

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Offsets into struct __sk_buff (include/uapi/linux/bpf.h; stable ABI).
const (
	skbLen      = 0
	skbProtocol = 16
	skbData     = 76
	skbDataEnd  = 80
	skbGSOSegs  = 164
	skbGSOSize  = 176
)

// LISP data port and the outer UDP source port range (RFC 9300 section 5.3;
// the same range as the userspace path, fwd.SourcePortMin..Max).
const (
	DataPort      = 4341
	sourcePortMin = 49152
)

// Overhead4 is what encapsulation adds in front of an IPv4 packet with an
// IPv4 RLOC: outer IPv4, UDP and LISP headers.
const Overhead4 = 20 + 8 + 8

// Overhead6 is what encapsulation adds in front of a packet (IPv4 or
// IPv6) with an IPv6 RLOC: outer IPv6 (no extension headers), UDP and LISP
// headers.
const Overhead6 = 40 + 8 + 8

// bpf_skb_adjust_room modes and flags.
const (
	adjRoomMAC      = 1
	adjFixedGSO     = 1 << 0
	adjEncapL3IPv4  = 1 << 1
	adjEncapL3IPv6  = 1 << 2
	adjEncapL4UDP   = 1 << 4
	adjDecapL3IPv4  = 1 << 7 // Linux 6.3+: the packet's protocol becomes IPv4
	adjDecapL3IPv6  = 1 << 8 // Linux 6.3+: the packet's protocol becomes IPv6
	redirectIngress = 1      // BPF_F_INGRESS
)

// Stats slots: per-CPU counters of the packets the programs did not
// handle (the handled ones are counted in the map entries).
const (
	StatEncapMiss    = iota // no entry for the destination: left to the TUN reader
	StatEncapSkip           // not handled: not IPv4, options, fragment, too big, no local RLOC, GSO other than TCP
	StatEncapError          // a helper failed after the packet was changed: dropped
	StatEncapGSO            // GSO packets seen with an entry (encapsulated unless counted as skipped too)
	StatDecapPass           // not a LISP data packet to a local RLOC: left to the stack
	StatDecapGRO            // a GRO/GSO packet (coalesced UDP): left to the stack (the daemon's socket)
	StatDecapBad            // LISP header refused (flags, instance-id, checksum): left to the stack
	StatDecapError          // a helper failed: left to the stack
	StatDecapNotIP          // inner packet neither IPv4 nor IPv6: left to the stack
	StatDecapForeign        // inner destination not a local EID (SetLocalEIDs): left to the stack
	StatDecapTTL            // inner TTL or hop limit would be 0 (min of inner and outer): left to the stack
	StatDecapECN            // outer ECN changes the inner one (RFC 6040: CE, or ECT(1) over ECT(0)): left to the stack
	NumStats
)

// Encap map layout: two LPM maps, one per inner family, with keys
// {prefixlen uint32 (host order), address (4 or 16 bytes)} and values of
// EncapEntryLen bytes, one layout for one remote RLOC and for several
// (load sharing; one RLOC is the case where every slot is RLOC 0):
//
//	0  zero (the outer source and the interface are the locals table's)
//	8  first byte of the LISP header (flags)
//	9  the RLOCs' family: 0 IPv4, 6 IPv6 (outer IPv6: the destinations at
//	   encapDsts6, the source from the IPv6 locals table)
//	10-11 zero
//	12 second word of the LISP header: instance-id and LSBs, network order
//	16 slot table, EncapSlots bytes: the RLOC (index) of each flow-hash
//	   slot; the program takes slot hash&(EncapSlots-1), and the index
//	   modulo MaxEncapRLOCs
//	80 MaxEncapRLOCs remote RLOCs of encapRLOCLen bytes, RLOC i at 80+32*i:
//	   +0  outer destination (remote RLOC), 4 bytes (zero with IPv6 RLOCs)
//	   +4  MTU: largest outer packet toward the RLOC, uint32 (0: nothing
//	       fits, every packet goes to the TUN)
//	   +8  packets encapsulated, uint64 (inner packets; a GSO packet counts
//	       its segments)
//	   +16 bytes encapsulated, uint64 (inner bytes)
//	   +24 zero
//	208 with IPv6 RLOCs (byte 9 is 6): MaxEncapRLOCs outer IPv6
//	   destinations of 16 bytes, RLOC i's at 208+16*i (its MTU and
//	   counters stay in its 32-byte record above); zero with IPv4 RLOCs
//
// One layout rather than a second map for the load-sharing mappings: one
// lookup and one code path in the program, and the single-RLOC entry costs
// only the unused bytes (the maps do not preallocate). The same goes for
// IPv6 RLOCs, which widen the entry by an area of their own at the end
// rather than get maps of their own: the mappings of both RLOC families
// share one LPM trie per EID family, so one lookup still finds the
// longest match (with a map per RLOC family the program would have to
// look up both and could not tell which prefix is longer), the MTU,
// counters and slot table keep their offsets (one code path up to the
// outer header; RLOCCounters and the daemon's fold unchanged), and every
// field of an IPv4 entry keeps its offset.
//
// The locals tables, two array maps of one value each (key 0), hold the
// local RLOCs the packets leave from, for every entry of one RLOC family
// alike (multihoming: the flows shared among up to MaxEncapLocals
// uplinks); the entry's family byte names the table. The IPv4 one,
// EncapLocalsLen bytes:
//
//	0  MaxEncapLocals local RLOCs of 8 bytes, local i at 8*i:
//	   +0 outer source address, 4 bytes
//	   +4 ifindex to send from, uint32 (0: unset, its packets go to the TUN)
//	32 slot table, EncapSlots bytes: the local (index) of each slot; the
//	   program takes slot hash>>26 (bits apart from the remote RLOC's
//	   slot, hash&63, from the outer source port's and from the IPv6 flow
//	   label's low bits), and the index modulo MaxEncapLocals
//
// The IPv6 one, EncapLocalsLen6 bytes:
//
//	0   MaxEncapLocals local RLOCs of 32 bytes, local i at 32*i:
//	    +0  outer source address, 16 bytes
//	    +16 ifindex to send from, uint32 (0: unset, its packets go to the TUN)
//	    +20 zero
//	128 slot table, as the IPv4 one's
//
// One table rather than a source in every entry: a change of the local
// locators (an uplink down, an address gone, new weights) is one write,
// not a rewrite of every mapping. The kernel copies a new value over the
// old one without promising any store size, so a packet read during a
// write may see a record half old, half new. The mirror keeps each local
// at its index while it stays, so that a source and an interface read
// together belong to one local except when a write gives a removed
// local's index to a new one (which it does only when no index is free);
// and the program sends to the TUN a record with a zero source (a local
// being cleared) as it does one with a zero ifindex.
//
// A table per RLOC family rather than one value holding both: the
// families' local locators change apart (an IPv6 uplink losing its
// address rewrites the IPv6 table alone, never bytes the IPv4 packets are
// reading), the IPv4 table keeps its one-word records and its layout, and
// the program still makes one lookup per packet, in the table the entry's
// family byte names.
const (
	EncapKeyLen4  = 4 + 4
	EncapKeyLen6  = 4 + 16
	EncapEntryLen = encapDsts6 + MaxEncapRLOCs*16

	// EncapSlots is the size of the slot table: the userspace selection
	// table's (fwd's selSlots), so that weights are honoured alike.
	EncapSlots = 64
	// MaxEncapRLOCs is how many remote RLOCs an entry shares the flows
	// among (a power of two: the program bounds the index with a mask).
	MaxEncapRLOCs = 4

	encapSlotTable = 16
	encapRLOCs     = encapSlotTable + EncapSlots
	encapRLOCLen   = 32 // a power of two: the program shifts the index
	encapRLOCShift = 5
	encapFamily    = 9                                       // 0 or encapOuter6
	encapDsts6     = encapRLOCs + MaxEncapRLOCs*encapRLOCLen // 208
	encapOuter6    = 6

	// MaxEncapLocals is how many local RLOCs a locals table shares the
	// flows among (a power of two: the program bounds the index with a
	// mask).
	MaxEncapLocals = 4
	// EncapLocalsLen is the size of the IPv4 locals table's value.
	EncapLocalsLen = encapLocalSlots + EncapSlots
	// EncapLocalsLen6 is the size of the IPv6 locals table's value.
	EncapLocalsLen6 = encapLocalSlots6 + EncapSlots

	encapLocalLen    = 8 // an IPv4 local's address and ifindex: one word
	encapLocalShift  = 3
	encapLocalSlots  = MaxEncapLocals * encapLocalLen
	encapLocal6Len   = 32 // an IPv6 local's address, ifindex, zero: a power of two
	encapLocal6Shift = 5
	encapLocal6If    = 16 // the ifindex's offset in an IPv6 local
	encapLocalSlots6 = MaxEncapLocals * encapLocal6Len
	encapLocalHash   = 32 - 6 // the slot is the hash's top 6 bits
)

// EncapRLOC is a remote RLOC of an entry beyond the first (EncapEntry.Dst).
type EncapRLOC struct {
	Dst netip.Addr // IPv4 or IPv6, as the entry's Dst
	MTU int        // the path MTU toward Dst (outer packets)
}

// EncapEntry is one mapping as the encapsulating program uses it: one
// remote RLOC (Dst), or with load sharing up to MaxEncapRLOCs (Dst and
// Alt) among which Slots shares the flows. The outer source and the
// interface come from the locals table (EncapLocals). The type is
// comparable.
type EncapEntry struct {
	// Dst is the remote RLOC 0: IPv4, or IPv6 (outer IPv6), as every
	// other RLOC of the entry.
	Dst        netip.Addr
	MTU        int    // the path MTU toward Dst (outer packets)
	Flags      uint8  // LISP flags byte (fwd.FlagN|fwd.FlagL, |fwd.FlagI with an instance-id)
	InstanceID uint32 // 24 bits, written when Flags has I
	LSBs       uint32 // locator-status-bits: 8 bits with I, else 32
	// Alt are the further remote RLOCs: RLOC i is Alt[i-1]; unused ones
	// are zero.
	Alt [MaxEncapRLOCs - 1]EncapRLOC
	// Slots is the RLOC of each flow-hash slot (0 is Dst, i is Alt[i-1]);
	// all zero sends every flow to Dst.
	Slots [EncapSlots]uint8
}

// RLOC returns remote RLOC i (0 is Dst) and its MTU.
func (e *EncapEntry) RLOC(i int) (netip.Addr, int) {
	if i == 0 {
		return e.Dst, e.MTU
	}
	return e.Alt[i-1].Dst, e.Alt[i-1].MTU
}

// flagI is the LISP header's I bit (fwd.FlagI).
const flagI = 0x08

// AppendEncapKey appends the LPM key of an EID prefix (IPv4 or IPv6).
func AppendEncapKey(b []byte, p netip.Prefix) ([]byte, error) {
	if !p.IsValid() {
		return b, errors.New("encap key: invalid prefix")
	}
	b = binary.NativeEndian.AppendUint32(b, uint32(p.Bits()))
	return append(b, p.Masked().Addr().AsSlice()...), nil
}

// AppendValue appends the map value of e (counters zero). Every RLOC
// must be of Dst's family: IPv4, or IPv6 (not IPv4-mapped).
func (e EncapEntry) AppendValue(b []byte) ([]byte, error) {
	v6 := e.Dst.Is6() && !e.Dst.Is4In6()
	if !v6 && !e.Dst.Is4() {
		return b, errRLOCFamily
	}
	var v [EncapEntryLen]byte
	if v6 {
		v[encapFamily] = encapOuter6
	}
	v[8] = e.Flags
	w := e.LSBs
	if e.Flags&flagI != 0 {
		w = e.InstanceID<<8 | e.LSBs&0xff
	}
	binary.BigEndian.PutUint32(v[12:], w)
	copy(v[encapSlotTable:], e.Slots[:])
	var set [MaxEncapRLOCs]bool
	for i := range set {
		dst, mtu := e.RLOC(i)
		if !dst.IsValid() {
			continue
		}
		if !sameFamily(dst, v6) {
			return b, errRLOCFamily
		}
		set[i] = true
		r := v[encapRLOCs+i*encapRLOCLen:]
		if v6 {
			*(*[16]byte)(v[encapDsts6+16*i:]) = dst.As16()
		} else {
			*(*[4]byte)(r[0:]) = dst.As4()
		}
		binary.NativeEndian.PutUint32(r[4:], uint32(mtu))
	}
	for _, i := range e.Slots {
		if int(i) >= len(set) || !set[i] {
			return b, errSlotRLOC
		}
	}
	return append(b, v[:]...), nil
}

// sameFamily reports whether a is an IPv6 address (not IPv4-mapped) when
// v6, else an IPv4 one.
func sameFamily(a netip.Addr, v6 bool) bool {
	if v6 {
		return a.Is6() && !a.Is4In6()
	}
	return a.Is4()
}

// errRLOCFamily refuses an entry whose RLOCs are not all of one family.
var errRLOCFamily = errors.New("kpath: RLOCs of an entry must be all IPv4 or all IPv6")

// errSlotRLOC refuses a slot table that names an RLOC the entry lacks.
var errSlotRLOC = errors.New("kpath: a slot names an RLOC the entry does not have")

// EncapLocal is a local RLOC the encapsulating program sends from.
type EncapLocal struct {
	Src     netip.Addr // the outer source address: IPv4, or IPv6 in the IPv6 table
	IfIndex int        // the uplink holding Src, sent from (0: unset)
}

// EncapLocals is a locals table of the encapsulating program, the IPv4
// one or the IPv6 one: the local RLOCs of that family (up to
// MaxEncapLocals) and the slot table that shares the flows among them
// (the kernel's flow hash picks a slot, so a flow keeps its uplink). A
// packet whose slot names an unset local goes to the TUN: the zero value
// sends every packet there. The type is comparable.
type EncapLocals struct {
	Locals [MaxEncapLocals]EncapLocal
	// Slots is the local (index into Locals) of each flow-hash slot.
	Slots [EncapSlots]uint8
}

// AppendValue appends the value of the IPv4 locals table holding l. A set
// local (IfIndex > 0) must have a usable IPv4 source: not 0.0.0.0, which
// the program takes for a record being cleared.
func (l EncapLocals) AppendValue(b []byte) ([]byte, error) { return l.appendValue(b, false) }

// AppendValue6 appends the value of the IPv6 locals table holding l. A
// set local (IfIndex > 0) must have an IPv6 source, not IPv4-mapped nor in
// ::/32 (whose zero first word the program takes for a record being
// cleared).
func (l EncapLocals) AppendValue6(b []byte) ([]byte, error) { return l.appendValue(b, true) }

// appendValue appends the value of the IPv4 or (v6) the IPv6 locals table.
func (l EncapLocals) appendValue(b []byte, v6 bool) ([]byte, error) {
	recLen, ifOff, slotsOff, n, family := encapLocalLen, 4, encapLocalSlots, EncapLocalsLen, "IPv4"
	if v6 {
		recLen, ifOff, slotsOff, n, family = encapLocal6Len, encapLocal6If, encapLocalSlots6, EncapLocalsLen6, "IPv6"
	}
	v := make([]byte, n)
	for i, s := range l.Locals {
		if s.IfIndex == 0 {
			continue
		}
		r := v[i*recLen:]
		if sameFamily(s.Src, v6) {
			copy(r, s.Src.AsSlice())
		}
		if !sameFamily(s.Src, v6) || binary.BigEndian.Uint32(r) == 0 || s.IfIndex < 0 {
			return b, fmt.Errorf("kpath: local RLOC %d (%v, ifindex %d): needs a usable %s source and an ifindex", i, s.Src, s.IfIndex, family)
		}
		binary.NativeEndian.PutUint32(r[ifOff:], uint32(s.IfIndex))
	}
	if err := l.appendSlots(v[slotsOff:]); err != nil {
		return b, err
	}
	return append(b, v...), nil
}

// appendSlots writes l's slot table to v.
func (l EncapLocals) appendSlots(v []byte) error {
	for j, i := range l.Slots {
		if int(i) >= MaxEncapLocals {
			return fmt.Errorf("kpath: slot %d names local RLOC %d, beyond MaxEncapLocals", j, i)
		}
		v[j] = i
	}
	return nil
}

// Counters are the packets and bytes a program handled for one map entry.
type Counters struct {
	Packets, Bytes uint64
}
