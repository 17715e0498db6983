package main

import (
	"errors"
	"net/netip"
	"sync"

	"github.com/lispd/lispd/ctl"
	"github.com/lispd/lispd/fwd"
	"github.com/lispd/lispd/fwd/netio"
)

// dataPort lends the data plane's UDP 4341 receive sockets to the control
// plane's NAT traversal: Info-Requests and encapsulated Map-Registers leave
// from them (the NAT binding that matters is the data port's), and the
// Info-Replies and Data-Map-Notifies that come back on them are diverted
// to the node (fwd.Options.Divert). The plane itself never writes on the
// receive sockets, so one mutex serializes the control plane's writes.
type dataPort struct {
	p  *xtrPlane
	mu sync.Mutex
}

var _ ctl.DataPort = (*dataPort)(nil)

// SendFromDataPort implements ctl.DataPort.
func (d *dataPort) SendFromDataPort(src netip.Addr, dst netip.AddrPort, b []byte) error {
	dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	for _, c := range d.p.recv {
		if c.IsIPv6() == dst.Addr().Is4() {
			continue
		}
		m := []netio.Message{{Buf: b, Addr: dst}}
		if src.IsValid() && !src.IsUnspecified() {
			m[0].Src = src.Unmap()
		}
		d.mu.Lock()
		_, err := c.WriteBatch(m)
		d.mu.Unlock()
		return err
	}
	return errors.New("no data socket of the address family of " + dst.Addr().String())
}

// Port implements ctl.DataPort.
func (d *dataPort) Port() uint16 { return fwd.DataPort }

// divert hands a control datagram received on the data port to the node.
func (r *missRelay) divert(b []byte, from netip.AddrPort) {
	if n := r.to.Load(); n != nil {
		n.HandleDataPort(b, netip.AddrPortFrom(from.Addr().Unmap(), from.Port()))
	}
}

// currentNode returns the running control-plane node (nil when none).
func (d *daemon) currentNode() *ctl.Node {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.node
}

// startRTRNative gives the RTR a raw socket to forward natively the
// traffic of NATed sites whose destination's mapping says Natively-Forward
// (marked like the xTR's, past the eid_space routes into a TUN). Without it
// (no CAP_NET_RAW) such packets are dropped.
func (d *daemon) startRTRNative(o *ctl.RTROptions) {
	rf, err := fwd.NewRawForwarder(fwd.DefaultNativeMark)
	if err != nil {
		d.log.Warn("RTR: no native forwarding (natively-forward destinations of NATed sites are dropped)", "err", err)
		return
	}
	d.rtrNative = rf
	o.Native = rf.Forward
}

func (d *daemon) closeRTRNative() {
	if d.rtrNative != nil {
		d.rtrNative.Close()
		d.rtrNative = nil
	}
}
