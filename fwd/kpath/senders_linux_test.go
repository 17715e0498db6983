package kpath

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/lispd/lispd/testing/tshark"
)

// fromITR sets the outer source of frame f.
func fromITR(f []byte, itr netip.Addr) []byte {
	a := itr.As4()
	copy(f[26:30], a[:])
	fixIPCsum(f)
	return f
}

// senderEntry returns the raw senders map value of itr, nil when none.
func senderEntry(t *testing.T, d *Decap, itr netip.Addr) []byte {
	t.Helper()
	a := itr.As4()
	v := make([]byte, SenderEntryLen)
	if err := d.senders.Lookup(a[:], v); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		t.Fatal(err)
	}
	return v
}

// TestDecapSenders runs the decapsulating program over crafted frames and
// checks what it records for the daemon in the senders map: the outer
// source with the LSBs, flags and inner source of the packet, rewritten
// when those change or the entry is SenderRefresh old, not per packet; and
// nothing for a packet it does not decapsulate.
func TestDecapSenders(t *testing.T) {
	d := newTestDecap(t)
	run := func(f []byte) uint32 {
		t.Helper()
		ret, _, err := d.prog.TestRun(f, make([]byte, 2048))
		if err != nil {
			t.Fatal(err)
		}
		return ret
	}
	itr := netip.MustParseAddr("192.0.2.41")
	in4, in6 := innerPacket(t, false), innerPacket(t, true)
	frame := func(hdr [8]byte, inner []byte) []byte {
		return fromITR(lispFrame(t, testRLOC, DataPort, hdr, inner), itr)
	}
	nl := func(lsb byte) [8]byte { return [8]byte{0xc0, 1, 2, 3, 0, 0, 0, lsb} }
	senders := func() []Sender {
		t.Helper()
		s, err := d.Senders(nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	// The first packet creates the entry.
	start := time.Now()
	if ret := run(frame(nl(3), in4)); ret != ActRedirect {
		t.Fatalf("verdict %d", ret)
	}
	first := senderEntry(t, d, itr)
	if first == nil {
		t.Fatal("no entry for the ITR after a decapsulated packet")
	}
	ss := senders()
	want := Sender{ITR: itr, Src: netip.MustParseAddr("198.51.100.10"), LSBs: 3, HasLSBs: true}
	if len(ss) != 1 || ss[0].Age > time.Minute {
		t.Fatalf("senders %+v", ss)
	}
	got := ss[0]
	got.Age, got.At = 0, 0
	if got != want {
		t.Fatalf("sender %+v, want %+v", got, want)
	}
	// The same again within SenderRefresh: no write (the time stays).
	run(frame(nl(3), in4))
	if time.Since(start) < SenderRefresh/2 {
		if v := senderEntry(t, d, itr); !bytes.Equal(v, first) {
			t.Errorf("entry rewritten by a packet with the same bits within the interval:\n% x\nwas\n% x", v, first)
		}
	} else {
		t.Logf("the second run came %v after the first: not checking that it left the entry alone", time.Since(start))
	}
	// Older than SenderRefresh: the next packet rewrites it.
	old := bytes.Clone(first)
	binary.NativeEndian.PutUint64(old[8:], binary.NativeEndian.Uint64(old[8:])-uint64(2*SenderRefresh))
	a := itr.As4()
	if err := d.senders.Update(a[:], old, UpdateAny); err != nil {
		t.Fatal(err)
	}
	run(frame(nl(3), in4))
	if v := senderEntry(t, d, itr); binary.NativeEndian.Uint64(v[8:]) < binary.NativeEndian.Uint64(first[8:]) {
		t.Errorf("an entry %v old was not refreshed: time %d, first %d", 2*SenderRefresh, binary.NativeEndian.Uint64(v[8:]), binary.NativeEndian.Uint64(first[8:]))
	}
	// Changes of what the daemon learns rewrite at once.
	for _, c := range []struct {
		name  string
		frame []byte
		want  Sender
	}{
		{"LSBs changed", frame(nl(2), in4), Sender{ITR: itr, Src: want.Src, LSBs: 2, HasLSBs: true}},
		{"L flag clear", frame([8]byte{0x80, 1, 2, 3, 0, 0, 0, 2}, in4), Sender{ITR: itr, Src: want.Src, LSBs: 2}},
		{"instance-id: 8 LSBs", frame([8]byte{0xc8, 1, 2, 3, 0, 0, 0, 0x81}, in4), Sender{ITR: itr, Src: want.Src, LSBs: 0x81, HasLSBs: true}},
		{"32 LSBs", frame([8]byte{0xc0, 1, 2, 3, 0x80, 0, 0, 1}, in4), Sender{ITR: itr, Src: want.Src, LSBs: 0x80000001, HasLSBs: true}},
		{"inner IPv6", frame(nl(5), in6), Sender{ITR: itr, Src: netip.MustParseAddr("2001:db8:1::10"), LSBs: 5, HasLSBs: true}},
	} {
		if ret := run(c.frame); ret != ActRedirect {
			t.Fatalf("%s: verdict %d", c.name, ret)
		}
		ss := senders()
		if len(ss) != 1 {
			t.Fatalf("%s: senders %+v", c.name, ss)
		}
		got := ss[0]
		if got.Age > time.Second {
			t.Errorf("%s: age %v: not rewritten", c.name, got.Age)
		}
		got.Age, got.At = 0, 0
		if got != c.want {
			t.Errorf("%s: sender %+v, want %+v", c.name, got, c.want)
		}
	}

	// A second ITR gets its own entry.
	itr2 := netip.MustParseAddr("192.0.2.42")
	run(fromITR(lispFrame(t, testRLOC, DataPort, nl(1), in4), itr2))
	if ss := senders(); len(ss) != 2 {
		t.Errorf("two ITRs, senders %+v", ss)
	}

	// Packets the program leaves to the stack record nothing.
	foreign4, err := tshark.UDPPacket(netip.MustParseAddrPort("198.51.100.138:1000"), netip.MustParseAddrPort("198.51.100.10:2000"), []byte("to a host that is not ours"))
	if err != nil {
		t.Fatal(err)
	}
	rejects := []struct {
		name  string
		frame []byte
	}{
		{"not a local RLOC", lispFrame(t, netip.MustParseAddr("192.0.2.9"), DataPort, nl(1), in4)},
		{"wrong instance-id", lispFrame(t, testRLOCIID, DataPort, [8]byte{0xc8, 1, 2, 3, 0, 0, 8, 1}, in4)},
		{"no instance-id where required", lispFrame(t, testRLOCIID, DataPort, nl(1), in4)},
		{"N and V", lispFrame(t, testRLOC, DataPort, [8]byte{0x90}, in4)},
		{"inner destination not a local EID", lispFrame(t, testRLOC, DataPort, nl(1), foreign4)},
		{"outer TTL 0", func() []byte {
			f := lispFrame(t, testRLOC, DataPort, nl(1), in4)
			f[22] = 0
			return f
		}()},
		{"outer CE", func() []byte {
			f := lispFrame(t, testRLOC, DataPort, nl(1), in4)
			f[15] = 3
			return f
		}()},
		{"other UDP port", lispFrame(t, testRLOC, 4342, nl(1), in4)},
	}
	rejected := netip.MustParseAddr("192.0.2.99")
	for _, r := range rejects {
		if ret := run(fromITR(r.frame, rejected)); ret != ActOK {
			t.Errorf("%s: verdict %d, want the stack's", r.name, ret)
		}
		if v := senderEntry(t, d, rejected); v != nil {
			t.Errorf("%s: recorded % x", r.name, v)
		}
	}
	if ss := senders(); len(ss) != 2 {
		t.Errorf("senders after the rejected packets: %+v", ss)
	}
}

// TestDecodeSender checks the decoding of senders map entries, including
// the ones it refuses.
func TestDecodeSender(t *testing.T) {
	v := make([]byte, SenderEntryLen)
	copy(v, []byte{0, 0, 7, 0xff, flagL | flagI, 4})
	binary.NativeEndian.PutUint64(v[8:], 1000)
	copy(v[16:], []byte{203, 0, 113, 5})
	s, ok := decodeSender([]byte{192, 0, 2, 1}, v, 1000+uint64(time.Second))
	want := Sender{ITR: netip.MustParseAddr("192.0.2.1"), Src: netip.MustParseAddr("203.0.113.5"), LSBs: 0xff, HasLSBs: true, Age: time.Second, At: 1000}
	if !ok || s != want {
		t.Errorf("got %+v %v, want %+v", s, ok, want)
	}
	if s, _ := decodeSender([]byte{192, 0, 2, 1}, v, 10); s.Age != 0 {
		t.Errorf("a time after the read gives age %v, want 0", s.Age)
	}
	v[5] = 5
	if _, ok := decodeSender([]byte{192, 0, 2, 1}, v, 0); ok {
		t.Errorf("IP version 5 decoded")
	}
	if _, ok := decodeSender([]byte{192, 0, 2}, v, 0); ok {
		t.Errorf("a short key decoded")
	}
	// A key of the IPv6 senders map.
	v[5] = 6
	copy(v[16:], netip.MustParseAddr("2001:db8:1::5").AsSlice())
	itr6 := netip.MustParseAddr("2001:db8:ff::1")
	s, ok = decodeSender(itr6.AsSlice(), v, 1000)
	if want := (Sender{ITR: itr6, Src: netip.MustParseAddr("2001:db8:1::5"), LSBs: 0xff, HasLSBs: true, At: 1000}); !ok || s != want {
		t.Errorf("IPv6 ITR: got %+v %v, want %+v", s, ok, want)
	}
	if _, ok := decodeSender(make([]byte, 8), v, 0); ok {
		t.Errorf("an 8-byte key decoded")
	}
}

// TestDecapDetach attaches the decapsulating program to an interface, with
// TCX and as a cls_bpf filter, and checks that Detach takes it off: pings
// arriving there move its pass counter before, not after.
func TestDecapDetach(t *testing.T) {
	for _, cls := range []bool{false, true} {
		name := "tcx"
		if cls {
			name = "cls"
		}
		t.Run(name, func(t *testing.T) {
			d := newTestDecap(t)
			d.cls = cls
			a, b := twoHosts(t)
			var ifindex int
			if err := b.Do(func() error {
				ifi, err := net.InterfaceByName("veth1")
				if err != nil {
					return err
				}
				ifindex = ifi.Index
				return d.Attach(ifindex)
			}); err != nil {
				t.Fatal(err)
			}
			passed := func() uint64 {
				st, err := d.Stats()
				if err != nil {
					t.Fatal(err)
				}
				return st[StatDecapPass]
			}
			ping := func() {
				if out, err := a.CombinedOutput(t.Context(), "ping", "-c", "3", "-i", "0.05", "-W", "2", "192.0.2.2"); err != nil {
					t.Fatalf("ping: %v\n%s", err, out)
				}
			}
			ping()
			n := passed()
			if n < 3 {
				t.Fatalf("the program saw %d packets of 3 pings", n)
			}
			if err := b.Do(func() error { return d.Detach(ifindex + 1000) }); err != nil || len(d.links) != 1 {
				t.Fatalf("detach from another interface: %v, %d links left", err, len(d.links))
			}
			if err := b.Do(func() error { return d.Detach(ifindex) }); err != nil {
				t.Fatal(err)
			}
			if len(d.links) != 0 {
				t.Errorf("%d links kept after the detach", len(d.links))
			}
			ping()
			if after := passed(); after != n {
				t.Errorf("the program saw %d more packets after the detach", after-n)
			}
			// Attached again, it sees them again.
			if err := b.Do(func() error { return d.Attach(ifindex) }); err != nil {
				t.Fatal(err)
			}
			ping()
			if passed() <= n {
				t.Errorf("the program saw no packet after attaching again")
			}
		})
	}
}

// TestSetLocalEIDsFailure fills the IPv4 EID map past MaxLocalEIDs: the
// call fails and the map (and what Decap tracks) keeps the previous set.
func TestSetLocalEIDsFailure(t *testing.T) {
	d := newTestDecap(t)
	before := map[netip.Prefix]bool{}
	for _, p := range d.eids {
		before[p] = true
	}
	var many []netip.Prefix
	for i := range MaxLocalEIDs + 10 {
		many = append(many, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24))
	}
	many = append(many, netip.MustParsePrefix("198.51.100.128/25"))
	if err := d.SetLocalEIDs(many); err == nil {
		t.Fatalf("%d IPv4 prefixes taken, the map holds %d", len(many), MaxLocalEIDs)
	}
	inMap := map[netip.Prefix]bool{}
	for _, m := range []*Map{d.eids4, d.eids6} {
		var prev []byte
		next := make([]byte, m.Spec().KeySize)
		for {
			err := m.NextKey(prev, next)
			if errors.Is(err, unix.ENOENT) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			a, _ := netip.AddrFromSlice(next[4:])
			inMap[netip.PrefixFrom(a, int(binary.NativeEndian.Uint32(next)))] = true
			prev = bytes.Clone(next)
		}
	}
	tracked := map[netip.Prefix]bool{}
	for _, p := range d.eids {
		tracked[p] = true
	}
	if !mapsEqual(inMap, before) || !mapsEqual(tracked, before) {
		t.Errorf("after the failure the maps hold %v and Decap tracks %v, want the previous %v", inMap, tracked, before)
	}
	// A good set after the failure still replaces it.
	if err := d.SetLocalEIDs([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}); err != nil {
		t.Fatal(err)
	}
	if len(d.eids) != 1 || d.eids[0] != netip.MustParsePrefix("10.0.0.0/8") {
		t.Errorf("tracked %v", d.eids)
	}
}

func mapsEqual(a, b map[netip.Prefix]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// testRunRepeat runs p over in repeat times in the kernel
// (BPF_PROG_TEST_RUN) and returns the kernel's mean time per run.
func testRunRepeat(p *Program, in []byte, repeat uint32) (time.Duration, uint32, error) {
	a := progTestRunAttr{progFD: uint32(p.FD()), dataSizeIn: uint32(len(in)), dataIn: ptr(in), repeat: repeat}
	_, err := bpf(cmdProgTestRun, unsafe.Pointer(&a), unsafe.Sizeof(a))
	runtime.KeepAlive(in)
	return time.Duration(a.duration), a.retval, err
}

// BenchmarkDecapRecord measures what recordSender adds per packet: the
// decapsulating program with and without it over a packet that passes
// every check and is then handed to the stack (stopAfterRecord), so that
// the repeated runs see the same packet (a decapsulated one
// would be changed in place for the next run). ns/run is the kernel's
// mean.
func BenchmarkDecapRecord(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("bpf(2) needs root")
	}
	d, err := NewDecap(4)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	if err := d.SetLocal(testRLOC, DecapEntry{TUNIfIndex: 1}); err != nil {
		b.Fatal(err)
	}
	if err := d.SetLocalEIDs([]netip.Prefix{netip.MustParsePrefix("198.51.100.128/25")}); err != nil {
		b.Fatal(err)
	}
	// Both from the builder (the baseline cannot come from zprograms.go).
	load := func(record bool) *Program {
		noSenderRecord, stopAfterRecord = !record, true
		defer func() { noSenderRecord, stopAfterRecord = false, false }()
		code, err := assemble(DecapInsns(decapMaps{d.locals.FD(), d.stats.FD(), d.eids4.FD(), d.eids6.FD(), d.senders.FD(), d.locals6.FD(), d.senders6.FD()}, bigEndian), bigEndian)
		if err != nil {
			b.Fatal(err)
		}
		p, err := LoadProgram(ProgSpec{Name: "t_decap", Type: ProgSchedCLS, License: "GPL", Code: code})
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	without, with := load(false), load(true)
	defer without.Close()
	defer with.Close()
	src, err := tshark.UDPPacket(netip.MustParseAddrPort("198.51.100.10:1000"), netip.MustParseAddrPort("198.51.100.138:2000"), make([]byte, 1400))
	if err != nil {
		b.Fatal(err)
	}
	f, err := tshark.UDPFrame(netip.AddrPortFrom(testRemote, 50000), netip.AddrPortFrom(testRLOC, DataPort), append([]byte{0xc0, 1, 2, 3, 0, 0, 0, 1}, src...))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		p    *Program
	}{{"without", without}, {"with", with}} {
		b.Run(c.name, func(b *testing.B) {
			const repeat = 100000
			var total time.Duration
			for b.Loop() {
				per, ret, err := testRunRepeat(c.p, f, repeat)
				if err != nil || ret != ActOK {
					b.Fatalf("test run: %d, %v", ret, err)
				}
				total += per
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/run")
		})
	}
}
