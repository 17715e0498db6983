package netio

import (
	"encoding/binary"
	"math/bits"
)

// checksumSumGeneric adds the bytes of b to the ones'-complement
// accumulator acc, 64 bits at a time (RFC 1071: the sum is independent of
// the word size and byte order used to compute it as long as it is folded at
// the end). An odd trailing byte counts as the high byte of a 16-bit word.
// It is checksumSum on every architecture without an assembly version, the
// tail of the assembly versions, and their test oracle.
func checksumSumGeneric(b []byte, acc uint64) uint64 {
	var carry uint64
	// 128 bytes per iteration: the carry chain of ADCs stays in the flags
	// register across 16 words instead of being saved every 4 (1.5x the
	// rate of the 32-byte loop alone on amd64).
	for len(b) >= 128 {
		w := b[:128:128] // one bounds check
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(w[0:8]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(w[8:16]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(w[16:24]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(w[24:32]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(w[32:40]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(w[40:48]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(w[48:56]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(w[56:64]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(w[64:72]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(w[72:80]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(w[80:88]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(w[88:96]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(w[96:104]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(w[104:112]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(w[112:120]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(w[120:128]), carry)
		b = b[128:]
	}
	for len(b) >= 32 {
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[0:8]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[8:16]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[16:24]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[24:32]), carry)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b), carry)
		b = b[8:]
	}
	if len(b) >= 4 {
		acc, carry = bits.Add64(acc, uint64(binary.BigEndian.Uint32(b)), carry)
		b = b[4:]
	}
	if len(b) >= 2 {
		acc, carry = bits.Add64(acc, uint64(binary.BigEndian.Uint16(b)), carry)
		b = b[2:]
	}
	if len(b) == 1 {
		acc, carry = bits.Add64(acc, uint64(b[0])<<8, carry)
	}
	acc, carry = bits.Add64(acc, carry, 0)
	return acc + carry // cannot overflow again: acc wrapped to a small value
}

// checksumFold folds a 64-bit accumulator to the 16-bit ones'-complement sum
// (not yet complemented).
func checksumFold(acc uint64) uint16 {
	acc = (acc >> 32) + (acc & 0xffffffff)
	acc = (acc >> 32) + (acc & 0xffffffff)
	acc = (acc >> 16) + (acc & 0xffff)
	acc = (acc >> 16) + (acc & 0xffff)
	acc = (acc >> 16) + (acc & 0xffff)
	return uint16(acc)
}

// Checksum returns the Internet checksum (RFC 1071) of b with initial
// (an unfolded sum, for example a pseudo-header) added: the value to store
// in a header whose checksum field was zero while summing.
func Checksum(b []byte, initial uint64) uint16 {
	return ^checksumFold(checksumSum(b, initial))
}

// pseudoHeaderSum returns the sum of an IPv4 or IPv6 pseudo-header's
// addresses (src and dst are 4 or 16 bytes each), protocol and L4 length.
func pseudoHeaderSum(src, dst []byte, proto uint8, l4len int) uint64 {
	acc := checksumSum(src, 0)
	acc = checksumSum(dst, acc)
	return checksumAdd(acc, uint64(proto)+uint64(l4len))
}

// checksumAdd adds two unfolded sums with end-around carry.
func checksumAdd(a, b uint64) uint64 {
	s, c := bits.Add64(a, b, 0)
	return s + c
}
