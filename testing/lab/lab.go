// Package lab builds the standard lispd test network out of network
// namespaces: host A — xTR1 — core — xTR2 — host B (plus a Map-Server for
// the demo), writes lispd configurations for it and runs lispd inside it.
// The end-to-end tests, the bench harness and the demo share it.
package lab

import (
	"fmt"
	"net/netip"
	"os"

	"github.com/lispd/lispd/testing/netns"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr  { return netip.MustParseAddr(s) }

// The addressing plan (documentation ranges only).
var (
	// Site 1 (behind xTR1, host A) and site 2 (behind xTR2, host B).
	Site1v4, Site1v6 = pfx("198.51.100.0/25"), pfx("2001:db8:1::/48")
	Site2v4, Site2v6 = pfx("198.51.100.128/25"), pfx("2001:db8:2::/48")
	// EIDSpace is what the xTRs send through LISP. The IPv6 part is a /46
	// so that the IPv6 RLOCs (2001:db8:ff::/48) stay outside it.
	EIDSpace = []netip.Prefix{pfx("198.51.100.0/24"), pfx("2001:db8::/46")}

	HostA4, HostA6     = addr("198.51.100.10"), addr("2001:db8:1::10")
	HostB4, HostB6     = addr("198.51.100.138"), addr("2001:db8:2::10")
	XTR1LAN4, XTR1LAN6 = addr("198.51.100.1"), addr("2001:db8:1::1")
	XTR2LAN4, XTR2LAN6 = addr("198.51.100.129"), addr("2001:db8:2::1")

	// Outside is an address outside EIDSpace (reached natively, if at all).
	Outside4 = addr("203.0.113.77")
)

// CoreKind selects what sits between the two xTRs.
type CoreKind int

// Core kinds.
const (
	// CoreDirect links xTR1 and xTR2 with one veth (192.0.2.0/30,
	// 2001:db8:ff:1::/64).
	CoreDirect CoreKind = iota
	// CoreRouter puts a router "core" in the middle: xTR1 —
	// 192.0.2.0/30 — core — 192.0.2.4/30 — xTR2 (IPv6 2001:db8:ff:1::/64
	// and 2001:db8:ff:2::/64).
	CoreRouter
	// CoreBridge joins xTR1, xTR2 and a Map-Server host "ms" on a bridge
	// in host "core" (192.0.2.0/24, 2001:db8:ff::/64; ms is .10 / ::10).
	CoreBridge
)

// Options shape the lab.
type Options struct {
	Core CoreKind
	// CoreMTU is the MTU of the core→xTR2 link (CoreRouter) or of every
	// core link; 0 = 1500.
	CoreMTU int
	// TxChecksumOff turns tx checksum offload off on the core links (for
	// captures with correct checksums).
	TxChecksumOff bool
	// WireLike makes the core behave like a wire: TSO/GSO/USO off on both
	// ends of each core link, GRO on where the xTRs receive.
	WireLike bool
}

// Lab is the built network.
type Lab struct {
	Topo             *netns.Topology
	A, B, XTR1, XTR2 *netns.Host
	Core, MS         *netns.Host // nil when not part of the lab
	XTR1WAN, XTR2WAN *netns.Iface
	CoreLinks        []*netns.Link
	RLOC1v4, RLOC2v4 netip.Addr
	RLOC1v6, RLOC2v6 netip.Addr
	MSv4, MSv6       netip.Addr
	gw1v4, gw1v6     netip.Addr // xTR1's next hop toward the core
	gw2v4, gw2v6     netip.Addr
	opt              Options
	bridge           *netns.Iface // the core bridge (CoreBridge), for AddCoreHost
	// Dir is a short private directory for configs, sockets and logs,
	// removed on Close.
	Dir string
}

// Build creates the lab inside topo.
func Build(topo *netns.Topology, opt Options) (*Lab, error) {
	l := &Lab{Topo: topo, opt: opt}
	dir, err := os.MkdirTemp("", "lispd-lab-")
	if err != nil {
		return nil, err
	}
	l.Dir = dir
	topo.OnClose(func() error { return os.RemoveAll(dir) })
	if err := l.build(opt); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	return l, nil
}

// linkLANs joins host A to xTR1 and host B to xTR2 (each xTR's "lan") and
// gives both hosts their default routes through their xTR.
func (l *Lab) linkLANs() error {
	t := l.Topo
	if _, err := t.Link(l.A, l.XTR1, netns.LinkOptions{NameA: "eth0", NameB: "lan",
		AddrA: []netip.Prefix{netip.PrefixFrom(HostA4, 25), netip.PrefixFrom(HostA6, 64)},
		AddrB: []netip.Prefix{netip.PrefixFrom(XTR1LAN4, 25), netip.PrefixFrom(XTR1LAN6, 64)},
	}); err != nil {
		return err
	}
	if _, err := t.Link(l.B, l.XTR2, netns.LinkOptions{NameA: "eth0", NameB: "lan",
		AddrA: []netip.Prefix{netip.PrefixFrom(HostB4, 25), netip.PrefixFrom(HostB6, 64)},
		AddrB: []netip.Prefix{netip.PrefixFrom(XTR2LAN4, 25), netip.PrefixFrom(XTR2LAN6, 64)},
	}); err != nil {
		return err
	}
	for _, r := range []struct {
		h      *netns.Host
		v4, v6 netip.Addr
	}{{l.A, XTR1LAN4, XTR1LAN6}, {l.B, XTR2LAN4, XTR2LAN6}} {
		if err := r.h.DefaultRoute(r.v4); err != nil {
			return err
		}
		if err := r.h.DefaultRoute(r.v6); err != nil {
			return err
		}
	}
	return nil
}

func (l *Lab) build(opt Options) error {
	t := l.Topo
	var err error
	host := func(name string) *netns.Host {
		if err != nil {
			return nil
		}
		var h *netns.Host
		h, err = t.Host(name)
		return h
	}
	l.A, l.XTR1, l.XTR2, l.B = host("a"), host("xtr1"), host("xtr2"), host("b")
	if err != nil {
		return err
	}
	for _, h := range []*netns.Host{l.XTR1, l.XTR2} {
		if err := h.EnableForwarding(); err != nil {
			return err
		}
	}
	if err := l.linkLANs(); err != nil {
		return err
	}

	var features []string
	if opt.WireLike {
		features = []string{"tso", "off", "gso", "off", "tx-udp-segmentation", "off"}
	}
	link := func(a, b *netns.Host, na, nb string, a4, b4, a6, b6 string, mtu int) (*netns.Link, error) {
		lk, err := t.Link(a, b, netns.LinkOptions{NameA: na, NameB: nb,
			AddrA: prefixes(a4, a6), AddrB: prefixes(b4, b6),
			MTU: mtu, TxChecksumOff: opt.TxChecksumOff, Features: features})
		if err != nil {
			return nil, err
		}
		l.CoreLinks = append(l.CoreLinks, lk)
		return lk, nil
	}
	switch opt.Core {
	case CoreDirect:
		lk, err := link(l.XTR1, l.XTR2, "wan", "wan", "192.0.2.1/30", "192.0.2.2/30",
			"2001:db8:ff:1::1/64", "2001:db8:ff:1::2/64", opt.CoreMTU)
		if err != nil {
			return err
		}
		l.XTR1WAN, l.XTR2WAN = lk.A, lk.B
		l.gw1v4, l.gw1v6 = lk.B.Addr4(), lk.B.Addr6()
		l.gw2v4, l.gw2v6 = lk.A.Addr4(), lk.A.Addr6()
	case CoreRouter:
		l.Core = host("core")
		if err != nil {
			return err
		}
		if err := l.Core.EnableForwarding(); err != nil {
			return err
		}
		l1, err := link(l.XTR1, l.Core, "wan", "x1", "192.0.2.1/30", "192.0.2.2/30",
			"2001:db8:ff:1::1/64", "2001:db8:ff:1::2/64", 0)
		if err != nil {
			return err
		}
		l2, err := link(l.Core, l.XTR2, "x2", "wan", "192.0.2.5/30", "192.0.2.6/30",
			"2001:db8:ff:2::1/64", "2001:db8:ff:2::2/64", opt.CoreMTU)
		if err != nil {
			return err
		}
		l.XTR1WAN, l.XTR2WAN = l1.A, l2.B
		l.gw1v4, l.gw1v6 = l1.B.Addr4(), l1.B.Addr6()
		l.gw2v4, l.gw2v6 = l2.A.Addr4(), l2.A.Addr6()
	case CoreBridge:
		l.Core, l.MS = host("core"), host("ms")
		if err != nil {
			return err
		}
		br, err := l.Core.Bridge("br0")
		if err != nil {
			return err
		}
		l.bridge = br
		for i, e := range []struct {
			h    *netns.Host
			name string
			n    int
		}{{l.XTR1, "x1", 1}, {l.XTR2, "x2", 2}, {l.MS, "ms", 10}} {
			lk, err := link(e.h, l.Core, "wan", e.name, fmt.Sprintf("192.0.2.%d/24", e.n), "",
				fmt.Sprintf("2001:db8:ff::%x/64", e.n), "", opt.CoreMTU)
			if err != nil {
				return err
			}
			if err := lk.B.SetMaster(br); err != nil {
				return err
			}
			switch i {
			case 0:
				l.XTR1WAN = lk.A
			case 1:
				l.XTR2WAN = lk.A
			case 2:
				l.MSv4, l.MSv6 = lk.A.Addr4(), lk.A.Addr6()
			}
		}
		l.gw1v4, l.gw1v6 = l.XTR2WAN.Addr4(), l.XTR2WAN.Addr6()
		l.gw2v4, l.gw2v6 = l.XTR1WAN.Addr4(), l.XTR1WAN.Addr6()
	}
	l.RLOC1v4, l.RLOC1v6 = l.XTR1WAN.Addr4(), l.XTR1WAN.Addr6()
	l.RLOC2v4, l.RLOC2v6 = l.XTR2WAN.Addr4(), l.XTR2WAN.Addr6()
	if opt.WireLike {
		// GRO where the xTRs receive from the core.
		for _, i := range []*netns.Iface{l.XTR1WAN, l.XTR2WAN} {
			if err := i.SetFeatures("gro", "on"); err != nil {
				return err
			}
		}
	}
	if opt.Core == CoreRouter {
		// The xTRs reach everything beyond the core through it; the core
		// itself knows only its connected RLOC networks, never the EIDs.
		// (With CoreDirect and CoreBridge the RLOCs are on-link and the
		// xTRs have no default route, so EIDs never leak outside LISP.)
		for _, r := range []struct {
			h      *netns.Host
			v4, v6 netip.Addr
		}{{l.XTR1, l.gw1v4, l.gw1v6}, {l.XTR2, l.gw2v4, l.gw2v6}} {
			if err := r.h.DefaultRoute(r.v4); err != nil {
				return err
			}
			if err := r.h.DefaultRoute(r.v6); err != nil {
				return err
			}
		}
	}
	return nil
}

func prefixes(ss ...string) []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range ss {
		if s != "" {
			ps = append(ps, pfx(s))
		}
	}
	return ps
}
