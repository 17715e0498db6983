package kpath

import (
	"encoding/binary"
	"errors"
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

// bpf_skb_adjust_room modes and flags.
const (
	adjRoomMAC      = 1
	adjFixedGSO     = 1 << 0
	adjEncapL3IPv4  = 1 << 1
	adjEncapL4UDP   = 1 << 4
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
//	8  first byte of the LISP header (flags); 9-11 zero
//	12 second word of the LISP header: instance-id and LSBs, network order
//	16 slot table, EncapSlots bytes: the RLOC (index) of each flow-hash
//	   slot; the program takes slot hash&(EncapSlots-1), and the index
//	   modulo MaxEncapRLOCs
//	80 MaxEncapRLOCs remote RLOCs of encapRLOCLen bytes, RLOC i at 80+32*i:
//	   +0  outer destination (remote RLOC), 4 bytes
//	   +4  MTU: largest outer packet toward the RLOC, uint32 (0: nothing
//	       fits, every packet goes to the TUN)
//	   +8  packets encapsulated, uint64 (inner packets; a GSO packet counts
//	       its segments)
//	   +16 bytes encapsulated, uint64 (inner bytes)
//	   +24 zero
//
// One layout rather than a second map for the load-sharing mappings: one
// lookup and one code path in the program, and the single-RLOC entry costs
// only the unused bytes (the maps do not preallocate).
//
// The locals table, an array map of one EncapLocalsLen-byte value (key 0),
// holds the local RLOCs the packets leave from, for every entry alike
// (multihoming: the flows shared among up to MaxEncapLocals uplinks):
//
//	0  MaxEncapLocals local RLOCs of 8 bytes, local i at 8*i:
//	   +0 outer source address, 4 bytes
//	   +4 ifindex to send from, uint32 (0: unset, its packets go to the TUN)
//	32 slot table, EncapSlots bytes: the local (index) of each slot; the
//	   program takes slot hash>>26 (bits apart from the remote RLOC's
//	   slot, hash&63, and from the outer source port's), and the index
//	   modulo MaxEncapLocals
//
// One table rather than a source in every entry: a change of the local
// locators (an uplink down, an address gone, new weights) is one write,
// not a rewrite of every mapping. The program reads a local's address and
// ifindex as one 8-byte word, and the mirror keeps each local at its
// index while it stays, so that a packet read during a write pairs a
// source with its own interface.
const (
	EncapKeyLen4  = 4 + 4
	EncapKeyLen6  = 4 + 16
	EncapEntryLen = encapRLOCs + MaxEncapRLOCs*encapRLOCLen

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

	// MaxEncapLocals is how many local RLOCs the locals table shares the
	// flows among (a power of two: the program bounds the index with a
	// mask).
	MaxEncapLocals = 4
	// EncapLocalsLen is the size of the locals table's value.
	EncapLocalsLen = encapLocalSlots + EncapSlots

	encapLocalLen   = 8 // a local's address and ifindex: one word
	encapLocalShift = 3
	encapLocalSlots = MaxEncapLocals * encapLocalLen
	encapLocalHash  = 32 - 6 // the slot is the hash's top 6 bits
)

// EncapRLOC is a remote RLOC of an entry beyond the first (EncapEntry.Dst).
type EncapRLOC struct {
	Dst netip.Addr // IPv4
	MTU int        // the path MTU toward Dst (outer packets)
}

// EncapEntry is one mapping as the encapsulating program uses it: one
// remote RLOC (Dst), or with load sharing up to MaxEncapRLOCs (Dst and
// Alt) among which Slots shares the flows. The outer source and the
// interface come from the locals table (EncapLocals). The type is
// comparable.
type EncapEntry struct {
	Dst        netip.Addr // the remote RLOC 0, IPv4
	MTU        int        // the path MTU toward Dst (outer packets)
	Flags      uint8      // LISP flags byte (fwd.FlagN|fwd.FlagL, |fwd.FlagI with an instance-id)
	InstanceID uint32     // 24 bits, written when Flags has I
	LSBs       uint32     // locator-status-bits: 8 bits with I, else 32
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

// AppendValue appends the map value of e (counters zero). Every RLOC a
// slot names must be IPv4.
func (e EncapEntry) AppendValue(b []byte) ([]byte, error) {
	if !e.Dst.Is4() {
		return b, errIPv4RLOCs
	}
	var v [EncapEntryLen]byte
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
		if !dst.Is4() {
			return b, errIPv4RLOCs
		}
		set[i] = true
		r := v[encapRLOCs+i*encapRLOCLen:]
		*(*[4]byte)(r[0:]) = dst.As4()
		binary.NativeEndian.PutUint32(r[4:], uint32(mtu))
	}
	for _, i := range e.Slots {
		if int(i) >= len(set) || !set[i] {
			return b, errSlotRLOC
		}
	}
	return append(b, v[:]...), nil
}

// errSlotRLOC refuses a slot table that names an RLOC the entry lacks.
var errSlotRLOC = errors.New("kpath: a slot names an RLOC the entry does not have")

// EncapLocal is a local RLOC the encapsulating program sends from.
type EncapLocal struct {
	Src     netip.Addr // the outer source address, IPv4
	IfIndex int        // the uplink holding Src, sent from (0: unset)
}

// EncapLocals is the encapsulating program's locals table: the local
// RLOCs (up to MaxEncapLocals) and the slot table that shares the flows
// among them (the kernel's flow hash picks a slot, so a flow keeps its
// uplink). A packet whose slot names an unset local goes to the TUN: the
// zero value sends every packet there. The type is comparable.
type EncapLocals struct {
	Locals [MaxEncapLocals]EncapLocal
	// Slots is the local (index into Locals) of each flow-hash slot.
	Slots [EncapSlots]uint8
}

// AppendValue appends the map value of l. A set local (IfIndex > 0) must
// have an IPv4 source.
func (l EncapLocals) AppendValue(b []byte) ([]byte, error) {
	var v [EncapLocalsLen]byte
	for i, s := range l.Locals {
		if s.IfIndex == 0 {
			continue
		}
		if !s.Src.Is4() || s.IfIndex < 0 {
			return b, errors.New("kpath: a local RLOC needs an IPv4 source and an ifindex")
		}
		r := v[i*encapLocalLen:]
		*(*[4]byte)(r[0:]) = s.Src.As4()
		binary.NativeEndian.PutUint32(r[4:], uint32(s.IfIndex))
	}
	for j, i := range l.Slots {
		if int(i) >= MaxEncapLocals {
			return b, errors.New("kpath: a slot names a local RLOC beyond MaxEncapLocals")
		}
		v[encapLocalSlots+j] = i
	}
	return append(b, v[:]...), nil
}

// Counters are the packets and bytes a program handled for one map entry.
type Counters struct {
	Packets, Bytes uint64
}
