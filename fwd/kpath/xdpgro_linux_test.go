package kpath

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lispd/lispd/fwd/netio"
	"github.com/lispd/lispd/internal/sock"
	"github.com/lispd/lispd/testing/lab"
	"github.com/lispd/lispd/testing/netns"
)

// loadXDP loads d's XDP program without attaching it.
func loadXDP(t *testing.T, d *Decap) *Program {
	t.Helper()
	p, err := LoadProgram(ProgSpec{Name: "lisp_decap_xdp", Type: ProgXDP, License: "GPL",
		Code: decapXDPImage.render(bigEndian, d.fds()...)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestDecapXDPMark runs the XDP program over crafted frames: a packet it
// decapsulates comes out behind the mark (decapMark and the local RLOC,
// the metadata BPF_PROG_TEST_RUN returns in front of the packet) and is
// counted once, in its entry; every other one goes on as it came, without
// metadata and uncounted, for the TC program to decide on and count.
func TestDecapXDPMark(t *testing.T) {
	d := newTestDecap(t)
	xdp := loadXDP(t, d)
	nl := [8]byte{0xc0, 1, 2, 3, 0, 0, 0, 1}
	iid7 := [8]byte{0xc8, 1, 2, 3, 0, 0, 7, 1}
	iid8 := [8]byte{0xc8, 1, 2, 3, 0, 0, 8, 1}
	ttl := func(f []byte, outer byte) []byte {
		f[22] = outer
		fixIPCsum(f)
		return f
	}
	ce := func(f []byte) []byte {
		f[15] |= 3
		fixIPCsum(f)
		return f
	}
	tests := []struct {
		name  string
		frame []byte
		decap bool
	}{
		{"inner IPv4", lispFrame(t, testRLOC, DataPort, nl, innerPacket(t, false)), true},
		{"inner IPv6", lispFrame(t, testRLOC, DataPort, nl, innerPacket(t, true)), true},
		{"instance-id", lispFrame(t, testRLOCIID, DataPort, iid7, innerPacket(t, false)), true},
		{"outer TTL below the inner one", ttl(lispFrame(t, testRLOC, DataPort, nl, innerPacket(t, false)), 9), true},
		{"outer hop limit below the inner one", ttl(lispFrame(t, testRLOC, DataPort, nl, innerPacket(t, true)), 3), true},
		{"wrong instance-id", lispFrame(t, testRLOCIID, DataPort, iid8, innerPacket(t, false)), false},
		{"outer CE", ce(lispFrame(t, testRLOC, DataPort, nl, innerPacket(t, false))), false},
		{"outer TTL 0", ttl(lispFrame(t, testRLOC, DataPort, nl, innerPacket(t, false)), 0), false},
		{"not a local RLOC", lispFrame(t, netip.MustParseAddr("192.0.2.9"), DataPort, nl, innerPacket(t, false)), false},
		{"control port", lispFrame(t, testRLOC, 4342, nl, innerPacket(t, false)), false},
		{"truncated", lispFrame(t, testRLOC, DataPort, nl, innerPacket(t, false))[:60], false},
		{"a plain inner packet", plainFrame(innerPacket(t, false)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.frame
			local := testRLOC
			if bytes.Equal(in[30:34], testRLOCIID.AsSlice()) {
				local = testRLOCIID
			}
			checkXDPRun(t, d, xdp, in, local, tt.decap, decapMark, Overhead4, in[22])
		})
	}
}

// checkXDPRun test-runs the XDP decapsulating program xdp of d over the
// frame in to the local RLOC local (outer IPv4 or IPv6: overhead, and the
// mark's magic) and checks the result: with decap, the packet counted once
// on local's entry, the metadata mark (magic, local) in front of the
// Ethernet header moved up to the inner packet with its EtherType, and the
// inner TTL lowered to outerTTL where that is less; without, nothing
// counted and the frame unchanged, without metadata. Either way XDP_PASS
// and no per-reason stat moved (the TC program counts).
func checkXDPRun(t *testing.T, d *Decap, xdp *Program, in []byte, local netip.Addr, decap bool, magic uint32, overhead int, outerTTL byte) {
	t.Helper()
	s0, _ := d.Stats()
	c0, _ := d.Counters(local)
	out := make([]byte, 2048)
	ret, n, err := xdp.TestRun(in, out)
	if err != nil {
		t.Fatal(err)
	}
	if ret != xdpPass {
		t.Fatalf("verdict %d, want XDP_PASS", ret)
	}
	s1, _ := d.Stats()
	c1, _ := d.Counters(local)
	if s1 != s0 {
		t.Errorf("stats moved: %v → %v", s0, s1)
	}
	if !decap {
		if c1 != c0 {
			t.Errorf("entry counters moved: %+v → %+v", c0, c1)
		}
		if !bytes.Equal(out[:n], in) {
			t.Errorf("packet changed (or got metadata):\n% x\nwas\n% x", out[:n], in)
		}
		return
	}
	if c1.Packets != c0.Packets+1 || c1.Bytes != c0.Bytes+uint64(len(in)-14-overhead) {
		t.Errorf("entry counters %+v → %+v, want one more packet of %d bytes", c0, c1, len(in)-14-overhead)
	}
	mark := binary.NativeEndian.AppendUint16(binary.NativeEndian.AppendUint16(nil, uint16(magic>>16)), uint16(magic&0xffff))
	mark = append(mark, local.AsSlice()...)
	ml := len(mark)
	want := append(append(mark, in[:12]...), in[12+overhead:]...)
	want[ml+12], want[ml+13] = 0x08, 0x00
	if in[14+overhead]>>4 == 6 {
		want[ml+12], want[ml+13] = 0x86, 0xdd
	}
	wantInnerTTL(want[ml+14:], outerTTL)
	if !bytes.Equal(out[:n], want) {
		t.Errorf("metadata and packet after the run:\n% x\nwant\n% x", out[:n], want)
	}
}

// plainFrame is an Ethernet frame carrying p as it is.
func plainFrame(p []byte) []byte {
	f := make([]byte, 14, 14+len(p))
	f[12] = 0x08
	if p[0]>>4 == 6 {
		f[12], f[13] = 0x86, 0xdd
	}
	return append(f, p...)
}

// TestDecapMarkMovesIntoTUN attaches both decapsulating programs to an
// uplink (a veth, native XDP) and sends frames over it from its peer: the
// LISP packets the XDP program decapsulates (inner IPv4 and IPv6) must
// enter the stack on the TUN, counted once; packets it leaves alone (an
// outer CE) reach the stack on the uplink whole; and inner packets sent
// plain to the uplink, which carry no metadata, must never be moved into
// the TUN. nftables counters at prerouting tell where each entered. In the
// driver's XDP (veth's, before GRO) and in generic XDP (after GRO; the
// daemon does not use it, but the mark and the move must hold there too).
func TestDecapMarkMovesIntoTUN(t *testing.T) {
	for _, mode := range []string{"native", "generic"} {
		t.Run(mode, func(t *testing.T) { testDecapMarkMovesIntoTUN(t, mode == "generic") })
	}
}

func testDecapMarkMovesIntoTUN(t *testing.T, generic bool) {
	needBPF(t)
	topo := netns.New(t)
	snd, err := topo.Host("snd")
	if err != nil {
		t.Fatal(err)
	}
	etr, err := topo.Host("etr")
	if err != nil {
		t.Fatal(err)
	}
	l, err := topo.Link(snd, etr, netns.LinkOptions{AddrA: []netip.Prefix{netip.PrefixFrom(testRemote, 24)},
		AddrB: []netip.Prefix{netip.PrefixFrom(testRLOC, 24)}})
	if err != nil {
		t.Fatal(err)
	}
	var d *Decap
	var tun netio.TUN
	var mac [6]byte
	if err := etr.Do(func() error {
		var err error
		if tun, err = netio.OpenTUN("lisp0", 1500-Overhead4); err != nil {
			return err
		}
		ti, err := sock.InterfaceByName("lisp0")
		if err != nil {
			return err
		}
		wi, err := net.InterfaceByName(l.B.Name)
		if err != nil {
			return err
		}
		copy(mac[:], wi.HardwareAddr)
		if d, err = NewDecap(4); err != nil {
			return err
		}
		if err := d.SetLocal(testRLOC, DecapEntry{TUNIfIndex: ti.Index}); err != nil {
			return err
		}
		if err := d.SetLocalEIDs([]netip.Prefix{netip.MustParsePrefix("198.51.100.128/25"), netip.MustParsePrefix("2001:db8:2::/48")}); err != nil {
			return err
		}
		if err := d.Attach(wi.Index); err != nil {
			return err
		}
		if generic {
			l, err := attachXDP(loadXDP(t, d), wi.Index, xdpFlagsSKBMode)
			if err == nil {
				d.links = append(d.links, l)
			}
			return err
		}
		return d.AttachXDP(wi.Index)
	}); err != nil {
		if tun != nil {
			tun.Close()
		}
		if d != nil {
			d.Close()
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.Close()
		tun.Close()
	})
	if err := etr.IP("link", "set", "lisp0", "up"); err != nil {
		t.Fatal(err)
	}
	if out, err := etr.Output(context.Background(), "ip", "link", "show", "dev", l.B.Name); err != nil ||
		strings.Contains(out, " xdpgeneric ") != generic || !strings.Contains(out, " xdp") {
		t.Fatalf("uplink %s, want XDP attached (generic %v): %v", out, generic, err)
	}
	ruleset := fmt.Sprintf(`table inet kp {
	counter tun {}
	counter wan {}
	chain pre {
		type filter hook prerouting priority -300;
		iifname "lisp0" counter name "tun"
		iifname %q ip daddr 198.51.100.138 counter name "wan"
	}
}`, l.B.Name)
	if err := nftApply(etr, ruleset); err != nil {
		t.Fatal(err)
	}

	const n = 16
	nl := [8]byte{0xc0, 1, 2, 3, 0, 0, 0, 1}
	var frames [][]byte
	var innerBytes uint64
	for i := range n {
		in := innerPacket(t, i%2 == 1)
		innerBytes += uint64(len(in))
		frames = append(frames, lispFrame(t, testRLOC, DataPort, nl, in))
	}
	ceFrame := lispFrame(t, testRLOC, DataPort, nl, innerPacket(t, false))
	ceFrame[15] |= 3
	fixIPCsum(ceFrame)
	frames = append(frames, ceFrame)
	for range n {
		frames = append(frames, plainFrame(innerPacket(t, false)))
	}
	if err := snd.Do(func() error { return sendFrames(l.A.Name, mac, frames) }); err != nil {
		t.Fatal(err)
	}

	// The frames are received asynchronously (the veth's NAPI poll).
	var c Counters
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err = d.Counters(testRLOC); err != nil {
			t.Fatal(err)
		}
		if p, _ := nftCounter(t, etr, "wan"); c.Packets >= n && p >= n {
			break
		}
	}
	time.Sleep(100 * time.Millisecond)
	c, err = d.Counters(testRLOC)
	if err != nil {
		t.Fatal(err)
	}
	st, err := d.Stats()
	if err != nil {
		t.Fatal(err)
	}
	tunP, tunB := nftCounter(t, etr, "tun")
	wanP, _ := nftCounter(t, etr, "wan")
	t.Logf("decapsulated %+v, stats %v; entered on the TUN %d packets %d bytes, on the uplink %d packets", c, st, tunP, tunB, wanP)
	if c.Packets != n || c.Bytes != innerBytes {
		t.Errorf("decapsulated %+v, want %d packets, %d bytes (each counted once)", c, n, innerBytes)
	}
	if tunP == 0 || tunP > n || tunB != innerBytes {
		t.Errorf("%d packets, %d bytes entered on the TUN; want the %d decapsulated ones (%d bytes), nothing else", tunP, tunB, n, innerBytes)
	}
	if wanP != n {
		t.Errorf("%d packets to 198.51.100.138 entered on the uplink; want the %d sent plain", wanP, n)
	}
	if st[StatDecapECN] != 1 || st[StatDecapError] != 0 {
		t.Errorf("stats %v: want one decap-ecn (the CE packet, counted once) and no error", st)
	}
}

// nftApply loads an nftables ruleset in h.
func nftApply(h *netns.Host, ruleset string) error {
	cmd := h.Command(context.Background(), "nft", "-f", "-")
	cmd.Stdin = bytes.NewReader([]byte(ruleset))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft: %v\n%s", err, out)
	}
	return nil
}

var nftCounterRE = regexp.MustCompile(`packets (\d+) bytes (\d+)`)

// nftCounter reads the named counter of table inet kp in h.
func nftCounter(t *testing.T, h *netns.Host, name string) (packets, bytes uint64) {
	t.Helper()
	out, err := h.Output(context.Background(), "nft", "list", "counter", "inet", "kp", name)
	if err != nil {
		t.Fatal(err)
	}
	m := nftCounterRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("nft counter %s: %q", name, out)
	}
	p, _ := strconv.ParseUint(m[1], 10, 64)
	b, _ := strconv.ParseUint(m[2], 10, 64)
	return p, b
}

// sendFrames writes the Ethernet frames to the interface ifname through a
// packet socket, with dst as their destination MAC address.
func sendFrames(ifname string, dst [6]byte, frames [][]byte) error {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	sa := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}
	copy(sa.Addr[:], dst[:])
	for _, f := range frames {
		f = bytes.Clone(f)
		copy(f[0:6], dst[:])
		copy(f[6:12], ifi.HardwareAddr)
		if err := unix.Sendto(fd, f, 0, sa); err != nil {
			return fmt.Errorf("send on %s: %w", ifname, err)
		}
	}
	return nil
}

// TestDecapGROPartialChecksums transfers over the kernel path with decap
// GRO where the core's veths keep transmit checksum offload on: the
// encapsulated segments cross the core with the inner TCP checksum still
// partial (CHECKSUM_PARTIAL), the XDP program strips the outer headers of
// an skb the veth may rebuild for XDP, GRO merges the inner flow and the
// TC program moves it into the TUN. The receiver must get every byte
// intact (a checksum the receiving host rejects would stall the transfer),
// all of it entering on the TUN. Over inner IPv4, then inner IPv6.
func TestDecapGROPartialChecksums(t *testing.T) {
	k := newKpathLab(t, "gro-partial")
	if err := nftApply(k.XTR2, fmt.Sprintf(`table inet kp {
	counter tun {}
	counter tun6 {}
	chain pre {
		type filter hook prerouting priority -300;
		iifname "lisp0" ip daddr %v counter name "tun"
		iifname "lisp0" ip6 daddr %v counter name "tun6"
	}
}`, lab.HostB4, lab.HostB6)); err != nil {
		t.Fatal(err)
	}
	const size = 24 << 20
	var before Counters
	for _, f := range []struct {
		dst     netip.Addr
		counter string
	}{{lab.HostB4, "tun"}, {lab.HostB6, "tun6"}} {
		k.transferTo(t, f.dst, size)
		c, err := k.x2.Decap.Counters(k.RLOC2v4)
		if err != nil {
			t.Fatal(err)
		}
		d := Counters{c.Packets - before.Packets, c.Bytes - before.Bytes}
		before = c
		tunP, tunB := nftCounter(t, k.XTR2, f.counter)
		t.Logf("to %v: xTR2 decapsulated %+v; %d packets, %d bytes entered on the TUN", f.dst, d, tunP, tunB)
		if d.Bytes < size || tunB < size || tunP >= d.Packets {
			t.Errorf("to %v: xTR2 decapsulated %+v, %d packets with %d bytes entered on the TUN; want ≥ %d bytes both, fewer packets (GRO)", f.dst, d, tunP, tunB, size)
		}
	}
}

// TestDecapXDPDriverOnly checks that Decap.AttachXDP takes only the
// driver's own XDP: on a device without it (a bridge) the attach fails,
// saying so, rather than falling back to generic XDP, which would run
// after GRO and copy the interface's packets for nothing.
func TestDecapXDPDriverOnly(t *testing.T) {
	needBPF(t)
	h, err := netns.New(t).Host("h")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Bridge("br0"); err != nil {
		t.Fatal(err)
	}
	d, err := NewDecap(4)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	err = h.Do(func() error {
		bi, err := net.InterfaceByName("br0")
		if err != nil {
			return err
		}
		if err := d.Attach(bi.Index); err != nil {
			return err
		}
		return d.AttachXDP(bi.Index)
	})
	if !errors.Is(err, errNoNativeXDP) {
		t.Fatalf("XDP attach to a bridge: %v, want %v", err, errNoNativeXDP)
	}
	t.Log(err)
}
