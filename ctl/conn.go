package ctl

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"

	"github.com/lispd/lispd/internal/sock"
)

// maxControlMessage bounds a received control datagram (UDP maximum).
const maxControlMessage = 65535

// transport sends control messages; the node's handlers reply through it.
// Tests and fuzzing substitute a double.
type transport interface {
	// send transmits b to dst, from the socket bound to src when src is valid
	// and such a socket exists, else from one of dst's address family.
	send(src netip.Addr, dst netip.AddrPort, b []byte) error
	// families reports the address families the node can send in.
	families() (v4, v6 bool)
}

// viaSender is a transport that can also choose the outgoing interface
// per message.
type viaSender interface {
	// sendVia is send with src also set as the packet's source address and
	// ifindex (when > 0) as its outgoing interface (IP_PKTINFO); src must
	// be an address of the host.
	sendVia(src netip.Addr, ifindex int, dst netip.AddrPort, b []byte) error
}

// packetHandler processes one received datagram, sent to the local address
// to (the zero Addr when unknown); b is only valid during the call.
type packetHandler func(b []byte, from netip.AddrPort, to netip.Addr)

// udpTransport is the socket layer: one UDP socket per local address (or the
// IPv4 and IPv6 wildcards), each with its own reader goroutine.
type udpTransport struct {
	conns   []*sock.UDPConn
	locals  []netip.AddrPort
	wantDst bool // handlers get each datagram's destination (enableDst)
	wg      sync.WaitGroup
}

// listenUDP binds port on each of addrs, or on 0.0.0.0 and [::] when addrs
// is empty (each family separately: IPv6 sockets are IPV6_V6ONLY).
// With the wildcards a missing IPv6 stack is tolerated.
func listenUDP(addrs []netip.Addr, port uint16) (*udpTransport, error) {
	t := &udpTransport{}
	wildcard := len(addrs) == 0
	if wildcard {
		addrs = []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}
	}
	for _, a := range addrs {
		a = a.Unmap()
		c, err := sock.ListenUDP(netip.AddrPortFrom(a, port), nil)
		if err != nil {
			if wildcard && a.Is6() && len(t.conns) > 0 {
				continue // host without IPv6
			}
			t.close()
			return nil, fmt.Errorf("listen on %v port %d: %w", a, port, err)
		}
		t.conns = append(t.conns, c)
		t.locals = append(t.locals, c.LocalAddr())
	}
	return t, nil
}

// enableDst makes the sockets report each datagram's destination address to
// the handler (on a wildcard socket, which of the host's addresses it came
// to: the RLOC an RLOC probe probes). Before run.
func (t *udpTransport) enableDst() error {
	for i, c := range t.conns {
		if err := c.EnableRecvDst(); err != nil {
			return fmt.Errorf("socket on %v: %w", t.locals[i], err)
		}
	}
	t.wantDst = true
	return nil
}

// run starts one reader goroutine per socket; they end when the sockets are
// closed. onErr reports read errors other than the close.
func (t *udpTransport) run(h packetHandler, onErr func(error)) {
	for _, c := range t.conns {
		t.wg.Add(1)
		go func(c *sock.UDPConn) {
			defer t.wg.Done()
			buf := make([]byte, maxControlMessage)
			for {
				var n int
				var from netip.AddrPort
				var to netip.Addr
				var err error
				if t.wantDst {
					n, from, to, err = c.ReadMsgUDPAddrPort(buf)
				} else {
					n, from, err = c.ReadFromUDPAddrPort(buf)
				}
				if err != nil {
					if errors.Is(err, os.ErrClosed) {
						return
					}
					onErr(err)
					continue
				}
				if la := c.LocalAddr().Addr(); !to.IsValid() && !la.IsUnspecified() {
					to = la
				}
				h(buf[:n], netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), to.Unmap())
			}
		}(c)
	}
}

func (t *udpTransport) send(src netip.Addr, dst netip.AddrPort, b []byte) error {
	pick, dst, err := t.pick(src, dst)
	if err != nil {
		return err
	}
	_, err = pick.WriteToUDPAddrPort(b, dst)
	return err
}

// sendVia sends from the socket send would pick, with src and ifindex in
// IP_PKTINFO: a wildcard socket then sends from src too.
func (t *udpTransport) sendVia(src netip.Addr, ifindex int, dst netip.AddrPort, b []byte) error {
	pick, dst, err := t.pick(src, dst)
	if err != nil {
		return err
	}
	_, err = pick.WriteToUDPAddrPortVia(b, dst, src, ifindex)
	return err
}

// pick returns the socket bound to src when src is valid and there is one,
// else the first of dst's family, and dst unmapped.
func (t *udpTransport) pick(src netip.Addr, dst netip.AddrPort) (*sock.UDPConn, netip.AddrPort, error) {
	dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	var pick *sock.UDPConn
	for i, c := range t.conns {
		la := t.locals[i].Addr()
		if la.Is4() != dst.Addr().Is4() {
			continue
		}
		if src.IsValid() && la == src.Unmap() {
			pick = c
			break
		}
		if pick == nil {
			pick = c
		}
	}
	if pick == nil {
		return nil, dst, fmt.Errorf("no socket of the address family of %v", dst)
	}
	return pick, dst, nil
}

func (t *udpTransport) families() (v4, v6 bool) {
	for _, la := range t.locals {
		if la.Addr().Is4() {
			v4 = true
		} else {
			v6 = true
		}
	}
	return v4, v6
}

// addrs returns the bound local addresses.
func (t *udpTransport) addrs() []netip.AddrPort { return append([]netip.AddrPort(nil), t.locals...) }

// close closes every socket and waits for the readers to end.
func (t *udpTransport) close() {
	for _, c := range t.conns {
		c.Close()
	}
	t.wg.Wait()
}
