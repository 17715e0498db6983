package netns

import (
	"fmt"
	"net/netip"
)

// LinkOptions describes a veth link between two hosts.
type LinkOptions struct {
	// NameA and NameB name the interfaces in host a and host b (at most 15
	// bytes). Empty means "eth<N>", N counting the host's interfaces.
	NameA, NameB string
	// AddrA and AddrB are the addresses (with prefix length) of each end.
	AddrA, AddrB []netip.Prefix
	// MTU of both ends; 0 keeps the default (1500).
	MTU int
	// TxChecksumOff turns transmit checksum offload off on both ends, so
	// that captures show full UDP/TCP checksums instead of partial ones.
	TxChecksumOff bool
	// Features are ethtool -K name/value pairs applied to both ends, e.g.
	// {"tso", "off", "gso", "off"}.
	Features []string
}

// Iface is one end of a link, inside one host.
type Iface struct {
	Host  *Host
	Name  string
	Addrs []netip.Prefix
}

// Link is a veth pair; A is in the first host, B in the second.
type Link struct {
	A, B *Iface
}

// Link creates a veth pair between a and b, created directly inside the two
// namespaces, brings both ends up with their addresses and options.
func (t *Topology) Link(a, b *Host, opt LinkOptions) (*Link, error) {
	na, nb := opt.NameA, opt.NameB
	if na == "" {
		na = fmt.Sprintf("eth%d", a.nextIf)
	}
	a.nextIf++
	if nb == "" {
		nb = fmt.Sprintf("eth%d", b.nextIf)
	}
	b.nextIf++
	if len(na) > 15 || len(nb) > 15 {
		return nil, fmt.Errorf("netns: interface names %q/%q longer than 15 bytes", na, nb)
	}
	if err := run(bg, "ip", "link", "add", na, "netns", a.NS, "type", "veth",
		"peer", "name", nb, "netns", b.NS); err != nil {
		return nil, fmt.Errorf("netns: link %s:%s-%s:%s: %w", a.Name, na, b.Name, nb, err)
	}
	l := &Link{A: &Iface{Host: a, Name: na}, B: &Iface{Host: b, Name: nb}}
	for _, e := range []struct {
		i     *Iface
		addrs []netip.Prefix
	}{{l.A, opt.AddrA}, {l.B, opt.AddrB}} {
		if opt.MTU != 0 {
			if err := e.i.SetMTU(opt.MTU); err != nil {
				return nil, err
			}
		}
		if opt.TxChecksumOff {
			if err := e.i.SetFeatures("tx", "off"); err != nil {
				return nil, err
			}
		}
		if len(opt.Features) > 0 {
			if err := e.i.SetFeatures(opt.Features...); err != nil {
				return nil, err
			}
		}
		for _, p := range e.addrs {
			if err := e.i.AddAddr(p); err != nil {
				return nil, err
			}
		}
		if err := e.i.Host.IP("link", "set", "dev", e.i.Name, "up"); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// String returns "host:iface".
func (i *Iface) String() string { return i.Host.Name + ":" + i.Name }

// AddAddr adds an address; IPv6 addresses skip duplicate address detection.
func (i *Iface) AddAddr(p netip.Prefix) error {
	args := []string{"addr", "add", p.String(), "dev", i.Name}
	if p.Addr().Is6() {
		args = append(args, "nodad")
	}
	if err := i.Host.IP(args...); err != nil {
		return err
	}
	i.Addrs = append(i.Addrs, p)
	return nil
}

// Addr4 returns the first IPv4 address of the interface (invalid if none).
func (i *Iface) Addr4() netip.Addr { return i.addr(true) }

// Addr6 returns the first IPv6 address of the interface (invalid if none).
func (i *Iface) Addr6() netip.Addr { return i.addr(false) }

func (i *Iface) addr(v4 bool) netip.Addr {
	for _, p := range i.Addrs {
		if p.Addr().Is4() == v4 {
			return p.Addr()
		}
	}
	return netip.Addr{}
}

// SetMTU sets the interface's MTU.
func (i *Iface) SetMTU(mtu int) error {
	return i.Host.IP("link", "set", "dev", i.Name, "mtu", fmt.Sprint(mtu))
}

// SetFeatures runs `ethtool -K IFACE name value ...` inside the host.
func (i *Iface) SetFeatures(kv ...string) error {
	return i.Host.Run(bg, append([]string{"ethtool", "-K", i.Name}, kv...)...)
}

// SetMaster attaches the interface to a bridge in the same host.
func (i *Iface) SetMaster(bridge *Iface) error {
	return i.Host.IP("link", "set", "dev", i.Name, "master", bridge.Name)
}
