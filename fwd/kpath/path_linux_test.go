package kpath

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lispd/lispd/fwd/netio"
	"github.com/lispd/lispd/testing/lab"
	"github.com/lispd/lispd/testing/netns"
	"github.com/lispd/lispd/testing/tshark"
)

// kpathLab is the lab's two xTRs joined by the in-kernel path: each holds
// an offload TUN (IFF_VNET_HDR, TSO: the encapsulating program sees GSO
// super-packets) with the static mapping toward the other.
type kpathLab struct {
	*lab.Lab
	x1, x2 *Static
}

const testIID = 7

// newKpathLab builds the lab with the programs attached as hook says: "tcx",
// "xdp" (decapsulating at XDP alone), "gro" (at XDP and TCX, as the daemon
// does; "gro-partial" the same with tx checksum offload on in the core, so
// that the veths hand packets on with the inner checksum still partial) or
// "cls" (cls_bpf filters, the pre-6.6 fallback).
func newKpathLab(t *testing.T, hook string) *kpathLab { return newKpathLabWith(t, hook, false) }

// newKpathLabWith is newKpathLab, with the xTRs' IPv6 RLOCs when rloc6
// (outer IPv6; the TUNs' MTU 1500 - Overhead6).
func newKpathLabWith(t *testing.T, hook string, rloc6 bool) *kpathLab {
	t.Helper()
	needBPF(t)
	topo := netns.New(t)
	l, err := lab.Build(topo, lab.Options{Core: lab.CoreDirect, WireLike: true, TxChecksumOff: hook != "gro-partial"})
	if err != nil {
		t.Fatal(err)
	}
	k := &kpathLab{Lab: l}
	for _, s := range []struct {
		h             *netns.Host
		wan           *netns.Iface
		local, remote netip.Addr
		peer4, peer6  netip.Prefix
		own4, own6    netip.Prefix
		out           **Static
	}{
		{l.XTR1, l.XTR1WAN, l.RLOC1v4, l.RLOC2v4, lab.Site2v4, lab.Site2v6, lab.Site1v4, lab.Site1v6, &k.x1},
		{l.XTR2, l.XTR2WAN, l.RLOC2v4, l.RLOC1v4, lab.Site1v4, lab.Site1v6, lab.Site2v4, lab.Site2v6, &k.x2},
	} {
		mtu := 1500 - Overhead4
		if rloc6 {
			s.local, s.remote, mtu = l.RLOC1v6, l.RLOC2v6, 1500-Overhead6
			if s.h == l.XTR2 {
				s.local, s.remote = l.RLOC2v6, l.RLOC1v6
			}
		}
		var tun netio.TUN
		if err := s.h.Do(func() error {
			var err error
			if tun, err = netio.OpenOffloadTUN(netio.TUNConfig{Name: "lisp0", MTU: mtu}); err != nil {
				return err
			}
			*s.out, err = AttachStatic(StaticConfig{TUN: "lisp0", WAN: s.wan.Name, Local: s.local, Remote: s.remote,
				EIDs: []netip.Prefix{s.peer4, s.peer6}, LocalEIDs: []netip.Prefix{s.own4, s.own6},
				InstanceID: testIID, LSBs: 1, DecapXDP: hook == "xdp", DecapGRO: hook == "gro" || hook == "gro-partial", CLS: hook == "cls"})
			return err
		}); err != nil {
			if tun != nil {
				tun.Close()
			}
			t.Fatalf("%s: %v", s.h, err)
		}
		st := *s.out
		t.Cleanup(func() {
			st.Close()
			tun.Close()
		})
		for _, p := range []netip.Prefix{s.peer4, s.peer6} {
			if err := s.h.AddDeviceRoute(p, "lisp0"); err != nil {
				t.Fatal(err)
			}
		}
	}
	return k
}

// transfer sends n random bytes from host A to host B over TCP and
// reports whether B received them intact.
func (k *kpathLab) transfer(t *testing.T, n int) { k.transferTo(t, lab.HostB4, n) }

// transferTo is transfer to B's address dst (IPv4 or IPv6).
func (k *kpathLab) transferTo(t *testing.T, dst netip.Addr, n int) {
	t.Helper()
	var ln net.Listener
	if err := k.B.Do(func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(dst, 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		sum [32]byte
		n   int64
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(60 * time.Second))
		h := sha256.New()
		m, err := io.Copy(h, c)
		var r result
		copy(r.sum[:], h.Sum(nil))
		r.n, r.err = m, err
		got <- r
	}()
	var c net.Conn
	if err := k.A.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(60 * time.Second))
	data := make([]byte, n)
	rng := rand.NewChaCha8([32]byte{1, 2, 3})
	rng.Read(data)
	want := sha256.Sum256(data)
	if _, err := io.Copy(c, bytes.NewReader(data)); err != nil {
		c.Close()
		t.Fatalf("send: %v", err)
	}
	c.Close()
	r := <-got
	if r.err != nil {
		t.Fatalf("receive: %v", r.err)
	}
	if r.n != int64(n) || r.sum != want {
		t.Fatalf("received %d bytes (sha256 %x), sent %d (sha256 %x)", r.n, r.sum[:8], n, want[:8])
	}
}

func ping(t *testing.T, h *netns.Host, dst netip.Addr, extra ...string) {
	t.Helper()
	args := append([]string{"ping", "-c", "5", "-i", "0.05", "-W", "2"}, extra...)
	if out, err := h.CombinedOutput(context.Background(), append(args, dst.String())...); err != nil {
		t.Fatalf("%s: ping %v: %v\n%s", h, dst, err, out)
	}
}

// TestKernelPath sends pings both ways (IPv4 and IPv6 EIDs) and a TCP
// transfer through the encapsulating and decapsulating programs alone
// (nobody reads the TUNs), checks the counters, and has tshark decode a
// capture of the core; with the programs at TCX hooks, with the
// decapsulating one at the XDP hook alone, at both (the inner packets
// GRO-merged and moved into the TUN), and as cls_bpf filters.
func TestKernelPath(t *testing.T) {
	for _, hook := range []string{"tcx", "xdp", "gro", "cls"} {
		t.Run(hook, func(t *testing.T) { testKernelPath(t, hook) })
	}
}

func testKernelPath(t *testing.T, hook string) {
	k := newKpathLab(t, hook)
	tshark.Require(t)
	pcap := filepath.Join(t.TempDir(), "core.pcap")
	capt, err := k.XTR1.Capture(k.XTR1WAN.Name, pcap, "udp")
	if err != nil {
		t.Fatal(err)
	}
	if hook == "gro" {
		// Where xTR2's decapsulated packets enter its stack.
		if err := nftApply(k.XTR2, fmt.Sprintf(`table inet kp {
	counter tun {}
	counter wan {}
	chain pre {
		type filter hook prerouting priority -300;
		iifname "lisp0" ip daddr %v counter name "tun"
		iifname %q ip daddr %v counter name "wan"
	}
}`, lab.HostB4, k.XTR2WAN.Name, lab.HostB4)); err != nil {
			t.Fatal(err)
		}
	}
	ping(t, k.A, lab.HostB4, "-Q", "0xb8") // DSCP EF: the outer TOS must copy it
	ping(t, k.B, lab.HostA4)
	ping(t, k.A, lab.HostB6)
	ping(t, k.B, lab.HostA6)
	const size = 24 << 20
	k.transfer(t, size)
	if _, err := capt.Stop(); err != nil {
		t.Fatal(err)
	}

	c1, err := k.x1.Encap.Counters(lab.Site2v4)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := k.x2.Decap.Counters(k.RLOC2v4)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := k.x2.Encap.Counters(lab.Site1v4)
	if err != nil {
		t.Fatal(err)
	}
	d1, err := k.x1.Decap.Counters(k.RLOC1v4)
	if err != nil {
		t.Fatal(err)
	}
	s1, err := k.x1.Encap.Stats()
	if err != nil {
		t.Fatal(err)
	}
	s2, err := k.x2.Decap.Stats()
	if err != nil {
		t.Fatal(err)
	}
	s3, err := k.x1.Decap.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("xTR1 encap %+v, xTR2 decap %+v, xTR2 encap %+v, xTR1 decap %+v", c1, d2, c2, d1)
	t.Logf("xTR1 encap stats %v, xTR2 decap stats %v, xTR1 decap stats %v", s1, s2, s3)
	for _, x := range []struct {
		e *Encap
		p netip.Prefix
	}{{k.x1.Encap, lab.Site2v6}, {k.x2.Encap, lab.Site1v6}} {
		c, err := x.e.Counters(x.p)
		if err != nil {
			t.Fatal(err)
		}
		if c.Packets < 5 {
			t.Errorf("%v: %d IPv6 packets encapsulated, want ≥ 5 (pings)", x.p, c.Packets)
		}
	}
	if c1.Bytes < size || d2.Bytes < size {
		t.Errorf("A → B: %d bytes encapsulated at xTR1, %d decapsulated at xTR2, want ≥ %d", c1.Bytes, d2.Bytes, size)
	}
	if c2.Packets < 5 || d1.Packets < 5 {
		t.Errorf("B → A: %d packets encapsulated at xTR2, %d decapsulated at xTR1, want ≥ 5 (pings, ACKs)", c2.Packets, d1.Packets)
	}
	if d2.Packets < c1.Packets*9/10 {
		t.Errorf("xTR2 decapsulated %d of the %d packets xTR1 sent", d2.Packets, c1.Packets)
	}
	if s2[StatDecapGRO] != 0 || s3[StatDecapGRO] != 0 {
		// The core segments every GSO packet and nothing coalesces LISP
		// datagrams without a socket: a GRO packet here would be left to
		// the stack, where no socket takes it.
		t.Errorf("GRO packets left to the stack: %d at xTR2, %d at xTR1", s2[StatDecapGRO], s3[StatDecapGRO])
	}
	if s2[StatDecapBad] != 0 || s2[StatDecapError] != 0 {
		t.Errorf("xTR2 refused %d packets and failed on %d", s2[StatDecapBad], s2[StatDecapError])
	}
	if hook == "gro" {
		// Every packet decapsulated at XDP entered on the TUN (GRO-merged:
		// fewer, bigger packets), none on the uplink.
		tunP, tunB := nftCounter(t, k.XTR2, "tun")
		wanP, _ := nftCounter(t, k.XTR2, "wan")
		t.Logf("xTR2: %d packets, %d bytes to %v entered on the TUN, %d on the uplink", tunP, tunB, lab.HostB4, wanP)
		if tunB < size || wanP != 0 {
			t.Errorf("xTR2: %d bytes to %v entered on the TUN, %d packets on the uplink; want ≥ %d and 0", tunB, lab.HostB4, wanP, size)
		}
		if tunP >= d2.Packets {
			t.Errorf("xTR2: %d packets entered on the TUN for %d decapsulated: nothing GRO-merged", tunP, d2.Packets)
		}
	}
	if s1[StatEncapGSO] == 0 {
		t.Errorf("xTR1's encapsulating program saw no GSO packet (TUN without TSO?)")
	}
	if s1[StatEncapError] != 0 {
		t.Errorf("xTR1: %d packets dropped by helper failures", s1[StatEncapError])
	}
	// Each decapsulating side recorded the other's RLOC as its one
	// sender, with the LSBs the encapsulating side writes (1, 8 bits with
	// the instance-id) and a source EID of its site.
	for _, x := range []struct {
		d        *Decap
		itr      netip.Addr
		eid4     netip.Prefix
		eid6     netip.Prefix
		receiver string
	}{{k.x2.Decap, k.RLOC1v4, lab.Site1v4, lab.Site1v6, "xTR2"}, {k.x1.Decap, k.RLOC2v4, lab.Site2v4, lab.Site2v6, "xTR1"}} {
		ss, err := x.d.Senders(nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(ss) != 1 || ss[0].ITR != x.itr || ss[0].LSBs != 1 || !ss[0].HasLSBs ||
			!(x.eid4.Contains(ss[0].Src) || x.eid6.Contains(ss[0].Src)) || ss[0].Age > time.Minute {
			t.Errorf("%s: senders %+v, want %v with LSBs 1 from an EID of %v or %v", x.receiver, ss, x.itr, x.eid4, x.eid6)
		}
	}

	// The inner TCP's sequence analysis is off: under load tcpdump misses
	// frames, and the analysis would flag the gaps; the inner checksums are
	// checked.
	args := []string{"-o", "tcp.analyze_sequence_numbers:FALSE", "-o", "tcp.desegment_tcp_streams:FALSE",
		"-o", "tcp.check_checksum:TRUE", "-d", "tcp.port==1-65535,data"}
	tshark.CheckWith(t, pcap, tshark.Options{ExtraArgs: args, Ignore: tshark.IgnoreKernelTCP})
	rows := tshark.Fields(t, pcap, "", []string{"frame.len", "frame.protocols", "ip.src", "ip.dst", "ip.flags.df",
		"ip.ttl", "udp.srcport", "udp.dstport", "udp.checksum", "lisp-data.flags.nonce", "lisp-data.flags.lsb",
		"lisp-data.flags.iid", "lisp-data.iid", "lisp-data.lsb8", "ip.dsfield", "ipv6.hlim", "ipv6.tclass"}, args...)
	tosSeen := false
	for _, r := range rows {
		tosSeen = tosSeen || strings.HasPrefix(r[14], "0xb8")
	}
	if !tosSeen {
		t.Error("no outer header with the pings' TOS 0xb8")
	}
	if len(rows) < 1000 {
		t.Fatalf("capture has %d frames for a %d MB transfer", len(rows), size>>20)
	}
	bad := 0
	for i, r := range rows {
		// Outer TTL and TOS are the inner packet's (IPv4 TTL and TOS, or
		// IPv6 hop limit and traffic class).
		ttls, tos := strings.Split(r[5], ";"), strings.Split(r[14], ";")
		innerTTL, innerTOS := "", ""
		if len(ttls) == 2 && len(tos) == 2 {
			innerTTL, innerTOS = ttls[1], tos[1]
		} else if r[15] != "" {
			innerTTL, innerTOS = r[15], r[16]
		}
		for j := range r {
			r[j], _, _ = strings.Cut(r[j], ";") // the outer header's value
		}
		var why []string
		if r[5] != innerTTL || !sameNumber(r[14], innerTOS) {
			why = append(why, fmt.Sprintf("outer TTL %s TOS %s, inner %s %s", r[5], r[14], innerTTL, innerTOS))
		}
		if n, _ := strconv.Atoi(r[0]); n > 1514 {
			why = append(why, "frame above the MTU")
		}
		if !strings.Contains(r[1], "lisp-data:ip") {
			why = append(why, "not LISP data over IP: "+r[1])
		}
		if sp, _ := strconv.Atoi(r[6]); sp < 49152 {
			why = append(why, "source port outside 49152-65535")
		}
		if r[7] != "4341" || r[8] != "0x0000" || r[4] != "1" {
			why = append(why, fmt.Sprintf("dport %s, checksum %s, DF %s", r[7], r[8], r[4]))
		}
		if !isTrue(r[9]) || !isTrue(r[10]) || !isTrue(r[11]) || r[12] != strconv.Itoa(testIID) || r[13] != "0x01" {
			why = append(why, fmt.Sprintf("LISP N=%s L=%s I=%s iid %s lsb %s", r[9], r[10], r[11], r[12], r[13]))
		}
		if want := [2]string{k.RLOC1v4.String(), k.RLOC2v4.String()}; [2]string{r[2], r[3]} != want && [2]string{r[3], r[2]} != want {
			why = append(why, "RLOCs "+r[2]+" → "+r[3])
		}
		if len(why) > 0 {
			if bad < 5 {
				t.Errorf("frame %d: %s (%v)", i+1, strings.Join(why, "; "), r)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d frames wrong", bad, len(rows))
	}
}

// isTrue reports whether a tshark boolean field is set ("1" or "True",
// depending on the version).
func isTrue(s string) bool { return s == "1" || s == "True" }

// sameNumber reports whether two tshark numbers are equal whatever their
// notation ("0x00" and "0x00000000").
func sameNumber(a, b string) bool {
	x, err1 := strconv.ParseUint(a, 0, 32)
	y, err2 := strconv.ParseUint(b, 0, 32)
	return err1 == nil && err2 == nil && x == y
}

// TestKernelPathIPv6RLOCs joins the xTRs with their IPv6 RLOCs (outer
// IPv6) through the TC programs alone, as TCX links and as cls_bpf filters
// (the pre-6.6 fallback): the TC decapsulation of real skbs, inner IPv4
// leaving an IPv6 tunnel (BPF_F_ADJ_ROOM_DECAP_L3_IPV4) and inner IPv6, and
// TSO super-packets encapsulated whole. 8 MB each way of inner family
// arrive intact, carried by the programs (their counters), none left to a
// daemon (there is none).
func TestKernelPathIPv6RLOCs(t *testing.T) {
	for _, hook := range []string{"tcx", "cls"} {
		t.Run(hook, func(t *testing.T) {
			k := newKpathLabWith(t, hook, true)
			ping(t, k.A, lab.HostB4)
			ping(t, k.B, lab.HostA6)
			const size = 8 << 20
			for _, dst := range []netip.Addr{lab.HostB4, lab.HostB6} {
				e0, _ := k.x1.Encap.Stats()
				k.transferTo(t, dst, size)
				e1, _ := k.x1.Encap.Stats()
				eid := lab.Site2v4
				if dst.Is6() {
					eid = lab.Site2v6
				}
				enc, err := k.x1.Encap.Counters(eid)
				if err != nil {
					t.Fatal(err)
				}
				dec, err := k.x2.Decap.Counters(k.RLOC2v6)
				if err != nil {
					t.Fatal(err)
				}
				s2, _ := k.x2.Decap.Stats()
				t.Logf("to %v: xTR1 encapsulated %+v (%d GSO packets), xTR2 decapsulated %+v (all families), xTR2 stats %v",
					dst, enc, e1[StatEncapGSO]-e0[StatEncapGSO], dec, s2)
				if enc.Bytes < size || dec.Bytes < size {
					t.Errorf("to %v: encapsulated %d bytes, decapsulated %d; want ≥ %d", dst, enc.Bytes, dec.Bytes, size)
				}
				if e1[StatEncapGSO] == e0[StatEncapGSO] {
					t.Errorf("to %v: no GSO packet encapsulated (TUN without TSO?)", dst)
				}
				if s2[StatDecapError] != 0 || s2[StatDecapBad] != 0 {
					t.Errorf("xTR2 stats %v: decapsulation errors", s2)
				}
			}
			ss, err := k.x2.Decap.Senders(nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(ss) != 1 || ss[0].ITR != k.RLOC1v6 {
				t.Errorf("xTR2's senders %+v, want %v", ss, k.RLOC1v6)
			}
		})
	}
}
