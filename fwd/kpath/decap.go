package kpath

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"time"
)

// Decap map layout: key a local IPv4 RLOC (4 bytes, network order), value
// DecapEntryLen bytes:
//
//	0  ifindex of the TUN device the inner packets enter, uint32
//	4  flags, uint32: DecapCheckIID
//	8  instance-id the LISP header must carry (with DecapCheckIID), uint32
//	12 zero
//	16 packets decapsulated, uint64
//	24 bytes decapsulated, uint64 (inner bytes)
const (
	DecapKeyLen   = 4
	DecapEntryLen = 32
)

// DecapCheckIID makes the decapsulating program accept only packets whose
// LISP header has the I bit and the entry's instance-id.
const DecapCheckIID = 1

// DecapEntry is one local RLOC as the decapsulating program uses it.
type DecapEntry struct {
	TUNIfIndex int    // where inner packets enter (as received there)
	CheckIID   bool   // require the I bit and InstanceID
	InstanceID uint32 // 24 bits
}

// errIPv4RLOCs refuses an IPv6 RLOC, which the programs do not handle yet.
var errIPv4RLOCs = errors.New("kpath: IPv4 RLOCs only")

// AppendDecapKey appends the map key of a local RLOC.
func AppendDecapKey(b []byte, rloc netip.Addr) ([]byte, error) {
	if !rloc.Is4() {
		return b, errIPv4RLOCs
	}
	a := rloc.As4()
	return append(b, a[:]...), nil
}

// AppendValue appends the map value of e (counters zero).
func (e DecapEntry) AppendValue(b []byte) []byte {
	var flags uint32
	if e.CheckIID {
		flags |= DecapCheckIID
	}
	b = binary.NativeEndian.AppendUint32(b, uint32(e.TUNIfIndex))
	b = binary.NativeEndian.AppendUint32(b, flags)
	b = binary.NativeEndian.AppendUint32(b, e.InstanceID&0xffffff)
	return append(b, make([]byte, 20)...)
}

// decapHdrs is what the program needs in the linear part: Ethernet, outer
// IPv4 (no options), UDP, LISP and an inner IPv4 header; an inner IPv6
// packet needs decapHdrs6. Shorter packets go to the daemon. (Small
// datagrams must not: a packet a kernel ITR sent with its inner checksum
// still partial, as veth and virtio carry it, cannot be finished by a
// daemon reading it from a socket.)
const (
	decapHdrs  = 14 + Overhead4 + 20
	decapHdrs6 = 14 + Overhead4 + 40
)

// DefaultSampleInterval is how often (per CPU) the decapsulating program
// hands a packet it could decapsulate to the daemon instead, until
// SetSampleInterval changes it.
const DefaultSampleInterval = 100 * time.Millisecond

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
// decapsulated, for the TC program behind it: decapMark (a host-order
// 32-bit word, "LISP" on a big-endian host), then the local RLOC the packet
// was sent to (network order), decapMarkLen bytes in all. GRO merges only
// packets with equal metadata: a flow's packets carry the same mark.
const (
	decapMark    = 0x4c495350
	decapMarkLen = 8
)
