//go:build amd64 && !purego

package netio

import "golang.org/x/sys/cpu"

// useVec: checksumSum and checksumCopy use the AVX2 loops
// (checksum_amd64.s); a var so that the tests can compare both ways.
var useVec = cpu.X86.HasAVX2

// sumVec returns the sum of the little-endian 32-bit words of b (len(b) a
// multiple of 64, at most 2^32 bytes), unfolded: each 32-bit word is
// zero-extended into one of 16 64-bit lanes, which cannot overflow.
//
//go:noescape
func sumVec(b []byte) uint64

// copySumVec is sumVec(src) that also copies src to dst (len(dst) >=
// len(src), a multiple of 64).
//
//go:noescape
func copySumVec(dst, src []byte) uint64
