//go:build (amd64 || arm64) && !purego

package netio

import "math/bits"

// checksumVecMin is the length from which checksumSum hands the bulk of b
// to the vector loop; shorter inputs (IP, TCP and UDP headers) stay in Go,
// where the call and the final fold would cost more than they save.
const checksumVecMin = 128

// checksumSum adds the bytes of b to the ones'-complement accumulator acc
// (see checksumSumGeneric). With a vector unit (useVec) the bytes up to the
// last multiple of 64 are summed by sumVec as little-endian 32-bit words;
// that sum, folded to 16 bits and byte-swapped, is the big-endian sum of
// the same bytes (RFC 1071, 2.B: byte order independence), and the tail
// continues in Go at an even offset, so its bytes keep their places in the
// 16-bit words.
func checksumSum(b []byte, acc uint64) uint64 {
	if len(b) >= checksumVecMin && useVec {
		n := len(b) &^ 63
		s := bits.ReverseBytes16(checksumFold(sumVec(b[:n])))
		acc = checksumAdd(acc, uint64(s))
		b = b[n:]
	}
	return checksumSumGeneric(b, acc)
}

// checksumCopy copies src to dst (len(dst) >= len(src)) and returns
// checksumSum(src, acc), in one pass over src with the vector unit.
func checksumCopy(dst, src []byte, acc uint64) uint64 {
	if len(src) >= checksumVecMin && useVec {
		n := len(src) &^ 63
		s := bits.ReverseBytes16(checksumFold(copySumVec(dst[:n], src[:n])))
		acc = checksumAdd(acc, uint64(s))
		src, dst = src[n:], dst[n:]
	}
	copy(dst, src)
	return checksumSumGeneric(src, acc)
}
