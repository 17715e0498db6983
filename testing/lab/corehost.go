package lab

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/lispd/lispd/testing/netns"
)

// CoreBridgeName is the bridge in host "core" of a CoreBridge lab; capture
// on it to see every frame that crosses the core.
const CoreBridgeName = "br0"

// AddCoreHost attaches a new host named name to the core bridge (CoreBridge
// labs only), at 192.0.2.n/24 and 2001:db8:ff::n/64 (n written in hex, as
// for the Map-Server's ::a), with the lab's core link options (MTU, tx
// checksum offload, wire-like features). It suits a proxy ETR, an attacker
// injecting control messages, or another xTR's WAN side. n must be 3..254
// and not 10 (the Map-Server). It returns the host and its interface
// ("wan") on the core.
func (l *Lab) AddCoreHost(name string, n int) (*netns.Host, *netns.Iface, error) {
	if l.bridge == nil {
		return nil, nil, errors.New("lab: AddCoreHost needs a CoreBridge lab")
	}
	if n < 3 || n > 254 || n == 10 {
		return nil, nil, fmt.Errorf("lab: AddCoreHost %s: address .%d taken or out of range", name, n)
	}
	h, err := l.Topo.Host(name)
	if err != nil {
		return nil, nil, err
	}
	var features []string
	if l.opt.WireLike {
		features = []string{"tso", "off", "gso", "off", "tx-udp-segmentation", "off"}
	}
	// The bridge port is named after the host ("c-" + name), within the
	// 15-byte limit.
	port := "c-" + name
	if len(port) > 15 {
		port = port[:15]
	}
	lk, err := l.Topo.Link(h, l.Core, netns.LinkOptions{NameA: "wan", NameB: port,
		AddrA: []netip.Prefix{pfx(fmt.Sprintf("192.0.2.%d/24", n)), pfx(fmt.Sprintf("2001:db8:ff::%x/64", n))},
		MTU:   l.opt.CoreMTU, TxChecksumOff: l.opt.TxChecksumOff, Features: features})
	if err != nil {
		return nil, nil, fmt.Errorf("lab: core host %s: %w", name, err)
	}
	if err := lk.B.SetMaster(l.bridge); err != nil {
		return nil, nil, err
	}
	l.CoreLinks = append(l.CoreLinks, lk)
	return h, lk.A, nil
}
