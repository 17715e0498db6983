package fwd

import (
	"github.com/lispd/lispd/fwd/netio"
	"github.com/lispd/lispd/internal/nocmp"
)

// Offload paths as Plane.TUNPath reports them.
const (
	// TUNPathPlain: one packet per read(2) from a TUN without offloads,
	// one datagram per message in sendmmsg.
	TUNPathPlain = "plain"
	// TUNPathOffload: a TUN with IFF_VNET_HDR and TSO/USO hands over
	// super-packets that netio cuts into MTU-sized packets; runs of
	// equal-size datagrams leave with UDP GSO (UDP_SEGMENT).
	TUNPathOffload = "offload"
)

// offloadTUN is a TUN that reads super-packets (*netio.OffloadTUN).
type offloadTUN interface {
	Offloads() bool
	Stats() netio.OffloadStats
}

// groConn is a receive socket that can coalesce datagrams (UDP_GRO).
type groConn interface {
	EnableGRO() bool
	DisableGRO()
}

// Receive buffers with UDP_GRO hold a whole coalesced message: up to 64 KB
// and the kernel's UDP_GRO_CNT_MAX (64) datagrams.
const (
	groBufSize     = 65535
	groMaxSegments = 64
)

// gsoConn is a send socket that can send UDP GSO runs (*netio.UDPConn).
type gsoConn interface {
	EnableGSO() bool
	GSO() bool
	GSOStats() (messages, datagrams uint64)
}

// OffloadSnapshot says which TUN path runs and counts its work, for
// `show stats`.
type OffloadSnapshot struct {
	_ nocmp.DoNotCompare

	// Path is TUNPathOffload or TUNPathPlain; Reason says why the plain
	// path runs (Options.TUNPlainReason).
	Path, Reason string
	// SuperPackets are GSO packets read from the TUN; Segments the packets
	// cut from them; Malformed the reads dropped (bad virtio header or
	// headers).
	SuperPackets, Segments, Malformed uint64
	// GSOMessages are UDP GSO messages sent, carrying GSODatagrams
	// encapsulated packets; GSOSockets the send sockets with GSO on.
	GSOMessages, GSODatagrams uint64
	GSOSockets                uint64
	// Coalesced are TCP super-packets written to the TUN on the
	// decapsulating side, carrying Joined packets.
	Coalesced, Joined uint64
	// GROMessages are coalesced messages received with UDP_GRO (more than
	// one datagram), carrying GRODatagrams LISP packets: with GSOMessages
	// and GSODatagrams, the batch sizes on both ends of the core.
	GROMessages, GRODatagrams uint64
}

// setupOffload turns UDP GSO on for the send sockets when the TUN reads
// super-packets (their segments leave as runs of equal-size datagrams),
// and hooks the offload counters into Stats. With a plain TUN nothing
// changes: one datagram per message, as before.
func (p *Plane) setupOffload() {
	ot, ok := p.tun.(offloadTUN)
	if !ok || !ot.Offloads() {
		plain := OffloadSnapshot{Path: TUNPathPlain, Reason: p.opts.TUNPlainReason}
		f := func() OffloadSnapshot { return plain }
		p.stats.offload.Store(&f)
		return
	}
	// UDP_GRO on every receive socket, or on none: one buffer size for
	// all decapsulating goroutines. None with the kernel path: its
	// decapsulating program must see every LISP datagram on its own (with
	// UDP_GRO the kernel coalesces them before the TC ingress hook, and
	// the program hands coalesced ones to the socket). The plane's sockets
	// are new, so GRO is off until enabled here.
	gro := len(p.socks.Recv) > 0 && p.kern == nil
	for _, c := range p.socks.Recv {
		if _, ok := c.(groConn); !ok {
			gro = false
		}
	}
	if gro {
		for _, c := range p.socks.Recv {
			if !c.(groConn).EnableGRO() {
				gro = false
			}
		}
		if !gro {
			for _, c := range p.socks.Recv {
				c.(groConn).DisableGRO()
			}
		}
	}
	p.gro = gro
	conns := append(append([]BatchConn(nil), p.socks.Send4...), p.socks.Send6...)
	var gconns []gsoConn
	for _, c := range conns {
		if g, ok := c.(gsoConn); ok && g.EnableGSO() {
			gconns = append(gconns, g)
		}
	}
	f := func() OffloadSnapshot {
		st := ot.Stats()
		s := OffloadSnapshot{Path: TUNPathOffload, SuperPackets: st.SuperPackets, Segments: st.Segments, Malformed: st.Malformed,
			Coalesced: st.Coalesced, Joined: st.Joined, GROMessages: p.groMsgs.Load(), GRODatagrams: p.groSegs.Load()}
		seen := map[gsoConn]bool{}
		for _, g := range gconns {
			if seen[g] {
				continue
			}
			seen[g] = true
			m, d := g.GSOStats()
			s.GSOMessages += m
			s.GSODatagrams += d
			if g.GSO() {
				s.GSOSockets++
			}
		}
		return s
	}
	p.stats.offload.Store(&f)
}

// TUNPath returns TUNPathOffload or TUNPathPlain.
func (p *Plane) TUNPath() string {
	if ot, ok := p.tun.(offloadTUN); ok && ot.Offloads() {
		return TUNPathOffload
	}
	return TUNPathPlain
}

// Active returns 1 when the offload path runs and 0 for the plain path: the
// value `show stats` prints as tun-offload.
func (o OffloadSnapshot) Active() uint64 {
	if o.Path == TUNPathOffload {
		return 1
	}
	return 0
}
