package ctl

import (
	"fmt"
	"math/rand/v2"
	"net/netip"

	"github.com/lispd/lispd/ctl/msg"
	"github.com/lispd/lispd/internal/consterr"
)

// NATInstanceID is the instance-id of a LISP data header that carries a
// control message instead of traffic (draft-ermagan-lisp-nat-traversal: the
// RTR's Data-Map-Notify to an xTR behind a NAT).
const NATInstanceID = 0xFFFFFF

// DataHeaderLen is the length of the LISP data header (RFC 9300).
const DataHeaderLen = 8

// dataHeader is the parsed part of a LISP data header the control plane
// needs.
type dataHeader struct {
	iid    uint32 // 0 without the I bit
	hasIID bool
}

const errShortData = consterr.Error("shorter than the LISP data header")

// parseDataHeader reads the LISP data header at the start of b.
func parseDataHeader(b []byte) (dataHeader, error) {
	if len(b) < DataHeaderLen {
		return dataHeader{}, fmt.Errorf("%w: %d bytes", errShortData, len(b))
	}
	var h dataHeader
	if b[0]&0x08 != 0 {
		h.hasIID = true
		h.iid = uint32(b[4])<<16 | uint32(b[5])<<8 | uint32(b[6])
	}
	return h, nil
}

// isDataMapNotify reports whether b starts with a LISP data header whose
// instance-id is NATInstanceID.
func isDataMapNotify(b []byte) bool {
	h, err := parseDataHeader(b)
	return err == nil && h.hasIID && h.iid == NATInstanceID
}

// appendDataHeader appends a LISP data header with the N bit and nonce and,
// when hasIID, the I bit and iid (locator-status bits 1).
func appendDataHeader(b []byte, nonce uint32, iid uint32, hasIID bool) []byte {
	flags := uint8(0x80)
	var last uint8
	if hasIID {
		flags |= 0x08
		last = 1
		b = append(b, flags, uint8(nonce>>16), uint8(nonce>>8), uint8(nonce), uint8(iid>>16), uint8(iid>>8), uint8(iid), last)
		return b
	}
	return append(b, flags, uint8(nonce>>16), uint8(nonce>>8), uint8(nonce), 0, 0, 0, 1)
}

// decodeInnerUDP decodes the IPv4 or IPv6 header and UDP header at the
// start of b (checksums verified as for an ECM) and returns the addresses
// and the UDP payload (aliasing b).
func decodeInnerUDP(b []byte) (src, dst netip.AddrPort, payload []byte, err error) {
	// ECM.Decode reads the 4-byte ECM header then the inner headers: put
	// one in front of a copy.
	buf := make([]byte, 4+len(b))
	buf[0] = uint8(msg.TypeECM) << 4
	copy(buf[4:], b)
	var e msg.ECM
	if err := e.Decode(buf); err != nil {
		return src, dst, nil, err
	}
	return e.Src, e.Dst, e.Message, nil
}

// innerAddrs returns the source and destination of the IPv4 or IPv6 packet
// at the start of b.
func innerAddrs(b []byte) (src, dst netip.Addr, ok bool) {
	if len(b) < 1 {
		return src, dst, false
	}
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return src, dst, false
		}
		return netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20])), true
	case 6:
		if len(b) < 40 {
			return src, dst, false
		}
		return netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40])), true
	}
	return src, dst, false
}

// nonce24 returns 24 random bits for a data header. The data-header nonce
// is no secret (RFC 9300 echo-nonce only): a per-packet getrandom system
// call, and its allocation, would be waste on the RTR's data path.
func nonce24() uint32 { return rand.Uint32() & 0xffffff }
