package netio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// superSpec describes a super-packet built by buildSuper.
type superSpec struct {
	v6       bool
	udp      bool
	ipv4Opts int    // bytes of IPv4 options (multiple of 4)
	ext      []byte // IPv6 extension header chain in front of L4 (next header of each set by buildSuper)
	tcpOpts  int    // bytes of TCP options (multiple of 4)
	payload  int
	gsoSize  int
	flags    uint8 // TCP flags
}

// buildSuper returns the virtio header and the packet of a super-packet as
// the kernel hands it to an offload TUN (partial checksum: the pseudo-header
// sum without length, as Linux leaves it for GSO).
func buildSuper(s superSpec) []byte {
	l4len := 20 + s.tcpOpts
	proto := byte(protoTCP)
	if s.udp {
		l4len, proto = 8, protoUDP
	}
	var ip []byte
	if s.v6 {
		ip = make([]byte, 40+len(s.ext))
		ip[0] = 0x60
		ip[7] = 64
		for i := range 16 {
			ip[8+i] = 0x20
			ip[24+i] = 0x30 + byte(i)
		}
		copy(ip[40:], s.ext)
		if len(s.ext) > 0 {
			ip[6] = 60 // destination options
			ip[40] = proto
		} else {
			ip[6] = proto
		}
	} else {
		ip = make([]byte, 20+s.ipv4Opts)
		ip[0] = 0x40 | byte(len(ip)/4)
		ip[4], ip[5] = 0x12, 0x34
		ip[6] = 0x40 // DF
		ip[8] = 64
		ip[9] = proto
		copy(ip[12:], []byte{192, 0, 2, 1, 198, 51, 100, 7})
		for i := 20; i < len(ip); i++ {
			ip[i] = 1 // NOP options
		}
	}
	l4 := make([]byte, l4len)
	binary.BigEndian.PutUint16(l4[0:], 40000)
	binary.BigEndian.PutUint16(l4[2:], 5201)
	if !s.udp {
		binary.BigEndian.PutUint32(l4[4:], 0xfffff000) // wraps within the packet
		binary.BigEndian.PutUint32(l4[8:], 77)
		l4[12] = byte(l4len/4) << 4
		l4[13] = s.flags
		for i := 20; i < l4len; i++ {
			l4[i] = 1
		}
	}
	pay := make([]byte, s.payload)
	for i := range pay {
		pay[i] = byte(i*7 + i>>8)
	}
	pkt := append(append(ip, l4...), pay...)
	if s.v6 {
		binary.BigEndian.PutUint16(pkt[4:], uint16(len(pkt)-40))
	} else {
		binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
		binary.BigEndian.PutUint16(pkt[10:], ^naiveSum(pkt[:len(ip)]))
	}
	if s.udp {
		binary.BigEndian.PutUint16(pkt[len(ip)+4:], uint16(len(pkt)-len(ip)))
	}
	gt := uint8(virtioGSOTCPv4)
	switch {
	case s.udp:
		gt = virtioGSOUDPL4
	case s.v6:
		gt = virtioGSOTCPv6
	}
	if s.gsoSize == 0 {
		gt = virtioGSONone
	}
	h := VirtioNetHdr{Flags: virtioFlagNeedsCsum, GSOType: gt, GSOSize: uint16(s.gsoSize), CsumStart: uint16(len(ip))}
	if s.udp {
		h.CsumOffset = 6
	} else {
		h.CsumOffset = 16
	}
	// The partial checksum field holds the folded pseudo-header sum.
	var src, dst []byte
	if s.v6 {
		src, dst = pkt[8:24], pkt[24:40]
	} else {
		src, dst = pkt[12:16], pkt[16:20]
	}
	ps := checksumFold(pseudoHeaderSum(src, dst, proto, len(pkt)-len(ip)))
	binary.BigEndian.PutUint16(pkt[len(ip)+int(h.CsumOffset):], ps)
	out := make([]byte, VirtioNetHdrLen, VirtioNetHdrLen+len(pkt))
	h.encode(out)
	return append(out, pkt...)
}

// naiveSum is an independent 16-bit-at-a-time ones'-complement sum.
func naiveSum(parts ...[]byte) uint16 {
	var s uint32
	for _, b := range parts {
		for i := 0; i+1 < len(b); i += 2 {
			s += uint32(binary.BigEndian.Uint16(b[i:]))
		}
		if len(b)%2 == 1 {
			s += uint32(b[len(b)-1]) << 8
		}
		for s>>16 != 0 {
			s = s&0xffff + s>>16
		}
	}
	return uint16(s)
}

// verifyPacket checks the IPv4 header checksum and the TCP/UDP checksum of
// a complete packet independently of the code under test, and returns the
// L4 offset, protocol and payload offset.
func verifyPacket(t testing.TB, p []byte) (l4 int, proto uint8, data int) {
	t.Helper()
	var src, dst []byte
	switch p[0] >> 4 {
	case 4:
		ihl := int(p[0]&0xf) * 4
		if got := naiveSum(p[:ihl]); got != 0xffff {
			t.Fatalf("IPv4 header checksum wrong (sum %#04x)", got)
		}
		if int(binary.BigEndian.Uint16(p[2:])) != len(p) {
			t.Fatalf("IPv4 total length %d, packet %d", binary.BigEndian.Uint16(p[2:]), len(p))
		}
		l4, proto, src, dst = ihl, p[9], p[12:16], p[16:20]
	case 6:
		if int(binary.BigEndian.Uint16(p[4:])) != len(p)-40 {
			t.Fatalf("IPv6 payload length %d, packet %d", binary.BigEndian.Uint16(p[4:]), len(p))
		}
		off, err := ipv6L4Offset(p, protoTCP)
		proto = protoTCP
		if err != nil {
			off, err = ipv6L4Offset(p, protoUDP)
			proto = protoUDP
		}
		if err != nil {
			t.Fatal(err)
		}
		l4, src, dst = off, p[8:24], p[24:40]
	default:
		t.Fatalf("IP version %d", p[0]>>4)
	}
	l4len := len(p) - l4
	pseudo := make([]byte, 0, 40)
	pseudo = append(append(pseudo, src...), dst...)
	pseudo = append(pseudo, 0, proto, byte(l4len>>8), byte(l4len))
	if got := naiveSum(pseudo, p[l4:]); got != 0xffff {
		t.Fatalf("L4 (proto %d) checksum wrong (sum %#04x)", proto, got)
	}
	data = l4 + 8
	if proto == protoTCP {
		data = l4 + int(p[l4+12]>>4)*4
	} else if int(binary.BigEndian.Uint16(p[l4+4:])) != l4len {
		t.Fatalf("UDP length %d, want %d", binary.BigEndian.Uint16(p[l4+4:]), l4len)
	}
	return l4, proto, data
}

// splitAll runs the splitter over a virtio read and returns the segments.
func splitAll(t testing.TB, read []byte, room int) ([][]byte, error) {
	h, err := decodeVirtioNetHdr(read)
	if err != nil {
		return nil, err
	}
	pkt := append([]byte(nil), read[VirtioNetHdrLen:]...)
	var s gsoSplitter
	if err := s.reset(h, pkt); err != nil {
		return nil, err
	}
	var segs [][]byte
	buf := make([]byte, room)
	for !s.done() {
		n, err := s.nextInto(buf)
		if err != nil {
			return segs, err
		}
		segs = append(segs, append([]byte(nil), buf[:n]...))
	}
	return segs, nil
}

func TestGSOSplit(t *testing.T) {
	ext8 := []byte{0, 0, 1, 4, 0, 0, 0, 0}                                                   // dest opts, PadN
	ext24 := []byte{0, 2, 1, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0} // 24 bytes
	tests := []struct {
		name string
		spec superSpec
		want int // segments
	}{
		{"tcp4", superSpec{payload: 64000, gsoSize: 1448, flags: 0x18 | 0x80}, 45},
		{"tcp4 exact", superSpec{payload: 1448 * 10, gsoSize: 1448, flags: 0x19}, 10},
		{"tcp4 one short", superSpec{payload: 100, gsoSize: 1448, flags: 0x18}, 1},
		{"tcp4 options", superSpec{ipv4Opts: 40, tcpOpts: 12, payload: 30000, gsoSize: 1388, flags: 0x10}, 22},
		{"tcp4 odd gso", superSpec{payload: 9999, gsoSize: 1001, flags: 0x11}, 10},
		{"tcp6", superSpec{v6: true, payload: 60000, gsoSize: 1428, flags: 0x18}, 43},
		{"tcp6 ext", superSpec{v6: true, ext: ext8, payload: 5000, gsoSize: 1400, flags: 0x18}, 4},
		{"tcp6 ext24", superSpec{v6: true, ext: ext24, payload: 5001, gsoSize: 333, flags: 0x18}, 16},
		{"udp4", superSpec{udp: true, payload: 14000, gsoSize: 1400}, 10},
		{"udp4 odd", superSpec{udp: true, payload: 1001, gsoSize: 7}, 143},
		{"udp6", superSpec{v6: true, udp: true, payload: 3000, gsoSize: 1200}, 3},
		{"tcp4 no gso", superSpec{payload: 1000}, 1},
		{"udp6 no gso", superSpec{v6: true, udp: true, payload: 999}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			read := buildSuper(tt.spec)
			orig := read[VirtioNetHdrLen:]
			segs, err := splitAll(t, read, 65535)
			if err != nil {
				t.Fatal(err)
			}
			if len(segs) != tt.want {
				t.Fatalf("%d segments, want %d", len(segs), tt.want)
			}
			var joined []byte
			_, _, data0 := verifyPacket(t, segs[0])
			for i, seg := range segs {
				l4, proto, data := verifyPacket(t, seg)
				if data != data0 {
					t.Fatalf("segment %d: headers %d bytes, first had %d", i, data, data0)
				}
				if tt.spec.gsoSize > 0 && len(seg)-data > tt.spec.gsoSize {
					t.Fatalf("segment %d: %d bytes of payload > gso_size %d", i, len(seg)-data, tt.spec.gsoSize)
				}
				if proto == protoTCP && tt.spec.gsoSize > 0 {
					seq := binary.BigEndian.Uint32(seg[l4+4:])
					if want := 0xfffff000 + uint32(len(joined)); seq != want {
						t.Fatalf("segment %d: seq %#x, want %#x", i, seq, want)
					}
					f := seg[l4+13]
					last := i == len(segs)-1
					if f&(tcpFlagFIN|tcpFlagPSH) != 0 && !last {
						t.Fatalf("segment %d: FIN/PSH before the last segment", i)
					}
					if last && f&(tcpFlagFIN|tcpFlagPSH) != tt.spec.flags&(tcpFlagFIN|tcpFlagPSH) {
						t.Fatalf("last segment lost FIN/PSH: %#x", f)
					}
					if i > 0 && f&tcpFlagCWR != 0 {
						t.Fatalf("segment %d: CWR after the first", i)
					}
				}
				if seg[0]>>4 == 4 && tt.spec.gsoSize > 0 {
					if id := binary.BigEndian.Uint16(seg[4:]); id != 0x1234+uint16(i) {
						t.Fatalf("segment %d: IP ID %#x", i, id)
					}
				}
				joined = append(joined, seg[data:]...)
			}
			if !bytes.Equal(joined, orig[data0:]) {
				t.Fatalf("payload differs after split (%d vs %d bytes)", len(joined), len(orig)-data0)
			}
		})
	}
}

func TestGSOSplitMalformed(t *testing.T) {
	good := func() []byte { return buildSuper(superSpec{payload: 5000, gsoSize: 1400, flags: 0x18}) }
	good6 := func() []byte { return buildSuper(superSpec{v6: true, payload: 5000, gsoSize: 1400}) }
	tests := []struct {
		name string
		read []byte
		want error
	}{
		{"short header", good()[:5], errShortVirtio},
		{"bad gso type", func() []byte { b := good(); b[1] = 9; return b }(), ErrBadVirtioHdr},
		{"gso size 0", func() []byte { b := good(); b[4], b[5] = 0, 0; return b }(), ErrBadVirtioHdr},
		{"tcpv6 on v4", func() []byte { b := good(); b[1] = virtioGSOTCPv6; return b }(), ErrBadVirtioHdr},
		{"tcpv4 on v6", func() []byte { b := good6(); b[1] = virtioGSOTCPv4; return b }(), ErrBadVirtioHdr},
		{"csum start wrong", func() []byte { b := good(); b[6] = 24; return b }(), ErrBadVirtioHdr},
		{"csum beyond packet", func() []byte {
			b := buildSuper(superSpec{payload: 10})
			binary.NativeEndian.PutUint16(b[8:], 5000)
			return b
		}(), ErrBadVirtioHdr},
		{"ihl too big", func() []byte { b := good(); b[VirtioNetHdrLen] = 0x4f; return b[:VirtioNetHdrLen+50] }(), ErrBadGSOPacket},
		{"ihl < 5", func() []byte { b := good(); b[VirtioNetHdrLen] = 0x44; return b }(), ErrBadGSOPacket},
		{"wrong proto", func() []byte { b := good(); b[VirtioNetHdrLen+9] = 17; return b }(), ErrBadGSOPacket},
		{"fragment", func() []byte { b := good(); b[VirtioNetHdrLen+6] = 0x20; return b }(), ErrBadGSOPacket},
		{"truncated tcp", good()[:VirtioNetHdrLen+30], ErrBadGSOPacket},
		{"headers only", good()[:VirtioNetHdrLen+40], ErrBadGSOPacket},
		{"tcp doff 4", func() []byte { b := good(); b[VirtioNetHdrLen+32] = 0x40; return b }(), ErrBadGSOPacket},
		{"version 5", func() []byte { b := good(); b[VirtioNetHdrLen] = 0x55; return b }(), ErrBadGSOPacket},
		{"v6 truncated", good6()[:VirtioNetHdrLen+39], ErrBadGSOPacket},
		{"v6 fragment header", func() []byte { b := good6(); b[VirtioNetHdrLen+6] = 44; return b }(), ErrBadGSOPacket},
		{"v6 ext past end", buildSuper(superSpec{v6: true, ext: []byte{0, 200, 0, 0, 0, 0, 0, 0}, payload: 100, gsoSize: 50}), ErrBadGSOPacket},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := splitAll(t, tt.read, 65535)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	// No room: segments are refused, not truncated.
	if _, err := splitAll(t, good(), 1000); !errors.Is(err, ErrSegmentRoom) {
		t.Fatalf("small buffer: %v, want ErrSegmentRoom", err)
	}
}

func TestChecksumMatchesNaive(t *testing.T) {
	b := make([]byte, 2000)
	for i := range b {
		b[i] = byte(i*131 + i>>3)
	}
	for n := 0; n < 600; n++ { // every tail after 0-4 rounds of the 128-byte loop
		for _, off := range []int{0, 1, 3} {
			p := b[off : off+n]
			if got, want := Checksum(p, 0), ^naiveSum(p); got != want {
				t.Fatalf("len %d off %d: %#04x, want %#04x", n, off, got, want)
			}
		}
	}
	ff := bytes.Repeat([]byte{0xff}, 1500)
	if got, want := Checksum(ff, 0xffffffffffffffff), ^naiveSum(ff, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}); got != want {
		t.Fatalf("all ones: %#04x, want %#04x", got, want)
	}
}

// BenchmarkChecksum sums one MTU-sized TCP segment, the per-segment cost
// of the split (encapsulating side) and of the verification before
// coalescing (decapsulating side).
func BenchmarkChecksum(b *testing.B) {
	p := make([]byte, 1444)
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		_ = Checksum(p, 0)
	}
}

func FuzzGSOSplit(f *testing.F) {
	for _, s := range []superSpec{
		{payload: 5000, gsoSize: 1400, flags: 0x19},
		{ipv4Opts: 8, tcpOpts: 12, payload: 3000, gsoSize: 999},
		{v6: true, payload: 4000, gsoSize: 1300},
		{v6: true, ext: []byte{0, 0, 1, 4, 0, 0, 0, 0}, payload: 3000, gsoSize: 1000},
		{udp: true, payload: 3001, gsoSize: 1000},
		{v6: true, udp: true, payload: 100, gsoSize: 3},
		{payload: 300},
	} {
		f.Add(buildSuper(s))
	}
	f.Add([]byte{1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0x45})
	f.Fuzz(func(t *testing.T, read []byte) {
		splitBoth(t, read)
		h, err := decodeVirtioNetHdr(read)
		if err != nil {
			return
		}
		pkt := append([]byte(nil), read[VirtioNetHdrLen:]...)
		orig := append([]byte(nil), pkt...)
		var s gsoSplitter
		if err := s.reset(h, pkt); err != nil {
			return
		}
		buf := make([]byte, 2048)
		for i := 0; !s.done() && i < 1000; i++ {
			n, err := s.nextInto(buf)
			if err != nil {
				if !errors.Is(err, ErrSegmentRoom) {
					t.Fatalf("segment %d: %v", i, err)
				}
				continue
			}
			seg := buf[:n]
			if !s.gso {
				if h.Flags&virtioFlagNeedsCsum != 0 {
					at := int(h.CsumStart + h.CsumOffset)
					// sum(completed) == 0xffff once the original partial value is counted in.
					field := orig[at : at+2]
					if got := naiveSum(seg[h.CsumStart:], field); got != 0xffff && !(got == 0 && naiveSum(field) == 0) {
						t.Fatalf("completed checksum wrong: sum %#04x", got)
					}
				}
				continue
			}
			verifyPacket(t, seg)
		}
	})
}

func BenchmarkGSOSplit(b *testing.B) {
	read := buildSuper(superSpec{payload: 64000, gsoSize: 1448, flags: 0x18})
	h, _ := decodeVirtioNetHdr(read)
	pkt := read[VirtioNetHdrLen:]
	buf := make([]byte, 1500)
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		var s gsoSplitter
		if err := s.reset(h, pkt); err != nil {
			b.Fatal(err)
		}
		for !s.done() {
			if _, err := s.nextInto(buf); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// nextIntoCopyThenSum is nextInto as it was before the payload's sum was
// folded into its copy (copy, then one checksum over header and payload):
// the oracle for TestSplitMatchesCopyThenSum.
func (s *gsoSplitter) nextIntoCopyThenSum(dst []byte) (int, error) {
	i := s.next
	s.next++
	if !s.gso {
		if len(s.pkt) > len(dst) {
			return 0, ErrSegmentRoom
		}
		return copy(dst, s.pkt), nil
	}
	start := s.hdrLen + i*s.gsoSize
	end := min(start+s.gsoSize, len(s.pkt))
	segLen := s.hdrLen + end - start
	if segLen > len(dst) {
		return 0, ErrSegmentRoom
	}
	copy(dst, s.pkt[:s.hdrLen])
	copy(dst[s.hdrLen:], s.pkt[start:end])
	seg := dst[:segLen]
	be := binary.BigEndian
	if s.v6 {
		be.PutUint16(seg[4:], uint16(segLen-40))
	} else {
		be.PutUint16(seg[2:], uint16(segLen))
		be.PutUint16(seg[4:], s.ipID+uint16(i))
		seg[10], seg[11] = 0, 0
		be.PutUint16(seg[10:], Checksum(seg[:s.l4], 0))
	}
	l4 := seg[s.l4:]
	proto := uint8(protoUDP)
	var csumAt int
	if s.tcp {
		proto = protoTCP
		be.PutUint32(l4[4:], s.seq+uint32(i*s.gsoSize))
		if i != 0 {
			l4[13] &^= tcpFlagCWR
		}
		if i != s.n-1 {
			l4[13] &^= tcpFlagFIN | tcpFlagPSH
		}
		csumAt = 16
	} else {
		be.PutUint16(l4[4:], uint16(len(l4)))
		csumAt = 6
	}
	l4[csumAt], l4[csumAt+1] = 0, 0
	c := Checksum(l4, checksumAdd(s.addrSum, uint64(proto)+uint64(len(l4))))
	if c == 0 && !s.tcp {
		c = 0xffff
	}
	be.PutUint16(l4[csumAt:], c)
	return segLen, nil
}

// splitBoth splits read with nextInto and with the old copy-then-sum code
// and fails t unless every segment is byte-identical.
func splitBoth(t *testing.T, read []byte) {
	t.Helper()
	h, err := decodeVirtioNetHdr(read)
	if err != nil {
		return
	}
	pkt := append([]byte(nil), read[VirtioNetHdrLen:]...)
	pkt2 := append([]byte(nil), pkt...)
	var a, b gsoSplitter
	errA, errB := a.reset(h, pkt), b.reset(h, pkt2)
	if (errA == nil) != (errB == nil) {
		t.Fatalf("reset: %v / %v", errA, errB)
	}
	if errA != nil {
		return
	}
	bufA, bufB := make([]byte, 2048), make([]byte, 2048)
	for i := 0; !a.done() && i < 1000; i++ {
		na, ea := a.nextInto(bufA)
		nb, eb := b.nextIntoCopyThenSum(bufB)
		if (ea == nil) != (eb == nil) {
			t.Fatalf("segment %d: errors %v / %v", i, ea, eb)
		}
		if ea == nil && !bytes.Equal(bufA[:na], bufB[:nb]) {
			t.Fatalf("segment %d differs from the copy-then-sum split:\n% x\n% x", i, bufA[:na], bufB[:nb])
		}
	}
	if !b.done() {
		t.Fatalf("old split has segments left after %d", b.next)
	}
}

func TestSplitMatchesCopyThenSum(t *testing.T) {
	for _, s := range []superSpec{
		{payload: 64000, gsoSize: 1448, flags: 0x19},
		{payload: 65000, gsoSize: 1447, flags: 0x18},
		{payload: 1449, gsoSize: 1448, flags: 0x18},
		{ipv4Opts: 8, tcpOpts: 12, payload: 3000, gsoSize: 999},
		{tcpOpts: 40, payload: 9000, gsoSize: 1024},
		{v6: true, payload: 60000, gsoSize: 1300},
		{v6: true, ext: []byte{0, 0, 1, 4, 0, 0, 0, 0}, payload: 3000, gsoSize: 1000},
		{udp: true, payload: 30001, gsoSize: 1001},
		{udp: true, payload: 128 * 5, gsoSize: 128},
		{v6: true, udp: true, payload: 1000, gsoSize: 3},
		{payload: 300},
	} {
		read := buildSuper(s)
		// Random payload bytes, and all-0xff ones (carries everywhere).
		for j := VirtioNetHdrLen + 200; j < len(read); j++ {
			read[j] = byte(j*131 + j>>7)
		}
		splitBoth(t, read)
		ff := buildSuper(s)
		for j := len(ff) - s.payload; j < len(ff); j++ {
			ff[j] = 0xff
		}
		splitBoth(t, ff)
	}
}

// BenchmarkGSOSplitCopyThenSum is BenchmarkGSOSplit with the split as it was
// before the payload's sum was folded into its copy.
func BenchmarkGSOSplitCopyThenSum(b *testing.B) {
	read := buildSuper(superSpec{payload: 64000, gsoSize: 1448, flags: 0x18})
	h, _ := decodeVirtioNetHdr(read)
	pkt := read[VirtioNetHdrLen:]
	buf := make([]byte, 1500)
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		var s gsoSplitter
		if err := s.reset(h, pkt); err != nil {
			b.Fatal(err)
		}
		for !s.done() {
			if _, err := s.nextIntoCopyThenSum(buf); err != nil {
				b.Fatal(err)
			}
		}
	}
}
