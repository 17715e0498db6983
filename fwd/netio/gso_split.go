package netio

import (
	"encoding/binary"
	"fmt"

	"github.com/lispd/lispd/internal/consterr"
)

// Errors of the super-packet splitter; wrapped with the offset or value at
// fault.
const (
	ErrBadVirtioHdr = consterr.Error("malformed virtio-net header")
	ErrBadGSOPacket = consterr.Error("malformed GSO super-packet")
	ErrSegmentRoom  = consterr.Error("segment does not fit the buffer")
)

const (
	protoTCP = 6
	protoUDP = 17

	tcpFlagFIN = 0x01
	tcpFlagPSH = 0x08
	tcpFlagCWR = 0x80
)

// gsoSplitter holds one super-packet read from an offload TUN and cuts it
// into MTU-sized packets, one at a time (Next), so that a caller with fewer
// buffers left than segments resumes on its next read. A non-GSO packet is
// one "segment" (with its partial checksum completed).
//
// Every segment gets its own IP header (IPv4 total length, incremented ID
// and header checksum; IPv6 payload length) and L4 header (TCP sequence
// number, FIN/PSH only on the last, CWR only on the first; UDP length) and
// a full L4 checksum over the pseudo-header, header and payload. The
// pseudo-header's addresses are summed once per super-packet.
type gsoSplitter struct {
	pkt     []byte // the super-packet, without the virtio header
	v6      bool
	tcp     bool
	gso     bool
	l4      int // offset of the L4 header (csum_start)
	hdrLen  int // IP + extension + L4 headers, copied in front of each segment
	gsoSize int
	n       int // segments
	next    int // next segment to produce
	addrSum uint64
	seq     uint32
	ipID    uint16
}

// reset prepares s for pkt (the bytes after the virtio header h). The
// packet is validated here; Next then cannot fail except for lack of room.
// s keeps pkt: the caller must not reuse it until s is done.
func (s *gsoSplitter) reset(h VirtioNetHdr, pkt []byte) error {
	*s = gsoSplitter{pkt: pkt}
	gt := h.GSOType &^ virtioGSOECN
	if gt == virtioGSONone {
		if h.GSOType&virtioGSOECN != 0 {
			return fmt.Errorf("%w: ECN bit without a GSO type", ErrBadVirtioHdr)
		}
		if h.Flags&virtioFlagNeedsCsum != 0 {
			start, off := int(h.CsumStart), int(h.CsumOffset)
			if start+off+2 > len(pkt) || off%2 != 0 {
				return fmt.Errorf("%w: checksum at %d+%d in a %d-byte packet", ErrBadVirtioHdr, start, off, len(pkt))
			}
			// As the kernel's skb_checksum_help: the field holds the
			// pseudo-header sum and is summed in place.
			at := start + off
			binary.BigEndian.PutUint16(pkt[at:], Checksum(pkt[start:], 0))
		}
		s.n = 1
		return nil
	}
	switch gt {
	case virtioGSOTCPv4, virtioGSOTCPv6:
		s.tcp = true
	case virtioGSOUDPL4:
	default:
		return fmt.Errorf("%w: GSO type %d", ErrBadVirtioHdr, h.GSOType)
	}
	if h.GSOType&virtioGSOECN != 0 && !s.tcp {
		return fmt.Errorf("%w: ECN bit on a UDP GSO type", ErrBadVirtioHdr)
	}
	if h.GSOSize == 0 {
		return fmt.Errorf("%w: gso_size 0", ErrBadVirtioHdr)
	}
	s.gso = true
	proto := uint8(protoUDP)
	if s.tcp {
		proto = protoTCP
	}
	if len(pkt) < 1 {
		return fmt.Errorf("%w: empty", ErrBadGSOPacket)
	}
	switch pkt[0] >> 4 {
	case 4:
		if gt == virtioGSOTCPv6 {
			return fmt.Errorf("%w: TCPv6 GSO type on an IPv4 packet", ErrBadVirtioHdr)
		}
		if len(pkt) < 20 {
			return fmt.Errorf("%w: IPv4 header truncated at %d", ErrBadGSOPacket, len(pkt))
		}
		ihl := int(pkt[0]&0xf) * 4
		if ihl < 20 || ihl > len(pkt) {
			return fmt.Errorf("%w: IPv4 header length %d in a %d-byte packet", ErrBadGSOPacket, ihl, len(pkt))
		}
		if pkt[9] != proto {
			return fmt.Errorf("%w: IPv4 protocol %d at offset 9, want %d", ErrBadGSOPacket, pkt[9], proto)
		}
		if binary.BigEndian.Uint16(pkt[6:])&0x3fff != 0 {
			return fmt.Errorf("%w: IPv4 fragment at offset 6", ErrBadGSOPacket)
		}
		s.l4 = ihl
		s.addrSum = checksumSum(pkt[12:20], 0)
		s.ipID = binary.BigEndian.Uint16(pkt[4:])
	case 6:
		if gt == virtioGSOTCPv4 {
			return fmt.Errorf("%w: TCPv4 GSO type on an IPv6 packet", ErrBadVirtioHdr)
		}
		s.v6 = true
		l4, err := ipv6L4Offset(pkt, proto)
		if err != nil {
			return err
		}
		s.l4 = l4
		s.addrSum = checksumSum(pkt[8:40], 0)
	default:
		return fmt.Errorf("%w: IP version %d at offset 0", ErrBadGSOPacket, pkt[0]>>4)
	}
	if h.Flags&virtioFlagNeedsCsum != 0 && int(h.CsumStart) != s.l4 {
		return fmt.Errorf("%w: csum_start %d, L4 header at %d", ErrBadVirtioHdr, h.CsumStart, s.l4)
	}
	if s.tcp {
		if s.l4+20 > len(pkt) {
			return fmt.Errorf("%w: TCP header truncated at %d", ErrBadGSOPacket, s.l4)
		}
		doff := int(pkt[s.l4+12]>>4) * 4
		if doff < 20 || s.l4+doff > len(pkt) {
			return fmt.Errorf("%w: TCP data offset %d at %d", ErrBadGSOPacket, doff, s.l4+12)
		}
		s.hdrLen = s.l4 + doff
		s.seq = binary.BigEndian.Uint32(pkt[s.l4+4:])
	} else {
		if s.l4+8 > len(pkt) {
			return fmt.Errorf("%w: UDP header truncated at %d", ErrBadGSOPacket, s.l4)
		}
		s.hdrLen = s.l4 + 8
	}
	s.gsoSize = int(h.GSOSize)
	payload := len(pkt) - s.hdrLen
	if payload <= 0 {
		return fmt.Errorf("%w: no payload after %d bytes of headers", ErrBadGSOPacket, s.hdrLen)
	}
	if s.hdrLen+s.gsoSize > 65535 {
		return fmt.Errorf("%w: gso_size %d", ErrBadVirtioHdr, s.gsoSize)
	}
	s.n = (payload + s.gsoSize - 1) / s.gsoSize
	return nil
}

// ipv6L4Offset walks the IPv6 extension headers of pkt to the header of
// proto and returns its offset. Fragments and unknown headers are refused.
func ipv6L4Offset(pkt []byte, proto uint8) (int, error) {
	if len(pkt) < 40 {
		return 0, fmt.Errorf("%w: IPv6 header truncated at %d", ErrBadGSOPacket, len(pkt))
	}
	nh, off := pkt[6], 40
	for range 8 {
		switch nh {
		case proto:
			return off, nil
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if off+8 > len(pkt) {
				return 0, fmt.Errorf("%w: IPv6 extension header truncated at %d", ErrBadGSOPacket, off)
			}
			nh, off = pkt[off], off+(int(pkt[off+1])+1)*8
			if off > len(pkt) {
				return 0, fmt.Errorf("%w: IPv6 extension header runs past %d", ErrBadGSOPacket, len(pkt))
			}
		default:
			return 0, fmt.Errorf("%w: IPv6 next header %d at %d, want %d", ErrBadGSOPacket, nh, off, proto)
		}
	}
	return 0, fmt.Errorf("%w: too many IPv6 extension headers", ErrBadGSOPacket)
}

// done reports whether every segment was produced.
func (s *gsoSplitter) done() bool { return s.next >= s.n }

// nextInto writes the next segment into dst and returns its length. With
// ErrSegmentRoom the segment is skipped (the caller counts it dropped).
func (s *gsoSplitter) nextInto(dst []byte) (int, error) {
	i := s.next
	s.next++
	if !s.gso {
		if len(s.pkt) > len(dst) {
			return 0, fmt.Errorf("%w: %d-byte packet, %d-byte buffer", ErrSegmentRoom, len(s.pkt), len(dst))
		}
		return copy(dst, s.pkt), nil
	}
	start := s.hdrLen + i*s.gsoSize
	end := min(start+s.gsoSize, len(s.pkt))
	segLen := s.hdrLen + end - start
	if segLen > len(dst) {
		return 0, fmt.Errorf("%w: %d-byte segment, %d-byte buffer", ErrSegmentRoom, segLen, len(dst))
	}
	copy(dst, s.pkt[:s.hdrLen])
	// The payload is summed as it is copied (it starts at an even offset
	// of the L4 header, so its sum adds in as is); the headers are summed
	// below, once rewritten.
	paySum := checksumCopy(dst[s.hdrLen:], s.pkt[start:end], 0)
	seg := dst[:segLen]
	be := binary.BigEndian
	if s.v6 {
		be.PutUint16(seg[4:], uint16(segLen-40))
	} else {
		be.PutUint16(seg[2:], uint16(segLen))
		be.PutUint16(seg[4:], s.ipID+uint16(i))
		seg[10], seg[11] = 0, 0
		be.PutUint16(seg[10:], Checksum(seg[:s.l4], 0))
	}
	l4 := seg[s.l4:]
	proto := uint8(protoUDP)
	var csumAt int
	if s.tcp {
		proto = protoTCP
		be.PutUint32(l4[4:], s.seq+uint32(i*s.gsoSize))
		if i != 0 {
			l4[13] &^= tcpFlagCWR
		}
		if i != s.n-1 {
			l4[13] &^= tcpFlagFIN | tcpFlagPSH
		}
		csumAt = 16
	} else {
		be.PutUint16(l4[4:], uint16(len(l4)))
		csumAt = 6
	}
	l4[csumAt], l4[csumAt+1] = 0, 0
	c := Checksum(l4[:s.hdrLen-s.l4], checksumAdd(checksumAdd(s.addrSum, uint64(proto)+uint64(len(l4))), paySum))
	if c == 0 && !s.tcp {
		c = 0xffff
	}
	be.PutUint16(l4[csumAt:], c)
	return segLen, nil
}
