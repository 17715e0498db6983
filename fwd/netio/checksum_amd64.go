//go:build amd64 && !purego

package netio

import (
	"math/bits"

	"golang.org/x/sys/cpu"
)

// checksumAVX2Min is the length from which checksumSum hands the bulk of b
// to the AVX2 loop; shorter inputs (IP, TCP and UDP headers) stay in Go,
// where the call and the final fold would cost more than they save.
const checksumAVX2Min = 128

var useAVX2 = cpu.X86.HasAVX2

// checksumSum adds the bytes of b to the ones'-complement accumulator acc
// (see checksumSumGeneric). With AVX2 the bytes up to the last multiple of
// 64 are summed by sumAVX2 as little-endian 32-bit words; that sum, folded
// to 16 bits and byte-swapped, is the big-endian sum of the same bytes
// (RFC 1071, 2.B: byte order independence), and the tail continues in Go at
// an even offset, so its bytes keep their places in the 16-bit words.
func checksumSum(b []byte, acc uint64) uint64 {
	if len(b) >= checksumAVX2Min && useAVX2 {
		n := len(b) &^ 63
		s := bits.ReverseBytes16(checksumFold(sumAVX2(b[:n])))
		acc = checksumAdd(acc, uint64(s))
		b = b[n:]
	}
	return checksumSumGeneric(b, acc)
}

// checksumCopy copies src to dst (len(dst) >= len(src)) and returns
// checksumSum(src, acc), in one pass over src with AVX2.
func checksumCopy(dst, src []byte, acc uint64) uint64 {
	if len(src) >= checksumAVX2Min && useAVX2 {
		n := len(src) &^ 63
		s := bits.ReverseBytes16(checksumFold(copySumAVX2(dst[:n], src[:n])))
		acc = checksumAdd(acc, uint64(s))
		src, dst = src[n:], dst[n:]
	}
	copy(dst, src)
	return checksumSumGeneric(src, acc)
}

// copySumAVX2 is sumAVX2(src) that also copies src to dst (len(dst) >=
// len(src), a multiple of 64).
//
//go:noescape
func copySumAVX2(dst, src []byte) uint64

// sumAVX2 returns the sum of the little-endian 32-bit words of b (len(b) a
// multiple of 64, at most 2^32 bytes), unfolded: each 32-bit word is
// zero-extended into one of 16 64-bit lanes, which cannot overflow.
//
//go:noescape
func sumAVX2(b []byte) uint64
