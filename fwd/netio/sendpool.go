package netio

import (
	"errors"
	"fmt"
	"net/netip"
)

// DefaultSendPoolSize is the number of send sockets NewSendPool opens when
// asked for 0.
const DefaultSendPoolSize = 8

// SendPool is a set of UDP sockets bound to the same local address on
// distinct source ports, from which the encapsulating path picks one by the
// inner flow's hash.
//
// RFC 9300 asks an ITR to put entropy from the inner flow into the outer UDP
// source port so that ECMP and RSS in the core spread tunnelled flows, while
// all packets of one flow keep one port (and one path, so no reordering).
// A Linux UDP socket has exactly one source port, so the pool holds several:
// flow hash mod Len() picks the socket, which fixes the port per flow.
//
// UDP sockets rather than a raw socket writing its own outer headers,
// because: the kernel still chooses the route, source address, outer IP ID
// and fragments, and learns the path MTU; sendmmsg batches them like any
// UDP socket; no CAP_NET_RAW is needed; TOS/TTL/PKTINFO per packet are
// plain control messages; and the offload work (issue 9) needs UDP sockets
// to send GSO batches with UDP_SEGMENT, which a raw socket cannot do.
// The price is a port range of Len() ports and a few kilobytes per socket.
type SendPool struct {
	conns []*UDPConn
}

// SendPoolConfig says how NewSendPoolConfig opens a SendPool.
type SendPoolConfig struct {
	// Addr is the local address to bind (an RLOC, or the unspecified address
	// of one family to let the kernel pick the source per route).
	Addr netip.Addr
	// Size is the number of sockets; 0 means DefaultSendPoolSize.
	Size int
	// BasePort, when not 0, binds the sockets to BasePort, BasePort+1, ...;
	// 0 lets the kernel pick ephemeral ports.
	BasePort uint16
	// Listen configures each socket; its zero value is fine for sending.
	Listen ListenConfig
}

// NewSendPool opens n sockets (DefaultSendPoolSize if n is 0) on laddr with
// ephemeral source ports.
func NewSendPool(laddr netip.Addr, n int) (*SendPool, error) {
	return NewSendPoolConfig(SendPoolConfig{Addr: laddr, Size: n})
}

// NewSendPoolConfig opens a SendPool as cfg says.
func NewSendPoolConfig(cfg SendPoolConfig) (*SendPool, error) {
	n := cfg.Size
	if n == 0 {
		n = DefaultSendPoolSize
	}
	if n < 0 || (cfg.BasePort != 0 && int(cfg.BasePort)+n-1 > 65535) {
		return nil, fmt.Errorf("send pool: bad size %d for base port %d", n, cfg.BasePort)
	}
	p := &SendPool{conns: make([]*UDPConn, 0, n)}
	cfg.Listen.SendOnly = true // nothing reads these: keep them out of the poller
	for i := range n {
		port := uint16(0)
		if cfg.BasePort != 0 {
			port = cfg.BasePort + uint16(i)
		}
		c, err := cfg.Listen.Listen(netip.AddrPortFrom(cfg.Addr, port))
		if err != nil {
			return nil, errors.Join(fmt.Errorf("send pool socket %d: %w", i, err), p.Close())
		}
		p.conns = append(p.conns, c)
	}
	return p, nil
}

// Len returns the number of sockets in the pool.
func (p *SendPool) Len() int { return len(p.conns) }

// Conn returns socket i, 0 <= i < Len().
func (p *SendPool) Conn(i int) *UDPConn { return p.conns[i] }

// Pick returns the socket for a flow hash: one flow, one source port.
func (p *SendPool) Pick(hash uint32) *UDPConn { return p.conns[hash%uint32(len(p.conns))] }

// Close closes every socket of the pool.
func (p *SendPool) Close() error {
	var errs []error
	for _, c := range p.conns {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
