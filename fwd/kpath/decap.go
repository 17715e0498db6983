package kpath

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"time"
)

// Decap map layout: key a local IPv4 RLOC (4 bytes, network order), or in
// a second map a local IPv6 RLOC (16 bytes); value DecapEntryLen bytes:
//
//	0  ifindex of the TUN device the inner packets enter, uint32
//	4  zero
//	8  instance-id the packets must carry, uint32 (see DecapEntry)
//	12 zero
//	16 packets decapsulated, uint64
//	24 bytes decapsulated, uint64 (inner bytes)
const (
	DecapKeyLen   = 4
	DecapKeyLen6  = 16
	DecapEntryLen = 32
)

// DecapEntry is one local RLOC as the decapsulating program uses it.
type DecapEntry struct {
	TUNIfIndex int // where inner packets enter (as received there)
	// InstanceID is the only instance-id the program decapsulates, as the
	// userspace ETR: the LISP header's with the I bit, 0 without it.
	// Packets with another are left to the stack (StatDecapBad).
	InstanceID uint32 // 24 bits
}

// errRLOC refuses an address that is no RLOC the programs handle.
var errRLOC = errors.New("kpath: a local RLOC must be IPv4 or IPv6 (not IPv4-mapped)")

// AppendDecapKey appends the map key of a local RLOC: DecapKeyLen bytes
// for an IPv4 one, DecapKeyLen6 for an IPv6 one (in the second map).
func AppendDecapKey(b []byte, rloc netip.Addr) ([]byte, error) {
	if !rloc.IsValid() || rloc.Is4In6() {
		return b, errRLOC
	}
	return append(b, rloc.AsSlice()...), nil
}

// AppendValue appends the map value of e (counters zero).
func (e DecapEntry) AppendValue(b []byte) []byte {
	b = binary.NativeEndian.AppendUint32(b, uint32(e.TUNIfIndex))
	b = binary.NativeEndian.AppendUint32(b, 0)
	b = binary.NativeEndian.AppendUint32(b, e.InstanceID&0xffffff)
	return append(b, make([]byte, 20)...)
}

// decapHdrs is what the program needs in the linear part: Ethernet, outer
// IPv4 (no options), UDP, LISP and an inner IPv4 header; an inner IPv6
// packet needs decapHdrs6; an outer IPv6 header outerShift6 bytes more
// (decapHdrsO6 with an inner IPv4 one). Shorter packets go to the daemon. (Small
// datagrams must not: a packet a kernel ITR sent with its inner checksum
// still partial, as veth and virtio carry it, cannot be finished by a
// daemon reading it from a socket.)
const (
	decapHdrs   = 14 + Overhead4 + 20
	decapHdrs6  = 14 + Overhead4 + 40
	outerShift6 = Overhead6 - Overhead4
	decapHdrsO6 = decapHdrs + outerShift6
)

// Sender map layout (an LRU hash of MaxSenders entries): key the outer
// source address of decapsulated packets, the sending ITR's IPv4 RLOC (4
// bytes, network order; in a second map of the same size its IPv6 RLOC, 16
// bytes); value SenderEntryLen bytes, as of the last packet that rewrote
// the entry:
//
//	0  the LISP header's second word as received: instance-id and LSBs, or LSBs
//	4  the LISP header's first byte masked to the L and I flags
//	5  the inner packet's IP version, 4 or 6
//	6  zero
//	8  when, in bpf_ktime_get_coarse_ns (CLOCK_MONOTONIC_COARSE), uint64
//	16 the inner source address: 4 bytes IPv4 then zeros, or 16 bytes IPv6
//
// The programs rewrite an entry when its flags or second word differ from
// the packet's, or when it is SenderRefresh old: not per packet.
const (
	SenderKeyLen   = 4
	SenderKeyLen6  = 16
	SenderEntryLen = 32
)

// MaxSenders is how many ITRs the senders map holds; the least recently
// recorded makes room for a new one (the daemon remembers 64: fwd's
// RecentITRCap).
const MaxSenders = 512

// SenderRefresh is how old a sender's entry gets before a packet with the
// same flags and LSBs rewrites it (its time and inner source): the daemon,
// reading the map once a second, sees every ITR that sent in that second.
const SenderRefresh = 250 * time.Millisecond

// flagL is the LISP header's L bit (fwd.FlagL): the LSBs are meaningful.
const flagL = 0x40

// Sender is an ITR the decapsulating programs decapsulated packets from,
// as they last recorded it (see Decap.Senders): what the daemon's own ETR
// notes per packet, for Solicit-Map-Requests (RFC 9301 section 6.6.2) and
// the received locator-status bits (RFC 9300 section 10).
type Sender struct {
	ITR     netip.Addr    // the outer source address: the ITR's RLOC
	Src     netip.Addr    // the inner source address of the packet recorded
	LSBs    uint32        // its locator-status bits: 8 with the I flag, else 32
	HasLSBs bool          // its L flag: the LSBs are meaningful
	Age     time.Duration // how long before the read it was recorded
	// At is when it was recorded (bpf_ktime_get_coarse_ns): a new value
	// means a new record.
	At uint64
}

// decodeSender decodes a senders map entry read at now
// (CLOCK_MONOTONIC_COARSE ns); false when it does not hold a sender.
func decodeSender(key, v []byte, now uint64) (Sender, bool) {
	itr, ok := netip.AddrFromSlice(key) // SenderKeyLen or SenderKeyLen6 bytes
	if !ok || len(v) != SenderEntryLen {
		return Sender{}, false
	}
	s := Sender{ITR: itr}
	switch v[5] {
	case 4:
		s.Src = netip.AddrFrom4([4]byte(v[16:20]))
	case 6:
		s.Src = netip.AddrFrom16([16]byte(v[16:32]))
	default:
		return Sender{}, false
	}
	s.LSBs = binary.BigEndian.Uint32(v[0:4])
	if v[4]&flagI != 0 {
		s.LSBs &= 0xff
	}
	s.HasLSBs = v[4]&flagL != 0
	s.At = binary.NativeEndian.Uint64(v[8:16])
	if now > s.At {
		s.Age = time.Duration(now - s.At)
	}
	return s, true
}

// XDP verdicts and the xdp_md offsets the program uses.
const (
	xdpDrop     = 1
	xdpPass     = 2
	xdpData     = 0
	xdpDataEnd  = 4
	xdpDataMeta = 8
)

// skbDataMeta is the offset of data_meta in struct __sk_buff: where the
// metadata an XDP program left in front of the packet starts.
const skbDataMeta = 140

// The mark the XDP program leaves in the metadata of a packet it
// decapsulated, for the TC program behind it: decapMark as two host-order
// 16-bit words, high half first ("LISP" on a big-endian host), then the
// local RLOC the packet was sent to (network order), decapMarkLen bytes in
// all. The programs access the metadata 16 bits at a time: it sits 2
// bytes past a word boundary (NET_IP_ALIGN), where a kernel without
// efficient unaligned access (MIPS) refuses word accesses. GRO merges only
// packets with equal metadata: a flow's packets carry the same mark.
//
// A packet sent to a local IPv6 RLOC carries decapMark6 instead, then the
// 16 bytes of that RLOC: decapMark6Len bytes (GRO keeps flows of the two
// apart).
const (
	decapMark     = 0x4c495350
	decapMarkLen  = 8
	decapMark6    = 0x4c495336 // "LIS6"
	decapMark6Len = 4 + 16
)
