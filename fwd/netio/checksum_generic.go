//go:build !(amd64 || arm64 || arm || mips || mipsle || mips64 || mips64le) || purego

package netio

// checksumSum adds the bytes of b to the ones'-complement accumulator acc
// (see checksumSumGeneric).
func checksumSum(b []byte, acc uint64) uint64 { return checksumSumGeneric(b, acc) }

// checksumCopy copies src to dst (len(dst) >= len(src)) and returns
// checksumSum(src, acc).
func checksumCopy(dst, src []byte, acc uint64) uint64 {
	copy(dst, src)
	return checksumSumGeneric(src, acc)
}
