//go:build (amd64 || arm64) && !purego

package netio

import (
	"bytes"
	"testing"
)

// withVec runs fn with the vector checksum on or off (off: the generic Go
// loop, the code before the assembly).
func withVec(on bool, fn func()) {
	old := useVec
	useVec = on && old
	defer func() { useVec = old }()
	fn()
}

// TestSplitSameWithVec checks that the split's output is byte-identical
// with and without the AVX2 checksum, and that the coalescer's checksum
// verification decides the same.
func TestSplitSameWithVec(t *testing.T) {
	if !useVec {
		t.Skip("no vector checksum on this CPU")
	}
	for _, s := range []superSpec{
		{payload: 64000, gsoSize: 1448, flags: 0x19},
		{payload: 65000, gsoSize: 1447, flags: 0x18},
		{ipv4Opts: 8, tcpOpts: 12, payload: 3000, gsoSize: 999},
		{v6: true, payload: 60000, gsoSize: 1300},
		{v6: true, ext: []byte{0, 0, 1, 4, 0, 0, 0, 0}, payload: 3000, gsoSize: 1000},
		{udp: true, payload: 30001, gsoSize: 1001},
		{v6: true, udp: true, payload: 1000, gsoSize: 3},
		{payload: 300},
	} {
		read := buildSuper(s)
		var fast, slow [][]byte
		var ferr, serr error
		withVec(true, func() { fast, ferr = splitAll(t, read, 65535) })
		withVec(false, func() { slow, serr = splitAll(t, read, 65535) })
		if ferr != nil || serr != nil {
			t.Fatalf("%+v: errors %v / %v", s, ferr, serr)
		}
		if len(fast) != len(slow) {
			t.Fatalf("%+v: %d segments, generic %d", s, len(fast), len(slow))
		}
		for i := range fast {
			if !bytes.Equal(fast[i], slow[i]) {
				t.Fatalf("%+v: segment %d differs from the generic split", s, i)
			}
			verifyPacket(t, fast[i])
			// A corrupted byte is refused by both verifications.
			if !s.udp && len(fast[i]) > 200 {
				bad := append([]byte(nil), fast[i]...)
				bad[len(bad)-100] ^= 0x40
				var okFast, okSlow bool
				withVec(true, func() { _, okFast = parseTCPSeg(bad) })
				withVec(false, func() { _, okSlow = parseTCPSeg(bad) })
				if okFast || okSlow {
					t.Fatalf("%+v: corrupted segment %d accepted (vector %v, generic %v)", s, i, okFast, okSlow)
				}
			}
		}
	}
}

// BenchmarkSplitVec compares the split and the coalescer's verification
// with the vector checksum and with the generic one, in one run.
func BenchmarkSplitVec(b *testing.B) {
	for _, on := range []bool{true, false} {
		name := "generic"
		if on {
			name = "vec"
		}
		withVec(on, func() {
			b.Run("split/"+name, BenchmarkGSOSplit)
			b.Run("coalesce/"+name, BenchmarkCoalesce)
		})
	}
}
