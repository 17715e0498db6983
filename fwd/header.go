package fwd

import (
	"encoding/binary"

	"github.com/lispd/lispd/internal/consterr"
)

// HeaderLen is the length of the LISP data header (RFC 9300 section 5.1).
const HeaderLen = 8

// Flag bits of the first byte of the LISP data header.
const (
	FlagN = 0x80 // nonce present
	FlagL = 0x40 // locator-status-bits present
	FlagE = 0x20 // echo-nonce request (needs N)
	FlagV = 0x10 // map-versions present (excludes N)
	FlagI = 0x08 // instance-id present
)

// Errors returned by Header.Validate. They are static values (no
// allocation on the packet path) that name the offending byte.
const (
	ErrHeaderTooShort = consterr.Error("lisp data header: offset 0: fewer than 8 bytes")
	ErrEWithoutN      = consterr.Error("lisp data header: offset 0: E flag set without N flag")
	ErrNAndV          = consterr.Error("lisp data header: offset 0: N and V flags both set")
)

// Header is a view over the 8-byte LISP data header at the start of b:
//
//	 0                   1                   2                   3
//	|N|L|E|V|I|R|K|K|            Nonce/Map-Version                  |
//	|                 Instance ID/Locator-Status-Bits               |
//
// Getters and setters read and write the bytes in place; nothing is copied.
// Call Validate (or check len >= HeaderLen) before using the getters.
type Header []byte

// Flags returns the first byte: N, L, E, V, I and the reserved bits.
func (h Header) Flags() uint8 { return h[0] }

// N reports whether the nonce field is present.
func (h Header) N() bool { return h[0]&FlagN != 0 }

// L reports whether the locator-status-bits are present.
func (h Header) L() bool { return h[0]&FlagL != 0 }

// E reports whether the echo-nonce-request bit is set.
func (h Header) E() bool { return h[0]&FlagE != 0 }

// V reports whether the map-version fields are present.
func (h Header) V() bool { return h[0]&FlagV != 0 }

// I reports whether the instance-id field is present.
func (h Header) I() bool { return h[0]&FlagI != 0 }

// Nonce returns the 24-bit nonce (meaningful when N is set).
func (h Header) Nonce() uint32 {
	return uint32(h[1])<<16 | uint32(h[2])<<8 | uint32(h[3])
}

// SourceMapVersion returns the 12-bit source map-version (when V is set).
func (h Header) SourceMapVersion() uint16 {
	return uint16(h[1])<<4 | uint16(h[2])>>4
}

// DestMapVersion returns the 12-bit destination map-version (when V is set).
func (h Header) DestMapVersion() uint16 {
	return uint16(h[2]&0x0f)<<8 | uint16(h[3])
}

// InstanceID returns the 24-bit instance-id (when I is set).
func (h Header) InstanceID() uint32 {
	return uint32(h[4])<<16 | uint32(h[5])<<8 | uint32(h[6])
}

// LSBs returns the locator-status-bits: the low 8 bits of the last word when
// I is set, else all 32 bits.
func (h Header) LSBs() uint32 {
	if h.I() {
		return uint32(h[7])
	}
	return binary.BigEndian.Uint32(h[4:8])
}

// SetFlags writes the whole first byte.
func (h Header) SetFlags(f uint8) { h[0] = f }

// SetNonce writes the low 24 bits of n into the nonce field.
func (h Header) SetNonce(n uint32) {
	h[1], h[2], h[3] = byte(n>>16), byte(n>>8), byte(n)
}

// SetMapVersions writes the 12-bit source and destination map-versions.
func (h Header) SetMapVersions(src, dst uint16) {
	h[1] = byte(src >> 4)
	h[2] = byte(src&0x0f)<<4 | byte(dst>>8)&0x0f
	h[3] = byte(dst)
}

// SetInstanceID writes the low 24 bits of iid and keeps the 8 LSBs.
func (h Header) SetInstanceID(iid uint32) {
	h[4], h[5], h[6] = byte(iid>>16), byte(iid>>8), byte(iid)
}

// SetLSBs writes the locator-status-bits: 8 bits when I is set (keeping the
// instance-id), else 32 bits. Set the I flag first.
func (h Header) SetLSBs(lsb uint32) {
	if h.I() {
		h[7] = byte(lsb)
		return
	}
	binary.BigEndian.PutUint32(h[4:8], lsb)
}

// Validate checks the length and the flag combinations RFC 9300 forbids
// senders: E without N, and N with V. A receiver takes them anyway (RFC
// 9300 section 5.3: E "MUST be ignored" without N, and with N and V both
// set the field "MUST" be read as a nonce), as Decap does; Validate is for
// what we send and for diagnostics.
func (h Header) Validate() error {
	if len(h) < HeaderLen {
		return ErrHeaderTooShort
	}
	f := h[0]
	if f&FlagE != 0 && f&FlagN == 0 {
		return ErrEWithoutN
	}
	if f&(FlagN|FlagV) == FlagN|FlagV {
		return ErrNAndV
	}
	return nil
}

// HeaderFields holds the decoded values of a LISP data header, for building
// one with Encode or for tests and diagnostics.
type HeaderFields struct {
	N, L, E, V, I bool
	Reserved      uint8  // the low three bits of the flags byte (R, K, K)
	Nonce         uint32 // 24 bits, with N
	SrcMapVersion uint16 // 12 bits, with V
	DstMapVersion uint16 // 12 bits, with V
	InstanceID    uint32 // 24 bits, with I
	LSBs          uint32 // 8 bits with I, else 32 bits
}

// Encode writes f into the first HeaderLen bytes of h. Fields whose flag is
// clear are written as zero.
func (h Header) Encode(f *HeaderFields) {
	var flags uint8
	if f.N {
		flags |= FlagN
	}
	if f.L {
		flags |= FlagL
	}
	if f.E {
		flags |= FlagE
	}
	if f.V {
		flags |= FlagV
	}
	if f.I {
		flags |= FlagI
	}
	h[0] = flags | f.Reserved&0x07
	switch {
	case f.N:
		h.SetNonce(f.Nonce)
	case f.V:
		h.SetMapVersions(f.SrcMapVersion, f.DstMapVersion)
	default:
		h.SetNonce(0)
	}
	if f.I {
		h.SetInstanceID(f.InstanceID)
		h[7] = byte(f.LSBs)
	} else {
		binary.BigEndian.PutUint32(h[4:8], f.LSBs)
	}
}

// Fields decodes the header into a HeaderFields. Fields whose flag is clear
// are left zero. The header must be at least HeaderLen bytes.
func (h Header) Fields() HeaderFields {
	f := HeaderFields{
		N: h.N(), L: h.L(), E: h.E(), V: h.V(), I: h.I(),
		Reserved: h[0] & 0x07,
		LSBs:     h.LSBs(),
	}
	if f.N {
		f.Nonce = h.Nonce()
	}
	if f.V {
		f.SrcMapVersion, f.DstMapVersion = h.SourceMapVersion(), h.DestMapVersion()
	}
	if f.I {
		f.InstanceID = h.InstanceID()
	}
	return f
}
