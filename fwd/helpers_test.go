package fwd

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// ipv4Packet builds an IPv4 packet with a valid header checksum around an
// L4 payload built by l4 (which gets the pseudo-header sum to finish its
// own checksum).
type pktSpec struct {
	src, dst   string
	proto      uint8
	tos, ttl   uint8
	df         bool
	frag       uint16 // IPv4 flags+offset other than DF
	sport      uint16
	dport      uint16
	payloadLen int
	icmpType   uint8
}

// buildPacket returns an IPv4 or IPv6 packet as spec says, with correct IP
// (and ICMP/UDP/TCP) checksums.
func buildPacket(t testing.TB, s pktSpec) []byte {
	t.Helper()
	src, dst := netip.MustParseAddr(s.src), netip.MustParseAddr(s.dst)
	if s.ttl == 0 {
		s.ttl = 64
	}
	var l4 []byte
	switch s.proto {
	case protoUDP:
		l4 = make([]byte, 8+s.payloadLen)
		binary.BigEndian.PutUint16(l4[0:], s.sport)
		binary.BigEndian.PutUint16(l4[2:], s.dport)
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
	case protoTCP:
		l4 = make([]byte, 20+s.payloadLen)
		binary.BigEndian.PutUint16(l4[0:], s.sport)
		binary.BigEndian.PutUint16(l4[2:], s.dport)
		l4[12] = 5 << 4
		l4[13] = 0x10
		binary.BigEndian.PutUint16(l4[14:], 65535) // window
	default: // ICMP / ICMPv6 echo
		l4 = make([]byte, 8+s.payloadLen)
		l4[0] = s.icmpType
		if l4[0] == 0 {
			l4[0] = 8
			if src.Is6() {
				l4[0] = 128
			}
		}
		binary.BigEndian.PutUint16(l4[4:], 0x4c49)
		binary.BigEndian.PutUint16(l4[6:], 1)
	}
	for i := len(l4) - s.payloadLen; i < len(l4); i++ {
		l4[i] = byte(i)
	}
	if src.Is4() {
		b := make([]byte, 20+len(l4))
		b[0], b[1] = 0x45, s.tos
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
		binary.BigEndian.PutUint16(b[4:], 0x1234)
		ff := s.frag
		if s.df {
			ff |= 0x4000
		}
		binary.BigEndian.PutUint16(b[6:], ff)
		b[8], b[9] = s.ttl, s.proto
		s4, d4 := src.As4(), dst.As4()
		copy(b[12:], s4[:])
		copy(b[16:], d4[:])
		binary.BigEndian.PutUint16(b[10:], checksum(b[:20], 0))
		copy(b[20:], l4)
		finishL4(b[20:], s.proto, pseudoSum4(b[12:20], uint32(len(l4)), s.proto))
		return b
	}
	b := make([]byte, 40+len(l4))
	binary.BigEndian.PutUint32(b[0:], 0x60000000|uint32(s.tos)<<20|0x12345)
	binary.BigEndian.PutUint16(b[4:], uint16(len(l4)))
	b[6], b[7] = s.proto, s.ttl
	s16, d16 := src.As16(), dst.As16()
	copy(b[8:], s16[:])
	copy(b[24:], d16[:])
	copy(b[40:], l4)
	finishL4(b[40:], s.proto, pseudoSum6(b[8:40], uint32(len(l4)), s.proto))
	return b
}

func pseudoSum4(addrs []byte, length uint32, proto uint8) uint32 {
	return sumBytes(addrs, 0) + length + uint32(proto)
}

func finishL4(l4 []byte, proto uint8, pseudo uint32) {
	switch proto {
	case protoUDP:
		binary.BigEndian.PutUint16(l4[6:], checksum(l4, pseudo))
	case protoTCP:
		binary.BigEndian.PutUint16(l4[16:], checksum(l4, pseudo))
	case protoICMP:
		binary.BigEndian.PutUint16(l4[2:], checksum(l4, 0))
	case protoICMPv6:
		binary.BigEndian.PutUint16(l4[2:], checksum(l4, pseudo))
	}
}

// ipChecksumOK verifies an IPv4 header checksum (and is true for IPv6).
func ipChecksumOK(b []byte) bool {
	if b[0]>>4 != 4 {
		return true
	}
	ihl := int(b[0]&0x0f) * 4
	return checksum(b[:ihl], 0) == 0
}

// l4ChecksumOK verifies the ICMP / ICMPv6 checksum of packet b.
func l4ChecksumOK(b []byte) bool {
	var p Packet
	if ParsePacket(b, &p) != nil {
		return false
	}
	l4 := b[p.HdrLen:p.Len]
	switch {
	case !p.Is6 && p.Proto == protoICMP:
		return checksum(l4, 0) == 0
	case p.Is6 && p.Proto == protoICMPv6:
		return checksum(l4, pseudoSum6(b[8:40], uint32(len(l4)), protoICMPv6)) == 0
	}
	return false
}

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func rlocSpec(addr string, prio, weight uint8) RLOCSpec {
	return RLOCSpec{Addr: netip.MustParseAddr(addr), Priority: prio, Weight: weight}
}
