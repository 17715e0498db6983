package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/lispd/lispd/testing/netns"
)

// Multihoming (issue 7): xTR1 gets a second uplink to the core, and the
// core can cut the path to one RLOC while every link stays up.

// LocalLocator is one [[xtr.rloc]] entry of a multihomed xTR.
type LocalLocator struct {
	Addr     netip.Addr
	Priority int
	Weight   int
}

// AddXTR1Uplink gives xTR1 a second link to the core bridge (CoreBridge
// only): interface "wan2" in xTR1, port "x1b" on the bridge, with addresses
// 192.0.2.<n>/24 and 2001:db8:ff::<n in hex>/64 — a second dual-stack RLOC
// on the same core network. xTR1 then answers ARP only on the interface that
// holds the address asked for (IPv6 neighbour discovery does so anyway), so
// each RLOC's traffic comes in on its own link.
func (l *Lab) AddXTR1Uplink(n int) (*netns.Iface, error) {
	if l.bridge == nil {
		return nil, errors.New("lab: AddXTR1Uplink needs a CoreBridge lab")
	}
	if n < 3 || n > 254 || n == 10 {
		return nil, fmt.Errorf("lab: AddXTR1Uplink: address .%d taken or out of range", n)
	}
	if err := l.XTR1.Sysctl("net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2"); err != nil {
		return nil, err
	}
	var features []string
	if l.opt.WireLike {
		features = []string{"tso", "off", "gso", "off", "tx-udp-segmentation", "off"}
	}
	lk, err := l.Topo.Link(l.XTR1, l.Core, netns.LinkOptions{NameA: "wan2", NameB: "x1b",
		AddrA: []netip.Prefix{pfx(fmt.Sprintf("192.0.2.%d/24", n)), pfx(fmt.Sprintf("2001:db8:ff::%x/64", n))},
		MTU:   l.opt.CoreMTU, TxChecksumOff: l.opt.TxChecksumOff, Features: features})
	if err != nil {
		return nil, fmt.Errorf("lab: xTR1 second uplink: %w", err)
	}
	if err := lk.B.SetMaster(l.bridge); err != nil {
		return nil, err
	}
	l.CoreLinks = append(l.CoreLinks, lk)
	return lk.A, nil
}

// XTRTOMLWithRLOCs is XTRTOML(c) with the given locators instead of the
// single one XTRTOML writes (the IPv4 address of the xTR's WAN, priority 1,
// weight 100).
func (l *Lab) XTRTOMLWithRLOCs(c XTRConfig, rlocs []LocalLocator) (string, error) {
	wan := l.XTR1WAN
	if c.Side == 2 {
		wan = l.XTR2WAN
	}
	local := wan.Addr4()
	if c.RLOC6 {
		local = wan.Addr6()
	}
	text := l.XTRTOML(c)
	single := fmt.Sprintf("\n[[xtr.rloc]]\naddress = %q\npriority = 1\nweight = 100\n", local)
	if strings.Count(text, single) != 1 {
		return "", errors.New("lab: XTRTOMLWithRLOCs: the configuration has no single [[xtr.rloc]] block to replace")
	}
	var b strings.Builder
	for _, r := range rlocs {
		fmt.Fprintf(&b, "\n[[xtr.rloc]]\naddress = %q\npriority = %d\nweight = %d\n", r.Addr, r.Priority, r.Weight)
	}
	return strings.Replace(text, single, b.String(), 1), nil
}

// coreCutTable is the nftables table CutCorePath adds in the core.
const coreCutTable = "lispd_cut"

// CutCorePath drops every IP packet to dst inside the core's bridge (an
// nftables bridge-family rule in host "core"), while every link stays up
// and ARP still works: a remote failure only RLOC probing can see. undo
// removes the rule.
func (l *Lab) CutCorePath(dst netip.Addr) (undo func() error, err error) {
	if l.bridge == nil {
		return nil, errors.New("lab: CutCorePath needs a CoreBridge lab")
	}
	fam := "ip"
	if dst.Is6() {
		fam = "ip6"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, argv := range [][]string{
		{"nft", "add", "table", "bridge", coreCutTable},
		{"nft", "add", "chain", "bridge", coreCutTable, "cut", "{ type filter hook forward priority 0 ; policy accept ; }"},
		{"nft", "add", "rule", "bridge", coreCutTable, "cut", fam, "daddr", dst.String(), "counter", "drop"},
	} {
		if err := l.Core.Run(ctx, argv...); err != nil {
			l.Core.Run(ctx, "nft", "delete", "table", "bridge", coreCutTable)
			return nil, fmt.Errorf("lab: cut the core path to %v: %w", dst, err)
		}
	}
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return l.Core.Run(ctx, "nft", "delete", "table", "bridge", coreCutTable)
	}, nil
}
