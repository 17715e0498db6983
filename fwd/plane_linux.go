package fwd

import (
	"net/netip"

	"github.com/lispd/lispd/fwd/netio"

	"github.com/lispd/lispd/fwd/rtnl"
)

// The netio types satisfy the plane's interfaces.
var (
	_ BatchConn = (*netio.UDPConn)(nil)
	_ TUN       = netio.TUN(nil)
)

// PoolConns returns the sockets of a netio.SendPool for Sockets.Send4/6.
func PoolConns(p *netio.SendPool) []BatchConn {
	out := make([]BatchConn, p.Len())
	for i := range out {
		out[i] = p.Conn(i)
	}
	return out
}

// KernelPathMTU is a PathMTUFunc that asks the kernel (rtnl.PathMTU); it
// returns 0 when the kernel has no route to dst.
func KernelPathMTU(dst netip.Addr) int {
	mtu, err := rtnl.PathMTU(dst)
	if err != nil {
		return 0
	}
	return mtu
}
