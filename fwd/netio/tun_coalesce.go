package netio

import "encoding/binary"

// TCP coalescing on write (the decapsulating side's GRO): consecutive
// packets of one TCP flow in a Write batch (same addresses, ports, IP
// header fields, TCP ack, window and options; contiguous sequence numbers;
// equal payload sizes but the last; IPv4 IDs counting up; only ACK and,
// on the last, PSH set)
// leave as ONE super-packet behind a virtio header (GSO_TCPV4/V6, gso_size
// = payload size, partial checksum), written with one writev(2) whose
// iovecs are the first packet and the payloads of the others: no copying.
// Every segment's checksums are verified first, so a corrupted segment is
// written alone and dropped by the kernel as before, never hidden inside a
// super-packet whose checksum the kernel would trust.

// maxCoalesce is the most packets joined into one super-packet.
const maxCoalesce = 64

const tcpFlagACK = 0x10

// tcpSeg is a parsed packet that may take part in coalescing.
type tcpSeg struct {
	v6      bool
	l4      int
	hdrLen  int
	payload int
	seq     uint32
	flags   uint8
}

// parseTCPSeg parses p as a complete IPv4 (no options) or IPv6 (no
// extension headers) TCP packet with only ACK (and PSH) set and valid
// checksums; ok is false for anything else.
func parseTCPSeg(p []byte) (s tcpSeg, ok bool) {
	if len(p) < 40 {
		return s, false
	}
	var pseudo uint64
	switch p[0] >> 4 {
	case 4:
		if p[0] != 0x45 || p[9] != protoTCP || int(binary.BigEndian.Uint16(p[2:])) != len(p) ||
			binary.BigEndian.Uint16(p[6:])&0x3fff != 0 || checksumFold(checksumSum(p[:20], 0)) != 0xffff {
			return s, false
		}
		s.l4 = 20
		pseudo = pseudoHeaderSum(p[12:16], p[16:20], protoTCP, len(p)-20)
	case 6:
		if len(p) < 60 || p[6] != protoTCP || int(binary.BigEndian.Uint16(p[4:]))+40 != len(p) {
			return s, false
		}
		s.v6, s.l4 = true, 40
		pseudo = pseudoHeaderSum(p[8:24], p[24:40], protoTCP, len(p)-40)
	default:
		return s, false
	}
	l4 := p[s.l4:]
	doff := int(l4[12]>>4) * 4
	if doff < 20 || doff > len(l4) {
		return s, false
	}
	s.flags = l4[13]
	if s.flags&^tcpFlagPSH != tcpFlagACK || l4[12]&0x0f != 0 {
		return s, false
	}
	if checksumFold(checksumSum(l4, pseudo)) != 0xffff {
		return s, false
	}
	s.hdrLen = s.l4 + doff
	s.payload = len(p) - s.hdrLen
	s.seq = binary.BigEndian.Uint32(l4[4:])
	return s, true
}

// sameFlow reports whether packet p (parsed as s) may follow first (parsed
// as f) in a super-packet, header-wise.
func sameFlow(first []byte, f tcpSeg, p []byte, s tcpSeg) bool {
	if s.v6 != f.v6 || s.hdrLen != f.hdrLen {
		return false
	}
	if f.v6 {
		// version, traffic class, flow label; next header, hop limit; addresses
		if string(p[0:4]) != string(first[0:4]) || string(p[6:40]) != string(first[6:40]) {
			return false
		}
	} else {
		// TOS; flags (DF); TTL, protocol; addresses
		if p[1] != first[1] || p[6] != first[6] || p[8] != first[8] || string(p[12:20]) != string(first[12:20]) {
			return false
		}
	}
	a, b := first[f.l4:f.hdrLen], p[s.l4:s.hdrLen]
	// ports; ack; data offset; window; urgent pointer; options
	return string(a[0:4]) == string(b[0:4]) && string(a[8:13]) == string(b[8:13]) &&
		string(a[14:16]) == string(b[14:16]) && string(a[18:]) == string(b[18:])
}

// coalesceRun returns how many packets pkts[i][off:] from i = 0 on form
// one TCP super-packet (1 when none), the parse of the first, the total
// length of the super-packet and the TCP flags of its last segment.
func coalesceRun(pkts [][]byte, off int) (k int, f tcpSeg, total int, lastFlags uint8) {
	first := pkts[0][off:]
	f, ok := parseTCPSeg(first)
	if !ok || f.payload == 0 || f.flags&tcpFlagPSH != 0 {
		return 1, f, len(first), 0
	}
	total = len(first)
	seq := f.seq + uint32(f.payload)
	limit := 65535
	if f.v6 {
		limit += 40
	}
	k = 1
	for ; k < len(pkts) && k < maxCoalesce; k++ {
		if off >= len(pkts[k]) {
			break
		}
		p := pkts[k][off:]
		s, ok := parseTCPSeg(p)
		if !ok || s.payload == 0 || s.payload > f.payload || s.seq != seq || total+s.payload > limit || !sameFlow(first, f, p, s) {
			break
		}
		// IPv4 IDs must count up as the kernel's segmentation will
		// rewrite them, so that the packets come out as they went in.
		if !f.v6 && binary.BigEndian.Uint16(p[4:]) != binary.BigEndian.Uint16(first[4:])+uint16(k) {
			break
		}
		total += s.payload
		seq += uint32(s.payload)
		lastFlags = s.flags
		if s.flags&tcpFlagPSH != 0 || s.payload < f.payload {
			k++
			break
		}
	}
	return k, f, total, lastFlags
}

// superHeader rewrites the headers of first (parsed as f) for a
// super-packet of total bytes whose last segment had lastFlags, and returns
// its virtio header.
func superHeader(first []byte, f tcpSeg, total int, lastFlags uint8) VirtioNetHdr {
	be := binary.BigEndian
	h := VirtioNetHdr{Flags: virtioFlagNeedsCsum, HdrLen: uint16(f.hdrLen), GSOSize: uint16(f.payload),
		CsumStart: uint16(f.l4), CsumOffset: 16}
	var pseudo uint64
	if f.v6 {
		h.GSOType = virtioGSOTCPv6
		be.PutUint16(first[4:], uint16(total-40))
		pseudo = pseudoHeaderSum(first[8:24], first[24:40], protoTCP, total-40)
	} else {
		h.GSOType = virtioGSOTCPv4
		be.PutUint16(first[2:], uint16(total))
		first[10], first[11] = 0, 0
		be.PutUint16(first[10:], Checksum(first[:20], 0))
		pseudo = pseudoHeaderSum(first[12:16], first[16:20], protoTCP, total-20)
	}
	first[f.l4+13] |= lastFlags & tcpFlagPSH
	// CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum.
	be.PutUint16(first[f.l4+16:], checksumFold(pseudo))
	return h
}
