package netio

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// checkSumAgainstGeneric fails t unless checksumSum and the generic Go
// version give the same folded sum (and so the same Checksum) for b and acc.
func checkSumAgainstGeneric(t *testing.T, b []byte, acc uint64) {
	t.Helper()
	got, want := checksumFold(checksumSum(b, acc)), checksumFold(checksumSumGeneric(b, acc))
	if got != want {
		t.Fatalf("len %d, acc %#x: folded sum %#04x, generic %#04x", len(b), acc, got, want)
	}
	// The word loop of 32-bit ARM and MIPS runs on every CPU (the emu
	// target runs it big-endian).
	if got := checksumFold(checksumSumWords(b, acc)); got != want {
		t.Fatalf("len %d, acc %#x: word-loop folded sum %#04x, generic %#04x", len(b), acc, got, want)
	}
	// checksumCopy: the same sum, and an exact copy that writes nothing
	// past len(b).
	dst := make([]byte, len(b)+1)
	dst[len(b)] = 0x5a
	if got := checksumFold(checksumCopy(dst, b, acc)); got != want {
		t.Fatalf("len %d, acc %#x: checksumCopy folded sum %#04x, generic %#04x", len(b), acc, got, want)
	}
	if !bytes.Equal(dst[:len(b)], b) || dst[len(b)] != 0x5a {
		t.Fatalf("len %d: checksumCopy did not copy exactly", len(b))
	}
}

func TestChecksumSumMatchesGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 65535+64)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	ones := bytes.Repeat([]byte{0xff}, len(buf))
	zeros := make([]byte, len(buf))
	tests := []struct {
		name string
		data []byte
		acc  uint64
	}{
		{"random", buf, 0},
		{"random, acc all ones", buf, ^uint64(0)},
		{"random, acc 0xffff", buf, 0xffff},
		{"all 0xff (carries in every lane)", ones, 0},
		{"all 0xff, acc all ones", ones, ^uint64(0)},
		{"all 0xff, acc 1", ones, 1},
		{"zeros", zeros, 0},
		{"zeros, acc 0xffff", zeros, 0xffff},
	}
	// Every length around the 64-byte rounds and the Go/AVX2 switch, at
	// every alignment, then random lengths up to the largest IP packet.
	lengths := make([]int, 0, 400)
	for n := range 300 {
		lengths = append(lengths, n)
	}
	lengths = append(lengths, 1443, 1444, 1447, 1448, 1500, 9000, 65471, 65472, 65534, 65535)
	for range 60 {
		lengths = append(lengths, rng.IntN(65536))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, n := range lengths {
				for off := range 8 {
					checkSumAgainstGeneric(t, tt.data[off:off+n], tt.acc)
				}
			}
		})
	}
}

func TestChecksumKnownValues(t *testing.T) {
	// Values worked by hand (RFC 1071's example: 00 01 f2 03 f4 f5 f6 f7
	// sums to ddf2), then the same bytes repeated past the AVX2 threshold.
	rfc := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	tests := []struct {
		name string
		data []byte
		want uint16 // folded sum
	}{
		{"rfc1071", rfc, 0xddf2},
		{"rfc1071 x32", bytes.Repeat(rfc, 32), uint16(naiveSum(bytes.Repeat(rfc, 32)))},
		{"0xff x1024", bytes.Repeat([]byte{0xff}, 1024), 0xffff},
		{"zeros x1024", make([]byte, 1024), 0},
		{"odd 0xff x1025", bytes.Repeat([]byte{0xff}, 1025), naiveSum(bytes.Repeat([]byte{0xff}, 1025))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := checksumFold(checksumSum(tt.data, 0)); got != tt.want {
				t.Fatalf("folded sum %#04x, want %#04x", got, tt.want)
			}
			if got := Checksum(tt.data, 0); got != ^tt.want {
				t.Fatalf("Checksum %#04x, want %#04x", got, ^tt.want)
			}
		})
	}
}

func FuzzChecksumSum(f *testing.F) {
	f.Add(bytes.Repeat([]byte{0xff}, 300), uint64(0), uint8(0))
	f.Add(bytes.Repeat([]byte{0x80, 0x01}, 700), ^uint64(0), uint8(3))
	f.Add(make([]byte, 129), uint64(0xffff), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, acc uint64, off uint8) {
		if int(off) > len(data) {
			off = 0
		}
		b := data[off:]
		checkSumAgainstGeneric(t, b, acc)
		if got, want := Checksum(b, 0), ^naiveSum(b); got != want {
			t.Fatalf("len %d: Checksum %#04x, naive %#04x", len(b), got, want)
		}
	})
}

// BenchmarkChecksumSum compares checksumSum (assembly where there is one)
// with the generic Go loop on a header, a segment and a super-packet.
func BenchmarkChecksumSum(b *testing.B) {
	dst := make([]byte, 65536)
	for _, n := range []int{20, 1444, 65000} {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i)
		}
		for _, v := range []struct {
			name string
			fn   func([]byte, uint64) uint64
		}{{"new", checksumSum}, {"generic", checksumSumGeneric}, {"words", checksumSumWords}, {"copy", func(b []byte, acc uint64) uint64 { return checksumCopy(dst, b, acc) }}} {
			b.Run(fmt.Sprintf("%s/%d", v.name, n), func(b *testing.B) {
				b.SetBytes(int64(n))
				b.ReportAllocs()
				var s uint64
				for b.Loop() {
					s += v.fn(p, 0)
				}
				_ = s
			})
		}
	}
}
