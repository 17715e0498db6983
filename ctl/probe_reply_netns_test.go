package ctl

import (
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/msg"
	"github.com/lispd/lispd/testing/netns"
	"github.com/lispd/lispd/testing/tshark"
)

// In network namespaces, over veth: an ETR with two uplinks, RLOC A on one
// and RLOC B on the other, listening on the wildcard address, answers an
// RLOC probe sent to B with exactly B marked probed and from B, and one sent
// to A likewise with A: the ITR sees the reply come from the RLOC it
// probed (RFC 9301 section 5.4). Captured on the ITR's side, the replies
// decode clean in tshark, which shows the p bit on the probed locator.
func TestETRProbeReplyNetns(t *testing.T) {
	topo := netns.New(t)
	etrHost, err := topo.Host("etr")
	if err != nil {
		t.Fatal(err)
	}
	itrHost, err := topo.Host("itr")
	if err != nil {
		t.Fatal(err)
	}
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.1")
	itrRLOC := netip.MustParseAddr("192.0.2.2")
	if _, err := topo.Link(etrHost, itrHost, netns.LinkOptions{NameA: "up1", NameB: "down1", TxChecksumOff: true,
		AddrA: []netip.Prefix{netip.PrefixFrom(a, 24)}, AddrB: []netip.Prefix{netip.PrefixFrom(itrRLOC, 24)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := topo.Link(etrHost, itrHost, netns.LinkOptions{NameA: "up2", NameB: "down2", TxChecksumOff: true,
		AddrA: []netip.Prefix{netip.MustParsePrefix("198.51.100.1/24")}, AddrB: []netip.Prefix{netip.MustParsePrefix("198.51.100.2/24")}}); err != nil {
		t.Fatal(err)
	}
	var n *Node
	if err := etrHost.Do(func() error {
		up1, err := net.InterfaceByName("up1")
		if err != nil {
			return err
		}
		up2, err := net.InterfaceByName("up2")
		if err != nil {
			return err
		}
		n, err = New(Options{Port: DefaultPort, Logger: testLogger(t), XTR: &XTROptions{
			EIDPrefixes: prefixes("10.1.1.0/24"),
			RLOCs: []LocalLocator{
				{Addr: a, Priority: 1, Weight: 50, IfIndex: up1.Index},
				{Addr: b, Priority: 1, Weight: 50, IfIndex: up2.Index},
			},
			NATTraversal: NATOff,
		}}, newFakeDataPlane())
		if err != nil {
			return err
		}
		return n.Start(t.Context())
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	var itr *net.UDPConn
	if err := itrHost.Do(func() error {
		var err error
		itr, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(itrRLOC, 0)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer itr.Close()
	var caps []*netns.Capture
	for _, iface := range []string{"down1", "down2"} {
		c, err := itrHost.Capture(iface, filepath.Join(t.TempDir(), iface+".pcap"), "udp", "port", "4342")
		if err != nil {
			t.Fatal(err)
		}
		caps = append(caps, c)
	}
	buf := make([]byte, 1500)
	for _, probed := range []netip.Addr{b, a} {
		req := msg.MapRequest{Probe: true, Nonce: randomNonce(), ITRRLOCs: []msg.Address{msg.AddrOf(itrRLOC)},
			EIDs: []msg.EID{msg.EIDOf(0, netip.MustParsePrefix("10.1.1.0/24"))}}
		if _, err := itr.WriteToUDPAddrPort(req.Append(nil), netip.AddrPortFrom(probed, DefaultPort)); err != nil {
			t.Fatal(err)
		}
		itr.SetReadDeadline(time.Now().Add(5 * time.Second))
		k, from, err := itr.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("probe to %v: no reply: %v", probed, err)
		}
		rep, got := probedLocators(t, buf[:k])
		if rep.Nonce != req.Nonce || !rep.Probe || len(rep.Records) != 1 || len(rep.Records[0].Locators) != 2 {
			t.Fatalf("probe to %v: reply %+v", probed, rep)
		}
		if len(got) != 1 || got[0] != probed {
			t.Errorf("probe to %v: probed locators %v, want exactly [%v]", probed, got, probed)
		}
		if from != netip.AddrPortFrom(probed, DefaultPort) {
			t.Errorf("probe to %v: reply from %v, want %v", probed, from, netip.AddrPortFrom(probed, DefaultPort))
		}
	}
	replies := 0
	for _, c := range caps {
		if summary, err := c.Stop(); err != nil {
			t.Fatalf("capture %s: %v: %s", c.Path, err, summary)
		}
		tshark.Check(t, c.Path)
		for _, row := range tshark.Fields(t, c.Path, "lisp.type == 2", []string{"ip.src", "lisp.loc.locator", "lisp.loc.flags.probe"}) {
			replies++
			locs, flags := strings.Split(row[1], ";"), strings.Split(row[2], ";")
			if len(locs) != 2 || len(flags) != 2 {
				t.Errorf("tshark: Map-Reply from %s with locators %q, probe flags %q", row[0], row[1], row[2])
				continue
			}
			for i, l := range locs {
				if want := l == row[0]; (flags[i] == "1" || flags[i] == "True") != want {
					t.Errorf("tshark: Map-Reply from %s: locator %s has probe flag %s", row[0], l, flags[i])
				}
			}
		}
	}
	if replies != 2 {
		t.Errorf("tshark: %d Map-Replies captured, want 2", replies)
	}
}
