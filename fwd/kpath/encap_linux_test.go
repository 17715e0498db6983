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
	e := EncapEntry{Dst: encRLOCs[0], MTU: 1500, Flags: 0xc8, InstanceID: 0x123456, LSBs: 3}
	for i := 1; i < n; i++ {
		e.Alt[i-1] = EncapRLOC{Dst: encRLOCs[i], MTU: 1500}
	}
	for i := range e.Slots {
		e.Slots[i] = slot(i)
	}
	return e
}

// oneLocal is the locals table of a site with one uplink: encSrc, sent
// from ifindex 1.
var oneLocal = EncapLocals{Locals: [MaxEncapLocals]EncapLocal{{Src: encSrc, IfIndex: 1}}}

// newTestEncap returns an Encap with ent set for encEID4 and encEID6 and
// the locals table locs (the IPv6 one when ent has IPv6 RLOCs), closed
// when the test ends.
func newTestEncap(t *testing.T, ent EncapEntry, locs EncapLocals) *Encap {
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
	set := e.SetLocals
	if ent.Dst.Is6() {
		set = e.SetLocals6
	}
	if err := set(locs); err != nil {
		t.Fatal(err)
	}
	return e
}

// encapOut is what checkEncap found in an output frame.
type encapOut struct {
	rloc    int    // index of the outer destination in the entry
	local   int    // index of the outer source in the locals table
	srcPort uint16 // outer UDP source port
	ifindex uint32 // the redirect's (recordingEncap; else the mark, 0)
}

// checkEncap checks the frame out that the program made of inner with
// entry ent and the locals table locs, header by header, and returns the
// RLOC it went to and the local it came from.
func checkEncap(t *testing.T, ent EncapEntry, locs EncapLocals, inner, out []byte) encapOut {
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
	o := encapOut{rloc: -1, local: -1}
	s := netip.AddrFrom4([4]byte(ip[12:16]))
	for i, l := range locs.Locals {
		if l.IfIndex > 0 && l.Src == s {
			o.local = i
		}
	}
	if o.local < 0 {
		t.Errorf("outer source %v is none of the local RLOCs %v", s, locs.Locals)
	}
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
func runEncap(t *testing.T, prog *Program, ent EncapEntry, locs EncapLocals, inner []byte, mark uint32) encapOut {
	t.Helper()
	out := make([]byte, 2048)
	ret, n, markOut, err := testRunMark(prog, inner, out, mark)
	if err != nil {
		t.Fatal(err)
	}
	if ret != ActRedirect {
		t.Fatalf("verdict %d, want %d (redirect)", ret, ActRedirect)
	}
	o := checkEncap(t, ent, locs, inner, out[:n])
	o.ifindex = markOut
	return o
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
			e := newTestEncap(t, ent, oneLocal)
			var nflows, pkts, byts [MaxEncapRLOCs]uint64
			for i := range flows {
				inner := encapFlow(t, true, i)
				first := runEncap(t, e.prog, ent, oneLocal, inner, 0)
				nflows[first.rloc]++
				pkts[first.rloc]++
				byts[first.rloc] += uint64(len(inner))
				if i%64 == 0 { // a flow stays where it is
					for range 8 {
						if o := runEncap(t, e.prog, ent, oneLocal, inner, 0); o != first {
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
// the test run takes from the context) and tail-calls target (through a
// program array of its own); ActShot when the tail call fails.
func hashSetter(t *testing.T, target *Program) *Program {
	t.Helper()
	progs, err := NewMap(MapSpec{Name: "t_progs", Type: mapProgArray, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { progs.Close() })
	if err := progs.Update(make([]byte, 4), binary.NativeEndian.AppendUint32(nil, uint32(target.FD())), UpdateAny); err != nil {
		t.Fatal(err)
	}
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

// testRunMark is Program.TestRun with the skb's mark set; it returns the
// mark as the program left it too.
func testRunMark(p *Program, in, out []byte, mark uint32) (uint32, int, uint32, error) {
	var ctx [12]byte     // struct __sk_buff up to mark
	var ctxOut [256]byte // room for the whole struct __sk_buff
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
		ctxSizeOut:  uint32(len(ctxOut)),
		ctxOut:      uint64(uintptr(unsafe.Pointer(&ctxOut[0]))),
	}
	_, err := bpf(cmdProgTestRun, unsafe.Pointer(&a), unsafe.Sizeof(a))
	runtime.KeepAlive(in)
	runtime.KeepAlive(out)
	runtime.KeepAlive(&ctx)
	runtime.KeepAlive(&ctxOut)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("test run: %w", err)
	}
	return a.retval, int(a.dataSizeOut), binary.NativeEndian.Uint32(ctxOut[8:]), nil
}

// TestEncapSlotTable sets the flow hash of each packet (through a program
// that sets it and tail-calls the encapsulating one) and checks that slot
// hash&63 picks the RLOC the table names, that the outer source port comes
// from the same hash, and that each RLOC's MTU is its own, for both inner
// families.
func TestEncapSlotTable(t *testing.T) {
	ent := sharedEntry(3, func(i int) uint8 { return uint8(i*7%11) % 3 })
	ent.Alt[1].MTU = 60 // nothing fits toward RLOC 2: left to the TUN
	e := newTestEncap(t, ent, oneLocal)
	setter := hashSetter(t, e.prog)
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
					ret, n, _, err := testRunMark(setter, inner, out, hash)
					if err != nil {
						t.Fatal(err)
					}
					if ret != ActOK || string(out[:n]) != string(inner) {
						t.Fatalf("slot %d (RLOC 2, MTU 60): verdict %d, %d bytes out; want the packet to the TUN unchanged", s, ret, n)
					}
					skipped++
					continue
				}
				o := runEncap(t, setter, ent, oneLocal, inner, hash)
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

// skbMark is the offset of mark in struct __sk_buff.
const skbMark = 8

// recordingEncap loads the encapsulating program over e's maps with one
// instruction more: before bpf_redirect_neigh, the ifindex it is given
// (R1) goes to skb->mark, which testRunMark returns (a test run does not
// carry the redirect out). Closed when the test ends.
func recordingEncap(t *testing.T, e *Encap) *Program {
	t.Helper()
	fds := e.fds()
	var insns []Insn
	calls := 0
	for _, in := range EncapInsns(fds[0], fds[1], fds[2], fds[3], fds[4], bigEndian) {
		if in == CallHelper(FnRedirectNeigh) {
			insns = append(insns, StoreMem(W, R6, skbMark, R1))
			calls++
		}
		insns = append(insns, in)
	}
	if calls != 1 {
		t.Fatalf("%d bpf_redirect_neigh calls in the program, want 1", calls)
	}
	p, err := LoadProgram(ProgSpec{Name: "t_encap_rec", Type: ProgSchedCLS, License: "GPL", Code: mustAssemble(t, insns)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// localsOf returns a locals table over n local RLOCs 192.0.2.11... on
// ifindex 11..., with the slots shared out as slot(i) says.
func localsOf(n int, slot func(i int) uint8) EncapLocals {
	var l EncapLocals
	for i := range n {
		l.Locals[i] = EncapLocal{Src: netip.AddrFrom4([4]byte{192, 0, 2, byte(11 + i)}), IfIndex: 11 + i}
	}
	for i := range l.Slots {
		l.Slots[i] = slot(i)
	}
	return l
}

// checkLocal fails unless the redirect's ifindex is that of the local
// RLOC the outer source address is.
func checkLocal(t *testing.T, locs EncapLocals, o encapOut) {
	t.Helper()
	if o.local >= 0 && o.ifindex != uint32(locs.Locals[o.local].IfIndex) {
		t.Fatalf("outer source %v (local %d, ifindex %d) redirected to ifindex %d",
			locs.Locals[o.local].Src, o.local, locs.Locals[o.local].IfIndex, o.ifindex)
	}
}

// TestEncapLocalSharing spreads many flows over the local RLOCs of the
// locals table (multihoming: the uplinks) with the kernel's flow hash, and
// checks the shares against the table, that a flow keeps its local RLOC,
// that each packet leaves by the interface of its outer source address,
// that a local RLOC without slots (a priority-2 backup beside an up
// priority-1 one) carries nothing, and that the choice of the local RLOC
// does not follow that of the remote one.
func TestEncapLocalSharing(t *testing.T) {
	const flows = 1024
	tests := []struct {
		name   string
		rlocs  int
		locs   EncapLocals
		lo, hi []float64 // bounds of each local RLOC's share of the flows
	}{
		{"50/50", 1, localsOf(2, func(i int) uint8 { return uint8(i % 2) }), []float64{0.4, 0.4}, []float64{0.6, 0.6}},
		{"3:1", 1, localsOf(2, func(i int) uint8 { return uint8(i / 48) }), []float64{0.65, 0.15}, []float64{0.85, 0.35}},
		{"priority-2 local without slots", 1, localsOf(2, func(int) uint8 { return 0 }), []float64{1, 0}, []float64{1, 0}},
		{"three locals 1/2/1", 1, localsOf(3, func(i int) uint8 { return []uint8{0, 1, 1, 2}[i%4] }), []float64{0.15, 0.4, 0.15}, []float64{0.35, 0.6, 0.35}},
		{"50/50 over two remote RLOCs 50/50", 2, localsOf(2, func(i int) uint8 { return uint8(i % 2) }), []float64{0.4, 0.4}, []float64{0.6, 0.6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ent := sharedEntry(tt.rlocs, func(i int) uint8 { return uint8(i % tt.rlocs) })
			e := newTestEncap(t, ent, tt.locs)
			prog := recordingEncap(t, e)
			var nflows [MaxEncapLocals]int
			var pairs [MaxEncapLocals][MaxEncapRLOCs]int
			for i := range flows {
				inner := encapFlow(t, true, i)
				first := runEncap(t, prog, ent, tt.locs, inner, 0)
				checkLocal(t, tt.locs, first)
				nflows[first.local]++
				pairs[first.local][first.rloc]++
				if i%64 == 0 { // a flow stays where it is
					for range 8 {
						if o := runEncap(t, prog, ent, tt.locs, inner, 0); o != first {
							t.Fatalf("flow %d went %+v, then %+v", i, first, o)
						}
					}
				}
			}
			t.Logf("flows per local RLOC: %v; per local and remote RLOC: %v", nflows, pairs)
			for i := range MaxEncapLocals {
				lo, hi := 0.0, 0.0
				if i < len(tt.lo) {
					lo, hi = tt.lo[i], tt.hi[i]
				}
				if got := float64(nflows[i]) / flows; got < lo || got > hi {
					t.Errorf("local RLOC %d took %.3f of the flows, want %.2f..%.2f", i, got, lo, hi)
				}
			}
			if tt.rlocs == 2 {
				// Independent choices: each of the four pairs about a
				// quarter of the flows.
				for l := range 2 {
					for r := range 2 {
						if got := float64(pairs[l][r]) / flows; got < 0.17 || got > 0.33 {
							t.Errorf("local %d with remote RLOC %d: %.3f of the flows, want about 0.25", l, r, got)
						}
					}
				}
			}
		})
	}
}

// TestEncapLocalSlots sets the flow hash of each packet (as
// TestEncapSlotTable) and checks that the locals table's slot hash>>26
// picks the local RLOC (outer source and the redirect's ifindex) while
// hash&63 still picks the remote one, for both inner families; that a slot
// naming an unset local RLOC leaves the packet to the TUN; and that a new
// table takes effect at the next packet, the empty one sending every
// packet to the TUN.
func TestEncapLocalSlots(t *testing.T) {
	ent := sharedEntry(2, func(i int) uint8 { return uint8(i % 2) })
	locs := localsOf(3, func(i int) uint8 { return uint8(i * 5 % 7 % 3) })
	for i := 60; i < EncapSlots; i++ {
		locs.Slots[i] = 3 // unset: to the TUN
	}
	e := newTestEncap(t, ent, locs)
	rec := recordingEncap(t, e)
	setter := hashSetter(t, rec)
	toTUN := func(inner []byte, hash uint32) bool {
		t.Helper()
		out := make([]byte, 2048)
		ret, n, _, err := testRunMark(setter, inner, out, hash)
		if err != nil {
			t.Fatal(err)
		}
		return ret == ActOK && string(out[:n]) == string(inner)
	}
	var used [MaxEncapLocals]int
	for _, v6 := range []bool{false, true} {
		for s := range EncapSlots {
			for k := range uint32(4) {
				hash := uint32(s)<<encapLocalHash | k*0x9e3779b9&(1<<encapLocalHash-1)
				inner := encapFlow(t, v6, s)
				if locs.Slots[s] == 3 {
					if !toTUN(inner, hash) {
						t.Fatalf("v6=%v hash %#x: slot of an unset local RLOC, want the packet to the TUN unchanged", v6, hash)
					}
					continue
				}
				o := runEncap(t, setter, ent, locs, inner, hash)
				checkLocal(t, locs, o)
				if o.local != int(locs.Slots[s]) {
					t.Errorf("v6=%v hash %#x: local RLOC %d, the table says %d", v6, hash, o.local, locs.Slots[s])
				}
				if r := int(ent.Slots[hash&(EncapSlots-1)]); o.rloc != r {
					t.Errorf("v6=%v hash %#x: RLOC %d, the entry's table says %d", v6, hash, o.rloc, r)
				}
				used[o.local]++
			}
		}
	}
	if used[0] == 0 || used[1] == 0 || used[2] == 0 {
		t.Errorf("packets per local RLOC %v: want all three used", used)
	}
	// The uplink of local 0 fails: its slots go to local 1, at once.
	moved := locs
	moved.Locals[0] = EncapLocal{}
	for i, l := range moved.Slots {
		if l == 0 {
			moved.Slots[i] = 1
		}
	}
	if err := e.SetLocals(moved); err != nil {
		t.Fatal(err)
	}
	for s := range EncapSlots {
		hash := uint32(s) << encapLocalHash
		if locs.Slots[s] != 0 {
			continue
		}
		o := runEncap(t, setter, ent, moved, encapFlow(t, false, s), hash)
		checkLocal(t, moved, o)
		if o.local != 1 {
			t.Errorf("hash %#x: local RLOC %d after local 0 went, want 1", hash, o.local)
		}
	}
	// No local RLOC: everything to the TUN.
	if err := e.SetLocals(EncapLocals{}); err != nil {
		t.Fatal(err)
	}
	for s := range EncapSlots {
		if !toTUN(encapFlow(t, true, s), uint32(s)<<encapLocalHash) {
			t.Fatalf("slot %d: with no local RLOC, want the packet to the TUN unchanged", s)
		}
	}
}

// TestEncapClearedLocal: a local RLOC record whose interface is set but
// whose source is zero (what a packet may read while the mirror clears a
// record: a map update is a copy, not one store) sends the packet to the
// TUN unchanged, never with a zero outer source; for both RLOC families.
func TestEncapClearedLocal(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ent     EncapEntry
		locs    EncapLocals
		srcLen  int // bytes of the source at the start of record 0
		appendV func(EncapLocals) ([]byte, error)
		table   func(e *Encap) *Map
	}{
		{"IPv4", sharedEntry(1, func(int) uint8 { return 0 }), oneLocal, 4,
			func(l EncapLocals) ([]byte, error) { return l.AppendValue(nil) }, func(e *Encap) *Map { return e.locals }},
		{"IPv6", entry6(1), oneLocal6, 16,
			func(l EncapLocals) ([]byte, error) { return l.AppendValue6(nil) }, func(e *Encap) *Map { return e.locals6 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEncap(t, tc.ent, tc.locs)
			inner := encapFlow(t, false, 1)
			out := make([]byte, 2048)
			if ret, _, _, err := testRunMark(e.prog, inner, out, 0); err != nil || ret != ActRedirect {
				t.Fatalf("with the local set: verdict %d, %v; want it encapsulated and redirected", ret, err)
			}
			v, err := tc.appendV(tc.locs)
			if err != nil {
				t.Fatal(err)
			}
			clear(v[:tc.srcLen]) // the source gone, the ifindex still there
			if err := tc.table(e).Update(make([]byte, 4), v, UpdateAny); err != nil {
				t.Fatal(err)
			}
			ret, n, _, err := testRunMark(e.prog, inner, out, 0)
			if err != nil {
				t.Fatal(err)
			}
			if ret != ActOK || string(out[:n]) != string(inner) {
				t.Errorf("a local record with a zero source: verdict %d, %d bytes out; want the packet to the TUN unchanged", ret, n)
			}
		})
	}
}
