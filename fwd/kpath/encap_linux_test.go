package kpath

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"unsafe"

	"github.com/lispd/lispd/testing/tshark"
)

// Test runs of the encapsulating program (BPF_PROG_TEST_RUN).
//
// A test run builds the skb of a SchedCLS program as an Ethernet frame: the
// kernel takes the protocol from bytes 12-13 and puts the network header 14
// bytes in, but the program sees the data from byte 0, where it expects
// the IP header (a TUN has no link-layer header). So the inputs are bare
// IP packets whose bytes 12-13 read as their EtherType: IPv6 sources in
// 2001:db8:86dd::/48, IPv4 sources in 8.0.0.0/16 (bytes in memory only;
// no address is configured anywhere). Two consequences, both of the test
// run only: bpf_skb_adjust_room opens the room behind that 14-byte "MAC
// header", so in the output frame the first 14 bytes of the inner packet
// are zeros (the outer headers are written in front of them; on a TUN the
// inner packet follows the LISP header whole, TestKernelPath); and the
// kernel's flow dissector reads the packet 14 bytes in, so the skb hash of
// an IPv6 test packet is of its addresses rather than of its 5-tuple (it
// still differs per flow and is the same for the same packet), and that
// of an IPv4 one is the same for every flow (the dissector finds no IPv4
// header there) — the IPv4 slot choice is tested with hashes set by the
// test (TestEncapSlotTable).

var (
	encSrc   = netip.MustParseAddr("192.0.2.1")
	encRLOCs = []netip.Addr{netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("203.0.113.2"), netip.MustParseAddr("203.0.113.3")}
	encEID4  = netip.MustParsePrefix("198.51.100.128/25")
	encEID6  = netip.MustParsePrefix("2001:db8:2::/48")
)

// encapFlow returns the packet of test flow i (see above for the sources).
func encapFlow(t *testing.T, v6 bool, i int) []byte {
	t.Helper()
	src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{8, 0, byte(i >> 8), byte(i)}), uint16(1024+i))
	dst := netip.MustParseAddrPort("198.51.100.138:2000")
	if v6 {
		a := netip.MustParseAddr("2001:db8:86dd::").As16()
		a[14], a[15] = byte(i>>8), byte(i)
		src = netip.AddrPortFrom(netip.AddrFrom16(a), uint16(1024+i))
		dst = netip.MustParseAddrPort("[2001:db8:2::10]:2000")
	}
	p, err := tshark.UDPPacket(src, dst, []byte("inner payload 0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sharedEntry returns an entry over the first n of encRLOCs, with the
// slots shared out as slot(i) says.
func sharedEntry(n int, slot func(i int) uint8) EncapEntry {
	e := EncapEntry{Src: encSrc, Dst: encRLOCs[0], IfIndex: 1, MTU: 1500, Flags: 0xc8, InstanceID: 0x123456, LSBs: 3}
	for i := 1; i < n; i++ {
		e.Alt[i-1] = EncapRLOC{Dst: encRLOCs[i], MTU: 1500}
	}
	for i := range e.Slots {
		e.Slots[i] = slot(i)
	}
	return e
}

// newTestEncap returns an Encap with ent set for encEID4 and encEID6,
// closed when the test ends.
func newTestEncap(t *testing.T, ent EncapEntry) *Encap {
	t.Helper()
	needBPF(t)
	e, err := NewEncap(4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	for _, p := range []netip.Prefix{encEID4, encEID6} {
		if err := e.Set(p, ent); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// encapOut is what checkEncap found in an output frame.
type encapOut struct {
	rloc    int    // index of the outer destination in the entry
	srcPort uint16 // outer UDP source port
}

// checkEncap checks the frame out that the program made of inner with
// entry ent, header by header, and returns the RLOC it went to.
func checkEncap(t *testing.T, ent EncapEntry, inner, out []byte) encapOut {
	t.Helper()
	if len(out) != 14+Overhead4+len(inner) {
		t.Fatalf("output of %d bytes for an inner packet of %d", len(out), len(inner))
	}
	if et := binary.BigEndian.Uint16(out[12:]); et != 0x0800 {
		t.Errorf("EtherType %#04x", et)
	}
	ip := out[14:34]
	tos, ttl := inner[1], inner[8]
	if inner[0]>>4 == 6 {
		tos, ttl = inner[0]<<4|inner[1]>>4, inner[7]
	}
	if ip[0] != 0x45 || ip[1] != tos || int(binary.BigEndian.Uint16(ip[2:])) != len(out)-14 ||
		binary.BigEndian.Uint16(ip[4:]) != 0 || binary.BigEndian.Uint16(ip[6:]) != 0x4000 || ip[8] != ttl || ip[9] != 17 {
		t.Errorf("outer IPv4 header % x", ip)
	}
	if tshark.Checksum(ip, 0) != 0 {
		t.Errorf("outer IPv4 header checksum wrong: % x", ip)
	}
	if s := netip.AddrFrom4([4]byte(ip[12:16])); s != ent.Src {
		t.Errorf("outer source %v, want %v", s, ent.Src)
	}
	o := encapOut{rloc: -1}
	d := netip.AddrFrom4([4]byte(ip[16:20]))
	for i := range MaxEncapRLOCs {
		if r, _ := ent.RLOC(i); r == d {
			o.rloc = i
		}
	}
	if o.rloc < 0 {
		t.Errorf("outer destination %v is none of the entry's RLOCs", d)
	}
	udp := out[34:42]
	o.srcPort = binary.BigEndian.Uint16(udp)
	if o.srcPort < sourcePortMin || binary.BigEndian.Uint16(udp[2:]) != DataPort ||
		int(binary.BigEndian.Uint16(udp[4:])) != len(out)-34 || binary.BigEndian.Uint16(udp[6:]) != 0 {
		t.Errorf("UDP header % x", udp)
	}
	lisp := out[42:50]
	if lisp[0] != ent.Flags || binary.BigEndian.Uint32(lisp[4:]) != ent.InstanceID<<8|ent.LSBs&0xff {
		t.Errorf("LISP header % x", lisp)
	}
	// The test run's artefact (see above), then the inner packet.
	if got := out[50:64]; string(got) != string(make([]byte, 14)) || string(out[64:]) != string(inner[14:]) {
		t.Errorf("inner packet\ngot  % x\nwant 14 zeros then % x", out[50:], inner[14:])
	}
	return o
}

// runEncap test-runs prog over inner and checks that it was encapsulated
// and redirected.
func runEncap(t *testing.T, prog *Program, ent EncapEntry, inner []byte, mark uint32) encapOut {
	t.Helper()
	out := make([]byte, 2048)
	ret, n, err := testRunMark(prog, inner, out, mark)
	if err != nil {
		t.Fatal(err)
	}
	if ret != ActRedirect {
		t.Fatalf("verdict %d, want %d (redirect)", ret, ActRedirect)
	}
	return checkEncap(t, ent, inner, out[:n])
}

// TestEncapLoadSharing spreads many flows over the RLOCs of an entry with
// the kernel's flow hash, and checks the shares against the slot table,
// that a flow stays on its RLOC, and the per-RLOC counters.
func TestEncapLoadSharing(t *testing.T) {
	const flows = 1024
	tests := []struct {
		name   string
		n      int
		slot   func(i int) uint8
		lo, hi []float64 // bounds of each RLOC's share of the flows
	}{
		{"one RLOC", 1, func(int) uint8 { return 0 }, []float64{1}, []float64{1}},
		{"50/50", 2, func(i int) uint8 { return uint8(i % 2) }, []float64{0.35, 0.35}, []float64{0.65, 0.65}},
		{"75/25", 2, func(i int) uint8 { return uint8(i / 48) }, []float64{0.6, 0.1}, []float64{0.9, 0.4}},
		{"three RLOCs 1/2/1", 3, func(i int) uint8 { return []uint8{0, 1, 1, 2}[i%4] }, []float64{0.12, 0.35, 0.12}, []float64{0.38, 0.65, 0.38}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ent := sharedEntry(tt.n, tt.slot)
			e := newTestEncap(t, ent)
			var nflows, pkts, byts [MaxEncapRLOCs]uint64
			for i := range flows {
				inner := encapFlow(t, true, i)
				first := runEncap(t, e.prog, ent, inner, 0)
				nflows[first.rloc]++
				pkts[first.rloc]++
				byts[first.rloc] += uint64(len(inner))
				if i%64 == 0 { // a flow stays where it is
					for range 8 {
						if o := runEncap(t, e.prog, ent, inner, 0); o != first {
							t.Fatalf("flow %d went to RLOC %d port %d, then to RLOC %d port %d", i, first.rloc, first.srcPort, o.rloc, o.srcPort)
						}
						pkts[first.rloc]++
						byts[first.rloc] += uint64(len(inner))
					}
				}
			}
			t.Logf("flows per RLOC: %v", nflows[:tt.n])
			for i := range tt.n {
				if got := float64(nflows[i]) / flows; got < tt.lo[i] || got > tt.hi[i] {
					t.Errorf("RLOC %d took %.3f of the flows, want %.2f..%.2f", i, got, tt.lo[i], tt.hi[i])
				}
			}
			cs, err := e.RLOCCounters(encEID6)
			if err != nil {
				t.Fatal(err)
			}
			for i := range MaxEncapRLOCs {
				if cs[i] != (Counters{pkts[i], byts[i]}) {
					t.Errorf("RLOC %d counted %+v, sent %d packets of %d bytes", i, cs[i], pkts[i], byts[i])
				}
			}
			tot, err := e.Counters(encEID6)
			if err != nil {
				t.Fatal(err)
			}
			if want := uint64(flows + flows/64*8); tot.Packets != want {
				t.Errorf("Counters: %d packets, want %d", tot.Packets, want)
			}
		})
	}
}

// mapProgArray is BPF_MAP_TYPE_PROG_ARRAY.
const mapProgArray MapType = 3

// The helpers the test's program calls.
const (
	fnTailCall = 12
	fnSetHash  = 48
)

// hashSetter returns a program that sets the skb hash to the mark (which
// the test run takes from the context) and tail-calls the program in slot
// 0 of progs; ActShot when the tail call fails.
func hashSetter(t *testing.T, progs *Map) *Program {
	t.Helper()
	p, err := LoadProgram(ProgSpec{Name: "t_sethash", Type: ProgSchedCLS, License: "GPL", Code: mustAssemble(t, []Insn{
		Mov64Reg(R6, R1),
		LoadMem(W, R2, R1, 8), // mark
		CallHelper(fnSetHash),
		Mov64Reg(R1, R6),
		LoadMapFD(R2, progs.FD()),
		Mov64Imm(R3, 0),
		CallHelper(fnTailCall),
		Mov64Imm(R0, ActShot),
		Return(),
	})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// testRunMark is Program.TestRun with the skb's mark set.
func testRunMark(p *Program, in, out []byte, mark uint32) (uint32, int, error) {
	var ctx [12]byte // struct __sk_buff up to mark
	binary.NativeEndian.PutUint32(ctx[8:], mark)
	a := progTestRunAttr{
		progFD:      uint32(p.fd),
		dataSizeIn:  uint32(len(in)),
		dataSizeOut: uint32(len(out)),
		dataIn:      ptr(in),
		dataOut:     ptr(out),
		repeat:      1,
		ctxSizeIn:   uint32(len(ctx)),
		ctxIn:       uint64(uintptr(unsafe.Pointer(&ctx[0]))),
	}
	_, err := bpf(cmdProgTestRun, unsafe.Pointer(&a), unsafe.Sizeof(a))
	runtime.KeepAlive(in)
	runtime.KeepAlive(out)
	runtime.KeepAlive(&ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("test run: %w", err)
	}
	return a.retval, int(a.dataSizeOut), nil
}

// TestEncapSlotTable sets the flow hash of each packet (through a program
// that sets it and tail-calls the encapsulating one) and checks that slot
// hash&63 picks the RLOC the table names, that the outer source port comes
// from the same hash, and that each RLOC's MTU is its own, for both inner
// families.
func TestEncapSlotTable(t *testing.T) {
	ent := sharedEntry(3, func(i int) uint8 { return uint8(i*7%11) % 3 })
	ent.Alt[1].MTU = 60 // nothing fits toward RLOC 2: left to the TUN
	e := newTestEncap(t, ent)
	progs, err := NewMap(MapSpec{Name: "t_progs", Type: mapProgArray, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { progs.Close() })
	if err := progs.Update(make([]byte, 4), binary.NativeEndian.AppendUint32(nil, uint32(e.prog.FD())), UpdateAny); err != nil {
		t.Fatal(err)
	}
	setter := hashSetter(t, progs)
	var want [MaxEncapRLOCs]uint64
	skipped := 0
	for _, v6 := range []bool{false, true} {
		for s := range EncapSlots {
			for k := range uint32(4) {
				hash := uint32(s) | k*0x9e3779b9&^63
				inner := encapFlow(t, v6, s)
				r := int(ent.Slots[s])
				if r == 2 {
					out := make([]byte, 2048)
					ret, n, err := testRunMark(setter, inner, out, hash)
					if err != nil {
						t.Fatal(err)
					}
					if ret != ActOK || string(out[:n]) != string(inner) {
						t.Fatalf("slot %d (RLOC 2, MTU 60): verdict %d, %d bytes out; want the packet to the TUN unchanged", s, ret, n)
					}
					skipped++
					continue
				}
				o := runEncap(t, setter, ent, inner, hash)
				if o.rloc != r {
					t.Errorf("v6=%v hash %#x: RLOC %d, the table says %d", v6, hash, o.rloc, r)
				}
				if p := uint16(hash>>7&0x3fff | sourcePortMin); o.srcPort != p {
					t.Errorf("v6=%v hash %#x: source port %d, want %d", v6, hash, o.srcPort, p)
				}
				want[r]++
			}
		}
	}
	c4, err := e.RLOCCounters(encEID4)
	if err != nil {
		t.Fatal(err)
	}
	c6, err := e.RLOCCounters(encEID6)
	if err != nil {
		t.Fatal(err)
	}
	for i := range MaxEncapRLOCs {
		if got := c4[i].Packets + c6[i].Packets; got != want[i] {
			t.Errorf("RLOC %d counted %d packets, sent %d", i, got, want[i])
		}
	}
	st, err := e.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st[StatEncapSkip] != uint64(skipped) || skipped == 0 {
		t.Errorf("%d packets counted as skipped, %d left to the TUN", st[StatEncapSkip], skipped)
	}
}
