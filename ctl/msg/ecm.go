package msg

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

const protoUDP = 17

// ECM is an Encapsulated Control Message (type 8, RFC 9301 section 5.8): a
// LISP header, then an inner IPv4 or IPv6 header and UDP header, then a
// control message (usually a Map-Request on its way to a Map-Server or ETR).
type ECM struct {
	Security bool // S: LISP-SEC
	DDT      bool // D: sent by a DDT node
	RTR      bool // R: draft-ermagan-lisp-nat-traversal R bit (to/from an RTR)
	N        bool // N: draft-ermagan-lisp-nat-traversal N bit
	// Src and Dst are the inner IP addresses and UDP ports (the ITR's RLOC
	// and port the Map-Reply returns to; the requested EID and 4342).
	Src, Dst netip.AddrPort
	// TTL is the inner IPv4 TTL or IPv6 hop limit (Append uses 64 for 0).
	TTL uint8
	// IPID and DontFragment are the inner IPv4 identification and DF flag.
	IPID         uint16
	DontFragment bool
	// Message is the inner control message. Decode makes it alias the
	// buffer given to Decode; decode it with the message's own type.
	Message []byte
	// MessageOffset is where Message starts in the decoded buffer (add it
	// to the offsets of errors from decoding Message).
	MessageOffset int
}

// Type returns TypeECM.
func (m *ECM) Type() Type { return TypeECM }

// Decode fills m from the ECM in b, checking the inner IPv4 header checksum,
// lengths, and the inner UDP checksum (unless zero).
func (m *ECM) Decode(b []byte) error {
	r := reader{b: b, msg: "Encapsulated Control Message"}
	if err := r.need(5, "header"); err != nil {
		return err
	}
	if t := Type(b[0] >> 4); t != TypeECM {
		return r.fail("Type", 0, fmt.Errorf("%w: %v", ErrWrongType, t))
	}
	m.Security = b[0]&0x08 != 0
	m.DDT = b[0]&0x04 != 0
	m.RTR = b[0]&0x02 != 0
	m.N = b[0]&0x01 != 0
	ip := b[4:]
	var src, dst netip.Addr
	var hl, payloadLen int
	switch v := ip[0] >> 4; v {
	case 4:
		if err := r.need(4+20, "inner IPv4 header"); err != nil {
			return err
		}
		hl = int(ip[0]&0x0f) * 4
		if hl < 20 {
			return r.fail("inner IPv4 IHL", 4, fmt.Errorf("%w: header length %d", ErrInvalid, hl))
		}
		if err := r.need(4+hl, "inner IPv4 options"); err != nil {
			return err
		}
		total := int(binary.BigEndian.Uint16(ip[2:]))
		if total < hl+8 {
			return r.fail("inner IPv4 total length", 6, fmt.Errorf("%w: %d", ErrInvalid, total))
		}
		if total > len(ip) {
			return r.fail("inner IPv4 total length", 6, fmt.Errorf("%w: %d > %d bytes left", ErrTruncated, total, len(ip)))
		}
		if total < len(ip) {
			return r.fail("inner IPv4 total length", 6, fmt.Errorf("%w: %d bytes after %d", ErrTrailing, len(ip)-total, total))
		}
		if frag := binary.BigEndian.Uint16(ip[6:]); frag&0x3fff != 0 {
			return r.fail("inner IPv4 fragment", 10, fmt.Errorf("%w: fragments are not supported", ErrInvalid))
		}
		if ip[9] != protoUDP {
			return r.fail("inner IPv4 protocol", 13, fmt.Errorf("%w: %d, want UDP", ErrInvalid, ip[9]))
		}
		if checksum(ip[:hl], 0) != 0 {
			return r.fail("inner IPv4 header checksum", 14, ErrInvalid)
		}
		m.IPID = binary.BigEndian.Uint16(ip[4:])
		m.DontFragment = ip[6]&0x40 != 0
		m.TTL = ip[8]
		src, dst = netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
		payloadLen = total - hl
	case 6:
		if err := r.need(4+40, "inner IPv6 header"); err != nil {
			return err
		}
		hl = 40
		payloadLen = int(binary.BigEndian.Uint16(ip[4:]))
		if payloadLen > len(ip)-40 {
			return r.fail("inner IPv6 payload length", 8, fmt.Errorf("%w: %d > %d bytes left", ErrTruncated, payloadLen, len(ip)-40))
		}
		if payloadLen < len(ip)-40 {
			return r.fail("inner IPv6 payload length", 8, fmt.Errorf("%w: %d bytes after %d", ErrTrailing, len(ip)-40-payloadLen, payloadLen))
		}
		if ip[6] != protoUDP {
			return r.fail("inner IPv6 next header", 10, fmt.Errorf("%w: %d, want UDP", ErrInvalid, ip[6]))
		}
		m.IPID, m.DontFragment, m.TTL = 0, false, ip[7]
		src, dst = netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
	default:
		return r.fail("inner IP version", 4, fmt.Errorf("%w: %d", ErrInvalid, v))
	}
	udpOff := 4 + hl
	if payloadLen < 8 {
		return r.fail("inner UDP header", udpOff, ErrTruncated)
	}
	udp := b[udpOff:]
	if ul := int(binary.BigEndian.Uint16(udp[4:])); ul != payloadLen {
		return r.fail("inner UDP length", udpOff+4, fmt.Errorf("%w: %d, IP payload is %d", ErrInvalid, ul, payloadLen))
	}
	if cs := binary.BigEndian.Uint16(udp[6:]); cs != 0 && checksum(udp, pseudoSum(src, dst, payloadLen)) != 0 {
		return r.fail("inner UDP checksum", udpOff+6, fmt.Errorf("%w: %#04x does not verify", ErrInvalid, cs))
	}
	m.Src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(udp[0:]))
	m.Dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(udp[2:]))
	m.MessageOffset = udpOff + 8
	m.Message = b[m.MessageOffset:]
	if len(m.Message) == 0 {
		return r.fail("inner message", m.MessageOffset, ErrTruncated)
	}
	return nil
}

// Append appends the ECM with its inner IP and UDP headers (checksums
// computed) and m.Message to b. Src and Dst must be of the same family.
func (m *ECM) Append(b []byte) []byte {
	b = append(b, uint8(TypeECM)<<4|boolBit(m.Security, 0x08)|boolBit(m.DDT, 0x04)|boolBit(m.RTR, 0x02)|boolBit(m.N, 0x01), 0, 0, 0)
	return AppendUDP(b, m.Src, m.Dst, m.TTL, m.IPID, m.DontFragment, m.Message)
}

// AppendUDP appends an IPv4 (when src is IPv4) or IPv6 header, a UDP header
// and payload to b, with the IPv4 header checksum and UDP checksum
// computed. ttl 0 means 64. ipID and df apply to IPv4 only.
func AppendUDP(b []byte, src, dst netip.AddrPort, ttl uint8, ipID uint16, df bool, payload []byte) []byte {
	if ttl == 0 {
		ttl = 64
	}
	sa, da := src.Addr(), dst.Addr()
	udpLen := 8 + len(payload)
	start := len(b)
	if sa.Is4() {
		var flags uint16
		if df {
			flags = 0x4000
		}
		b = append(b, 0x45, 0)
		b = appendU16(b, uint16(20+udpLen))
		b = appendU16(b, ipID)
		b = appendU16(b, flags)
		b = append(b, ttl, protoUDP, 0, 0)
		s, d := sa.As4(), as4(da)
		b = append(b, s[:]...)
		b = append(b, d[:]...)
		binary.BigEndian.PutUint16(b[start+10:], checksum(b[start:start+20], 0))
	} else {
		b = append(b, 0x60, 0, 0, 0)
		b = appendU16(b, uint16(udpLen))
		b = append(b, protoUDP, ttl)
		s, d := sa.As16(), da.As16()
		b = append(b, s[:]...)
		b = append(b, d[:]...)
	}
	u := len(b)
	b = appendU16(b, src.Port())
	b = appendU16(b, dst.Port())
	b = appendU16(b, uint16(udpLen))
	b = appendU16(b, 0)
	b = append(b, payload...)
	cs := checksum(b[u:], pseudoSum(sa, da, udpLen))
	if cs == 0 {
		cs = 0xffff
	}
	binary.BigEndian.PutUint16(b[u+6:], cs)
	return b
}

// checksum returns the Internet checksum (RFC 1071) of b added to initial.
func checksum(b []byte, initial uint32) uint16 {
	sum := initial
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// pseudoSum is the partial checksum of the UDP pseudo-header.
func pseudoSum(src, dst netip.Addr, udpLen int) uint32 {
	var sum uint32
	if src.Is4() {
		s, d := src.As4(), as4(dst)
		sum += (uint32(s[0])<<8 | uint32(s[1])) + (uint32(s[2])<<8 | uint32(s[3]))
		sum += (uint32(d[0])<<8 | uint32(d[1])) + (uint32(d[2])<<8 | uint32(d[3]))
	} else {
		s, d := src.As16(), dst.As16()
		for i := 0; i < 16; i += 2 {
			sum += uint32(s[i])<<8 | uint32(s[i+1])
			sum += uint32(d[i])<<8 | uint32(d[i+1])
		}
	}
	return sum + protoUDP + uint32(udpLen)
}

// as4 returns the 4 bytes of an IPv4 (or IPv4-mapped) address, and zeros for
// anything else rather than panicking.
func as4(a netip.Addr) [4]byte {
	if a.Is4() || a.Is4In6() {
		return a.Unmap().As4()
	}
	return [4]byte{}
}
