package fwd

import (
	"encoding/binary"
	"net/netip"

	"github.com/lispd/lispd/internal/consterr"
	"github.com/lispd/lispd/internal/nocmp"
)

// IP protocol numbers the data plane looks at.
const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
)

// Errors returned when an inner (EID-addressed) packet does not parse. Static
// values, so the drop path does not allocate.
const (
	ErrInnerEmpty      = consterr.Error("inner packet: offset 0: empty")
	ErrInnerVersion    = consterr.Error("inner packet: offset 0: IP version is neither 4 nor 6")
	ErrInnerShort4     = consterr.Error("inner packet: offset 0: shorter than the 20-byte IPv4 header")
	ErrInnerIHL        = consterr.Error("inner packet: offset 0: IPv4 header length below 20 or beyond the packet")
	ErrInnerTotalLen4  = consterr.Error("inner packet: offset 2: IPv4 total length beyond the packet or below the header")
	ErrInnerShort6     = consterr.Error("inner packet: offset 0: shorter than the 40-byte IPv6 header")
	ErrInnerPayloadLen = consterr.Error("inner packet: offset 4: IPv6 payload length beyond the packet")
)

// Packet is what the data plane needs from an IP packet's header, parsed
// without allocation by ParsePacket.
type Packet struct {
	_ nocmp.DoNotCompare

	Src, Dst netip.Addr
	Len      int   // length of the IP packet (total length / 40 + payload length)
	HdrLen   int   // IPv4 header length; 40 for IPv6
	Proto    uint8 // IPv4 protocol or IPv6 next header
	TOS      uint8 // IPv4 TOS / IPv6 traffic class (DSCP << 2 | ECN)
	TTL      uint8 // IPv4 TTL / IPv6 hop limit
	DF       bool  // IPv4 don't-fragment flag (always true for IPv6)
	Frag     bool  // IPv4 fragment (MF set or offset non-zero): no ports
	Is6      bool
}

// ParsePacket parses the IPv4 or IPv6 header at the start of b into p.
// Bytes after the IP length (e.g. padding) are not part of the packet.
func ParsePacket(b []byte, p *Packet) error {
	if len(b) == 0 {
		return ErrInnerEmpty
	}
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return ErrInnerShort4
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || ihl > len(b) {
			return ErrInnerIHL
		}
		tl := int(binary.BigEndian.Uint16(b[2:4]))
		if tl > len(b) || tl < ihl {
			return ErrInnerTotalLen4
		}
		ff := binary.BigEndian.Uint16(b[6:8])
		*p = Packet{
			Src:    netip.AddrFrom4([4]byte(b[12:16])),
			Dst:    netip.AddrFrom4([4]byte(b[16:20])),
			Len:    tl,
			HdrLen: ihl,
			Proto:  b[9],
			TOS:    b[1],
			TTL:    b[8],
			DF:     ff&0x4000 != 0,
			Frag:   ff&0x3fff != 0,
		}
		return nil
	case 6:
		if len(b) < 40 {
			return ErrInnerShort6
		}
		pl := int(binary.BigEndian.Uint16(b[4:6]))
		if 40+pl > len(b) {
			return ErrInnerPayloadLen
		}
		*p = Packet{
			Src:    netip.AddrFrom16([16]byte(b[8:24])),
			Dst:    netip.AddrFrom16([16]byte(b[24:40])),
			Len:    40 + pl,
			HdrLen: 40,
			Proto:  b[6],
			TOS:    b[0]<<4 | b[1]>>4,
			TTL:    b[7],
			DF:     true,
			Is6:    true,
		}
		return nil
	}
	return ErrInnerVersion
}
