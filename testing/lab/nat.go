package lab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/lispd/lispd/testing/netns"
)

// NAT traversal (issue 8): xTR1 sits behind a NAT namespace, the core
// holds the Map-Server (with the RTR, or an RTR host of its own) and xTR2.
//
//	host A — xTR1 (wan 10.0.0.2) — nat (lan 10.0.0.1, wan 192.0.2.20,
//	masquerade) — core bridge — ms 192.0.2.10 (+ RTR), xTR2 192.0.2.2,
//	[rtr 192.0.2.30] — xTR2 — host B

// NAT-lab addresses.
var (
	NATPrivateXTR1 = addr("10.0.0.2")
	NATPrivateGW   = addr("10.0.0.1")
	NATPublic      = addr("192.0.2.20")
	NATRTRHost     = addr("192.0.2.30")
	// NATPrivateXTR3 is a second xTR behind the same NAT (AddNATXTR).
	NATPrivateXTR3 = addr("10.0.0.3")
)

// Site 3: a second site behind the same NAT (AddNATXTR), IPv6 EIDs only
// (inside EIDSpace, outside sites 1 and 2).
var (
	Site3v6  = pfx("2001:db8:3::/48")
	HostC6   = addr("2001:db8:3::10")
	XTR3LAN6 = addr("2001:db8:3::1")
)

// Site3Key is site 3's Map-Server key (test-only secret).
const Site3Key = "site3-secret"

// NATOptions shape the NAT lab.
type NATOptions struct {
	// Random uses `masquerade random`: the public source port is not the
	// private one.
	Random bool
	// SeparateRTR puts the RTR in a host "rtr" of its own (192.0.2.30), so
	// that the RTR ⇄ Map-Server leg crosses the core.
	SeparateRTR bool
}

// NATLab is the built NAT-traversal lab.
type NATLab struct {
	*Lab
	NAT    *netns.Host
	NATWAN *netns.Iface
	// RTRHost is where the RTR runs: MS, or the "rtr" host with SeparateRTR.
	RTRHost *netns.Host
	RTRv4   netip.Addr
	opt     NATOptions
	lan     *netns.Iface // the NAT's private bridge
	// XTR3 and C are the second xTR behind the NAT and its host
	// (AddNATXTR); nil otherwise.
	XTR3, C *netns.Host
}

// natTable is the nftables table of the NAT host.
const natTable = "lispd_nat"

// BuildNAT creates the NAT lab inside topo. Every core link has tx checksum
// offload off, so captures decode with correct checksums.
func BuildNAT(topo *netns.Topology, opt NATOptions) (*NATLab, error) {
	l := &Lab{Topo: topo, opt: Options{Core: CoreBridge, TxChecksumOff: true}}
	dir, err := os.MkdirTemp("", "lispd-nat-")
	if err != nil {
		return nil, err
	}
	l.Dir = dir
	topo.OnClose(func() error { return os.RemoveAll(dir) })
	nl := &NATLab{Lab: l, opt: opt}
	if err := nl.build(); err != nil {
		return nil, fmt.Errorf("lab: NAT: %w", err)
	}
	return nl, nil
}

func (nl *NATLab) build() error {
	l, t := nl.Lab, nl.Topo
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
	nl.NAT, l.Core, l.MS = host("nat"), host("core"), host("ms")
	if nl.opt.SeparateRTR {
		nl.RTRHost = host("rtr")
	}
	if err != nil {
		return err
	}
	for _, h := range []*netns.Host{l.XTR1, l.XTR2, nl.NAT} {
		if err := h.EnableForwarding(); err != nil {
			return err
		}
	}
	if err := l.linkLANs(); err != nil {
		return err
	}
	// The NAT's private side is a bridge, so that more xTRs can sit
	// behind the same NAT (AddNATXTR).
	nl.lan, err = nl.NAT.Bridge("lan", pfx(NATPrivateGW.String()+"/24"))
	if err != nil {
		return err
	}
	if l.XTR1WAN, err = nl.attachPrivate(l.XTR1, "p-xtr1", NATPrivateXTR1); err != nil {
		return err
	}
	br, err := l.Core.Bridge(CoreBridgeName)
	if err != nil {
		return err
	}
	l.bridge = br
	type port struct {
		h        *netns.Host
		name     string
		a4, a6   string
		wan      **netns.Iface
		register func(*netns.Iface)
	}
	ports := []port{
		{nl.NAT, "c-nat", NATPublic.String() + "/24", "", &nl.NATWAN, nil},
		{l.XTR2, "x2", "192.0.2.2/24", "2001:db8:ff::2/64", &l.XTR2WAN, nil},
		{l.MS, "ms", "192.0.2.10/24", "2001:db8:ff::a/64", nil, func(i *netns.Iface) { l.MSv4, l.MSv6 = i.Addr4(), i.Addr6() }},
	}
	if nl.RTRHost != nil {
		ports = append(ports, port{nl.RTRHost, "c-rtr", NATRTRHost.String() + "/24", "", nil, nil})
	}
	for _, p := range ports {
		lk, err := t.Link(p.h, l.Core, netns.LinkOptions{NameA: "wan", NameB: p.name,
			AddrA: prefixes(p.a4, p.a6), TxChecksumOff: true})
		if err != nil {
			return err
		}
		if err := lk.B.SetMaster(br); err != nil {
			return err
		}
		l.CoreLinks = append(l.CoreLinks, lk)
		if p.wan != nil {
			*p.wan = lk.A
		}
		if p.register != nil {
			p.register(lk.A)
		}
	}
	l.RLOC1v4 = NATPrivateXTR1
	l.RLOC2v4, l.RLOC2v6 = l.XTR2WAN.Addr4(), l.XTR2WAN.Addr6()
	if nl.opt.SeparateRTR {
		nl.RTRv4 = NATRTRHost
	} else {
		nl.RTRHost, nl.RTRv4 = l.MS, l.MSv4
	}
	return nl.masquerade(nl.opt.Random)
}

// attachPrivate links h ("wan", address a/24, default route via the NAT)
// to the NAT's private bridge through port name.
func (nl *NATLab) attachPrivate(h *netns.Host, name string, a netip.Addr) (*netns.Iface, error) {
	lk, err := nl.Topo.Link(h, nl.NAT, netns.LinkOptions{NameA: "wan", NameB: name,
		AddrA: prefixes(a.String() + "/24"), TxChecksumOff: true})
	if err != nil {
		return nil, err
	}
	if err := lk.B.SetMaster(nl.lan); err != nil {
		return nil, err
	}
	if err := h.DefaultRoute(NATPrivateGW); err != nil {
		return nil, err
	}
	return lk.A, nil
}

// masquerade (re)installs the NAT host's source NAT toward its WAN.
func (nl *NATLab) masquerade(random bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nl.NAT.Run(ctx, "nft", "delete", "table", "ip", natTable)
	rule := []string{"nft", "add", "rule", "ip", natTable, "post", "oifname", "wan", "masquerade"}
	if random {
		rule = append(rule, "random")
	}
	for _, argv := range [][]string{
		{"nft", "add", "table", "ip", natTable},
		{"nft", "add", "chain", "ip", natTable, "post", "{ type nat hook postrouting priority 100 ; policy accept ; }"},
		rule,
	} {
		if err := nl.NAT.Run(ctx, argv...); err != nil {
			return fmt.Errorf("NAT host: %s: %w", strings.Join(argv, " "), err)
		}
	}
	return nil
}

// SetConntrackUDPTimeouts sets the NAT host's UDP conntrack timeouts (both
// nf_conntrack_udp_timeout and nf_conntrack_udp_timeout_stream, the latter
// for flows that saw replies) in seconds.
func (nl *NATLab) SetConntrackUDPTimeouts(sec int) error {
	return nl.NAT.Sysctl(
		fmt.Sprintf("net.netfilter.nf_conntrack_udp_timeout=%d", sec),
		fmt.Sprintf("net.netfilter.nf_conntrack_udp_timeout_stream=%d", sec))
}

// BounceWAN takes the NAT host's WAN link down and up again: masquerade
// forgets its bindings on that link, so the xTR's next packets get new
// ones (with `masquerade random`, new public ports).
func (nl *NATLab) BounceWAN() error {
	if err := nl.NAT.IP("link", "set", "wan", "down"); err != nil {
		return err
	}
	return nl.NAT.IP("link", "set", "wan", "up")
}

// MapServerTOML returns the Map-Server's configuration with the RTR
// offered (and, without SeparateRTR, the RTR role in the same process).
func (nl *NATLab) MapServerTOML(c MapServerConfig) string {
	c.Extra = strings.TrimSpace(fmt.Sprintf("rtrs = [%q]\n%s", nl.RTRv4, c.Extra))
	text := nl.MapServerTOMLWith(c)
	if nl.XTR3 != nil {
		text += fmt.Sprintf("\n[[map_server.site]]\nname = \"site3\"\nkey = %q\nkey_type = \"sha256\"\ninstance_id = 0\neid_prefixes = [%q]\n",
			Site3Key, Site3v6.String())
	}
	if !nl.opt.SeparateRTR {
		text += nl.rtrTable()
	}
	return text
}

// RTRTOML returns the configuration of the RTR host (SeparateRTR).
func (nl *NATLab) RTRTOML() string {
	var b strings.Builder
	b.WriteString("# lispd RTR written by testing/lab\n")
	fmt.Fprintf(&b, "log_level = \"debug\"\ncontrol_socket = %q\n", nl.Socket("rtr"))
	b.WriteString(nl.rtrTable())
	return b.String()
}

func (nl *NATLab) rtrTable() string {
	return fmt.Sprintf("\n[rtr]\nenabled = true\nlisten = [%q]\nmap_servers = [%q]\n", nl.RTRv4, nl.MSv4)
}

// AddNATXTR adds a second xTR behind the same NAT: "xtr3" at 10.0.0.3 on
// the NAT's private bridge, serving site 3 (Site3v6) with host "c" behind
// it. Call it before writing the Map-Server's configuration (which then
// lists site 3).
func (nl *NATLab) AddNATXTR() error {
	var err error
	if nl.XTR3, err = nl.Topo.Host("xtr3"); err != nil {
		return err
	}
	if nl.C, err = nl.Topo.Host("c"); err != nil {
		return err
	}
	if err := nl.XTR3.EnableForwarding(); err != nil {
		return err
	}
	if _, err := nl.Topo.Link(nl.C, nl.XTR3, netns.LinkOptions{NameA: "eth0", NameB: "lan",
		AddrA: []netip.Prefix{netip.PrefixFrom(HostC6, 64)}, AddrB: []netip.Prefix{netip.PrefixFrom(XTR3LAN6, 64)}}); err != nil {
		return err
	}
	if err := nl.C.DefaultRoute(XTR3LAN6); err != nil {
		return err
	}
	_, err = nl.attachPrivate(nl.XTR3, "p-xtr3", NATPrivateXTR3)
	return err
}

// XTR3TOML returns xTR3's configuration; extra goes inside [xtr].
func (nl *NATLab) XTR3TOML(extra string) string {
	var b strings.Builder
	b.WriteString("# lispd configuration written by testing/lab for xtr3\n")
	fmt.Fprintf(&b, "log_level = \"debug\"\ncontrol_socket = %q\n\n", nl.Socket("xtr3"))
	fmt.Fprintf(&b, "[xtr]\ntun = \"lisp0\"\ninstance_id = 0\neid_prefixes = [%q]\neid_space = %s\nmap_resolvers = [%q]\n",
		Site3v6.String(), quoted(EIDSpace), nl.MSv4.String())
	if extra != "" {
		b.WriteString(strings.TrimSpace(extra) + "\n")
	}
	fmt.Fprintf(&b, "\n[[xtr.rloc]]\naddress = %q\npriority = 1\nweight = 100\n", NATPrivateXTR3)
	fmt.Fprintf(&b, "\n[[xtr.map_server]]\naddress = %q\nkey = %q\nkey_type = \"sha256\"\nwant_map_notify = true\n", nl.MSv4.String(), Site3Key)
	return b.String()
}
