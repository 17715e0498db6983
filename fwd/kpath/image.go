package kpath

import "encoding/binary"

// InsnSize is the size of one encoded eBPF instruction slot (struct
// bpf_insn).
const InsnSize = 8

// PseudoMapFD in the source register of a 64-bit immediate load says that
// the immediate is a map's file descriptor, which the kernel replaces by
// the map's address at load time.
const PseudoMapFD = 1

// bigEndian is true on big-endian hosts (mips, ppc64): struct bpf_insn's
// register nibbles and multi-byte fields are in host order.
var bigEndian = binary.NativeEndian.Uint16([]byte{0, 1}) == 1

// image is a program assembled at `go generate` time (zprograms.go, written
// by TestGeneratedPrograms -update from the instruction lists in the
// prog_*_test.go files), so that the daemon carries bytes rather than the
// assembler and the builders.
//
// The code is encoded for a little-endian host with zero map file
// descriptors. One image serves both byte orders: render converts each
// slot for a big-endian host (register nibbles swapped, offset and
// immediate byte-reversed) and byte-swaps the few immediates that hold a
// 16-bit network-order constant — a few dozen bytes of tables and code
// instead of a second copy of every program.
type image struct {
	code   string // the instructions, InsnSize bytes a slot, little-endian
	maps   string // 3 bytes per map reference: slot (uint16 little-endian), index into render's fds
	swap16 string // 2 bytes per slot (uint16 little-endian) whose immediate is a 16-bit network-order constant
}

// render returns the program ready for BPF_PROG_LOAD on a host of the given
// byte order, with the 64-bit immediate loads of im.maps carrying the file
// descriptors fds.
func (im image) render(big bool, fds ...int) []byte {
	b := []byte(im.code)
	for i := 0; i+3 <= len(im.maps); i += 3 {
		s := int(binary.LittleEndian.Uint16([]byte(im.maps[i:]))) * InsnSize
		binary.LittleEndian.PutUint32(b[s+4:], uint32(fds[im.maps[i+2]]))
	}
	if !big {
		return b
	}
	for i := 0; i+2 <= len(im.swap16); i += 2 {
		s := int(binary.LittleEndian.Uint16([]byte(im.swap16[i:]))) * InsnSize
		b[s+4], b[s+5] = b[s+5], b[s+4]
	}
	for s := 0; s+InsnSize <= len(b); s += InsnSize {
		b[s+1] = b[s+1]<<4 | b[s+1]>>4
		b[s+2], b[s+3] = b[s+3], b[s+2]
		b[s+4], b[s+5], b[s+6], b[s+7] = b[s+7], b[s+6], b[s+5], b[s+4]
	}
	return b
}
