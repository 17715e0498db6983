package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/admin"
	"github.com/lispd/lispd/fwd"
	"github.com/lispd/lispd/testing/lab"
	"github.com/lispd/lispd/testing/netns"
	"github.com/lispd/lispd/testing/tshark"
)

// The in-kernel data path (xtr.kernel_path = "auto"): lispd mirrors its
// map-cache into fwd/kpath's eBPF programs, which encapsulate at the TUN's
// egress and decapsulate at the uplink's ingress.

// startKernel starts the lab with kernel_path = "auto" on both xTRs and
// checks that the kernel took it; where it did not (no CAP_BPF, a kernel
// before 6.6), the test is skipped, or fails with CI=true.
func startKernel(t *testing.T, opt lab.Options) *setup {
	t.Helper()
	s := startWith(t, opt, false, func(c *lab.XTRConfig) { c.KernelPath = "auto" })
	requireKernelPath(t, s.X1, s.X2)
	// The mirror follows the local locators and the static mappings
	// within a second of the start.
	for _, d := range []*lab.Daemon{s.X1, s.X2} {
		eventually(t, 5*time.Second, d.Name+" mirrors its mappings", func() error {
			ks := readStats(t, d)
			if m, u := ks.get(t, admin.GroupKernelPath, "mirrored-mappings"), ks.get(t, admin.GroupKernelPath, "uplinks"); m < 2 || u < 1 {
				return fmt.Errorf("%d mappings mirrored, %d uplinks", m, u)
			}
			return nil
		})
	}
	return s
}

// TestKernelPathTransfer: pings both ways and a 24 MB TCP transfer through
// the kernel path, on the wire-like core; `show stats` must show that the
// kernel carried the traffic (its counters ≈ the transfer, lispd's own
// encapsulation ≈ nothing), and a capture on the core must decode as clean
// LISP data with no frame above the MTU. The uplinks' XDP hooks decapsulate
// too (decap GRO): the inner packets must enter xTR2's stack on its TUN,
// GRO-merged, none on the uplink.
func TestKernelPathTransfer(t *testing.T) {
	tshark.Require(t)
	const size = 24 << 20
	s := startKernel(t, lab.Options{Core: lab.CoreRouter, WireLike: true, TxChecksumOff: true})
	requireDecapGRO(t, s.X1, s.X2)
	entered := countEntry(t, s.XTR2, lab.HostB4, s.C2.TUNName(), s.XTR2WAN.Name)
	pingWorks(t, s.A, lab.HostB4)
	pingWorks(t, s.A, lab.HostB6)
	pingWorks(t, s.B, lab.HostA4)
	pingWorks(t, s.B, lab.HostA6)

	b1, b2 := readStats(t, s.X1), readStats(t, s.X2)
	c := capture(t, s.Core, "x1", "udp", "port", "4341")
	tcpSend(t, s.A, s.B, lab.HostB4, size, 120*time.Second)
	time.Sleep(1500 * time.Millisecond) // the kernel's counters are read once a second
	path := stop(t, c)
	a1, a2 := readStats(t, s.X1), readStats(t, s.X2)

	delta := func(a, b daemonStats, group, name string) uint64 {
		return a.get(t, group, name) - b.get(t, group, name)
	}
	kEnc, kEncB := delta(a1, b1, admin.GroupKernelPath, "encap-packets"), delta(a1, b1, admin.GroupKernelPath, "encap-bytes")
	uEnc := delta(a1, b1, admin.GroupDataPlane, "encap-packets")
	kDec, uDec := delta(a2, b2, admin.GroupKernelPath, "decap-packets"), delta(a2, b2, admin.GroupDataPlane, "decap-packets")
	kAck := delta(a2, b2, admin.GroupKernelPath, "encap-packets")
	t.Logf("xtr1: kernel encap %d packets %d bytes, lispd encap %d; xtr2: kernel decap %d, lispd decap %d, kernel encap (ACKs) %d",
		kEnc, kEncB, uEnc, kDec, uDec, kAck)
	for _, g := range []string{"encap-skip", "encap-miss", "encap-error", "encap-gso"} {
		t.Logf("xtr1 %s %d", g, a1.get(t, admin.GroupKernelPath, g))
	}
	for _, g := range []string{"decap-pass", "decap-gro", "decap-bad", "decap-error"} {
		t.Logf("xtr2 %s %d", g, a2.get(t, admin.GroupKernelPath, g))
	}
	minPkts := uint64(size / 1500) // at least one packet per MSS of data
	if kEnc < minPkts || kEncB < size {
		t.Errorf("xtr1: the kernel encapsulated %d packets, %d bytes; want ≥ %d, ≥ %d", kEnc, kEncB, minPkts, size)
	}
	if uEnc > kEnc/100 {
		t.Errorf("xtr1: lispd encapsulated %d packets itself beside the kernel's %d", uEnc, kEnc)
	}
	if kDec < minPkts {
		t.Errorf("xtr2: the kernel decapsulated %d packets; want ≥ %d", kDec, minPkts)
	}
	if uDec > kDec/100 {
		t.Errorf("xtr2: lispd decapsulated %d packets itself beside the kernel's %d", uDec, kDec)
	}
	if kAck == 0 {
		t.Errorf("xtr2: the ACKs were not encapsulated in the kernel")
	}
	tunP, tunB := entered(s.C2.TUNName())
	wanP, _ := entered(s.XTR2WAN.Name)
	t.Logf("xtr2: %d packets, %d bytes to %v entered on the TUN, %d on the uplink", tunP, tunB, lab.HostB4, wanP)
	if tunB < size || wanP != 0 {
		t.Errorf("xtr2: %d bytes to %v entered on the TUN, %d packets on the uplink; want ≥ %d and 0", tunB, lab.HostB4, wanP, size)
	}
	if tunP >= kDec {
		t.Errorf("xtr2: %d packets entered on the TUN for %d decapsulated: nothing GRO-merged", tunP, kDec)
	}
	// The kernel's counters are folded into the mapping's.
	e, ok := mapCacheEntry(t, s.X1, lab.HostB4)
	if !ok {
		t.Fatalf("xtr1: no map-cache entry for %v", lab.HostB4)
	}
	if r, ok := rlocView(e, s.RLOC2v4); !ok || r.Packets < kEnc {
		t.Errorf("xtr1: map-cache RLOC %v counted %d packets, want ≥ the kernel's %d", s.RLOC2v4, r.Packets, kEnc)
	}

	checkTransferCapture(t, path)
	// Every pass with transferCheckArgs: tshark 4.0's reassembly of the
	// inner stream takes minutes on this capture without them.
	count := func(filter string) int {
		return len(tshark.Fields(t, path, filter, []string{"frame.number"}, transferCheckArgs()...))
	}
	all := count("udp.port == 4341")
	if lisp := count("lisp-data"); uint64(all) < minPkts || lisp != all {
		t.Fatalf("%d frames on UDP 4341, %d decode as LISP data", all, lisp)
	}
	const mtu = 1500
	if rows := tshark.Fields(t, path, "frame.len > "+strconv.Itoa(mtu+14), []string{"frame.number", "frame.len"}, transferCheckArgs()...); len(rows) > 0 {
		t.Fatalf("%d frames above the %d-byte MTU, first %v", len(rows), mtu, rows[0])
	}
}

// TestKernelPathFailover is the remote failover of multihoming (xTR2 sends
// to site 1's priority-1 RLOC until probing finds it cut in the core, then
// to the priority-2 one, then back) with the kernel path on both xTRs: the
// kernel entry must follow each change at once (the outage bounds of
// TestMultihomingRemoteFailover), the RLOC counters folded from the
// kernel's must show the traffic moving, and the flow must have been
// carried by the kernel, not by lispd.
func TestKernelPathFailover(t *testing.T) {
	_, x2, sent := remoteFailover(t, "auto")
	ks := readStats(t, x2)
	kEnc, uEnc := ks.get(t, admin.GroupKernelPath, "encap-packets"), ks.get(t, admin.GroupDataPlane, "encap-packets")
	t.Logf("xtr2: kernel encapsulated %d packets, lispd %d, of a flow of %d datagrams", kEnc, uEnc, sent)
	if kEnc < uint64(sent)*9/10 || uEnc > kEnc/20 {
		t.Errorf("xtr2: kernel encapsulated %d packets, lispd %d: want the flow (%d datagrams) in the kernel", kEnc, uEnc, sent)
	}
}

// TestKernelPathLocalFailover is the local failover of multihoming (xTR1's
// priority-1 uplink goes down, then up) with the kernel path on both xTRs:
// xTR1's kernel entries must move to the other uplink's source address and
// interface at once (the outage bounds of TestMultihomingLocalFailover,
// uplinks counted by their link statistics), the kernel must have
// carried the A → B flow, and, with the kernel decapsulating both flows,
// xTR1 must still send SMRs to xTR2 and xTR2 still see the
// locator-status bit of P1 go down (learned from the kernel's record of
// the senders, kpath.Sender).
func TestKernelPathLocalFailover(t *testing.T) {
	x1, x2 := localFailover(t, "auto")
	ks := readStats(t, x1)
	kEnc, uEnc := ks.get(t, admin.GroupKernelPath, "encap-packets"), ks.get(t, admin.GroupDataPlane, "encap-packets")
	t.Logf("xtr1: kernel encapsulated %d packets, lispd %d", kEnc, uEnc)
	if kEnc < 300 || uEnc > kEnc/10 { // the flow runs 100 datagrams a second for over 4 s
		t.Errorf("xtr1: kernel encapsulated %d packets, lispd %d: want the A → B flow in the kernel", kEnc, uEnc)
	}
	kernelLearned(t, ks, "xtr1")
	kernelLearned(t, readStats(t, x2), "xtr2")
}

// kernelLearned checks, for the SMRs and locator-status bits that
// localFailover asserts, that the daemon learned them from the kernel's
// record of the senders: the kernel decapsulated the flow toward it and
// lispd itself not a single data packet.
func kernelLearned(t *testing.T, ks daemonStats, name string) {
	t.Helper()
	kDec, uDec := ks.get(t, admin.GroupKernelPath, "decap-packets"), ks.get(t, admin.GroupDataPlane, "decap-packets")
	t.Logf("%s: kernel decapsulated %d packets, lispd %d", name, kDec, uDec)
	if kDec < 300 || uDec != 0 {
		t.Errorf("%s: kernel decapsulated %d packets, lispd %d: want the flow in the kernel, none in lispd", name, kDec, uDec)
	}
}

// requireDecapGRO checks that every daemon ds decapsulates at its uplinks'
// XDP hooks too (veth has native XDP: a refusal here is a bug).
func requireDecapGRO(t *testing.T, ds ...*lab.Daemon) {
	t.Helper()
	for _, d := range ds {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st := &admin.Stats{}
		err := d.ShowJSON(ctx, st, "stats")
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if k := st.KernelPath; k == nil || k.DecapGRO != "xdp" {
			t.Fatalf("%s: kernel path %+v, want decap GRO at XDP", d.Name, k)
		}
	}
}

// countEntry counts, in h's prerouting, the packets to dst entering on
// each of the interfaces ifaces, and returns a function that reads the
// packets and bytes of one (one IPv4 and one IPv6 dst per host).
func countEntry(t *testing.T, h *netns.Host, dst netip.Addr, ifaces ...string) func(iface string) (packets, bytes uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	table, family := "entry", "ip"
	if !dst.Is4() {
		table, family = "entry6", "ip6"
	}
	cmds := [][]string{
		{"nft", "add", "table", "inet", table},
		{"nft", "add", "chain", "inet", table, "pre", "{ type filter hook prerouting priority -300 ; policy accept ; }"},
	}
	for i, name := range ifaces {
		c := "c" + strconv.Itoa(i)
		cmds = append(cmds,
			[]string{"nft", "add", "counter", "inet", table, c},
			[]string{"nft", "add", "rule", "inet", table, "pre", "iifname", name, family, "daddr", dst.String(), "counter", "name", c})
	}
	for _, argv := range cmds {
		if err := h.Run(ctx, argv...); err != nil {
			t.Fatalf("entry counters in %s: %v", h, err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h.Run(ctx, "nft", "delete", "table", "inet", table)
	})
	return func(iface string) (uint64, uint64) {
		t.Helper()
		i := slices.Index(ifaces, iface)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := h.Output(ctx, "nft", "list", "counter", "inet", table, "c"+strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		m := nftPacketsBytes.FindStringSubmatch(out)
		if i < 0 || m == nil {
			t.Fatalf("entry counter of %s: %q", iface, out)
		}
		p, _ := strconv.ParseUint(m[1], 10, 64)
		b, _ := strconv.ParseUint(m[2], 10, 64)
		return p, b
	}
}

var nftPacketsBytes = regexp.MustCompile(`packets (\d+) bytes (\d+)`)

// requireKernelPath skips (fails with CI=true) unless the kernel path runs
// on every daemon ds.
func requireKernelPath(t *testing.T, ds ...*lab.Daemon) {
	t.Helper()
	for _, d := range ds {
		var k *admin.KernelPath
		eventually(t, 10*time.Second, d.Name+" show stats", func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			st := &admin.Stats{}
			if err := d.ShowJSON(ctx, st, "stats"); err != nil {
				return err
			}
			k = st.KernelPath
			return nil
		})
		if k == nil {
			t.Fatalf("%s: show stats says nothing of the kernel path", d.Name)
		}
		if k.State != fwd.KernelOn {
			msg := fmt.Sprintf("%s: kernel path %s (%s)", d.Name, k.State, k.Reason)
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// TestKernelPathIPv6RLOCs: both xTRs have only IPv6 RLOCs (an IPv6-only
// uplink, as with DS-Lite) and kernel_path = "auto". The mappings are
// mirrored with an outer IPv6 header and the decapsulating programs sit on
// the uplinks of the IPv6 locators: an 8 MB TCP transfer each way of
// inner family, IPv4 and IPv6, arrives intact, carried by the kernel's
// counters on both sides (lispd's own ≈ nothing), and the capture on the
// core decodes as LISP data over IPv6 with zero UDP checksums and no
// malformed frame or expert error. The uplinks' XDP hooks decapsulate
// (decap GRO): the inner packets enter xTR2's stack on its TUN, merged.
func TestKernelPathIPv6RLOCs(t *testing.T) {
	tshark.Require(t)
	const size = 8 << 20
	s := startWith(t, lab.Options{Core: lab.CoreRouter, WireLike: true, TxChecksumOff: true}, true,
		func(c *lab.XTRConfig) { c.KernelPath = "auto" })
	requireKernelPath(t, s.X1, s.X2)
	for _, d := range []*lab.Daemon{s.X1, s.X2} {
		eventually(t, 5*time.Second, d.Name+" mirrors its mappings", func() error {
			ks := readStats(t, d)
			if m, u, l := ks.get(t, admin.GroupKernelPath, "mirrored-mappings"), ks.get(t, admin.GroupKernelPath, "uplinks"),
				ks.get(t, admin.GroupKernelPath, "local-rlocs"); m < 2 || u < 1 || l < 1 {
				return fmt.Errorf("%d mappings mirrored, %d uplinks, %d local RLOCs", m, u, l)
			}
			return nil
		})
	}
	requireDecapGRO(t, s.X1, s.X2)
	entered := map[netip.Addr]func(string) (uint64, uint64){}
	for _, dst := range []netip.Addr{lab.HostB4, lab.HostB6} {
		entered[dst] = countEntry(t, s.XTR2, dst, s.C2.TUNName(), s.XTR2WAN.Name)
	}
	pingWorks(t, s.A, lab.HostB4)
	pingWorks(t, s.A, lab.HostB6)
	pingWorks(t, s.B, lab.HostA4)
	pingWorks(t, s.B, lab.HostA6)

	delta := func(a, b daemonStats, group, name string) uint64 {
		return a.get(t, group, name) - b.get(t, group, name)
	}
	c := capture(t, s.Core, "x1", "udp", "port", "4341")
	for _, dst := range []netip.Addr{lab.HostB4, lab.HostB6} {
		b1, b2 := readStats(t, s.X1), readStats(t, s.X2)
		tcpSend(t, s.A, s.B, dst, size, 120*time.Second)
		time.Sleep(1500 * time.Millisecond) // the kernel's counters are read once a second
		a1, a2 := readStats(t, s.X1), readStats(t, s.X2)
		kEnc, kEncB := delta(a1, b1, admin.GroupKernelPath, "encap-packets"), delta(a1, b1, admin.GroupKernelPath, "encap-bytes")
		uEnc := delta(a1, b1, admin.GroupDataPlane, "encap-packets")
		kDec, uDec := delta(a2, b2, admin.GroupKernelPath, "decap-packets"), delta(a2, b2, admin.GroupDataPlane, "decap-packets")
		kAck, uAck := delta(a2, b2, admin.GroupKernelPath, "encap-packets"), delta(a2, b2, admin.GroupDataPlane, "encap-packets")
		t.Logf("to %v: xtr1 kernel encap %d packets %d bytes (%d GSO), lispd encap %d; xtr2 kernel decap %d, lispd decap %d, kernel encap (ACKs) %d, lispd %d",
			dst, kEnc, kEncB, delta(a1, b1, admin.GroupKernelPath, "encap-gso"), uEnc, kDec, uDec, kAck, uAck)
		for _, g := range []string{"encap-skip", "encap-miss", "encap-error"} {
			t.Logf("xtr1 %s %d", g, a1.get(t, admin.GroupKernelPath, g))
		}
		for _, g := range []string{"decap-pass", "decap-gro", "decap-bad", "decap-error"} {
			t.Logf("xtr2 %s %d", g, a2.get(t, admin.GroupKernelPath, g))
		}
		minPkts := uint64(size / 1500)
		if kEnc < minPkts || kEncB < size {
			t.Errorf("to %v: xtr1's kernel encapsulated %d packets, %d bytes; want ≥ %d, ≥ %d", dst, kEnc, kEncB, minPkts, size)
		}
		if uEnc > kEnc/100 {
			t.Errorf("to %v: xtr1's lispd encapsulated %d packets itself beside the kernel's %d", dst, uEnc, kEnc)
		}
		if kDec < minPkts {
			t.Errorf("to %v: xtr2's kernel decapsulated %d packets; want ≥ %d", dst, kDec, minPkts)
		}
		if uDec > kDec/100 {
			t.Errorf("to %v: xtr2's lispd decapsulated %d packets itself beside the kernel's %d", dst, uDec, kDec)
		}
		if kAck == 0 || uAck > kAck/100 {
			t.Errorf("to %v: xtr2 encapsulated the ACKs: %d in the kernel, %d in lispd", dst, kAck, uAck)
		}
		// Decapsulated at XDP (GRO-merged), moved into the TUN by the
		// TC program behind it: none enters on the uplink.
		tunP, tunB := entered[dst](s.C2.TUNName())
		wanP, _ := entered[dst](s.XTR2WAN.Name)
		t.Logf("xtr2: %d packets, %d bytes to %v entered on the TUN, %d on the uplink", tunP, tunB, dst, wanP)
		if tunB < size || wanP != 0 || tunP >= kDec {
			t.Errorf("xtr2: %d packets, %d bytes to %v entered on the TUN (of %d decapsulated), %d packets on the uplink; want ≥ %d bytes GRO-merged, 0",
				tunP, tunB, dst, kDec, wanP, size)
		}
	}
	path := stop(t, c)
	// The kernel's counters are folded into the mapping's.
	e, ok := mapCacheEntry(t, s.X1, lab.HostB6)
	if !ok {
		t.Fatalf("xtr1: no map-cache entry for %v", lab.HostB6)
	}
	if r, ok := rlocView(e, s.RLOC2v6); !ok || r.Packets < size/1500 {
		t.Errorf("xtr1: map-cache RLOC %v counted %d packets, want the kernel's", s.RLOC2v6, r.Packets)
	}

	zero := []string{"-o", "udp.ignore_ipv6_zero_checksum:TRUE"}
	checkTransferCapture(t, path, zero...)
	args := append(transferCheckArgs(), zero...)
	count := func(filter string) int {
		return len(tshark.Fields(t, path, filter, []string{"frame.number"}, args...))
	}
	all, lisp := count("udp.port == 4341"), count("lisp-data && ipv6.src && udp.checksum == 0")
	if all < 2*size/1500 || lisp != all {
		t.Fatalf("%d frames on UDP 4341, %d decode as LISP data over IPv6 with a zero UDP checksum", all, lisp)
	}
	if n := count("lisp-data && ip.version == 4 && ipv6.version == 6"); n == 0 {
		t.Errorf("no frame with inner IPv4 under outer IPv6")
	}
	if rows := tshark.Fields(t, path, "frame.len > 1514", []string{"frame.number", "frame.len"}, args...); len(rows) > 0 {
		t.Fatalf("%d frames above the 1500-byte MTU, first %v", len(rows), rows[0])
	}
}

// TestKernelPathDetachesUplink: xTR1 has two uplinks with the kernel path,
// each with the decapsulating program attached. When P1's address leaves
// wan2, no locator is on wan2 any more and lispd takes the program off it
// (`show stats` uplinks 2 → 1): pings from the core to another address of
// wan2 then no longer pass through it (the program's decap-pass counter
// stands still), where they did before. P1's address back, it is attached
// again.
func TestKernelPathDetachesUplink(t *testing.T) {
	m := startMultihomedWith(t, mhOptions{prio1: 1, weight1: 100, prio2: 2, weight2: 100, kernelPath: "auto"})
	l := m.Lab
	uplinks := func(want uint64, what string) {
		t.Helper()
		eventually(t, 5*time.Second, what, func() error {
			if u := counter(t, m.X1, admin.GroupKernelPath, "uplinks"); u != want {
				return fmt.Errorf("xTR1: %d uplinks with the program, want %d", u, want)
			}
			return nil
		})
	}
	// Pings to an address of wan2 that is no locator: xTR1 answers ARP
	// for it only there (lab.AddXTR1Uplink), so they come in on wan2. It
	// stays when P1's address, wan2's primary one, goes.
	if err := l.XTR1.Sysctl("net.ipv4.conf.wan2.promote_secondaries=1"); err != nil {
		t.Fatal(err)
	}
	other := netip.MustParsePrefix("192.0.2.111/24")
	if err := m.wan2.AddAddr(other); err != nil {
		t.Fatal(err)
	}
	const pings = 100
	passed := func() uint64 {
		t.Helper()
		before := counter(t, m.X1, admin.GroupKernelPath, "decap-pass")
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		if out, err := l.MS.CombinedOutput(ctx, "ping", "-c", strconv.Itoa(pings), "-i", "0.01", "-W", "2", other.Addr().String()); err != nil {
			t.Fatalf("ping %v: %v\n%s", other.Addr(), err, out)
		}
		time.Sleep(1500 * time.Millisecond) // the kernel's counters are read once a second
		return counter(t, m.X1, admin.GroupKernelPath, "decap-pass") - before
	}
	uplinks(2, "the program on both uplinks")
	if n := passed(); n < pings {
		t.Fatalf("attached to wan2, the program saw %d packets of %d pings", n, pings)
	}
	p1 := netip.PrefixFrom(m.p1, 24)
	if err := l.XTR1.IP("addr", "del", p1.String(), "dev", "wan2"); err != nil {
		t.Fatal(err)
	}
	uplinks(1, "the program off wan2 once P1's address left it")
	if n := passed(); n >= pings {
		t.Errorf("detached from wan2, the program still saw %d packets of %d pings", n, pings)
	} else {
		t.Logf("detached from wan2: %d packets counted during %d pings (the other uplink's)", n, pings)
	}
	if err := l.XTR1.IP("addr", "add", p1.String(), "dev", "wan2"); err != nil {
		t.Fatal(err)
	}
	uplinks(2, "the program back on wan2 with P1's address")
	if n := passed(); n < pings {
		t.Errorf("attached to wan2 again, the program saw %d packets of %d pings", n, pings)
	}
}
