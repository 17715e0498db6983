package fwd

import "encoding/binary"

// Outer UDP source ports are taken from the dynamic range (RFC 9300 section
// 5.3: the source port is entropy for ECMP in the underlay).
const (
	SourcePortMin = 49152
	SourcePortMax = 65535
)

// FlowHash hashes the flow of the inner packet b, parsed into p: source and
// destination address, protocol and, for TCP, UDP, UDP-Lite and SCTP, the two
// ports (not for IPv4 fragments, so every fragment of a datagram hashes
// alike); for other IPv6 traffic the flow label stands in for the ports.
// seed varies the hash per process. It neither allocates nor reads past b.
func FlowHash(b []byte, p *Packet, seed uint64) uint32 {
	h := seed ^ uint64(p.Proto)
	if !p.Is6 {
		h = mix64(h ^ uint64(binary.BigEndian.Uint32(b[12:16]))<<32 ^ uint64(binary.BigEndian.Uint32(b[16:20])))
		if !p.Frag && hasPorts(p.Proto) && len(b) >= p.HdrLen+4 {
			h = mix64(h ^ uint64(binary.BigEndian.Uint32(b[p.HdrLen:p.HdrLen+4])))
		}
	} else {
		h = mix64(h ^ binary.BigEndian.Uint64(b[8:16]))
		h = mix64(h ^ binary.BigEndian.Uint64(b[16:24]))
		h = mix64(h ^ binary.BigEndian.Uint64(b[24:32]))
		h = mix64(h ^ binary.BigEndian.Uint64(b[32:40]))
		if hasPorts(p.Proto) && len(b) >= 44 {
			h = mix64(h ^ uint64(binary.BigEndian.Uint32(b[40:44])))
		} else {
			h = mix64(h ^ uint64(binary.BigEndian.Uint32(b[0:4])&0x000fffff))
		}
	}
	return uint32(h ^ h>>32)
}

// SourcePort maps a flow hash to a UDP source port in 49152–65535.
func SourcePort(hash uint32) uint16 {
	return SourcePortMin | uint16(hash>>7)&0x3fff
}

func hasPorts(proto uint8) bool {
	switch proto {
	case protoTCP, protoUDP, 33 /* DCCP */, 132 /* SCTP */, 136 /* UDP-Lite */ :
		return true
	}
	return false
}

// mix64 is the finalizer of SplitMix64: cheap, and every input bit affects
// every output bit.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// rng is a per-goroutine xorshift pseudo-random generator for data-header
// nonces: not cryptographic (RFC 9300 nonces only pair echo requests with
// replies), one add-shift-xor per call, no allocation.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix64(r.s)
}
