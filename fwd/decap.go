package fwd

import (
	"encoding/binary"
	"net/netip"
)

// ECN codepoints (RFC 3168), the low two bits of TOS / traffic class.
const (
	ecnNotECT = 0
	ecnECT1   = 1
	ecnECT0   = 2
	ecnCE     = 3
)

// decapConfig is the part of Options the decapsulator needs.
type decapConfig struct {
	iid   uint32
	local []netip.Prefix
}

// Decapsulator is the ETR side of the data plane for one goroutine: it
// checks received LISP packets and prepares their inner packets for the TUN,
// in place. Use Decap per packet and End after a batch. Not safe for
// concurrent use; allocation-free.
type Decapsulator struct {
	cfg   decapConfig
	stats *Stats
	bs    batchStats
	pkt   Packet
}

func newDecapsulator(cfg decapConfig, stats *Stats) *Decapsulator {
	return &Decapsulator{cfg: cfg, stats: stats}
}

// End adds the batch's counters to the shared ones.
func (d *Decapsulator) End() { d.bs.flush(d.stats, false) }

// Dropped counts a packet the caller could not deliver after Decap accepted
// it (for example a failed TUN write).
func (d *Decapsulator) Dropped(r DropReason) { d.bs.drop(r) }

// Decap checks the UDP payload pkt (LISP header + inner packet) received
// with the outer TTL and TOS (0 when unknown: no TTL or ECN combining) and
// returns the inner packet, a sub-slice of pkt whose TTL is now
// min(inner, outer) and whose ECN is combined per RFC 6040, with the IPv4
// checksum fixed incrementally. An ETR is not an open relay: the header must
// be valid, the instance-id ours, and the inner destination inside one of
// our EID prefixes, or the packet is dropped with a reason. Nor does it take
// our own EIDs from outside: an inner source inside our EID prefixes is
// spoofed (a remote ITR never sends them to us) and dropped.
func (d *Decapsulator) Decap(pkt []byte, outerTTL, outerTOS uint8) ([]byte, DropReason, bool) {
	h := Header(pkt)
	// Not Validate: E without N and N with V are the sender's mistakes,
	// which RFC 9300 section 5.3 tells the ETR to read past (E ignored,
	// the field a nonce); decapsulation uses neither flag.
	if len(h) < HeaderLen {
		return d.drop(DropMalformed)
	}
	var iid uint32
	if h.I() {
		iid = h.InstanceID()
	}
	if iid != d.cfg.iid {
		return d.drop(DropIIDMismatch)
	}
	inner := pkt[HeaderLen:]
	p := &d.pkt
	if ParsePacket(inner, p) != nil {
		return d.drop(DropMalformed)
	}
	inner = inner[:p.Len]
	if !d.isLocal(p.Dst) {
		return d.drop(DropNotLocalEID)
	}
	if d.isLocal(p.Src) {
		return d.drop(DropSpoofedSource)
	}

	ttl := p.TTL
	if outerTTL != 0 && outerTTL < ttl {
		ttl = outerTTL
	}
	if ttl == 0 {
		return d.drop(DropTTLExceeded)
	}
	tos, ok := combineECN(p.TOS, outerTOS)
	if !ok {
		return d.drop(DropECN)
	}
	if p.Is6 {
		inner[0] = 0x60 | tos>>4
		inner[1] = tos<<4 | inner[1]&0x0f
		inner[7] = ttl
	} else {
		cs := binary.BigEndian.Uint16(inner[10:12])
		if tos != p.TOS {
			cs = updateChecksum16(cs, uint16(inner[0])<<8|uint16(p.TOS), uint16(inner[0])<<8|uint16(tos))
			inner[1] = tos
		}
		if ttl != p.TTL {
			cs = updateChecksum16(cs, uint16(p.TTL)<<8|uint16(inner[9]), uint16(ttl)<<8|uint16(inner[9]))
			inner[8] = ttl
		}
		binary.BigEndian.PutUint16(inner[10:12], cs)
	}
	d.bs.pkts++
	d.bs.bytes += uint64(p.Len)
	return inner, 0, true
}

func (d *Decapsulator) drop(r DropReason) ([]byte, DropReason, bool) {
	d.bs.drop(r)
	return nil, r, false
}

func (d *Decapsulator) isLocal(a netip.Addr) bool {
	for _, p := range d.cfg.local {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// combineECN returns the inner TOS with its ECN field set per the RFC 6040
// decapsulation table (section 4.2), or false when the packet must be
// dropped (CE outer over a Not-ECT inner).
//
//	inner \ outer   Not-ECT  ECT(0)   ECT(1)   CE
//	Not-ECT         Not-ECT  Not-ECT  Not-ECT  drop
//	ECT(0)          ECT(0)   ECT(0)   ECT(1)   CE
//	ECT(1)          ECT(1)   ECT(1)   ECT(1)   CE
//	CE              CE       CE       CE       CE
func combineECN(innerTOS, outerTOS uint8) (uint8, bool) {
	in, out := innerTOS&3, outerTOS&3
	switch {
	case in == ecnNotECT:
		return innerTOS, out != ecnCE
	case in == ecnCE || out == ecnNotECT || out == ecnECT0:
		return innerTOS, true
	case out == ecnCE:
		return innerTOS | ecnCE, true
	default: // outer ECT(1) over ECT(0) or ECT(1)
		return innerTOS&^3 | ecnECT1, true
	}
}
