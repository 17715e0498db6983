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
	StatEncapSkip           // not handled: not IPv4, options, fragment, too big, GSO other than TCP
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
	StatDecapSample         // decapsulatable, handed to the daemon (one per SetSampleInterval per CPU)
	NumStats
)

// Encap map layout: two LPM maps, one per inner family, with keys
// {prefixlen uint32 (host order), address (4 or 16 bytes)} and values of
// EncapEntryLen bytes:
//
//	0  outer source (local RLOC), 4 bytes
//	4  outer destination (remote RLOC), 4 bytes
//	8  ifindex to send from, uint32
//	12 MTU: largest outer packet toward the RLOC, uint32
//	16 first byte of the LISP header (flags); 17-19 zero
//	20 second word of the LISP header: instance-id and LSBs, network order
//	24 packets encapsulated, uint64 (inner packets; a GSO packet counts its segments)
//	32 bytes encapsulated, uint64 (inner bytes)
const (
	EncapKeyLen4  = 4 + 4
	EncapKeyLen6  = 4 + 16
	EncapEntryLen = 40
)

// EncapEntry is one mapping as the encapsulating program uses it.
type EncapEntry struct {
	Src, Dst   netip.Addr // IPv4 RLOCs: local (outer source) and remote
	IfIndex    int        // the interface toward Dst
	MTU        int        // the path MTU toward Dst (outer packets)
	Flags      uint8      // LISP flags byte (fwd.FlagN|fwd.FlagL, |fwd.FlagI with an instance-id)
	InstanceID uint32     // 24 bits, written when Flags has I
	LSBs       uint32     // locator-status-bits: 8 bits with I, else 32
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

// AppendValue appends the map value of e (counters zero).
func (e EncapEntry) AppendValue(b []byte) ([]byte, error) {
	if !e.Src.Is4() || !e.Dst.Is4() {
		return b, errIPv4RLOCs
	}
	var v [EncapEntryLen]byte
	*(*[4]byte)(v[0:]) = e.Src.As4()
	*(*[4]byte)(v[4:]) = e.Dst.As4()
	binary.NativeEndian.PutUint32(v[8:], uint32(e.IfIndex))
	binary.NativeEndian.PutUint32(v[12:], uint32(e.MTU))
	v[16] = e.Flags
	w := e.LSBs
	if e.Flags&flagI != 0 {
		w = e.InstanceID<<8 | e.LSBs&0xff
	}
	binary.BigEndian.PutUint32(v[20:], w)
	return append(b, v[:]...), nil
}

// Counters are the packets and bytes a program handled for one map entry.
type Counters struct {
	Packets, Bytes uint64
}
