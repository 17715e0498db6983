package netio

import (
	"encoding/binary"
	"unsafe"
)

// nativeLittleEndian is the byte order of aligned word loads.
var nativeLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// checksumSumWords is checksumSumGeneric for CPUs whose compiler does not
// merge byte loads into word loads (32-bit ARM, MIPS): there
// binary.BigEndian.Uint64 is eight byte loads with shifts, and bits.Add64
// a carry chain in 32-bit registers. It loads aligned native 32-bit words
// instead and adds them into 64-bit sums that need no carry handling (2^32
// words before one could overflow): 1.5 instructions per byte in the
// compiler's MIPS32 listing, against 4.9 for the generic loop, which it
// does not need at all (so the build leaves that out).
//
// Summing in native byte order is RFC 1071's byte-order independence: the
// folded native sum is swapped once on little-endian CPUs. When b starts
// at an odd address, b[1:] starts at an even one and its bytes sit in the
// other halves of b's 16-bit words: its folded sum, byte-swapped, plus
// b[0] as a high byte, is b's.
func checksumSumWords(b []byte, acc uint64) uint64 {
	if len(b) == 0 {
		return acc
	}
	if uintptr(unsafe.Pointer(unsafe.SliceData(b)))&1 != 0 {
		s := checksumEven(b[1:])
		return checksumAdd(acc, uint64(s<<8|s>>8)+uint64(b[0])<<8)
	}
	return checksumAdd(acc, uint64(checksumEven(b)))
}

// checksumEven returns the folded ones'-complement sum of b (16-bit words
// in network order), which starts at an even address.
func checksumEven(b []byte) uint16 {
	var edge uint64 // big-endian words before and after the aligned ones
	if len(b) >= 2 && uintptr(unsafe.Pointer(unsafe.SliceData(b)))&2 != 0 {
		edge = uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	var s0, s1 uint64
	if len(b) >= 4 {
		words := unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/4)
		for len(words) >= 8 {
			w := words[:8:8] // one bounds check
			s0 += uint64(w[0]) + uint64(w[1]) + uint64(w[2]) + uint64(w[3])
			s1 += uint64(w[4]) + uint64(w[5]) + uint64(w[6]) + uint64(w[7])
			words = words[8:]
		}
		for _, w := range words {
			s0 += uint64(w)
		}
		b = b[len(b)&^3:]
	}
	native := checksumFold(s0 + s1)
	if nativeLittleEndian {
		native = native<<8 | native>>8
	}
	if len(b) >= 2 {
		edge += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		edge += uint64(b[0]) << 8
	}
	return checksumFold(uint64(native) + edge)
}
