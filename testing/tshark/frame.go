package tshark

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Ethernet addresses used by EthernetFrame (locally administered).
var (
	SrcMAC = [6]byte{0x02, 0, 0, 0, 0, 0x01}
	DstMAC = [6]byte{0x02, 0, 0, 0, 0, 0x02}
)

// EtherType values.
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeIPv6 = 0x86dd
)

// IPv4 header fields UDPPacket uses (the vectors' conventions).
const (
	ipv4TTL = 64
	ipv4ID  = 0x1234
	ipProto = 17 // UDP
)

// Checksum returns the Internet checksum (RFC 1071) of b, starting from the
// partial sum initial (for a pseudo-header).
func Checksum(b []byte, initial uint32) uint16 {
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

func pseudoSum(src, dst netip.Addr, udpLen int) uint32 {
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(b[i])<<8 | uint32(b[i+1])
		}
	}
	s, d := src.AsSlice(), dst.AsSlice()
	add(s)
	add(d)
	sum += ipProto
	sum += uint32(udpLen)
	return sum
}

// UDPPacket returns an IPv4 or IPv6 packet (by the family of src, which must
// match dst's) carrying a UDP datagram from src to dst with payload. Both the
// IPv4 header checksum and the UDP checksum are correct; IPv4 has TTL 64, DF
// and ID 0x1234, IPv6 has hop limit 64.
func UDPPacket(src, dst netip.AddrPort, payload []byte) ([]byte, error) {
	sa, da := src.Addr().Unmap(), dst.Addr().Unmap()
	if sa.Is4() != da.Is4() || !sa.IsValid() || !da.IsValid() {
		return nil, fmt.Errorf("tshark: UDPPacket: address families of %v and %v differ", src, dst)
	}
	udpLen := 8 + len(payload)
	if udpLen > 0xffff {
		return nil, errors.New("tshark: UDPPacket: payload too long")
	}
	var p []byte
	if sa.Is4() {
		p = make([]byte, 20, 20+udpLen)
		p[0] = 0x45
		binary.BigEndian.PutUint16(p[2:], uint16(20+udpLen))
		binary.BigEndian.PutUint16(p[4:], ipv4ID)
		binary.BigEndian.PutUint16(p[6:], 0x4000) // DF
		p[8] = ipv4TTL
		p[9] = ipProto
		s, d := sa.As4(), da.As4()
		copy(p[12:], s[:])
		copy(p[16:], d[:])
		binary.BigEndian.PutUint16(p[10:], Checksum(p[:20], 0))
	} else {
		p = make([]byte, 40, 40+udpLen)
		p[0] = 0x60
		binary.BigEndian.PutUint16(p[4:], uint16(udpLen))
		p[6] = ipProto
		p[7] = 64
		s, d := sa.As16(), da.As16()
		copy(p[8:], s[:])
		copy(p[24:], d[:])
	}
	hdr := len(p)
	p = p[:hdr+8]
	u := p[hdr:]
	binary.BigEndian.PutUint16(u[0:], src.Port())
	binary.BigEndian.PutUint16(u[2:], dst.Port())
	binary.BigEndian.PutUint16(u[4:], uint16(udpLen))
	p = append(p, payload...)
	cs := Checksum(p[hdr:], pseudoSum(sa, da, udpLen))
	if cs == 0 {
		cs = 0xffff // RFC 768: a computed zero is sent as all ones
	}
	binary.BigEndian.PutUint16(p[hdr+6:], cs)
	return p, nil
}

// EthernetFrame wraps an IPv4 or IPv6 packet in an Ethernet II header
// (SrcMAC -> DstMAC), picking the EtherType from the IP version nibble.
func EthernetFrame(ipPacket []byte) []byte {
	f := make([]byte, 14, 14+len(ipPacket))
	copy(f[0:], DstMAC[:])
	copy(f[6:], SrcMAC[:])
	et := uint16(EtherTypeIPv4)
	if len(ipPacket) > 0 && ipPacket[0]>>4 == 6 {
		et = EtherTypeIPv6
	}
	binary.BigEndian.PutUint16(f[12:], et)
	return append(f, ipPacket...)
}

// UDPFrame is EthernetFrame(UDPPacket(src, dst, payload)).
func UDPFrame(src, dst netip.AddrPort, payload []byte) ([]byte, error) {
	p, err := UDPPacket(src, dst, payload)
	if err != nil {
		return nil, err
	}
	return EthernetFrame(p), nil
}

// Datagram is a UDP datagram found in a captured frame.
type Datagram struct {
	Src, Dst netip.AddrPort
	// Payload is the UDP payload, cut to the UDP length field (or to the
	// captured bytes when the capture is shorter).
	Payload []byte
	// Truncated is set when the capture holds fewer bytes than the UDP
	// length field announces.
	Truncated bool
}

// ParseUDP finds the UDP datagram in a frame of the given link type
// (Ethernet, optionally one 802.1Q tag, or raw IP). IPv6 extension headers
// are not followed.
func ParseUDP(link LinkType, frame []byte) (Datagram, error) {
	var d Datagram
	b := frame
	switch link {
	case LinkTypeEthernet:
		if len(b) < 14 {
			return d, errors.New("short Ethernet header")
		}
		et := binary.BigEndian.Uint16(b[12:])
		b = b[14:]
		if et == 0x8100 {
			if len(b) < 4 {
				return d, errors.New("short 802.1Q tag")
			}
			et = binary.BigEndian.Uint16(b[2:])
			b = b[4:]
		}
		if et != EtherTypeIPv4 && et != EtherTypeIPv6 {
			return d, fmt.Errorf("EtherType %#04x is not IP", et)
		}
	case LinkTypeRaw:
	default:
		return d, fmt.Errorf("unsupported link type %d", link)
	}
	if len(b) < 1 {
		return d, errors.New("empty IP packet")
	}
	var src, dst netip.Addr
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return d, errors.New("short IPv4 header")
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl {
			return d, fmt.Errorf("bad IPv4 header length %d", ihl)
		}
		if b[9] != ipProto {
			return d, fmt.Errorf("IPv4 protocol %d is not UDP", b[9])
		}
		src = netip.AddrFrom4([4]byte(b[12:16]))
		dst = netip.AddrFrom4([4]byte(b[16:20]))
		b = b[ihl:]
	case 6:
		if len(b) < 40 {
			return d, errors.New("short IPv6 header")
		}
		if b[6] != ipProto {
			return d, fmt.Errorf("IPv6 next header %d is not UDP", b[6])
		}
		src = netip.AddrFrom16([16]byte(b[8:24]))
		dst = netip.AddrFrom16([16]byte(b[24:40]))
		b = b[40:]
	default:
		return d, fmt.Errorf("IP version %d", b[0]>>4)
	}
	if len(b) < 8 {
		return d, errors.New("short UDP header")
	}
	d.Src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(b[0:]))
	d.Dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(b[2:]))
	ulen := int(binary.BigEndian.Uint16(b[4:]))
	if ulen < 8 {
		return d, fmt.Errorf("UDP length %d < 8", ulen)
	}
	b = b[8:]
	if ulen-8 <= len(b) {
		d.Payload = b[:ulen-8]
	} else {
		d.Payload = b
		d.Truncated = true
	}
	return d, nil
}
