package netio

import (
	"encoding/binary"
	"fmt"

	"github.com/lispd/lispd/internal/consterr"
)

// VirtioNetHdrLen is the size of the virtio-net header (struct
// virtio_net_hdr, without num_buffers) in front of every packet read from or
// written to a TUN opened with IFF_VNET_HDR.
const VirtioNetHdrLen = 10

// virtio_net_hdr flags and GSO types (linux/virtio_net.h).
const (
	virtioFlagNeedsCsum = 1 // checksum is partial: sum from CsumStart, store at CsumStart+CsumOffset
	virtioFlagDataValid = 2

	virtioGSONone  = 0
	virtioGSOTCPv4 = 1
	virtioGSOUDP   = 3 // UFO, never enabled by us
	virtioGSOTCPv6 = 4
	virtioGSOUDPL4 = 5 // USO, IPv4 or IPv6
	virtioGSOECN   = 0x80
)

// VirtioNetHdr is the virtio-net header as the TUN driver exchanges it, in
// host byte order (a legacy virtio header is native-endian unless
// TUNSETVNETLE/BE say otherwise; lispd never sets them).
type VirtioNetHdr struct {
	Flags      uint8
	GSOType    uint8
	HdrLen     uint16 // not trusted: recomputed from the headers
	GSOSize    uint16
	CsumStart  uint16
	CsumOffset uint16
}

// errShortVirtio is returned for a read shorter than the virtio header.
const errShortVirtio = consterr.Error("shorter than the virtio-net header")

// decodeVirtioNetHdr reads the header at the front of b.
func decodeVirtioNetHdr(b []byte) (VirtioNetHdr, error) {
	if len(b) < VirtioNetHdrLen {
		return VirtioNetHdr{}, fmt.Errorf("virtio-net header: %d bytes: %w", len(b), errShortVirtio)
	}
	ne := binary.NativeEndian
	return VirtioNetHdr{
		Flags:      b[0],
		GSOType:    b[1],
		HdrLen:     ne.Uint16(b[2:]),
		GSOSize:    ne.Uint16(b[4:]),
		CsumStart:  ne.Uint16(b[6:]),
		CsumOffset: ne.Uint16(b[8:]),
	}, nil
}

// encode writes h to the front of b (at least VirtioNetHdrLen bytes).
func (h VirtioNetHdr) encode(b []byte) {
	ne := binary.NativeEndian
	b[0], b[1] = h.Flags, h.GSOType
	ne.PutUint16(b[2:], h.HdrLen)
	ne.PutUint16(b[4:], h.GSOSize)
	ne.PutUint16(b[6:], h.CsumStart)
	ne.PutUint16(b[8:], h.CsumOffset)
}
