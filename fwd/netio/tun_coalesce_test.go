package netio

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// segmentsOf splits a super-packet built by buildSuper into packets (with
// the splitter, whose output TestGSOSplit verifies independently).
func segmentsOf(t testing.TB, spec superSpec) [][]byte {
	t.Helper()
	segs, err := splitAll(t, buildSuper(spec), 65535)
	if err != nil {
		t.Fatal(err)
	}
	return segs
}

// joinSuper builds what a coalesced write hands the kernel: the virtio
// header and the first packet followed by the payloads of the others.
func joinSuper(pkts [][]byte, k int, f tcpSeg, total int, lastFlags uint8) (VirtioNetHdr, []byte) {
	first := append([]byte(nil), pkts[0]...)
	h := superHeader(first, f, total, lastFlags)
	out := first
	for _, p := range pkts[1:k] {
		out = append(out, p[f.hdrLen:]...)
	}
	return h, out
}

// checkSuper verifies a coalesced super-packet independently: completing
// its partial checksum as the kernel would gives valid checksums, and
// splitting it again gives back exactly the k packets it was made of.
func checkSuper(t testing.TB, pkts [][]byte, k int, f tcpSeg, total int, lastFlags uint8) {
	t.Helper()
	h, sp := joinSuper(pkts, k, f, total, lastFlags)
	if len(sp) != total {
		t.Fatalf("super-packet %d bytes, total says %d", len(sp), total)
	}
	whole := append([]byte(nil), sp...)
	var s gsoSplitter
	if err := s.reset(VirtioNetHdr{Flags: virtioFlagNeedsCsum, CsumStart: h.CsumStart, CsumOffset: h.CsumOffset}, whole); err != nil {
		t.Fatal(err)
	}
	verifyPacket(t, whole) // the partial checksum was the right pseudo-header sum
	if err := s.reset(h, sp); err != nil {
		t.Fatalf("super-packet does not split: %v", err)
	}
	buf := make([]byte, 65535)
	for i := 0; !s.done(); i++ {
		n, err := s.nextInto(buf)
		if err != nil {
			t.Fatal(err)
		}
		if i >= k {
			t.Fatalf("more than %d segments", k)
		}
		want := pkts[i]
		if !bytes.Equal(buf[:n], want) {
			t.Fatalf("segment %d after coalesce+split differs:\n got %x\nwant %x", i, buf[:min(n, 80)], want[:min(len(want), 80)])
		}
	}
}

func TestCoalesce(t *testing.T) {
	tests := []struct {
		name string
		spec superSpec
		mod  func(p [][]byte) [][]byte
		want int
	}{
		{"tcp4 run", superSpec{payload: 20000, gsoSize: 1400, flags: tcpFlagACK}, nil, 15},
		{"tcp4 psh last", superSpec{payload: 14000, gsoSize: 1400, flags: tcpFlagACK | tcpFlagPSH}, nil, 10},
		{"tcp4 timestamps", superSpec{tcpOpts: 12, payload: 5000, gsoSize: 1388, flags: tcpFlagACK}, nil, 4},
		{"tcp6 run", superSpec{v6: true, payload: 30000, gsoSize: 1380, flags: tcpFlagACK}, nil, 22},
		{"max 64", superSpec{payload: 65000, gsoSize: 900, flags: tcpFlagACK}, nil, 64},
		{"tcp4 options no", superSpec{ipv4Opts: 4, payload: 5000, gsoSize: 1000, flags: tcpFlagACK}, nil, 1},
		{"tcp6 ext no", superSpec{v6: true, ext: []byte{0, 0, 1, 4, 0, 0, 0, 0}, payload: 5000, gsoSize: 1000, flags: tcpFlagACK}, nil, 1},
		{"syn no", superSpec{payload: 5000, gsoSize: 1000, flags: 0x12}, nil, 1},
		{"udp no", superSpec{udp: true, payload: 5000, gsoSize: 1000}, nil, 1},
		{"seq gap", superSpec{payload: 5000, gsoSize: 1000, flags: tcpFlagACK}, func(p [][]byte) [][]byte {
			return append(p[:2:2], p[3:]...)
		}, 2},
		{"bad checksum", superSpec{payload: 5000, gsoSize: 1000, flags: tcpFlagACK}, func(p [][]byte) [][]byte {
			p[2][len(p[2])-1] ^= 0x55
			return p
		}, 2},
		{"other ack", superSpec{payload: 5000, gsoSize: 1000, flags: tcpFlagACK}, func(p [][]byte) [][]byte {
			fixTCP(p[3], func(l4 []byte) { l4[11]++ })
			return p
		}, 3},
		{"other tos", superSpec{payload: 5000, gsoSize: 1000, flags: tcpFlagACK}, func(p [][]byte) [][]byte {
			p[1][1] = 4
			fixIPv4(p[1])
			return p
		}, 1},
		{"larger later", superSpec{payload: 5000, gsoSize: 1000, flags: tcpFlagACK}, func(p [][]byte) [][]byte {
			q := segmentsOf(t, superSpec{payload: 5000, gsoSize: 1000, flags: tcpFlagACK})
			return [][]byte{p[0][:len(p[0])-100], q[1]}
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkts := segmentsOf(t, tt.spec)
			if tt.mod != nil {
				pkts = tt.mod(pkts)
			}
			orig := make([][]byte, len(pkts))
			for i := range pkts {
				orig[i] = append([]byte(nil), pkts[i]...)
			}
			k, f, total, last := coalesceRun(pkts, 0)
			if k != tt.want {
				t.Fatalf("run of %d, want %d", k, tt.want)
			}
			for i := range pkts {
				if !bytes.Equal(pkts[i], orig[i]) {
					t.Fatalf("coalesceRun changed packet %d", i)
				}
			}
			if k > 1 {
				checkSuper(t, pkts, k, f, total, last)
			}
		})
	}
}

// fixIPv4 recomputes an IPv4 header checksum; fixTCP edits a TCP header
// and recomputes its checksum (for test packets built on purpose).
func fixIPv4(p []byte) {
	p[10], p[11] = 0, 0
	binary.BigEndian.PutUint16(p[10:], ^naiveSum(p[:20]))
}

func fixTCP(p []byte, edit func(l4 []byte)) {
	l4 := p[20:]
	edit(l4)
	l4[16], l4[17] = 0, 0
	pseudo := append(append([]byte(nil), p[12:20]...), 0, protoTCP, byte(len(l4)>>8), byte(len(l4)))
	binary.BigEndian.PutUint16(l4[16:], ^naiveSum(pseudo, l4))
}

func FuzzCoalesce(f *testing.F) {
	f.Add(uint8(0), uint16(1000), []byte{})
	f.Add(uint8(1), uint16(1), []byte{3, 0, 20, 1})
	f.Add(uint8(2), uint16(700), []byte{1, 0, 13, 0x18})
	f.Add(uint8(3), uint16(333), []byte{0, 0, 0, 0x46})
	f.Fuzz(func(t *testing.T, kind uint8, gso uint16, muts []byte) {
		spec := superSpec{payload: 6000, gsoSize: int(gso%2000) + 1, flags: tcpFlagACK, tcpOpts: 12}
		switch kind % 4 {
		case 1:
			spec.v6 = true
		case 2:
			spec.flags |= tcpFlagPSH
		case 3:
			spec.ipv4Opts = 8
		}
		if spec.payload/spec.gsoSize > 70 {
			spec.payload = 70 * spec.gsoSize
		}
		pkts := segmentsOf(t, spec)
		// Mutations: (packet, offset hi, offset lo, value) quadruples,
		// applied with the checksums left as they are or fixed up.
		for len(muts) >= 4 {
			i := int(muts[0]) % len(pkts)
			off := int(binary.BigEndian.Uint16(muts[1:])) % len(pkts[i])
			pkts[i][off] = muts[3]
			if muts[0]&0x80 != 0 && !spec.v6 && pkts[i][0] == 0x45 && len(pkts[i]) >= 40 {
				fixIPv4(pkts[i])
				fixTCP(pkts[i], func([]byte) {})
			}
			muts = muts[4:]
		}
		if muts := len(muts); muts == 1 && len(pkts) > 1 {
			pkts[1] = pkts[1][:len(pkts[1])/2] // truncated segment
		}
		k, fs, total, last := coalesceRun(pkts, 0)
		if k < 1 || k > len(pkts) || k > maxCoalesce {
			t.Fatalf("run of %d of %d packets", k, len(pkts))
		}
		if k > 1 {
			for i := range k {
				verifyPacket(t, pkts[i]) // only valid packets may be joined
			}
			checkSuper(t, pkts, k, fs, total, last)
		}
	})
}

func BenchmarkCoalesce(b *testing.B) {
	pkts := segmentsOf(b, superSpec{payload: 62000, gsoSize: 1400, flags: tcpFlagACK, tcpOpts: 12})
	b.SetBytes(62000)
	b.ReportAllocs()
	for b.Loop() {
		if k, _, _, _ := coalesceRun(pkts, 0); k != len(pkts) {
			b.Fatal(k)
		}
	}
}
