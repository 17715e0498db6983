package fwd

import (
	"encoding/binary"
	"net/netip"
)

// ICMPKind is an ICMP error the data plane sends back into the TUN.
type ICMPKind uint8

// ICMP errors the data plane sends.
const (
	// ICMPTooBig is ICMPv4 fragmentation-needed (type 3 code 4) or ICMPv6
	// Packet-Too-Big (type 2), carrying the next-hop MTU.
	ICMPTooBig ICMPKind = iota
	// ICMPHostUnreachable is ICMPv4 type 3 code 1 or ICMPv6 type 1 code 3
	// (address unreachable): a negative mapping with a drop action.
	ICMPHostUnreachable
	// ICMPAdminProhibited is ICMPv4 type 3 code 13 or ICMPv6 type 1 code 1:
	// a negative mapping that says policy-denied or auth-failure.
	ICMPAdminProhibited
	// ICMPNoRoute is ICMPv4 type 3 code 0 (net unreachable) or ICMPv6 type
	// 1 code 0 (no route to destination): native forwarding found no route.
	ICMPNoRoute
)

// Sizes of ICMP errors: RFC 1812 4.3.2.3 (at most 576 bytes for IPv4) and
// RFC 4443 2.4(c) (at most the IPv6 minimum MTU).
const (
	icmp4MaxLen = 576
	icmp6MaxLen = 1280
	// ICMPBufLen is the buffer size BuildICMPError needs at most.
	ICMPBufLen = icmp6MaxLen
)

// BuildICMPError writes into dst an ICMP error of the given kind about the
// packet orig (parsed into p), addressed to orig's source and coming from
// src, and returns its length. It returns 0 when no error may be sent
// (RFC 1122 3.2.2, RFC 4443 2.4(e)): orig is itself an ICMP error, a
// non-first fragment, or comes from an address that is not unicast. mtu is
// the next-hop MTU for ICMPTooBig.
//
// src should be an address of this router in the family of orig. When it is
// not valid (or of the other family), orig's destination is used: that
// address is routed into the TUN, so the reply passes the kernel's
// reverse-path filter on the TUN, and it names the EID the sender was trying
// to reach (the way a tunnel interface's own address would for a native
// tunnel). dst must hold ICMPBufLen bytes.
func BuildICMPError(dst, orig []byte, p *Packet, kind ICMPKind, mtu int, src netip.Addr) int {
	if !mayReply(orig, p) {
		return 0
	}
	if !src.IsValid() || src.Is4() == p.Is6 {
		src = p.Dst
	}
	if p.Is6 {
		return buildICMPv6(dst, orig[:p.Len], p, kind, mtu, src)
	}
	return buildICMPv4(dst, orig[:p.Len], p, kind, mtu, src)
}

func mayReply(orig []byte, p *Packet) bool {
	s := p.Src
	if !s.IsValid() || s.IsUnspecified() || s.IsMulticast() || s.IsLoopback() || p.Dst.IsMulticast() {
		return false
	}
	if !p.Is6 {
		if s == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
			return false
		}
		if binary.BigEndian.Uint16(orig[6:8])&0x1fff != 0 {
			return false // non-first fragment
		}
		if p.Proto == protoICMP && len(orig) > p.HdrLen {
			switch orig[p.HdrLen] { // errors: unreachable, quench, redirect, time exceeded, parameter
			case 3, 4, 5, 11, 12:
				return false
			}
		}
		return true
	}
	if p.Proto == protoICMPv6 && len(orig) > 40 && orig[40] < 128 {
		return false
	}
	return true
}

func buildICMPv4(dst, orig []byte, p *Packet, kind ICMPKind, mtu int, src netip.Addr) int {
	n := len(orig)
	if n > icmp4MaxLen-28 {
		n = icmp4MaxLen - 28
	}
	total := 28 + n
	ip := dst[:total]
	ip[0], ip[1] = 0x45, 0xc0 // precedence: internetwork control, as Linux sends errors
	binary.BigEndian.PutUint16(ip[2:], uint16(total))
	binary.BigEndian.PutUint32(ip[4:], 0) // id 0, no flags
	ip[8], ip[9] = 64, protoICMP
	ip[10], ip[11] = 0, 0
	s4, d4 := src.As4(), p.Src.As4()
	copy(ip[12:16], s4[:])
	copy(ip[16:20], d4[:])
	binary.BigEndian.PutUint16(ip[10:], checksum(ip[:20], 0))

	ic := ip[20:]
	ic[0] = 3
	switch kind {
	case ICMPTooBig:
		ic[1] = 4
	case ICMPAdminProhibited:
		ic[1] = 13
	case ICMPNoRoute:
		ic[1] = 0
	default:
		ic[1] = 1
	}
	ic[2], ic[3], ic[4], ic[5] = 0, 0, 0, 0
	if kind == ICMPTooBig {
		binary.BigEndian.PutUint16(ic[6:], uint16(mtu))
	} else {
		ic[6], ic[7] = 0, 0
	}
	copy(ic[8:], orig[:n])
	binary.BigEndian.PutUint16(ic[2:], checksum(ic, 0))
	return total
}

func buildICMPv6(dst, orig []byte, p *Packet, kind ICMPKind, mtu int, src netip.Addr) int {
	n := len(orig)
	if n > icmp6MaxLen-48 {
		n = icmp6MaxLen - 48
	}
	plen := 8 + n
	total := 40 + plen
	ip := dst[:total]
	binary.BigEndian.PutUint32(ip[0:], 0x60000000)
	binary.BigEndian.PutUint16(ip[4:], uint16(plen))
	ip[6], ip[7] = protoICMPv6, 64
	s16, d16 := src.As16(), p.Src.As16()
	copy(ip[8:24], s16[:])
	copy(ip[24:40], d16[:])

	ic := ip[40:]
	switch kind {
	case ICMPTooBig:
		ic[0], ic[1] = 2, 0
		binary.BigEndian.PutUint32(ic[4:], uint32(mtu))
	case ICMPAdminProhibited:
		ic[0], ic[1] = 1, 1
		binary.BigEndian.PutUint32(ic[4:], 0)
	case ICMPNoRoute:
		ic[0], ic[1] = 1, 0
		binary.BigEndian.PutUint32(ic[4:], 0)
	default:
		ic[0], ic[1] = 1, 3
		binary.BigEndian.PutUint32(ic[4:], 0)
	}
	ic[2], ic[3] = 0, 0
	copy(ic[8:], orig[:n])
	binary.BigEndian.PutUint16(ic[2:], checksum(ic, pseudoSum6(ip[8:40], uint32(plen), protoICMPv6)))
	return total
}

// pseudoSum6 is the partial sum of the IPv6 pseudo-header: addrs is the 32
// bytes of source and destination address.
func pseudoSum6(addrs []byte, length uint32, proto uint8) uint32 {
	s := sumBytes(addrs, 0)
	s += length>>16 + length&0xffff
	s += uint32(proto)
	return s
}

// sumBytes adds b as big-endian 16-bit words to s (odd tail padded).
func sumBytes(b []byte, s uint32) uint32 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
		if s >= 0x80000000 {
			s = s&0xffff + s>>16
		}
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

// checksum returns the Internet checksum (RFC 1071) of b plus the partial
// sum initial.
func checksum(b []byte, initial uint32) uint16 {
	s := sumBytes(b, initial)
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// updateChecksum16 adjusts checksum hc for a 16-bit word changing from old
// to new (RFC 1624 eqn. 3).
func updateChecksum16(hc, old, new uint16) uint16 {
	s := uint32(^hc) + uint32(^old) + uint32(new)
	s = s&0xffff + s>>16
	s = s&0xffff + s>>16
	return ^uint16(s)
}

// rateLimit is a token bucket on the coarse clock: rate tokens a second, at
// most burst saved up. One goroutine uses it; it never allocates.
type rateLimit struct {
	rate, burst uint32
	tokens      uint32
	last        uint32
}

func newRateLimit(rate, burst int) rateLimit {
	if rate <= 0 {
		rate = 100
	}
	if burst <= 0 {
		burst = rate
	}
	return rateLimit{rate: uint32(rate), burst: uint32(burst), tokens: uint32(burst)}
}

func (l *rateLimit) allow(now uint32) bool {
	if now != l.last {
		add := uint64(now-l.last) * uint64(l.rate)
		if now < l.last {
			add = uint64(l.burst)
		}
		t := uint64(l.tokens) + add
		if t > uint64(l.burst) {
			t = uint64(l.burst)
		}
		l.tokens, l.last = uint32(t), now
	}
	if l.tokens == 0 {
		return false
	}
	l.tokens--
	return true
}
