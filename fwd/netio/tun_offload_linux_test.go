package netio

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/lispd/lispd/fwd/rtnl"

	"github.com/lispd/lispd/internal/netnstest"
)

// openTestOffloadTUN enters a fresh namespace and opens a uniquely named
// offload TUN there, with addresses and eid-space routes as openTestTUN's
// tests use.
func openTestOffloadTUN(t *testing.T, mtu int) *OffloadTUN {
	t.Helper()
	netnstest.Enter(t)
	name := fmt.Sprintf("lso%06x", rand.Uint32()&0xffffff)
	tun, err := OpenOffloadTUN(TUNConfig{Name: name, MTU: mtu})
	if errors.Is(err, ErrNoOffload) {
		t.Skipf("kernel refuses TUN offloads: %v", err)
	}
	if err != nil {
		t.Fatalf("OpenOffloadTUN: %v", err)
	}
	t.Cleanup(func() { tun.Close() })
	for _, a := range []netip.Prefix{tunAddr4, tunAddr6} {
		if err := rtnl.AddAddress(tun.Name(), a); err != nil {
			t.Fatal(err)
		}
	}
	remove, err := rtnl.AddRoutes(tun.Name(), []netip.Prefix{eidSpace4, eidSpace6})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { remove() })
	for deadline := time.Now().Add(5 * time.Second); !hasLocalRoute(t, tunAddr6.Addr()); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%v never became local", tunAddr6)
		}
	}
	return tun
}

// TestNetnsOffloadTUNUSO sends UDP GSO runs into the offload TUN: with USO
// the kernel hands them over as super-packets, which Read must split into
// datagrams with valid checksums, in order, across Reads with few buffers.
func TestNetnsOffloadTUNUSO(t *testing.T) {
	tun := openTestOffloadTUN(t, 1400)
	for _, dst := range []netip.AddrPort{
		netip.MustParseAddrPort("198.51.100.10:9999"),
		netip.MustParseAddrPort("[2001:db8:1::10]:9999"),
	} {
		local := netip.IPv4Unspecified()
		if dst.Addr().Is6() {
			local = netip.IPv6Unspecified()
		}
		c, err := ListenUDP(netip.AddrPortFrom(local, 0))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if !c.EnableGSO() {
			t.Skip("no UDP GSO")
		}
		const count, size = 20, 1000
		msgs := make([]Message, count)
		for i := range msgs {
			l := size
			if i == count-1 {
				l = 333
			}
			msgs[i] = Message{Buf: bytes.Repeat([]byte{byte(i)}, l), Addr: dst}
		}
		if n, err := c.WriteBatch(msgs); n != count || err != nil {
			t.Fatalf("WriteBatch: %d, %v", n, err)
		}
		const offset = 8
		bufs := make([][]byte, 3) // fewer buffers than segments: Read resumes
		for i := range bufs {
			bufs[i] = make([]byte, offset+1400)
		}
		sizes := make([]int, len(bufs))
		watchdog := time.AfterFunc(10*time.Second, func() { tun.Close() })
		got := 0
		for got < count {
			n, err := tun.Read(bufs, sizes, offset)
			if err != nil {
				t.Fatalf("Read after %d: %v", got, err)
			}
			for i := range n {
				p := bufs[i][offset : offset+sizes[i]]
				ap, payload, ok := parseUDP(p)
				if !ok || ap != dst {
					continue // router solicitations and the like
				}
				verifyPacket(t, p)
				if want := bytes.Repeat([]byte{byte(got)}, len(msgs[got].Buf)); !bytes.Equal(payload, want) {
					t.Fatalf("datagram %d: %d bytes %x..., want %d bytes of %x", got, len(payload), payload[:1], len(want), byte(got))
				}
				got++
			}
		}
		watchdog.Stop()
		if m, d := c.GSOStats(); m == 0 || d != count {
			t.Errorf("GSO stats: %d messages, %d datagrams; want >0, %d", m, d, count)
		}
	}
	st := tun.Stats()
	if tun.USO() && st.SuperPackets == 0 {
		t.Errorf("USO on but no super-packet read: %+v", st)
	}
	if st.Malformed != 0 {
		t.Errorf("malformed reads: %+v", st)
	}
	t.Logf("USO %v, stats %+v", tun.USO(), st)
}

// TestNetnsOffloadTUNWrite writes packets through the offload TUN (behind
// the virtio header) to a local socket, at offset 0 and with headroom.
func TestNetnsOffloadTUNWrite(t *testing.T) {
	tun := openTestOffloadTUN(t, 1400)
	rc, err := ListenUDP(netip.AddrPortFrom(tunAddr4.Addr(), 0))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	src := netip.MustParseAddrPort("198.51.100.20:1234")
	var bufs [][]byte
	for i := range 4 {
		p := buildUDP(src, rc.LocalAddr(), []byte(fmt.Sprintf("hello %d", i)))
		bufs = append(bufs, append(make([]byte, 8), p...))
	}
	if n, err := tun.Write(bufs, 8); n != 4 || err != nil {
		t.Fatalf("Write: %d, %v", n, err)
	}
	msgs := make([]Message, 8)
	for i := range msgs {
		msgs[i].Buf = make([]byte, 100)
	}
	got := 0
	rc.Conn().SetReadDeadline(time.Now().Add(5 * time.Second))
	for got < 4 {
		n, err := rc.ReadBatch(msgs)
		if err != nil {
			t.Fatalf("after %d: %v", got, err)
		}
		for i := range n {
			if want := fmt.Sprintf("hello %d", got); string(msgs[i].Buf[:msgs[i].N]) != want {
				t.Fatalf("got %q, want %q", msgs[i].Buf[:msgs[i].N], want)
			}
			got++
		}
	}
}

// TestNetnsGSOFallback sends mixed runs with UDP GSO over loopback: equal
// sizes coalesce, other sizes and destinations break runs, and a run the
// kernel refuses (datagrams above the MTU) is resent one by one and still
// arrives, fragmented.
func TestNetnsGSOFallback(t *testing.T) {
	netnstest.Enter(t)
	if err := rtnl.LinkSetMTU("lo", 1500); err != nil {
		t.Fatal(err)
	}
	var rcs [2]*UDPConn
	for i := range rcs {
		c, err := ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		rcs[i] = c
	}
	sc, err := ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if !sc.EnableGSO() {
		t.Skip("no UDP GSO")
	}
	type dg struct {
		to   int
		size int
	}
	var plan []dg
	for range 70 { // longer than one GSO message
		plan = append(plan, dg{0, 500})
	}
	plan = append(plan, dg{0, 100}, dg{1, 100}, dg{1, 100}, dg{1, 50}, dg{0, 100})
	for range 3 {
		plan = append(plan, dg{1, 3000}) // over the MTU: the kernel refuses GSO
	}
	msgs := make([]Message, len(plan))
	var want [2][]string
	for i, p := range plan {
		b := make([]byte, p.size)
		copy(b, fmt.Sprintf("dg %d", i))
		msgs[i] = Message{Buf: b, Addr: rcs[p.to].LocalAddr()}
		want[p.to] = append(want[p.to], fmt.Sprintf("dg %d/%d", i, p.size))
	}
	if n, err := sc.WriteBatch(msgs); n != len(msgs) || err != nil {
		t.Fatalf("WriteBatch: %d of %d, %v", n, len(msgs), err)
	}
	for to, rc := range rcs {
		rm := make([]Message, 64)
		for i := range rm {
			rm[i].Buf = make([]byte, 4000)
		}
		rc.Conn().SetReadDeadline(time.Now().Add(5 * time.Second))
		var got []string
		for len(got) < len(want[to]) {
			n, err := rc.ReadBatch(rm)
			if err != nil {
				t.Fatalf("socket %d after %d: %v", to, len(got), err)
			}
			for _, m := range rm[:n] {
				var i int
				fmt.Sscanf(string(m.Buf[:m.N]), "dg %d", &i)
				got = append(got, fmt.Sprintf("dg %d/%d", i, m.N))
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want[to]) {
			t.Errorf("socket %d got\n%v\nwant\n%v", to, got, want[to])
		}
	}
	if !sc.GSO() {
		t.Error("GSO turned off by a refused run")
	}
	if m, d := sc.GSOStats(); m < 3 || d < 70 {
		t.Errorf("GSO stats %d messages / %d datagrams", m, d)
	}
}

func TestGSORun(t *testing.T) {
	a := netip.MustParseAddrPort("192.0.2.1:4341")
	b := netip.MustParseAddrPort("192.0.2.2:4341")
	mk := func(specs ...any) []Message {
		var ms []Message
		for i := 0; i < len(specs); i += 2 {
			ms = append(ms, Message{Buf: make([]byte, specs[i].(int)), Addr: specs[i+1].(netip.AddrPort)})
		}
		return ms
	}
	many := make([]Message, 100)
	for i := range many {
		many[i] = Message{Buf: make([]byte, 1400), Addr: a}
	}
	tests := []struct {
		name  string
		msgs  []Message
		limit int
		want  int
	}{
		{"single", mk(100, a), 64, 1},
		{"equal", mk(100, a, 100, a, 100, a), 64, 3},
		{"shorter last", mk(100, a, 100, a, 50, a, 50, a), 64, 3},
		{"longer breaks", mk(100, a, 200, a), 64, 1},
		{"other dst", mk(100, a, 100, b), 64, 1},
		{"limit", mk(100, a, 100, a, 100, a), 2, 2},
		{"64 segments", many, 100, 46}, // 46 × 1400 < 65487 < 47 × 1400
		{"empty", mk(0, a, 0, a), 64, 1},
	}
	for _, tt := range tests {
		if got := gsoRun(tt.msgs, tt.limit); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
	tos := mk(100, a, 100, a)
	tos[1].TOS = 4
	if got := gsoRun(tos, 64); got != 1 {
		t.Errorf("TOS differs: %d", got)
	}
}

// TestNetnsOffloadAllocs checks that the offload paths allocate nothing per
// call: GSO WriteBatch, the coalescing TUN Write and the splitting Read.
func TestNetnsOffloadAllocs(t *testing.T) {
	tun := openTestOffloadTUN(t, 1400)
	rc, err := ListenUDP(netip.AddrPortFrom(tunAddr4.Addr(), 0))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	sc, err := ListenUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), 0))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if !sc.EnableGSO() {
		t.Skip("no UDP GSO")
	}
	dst := netip.MustParseAddrPort("198.51.100.10:9999")
	msgs := make([]Message, 32)
	for i := range msgs {
		msgs[i] = Message{Buf: make([]byte, 1000), Addr: dst}
	}
	// TCP segments for the coalescing write, toward a closed local port
	// (the kernel answers with RSTs into the TUN; nobody needs to read).
	segs := segmentsOf(t, superSpec{payload: 20000, gsoSize: 1300, flags: tcpFlagACK})
	src4 := tunAddr4.Addr().As4()
	wbufs := make([][]byte, len(segs))
	for i, s := range segs {
		copy(s[16:20], src4[:]) // to our own address
		fixIPv4(s)
		fixTCP(s, func([]byte) {})
		wbufs[i] = append(make([]byte, 8), s...)
	}
	orig := make([][]byte, len(wbufs))
	for i := range wbufs {
		orig[i] = append([]byte(nil), wbufs[i]...)
	}
	before := tun.Stats().Coalesced
	bufs := make([][]byte, 64)
	for i := range bufs {
		bufs[i] = make([]byte, 8+1400)
	}
	sizes := make([]int, len(bufs))
	watchdog := time.AfterFunc(20*time.Second, func() { tun.Close() })
	defer watchdog.Stop()
	allocs := testing.AllocsPerRun(50, func() {
		if n, err := sc.WriteBatch(msgs); n != len(msgs) || err != nil {
			t.Fatalf("WriteBatch: %d, %v", n, err)
		}
		got := 0
		for got < len(msgs) {
			n, err := tun.Read(bufs, sizes, 8)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			for i := range n {
				if ap, _, ok := parseUDP(bufs[i][8 : 8+sizes[i]]); ok && ap == dst {
					got++
				}
			}
		}
		for i := range wbufs {
			copy(wbufs[i], orig[i]) // Write rewrites the first packet's headers
		}
		if n, err := tun.Write(wbufs, 8); n != len(wbufs) || err != nil {
			t.Fatalf("Write: %d, %v", n, err)
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per round of %d datagrams and %d segments", allocs, len(msgs), len(segs))
	}
	if st := tun.Stats(); st.Coalesced-before < 50 || st.SuperPackets == 0 {
		t.Errorf("offload paths not taken: %+v", st)
	}
}
