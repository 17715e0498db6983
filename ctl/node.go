// Package ctl is lispd's control plane (RFC 9301): the ITR resolving
// map-cache misses through Map-Resolvers, the ETR registering its EID
// prefixes with Map-Servers and answering Map-Requests, and the built-in
// Map-Server/Map-Resolver. One Node runs the configured roles over one set
// of UDP sockets (port 4342, IPv4 and IPv6); the wire format is package
// ctl/msg; the data plane is reached through the DataPlane interface.
package ctl

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lispd/lispd/internal/logx"
)

// Node is a running control plane: one set of sockets and the roles its
// Options enable.
type Node struct {
	opts Options
	log  *logx.Logger
	dp   DataPlane
	ctr  *counters
	logs *logLimiter
	// traces bounds the debug trace of control messages (trace), and
	// untraced counts those it left out since the last traced one.
	traces   *tokenBucket
	untraced atomic.Uint64
	rep      *replyLimiter // Map-Replies sent (ratelimit.go)

	ms  *mapServer
	itr *itr
	etr *etr
	prb *prober   // nil when probing is off
	nat *natState // nil when NAT traversal is off or there is no ETR
	rtr *rtr      // nil without the RTR role

	local localState // own locators as they change (localrloc.go)

	sock   *udpTransport
	tx     transport
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	started bool
	closed  bool
}

// New validates opts and builds a Node. dp may be nil when the xTR role is
// not configured. Nothing is bound until Start.
func New(opts Options, dp DataPlane) (*Node, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if o.XTR != nil && dp == nil {
		return nil, errors.New("ctl: the xTR role needs a data plane")
	}
	n := &Node{opts: o, log: o.Logger, dp: dp, ctr: new(counters)}
	if o.Counters != nil {
		n.ctr = &o.Counters.c
	}
	n.logs = newLogLimiter(n.log, time.Minute)
	n.traces = newTokenBucket(traceRate, traceRate)
	n.rep = newReplyLimiter(replyPerDst, replyDstBurst, replyGlobal, replyGlobalBurst)
	if o.MapServer != nil {
		n.ms = newMapServer(n, o.MapServer)
	}
	if o.XTR != nil {
		n.itr = newITR(n, o.XTR)
		n.etr = newETR(n, o.XTR)
		if o.XTR.ProbeInterval > 0 {
			n.prb = newProber(n, o.XTR)
		}
		if o.XTR.NATTraversal != NATOff && len(o.XTR.MapServers) > 0 {
			n.nat = newNAT(n, o.XTR)
		}
	}
	if o.RTR != nil {
		n.rtr = newRTR(n, o.RTR)
	}
	return n, nil
}

// Start binds the sockets and starts the roles' goroutines; they stop when
// ctx is cancelled or Close is called. The ETR sends its first Map-Registers
// at once.
func (n *Node) Start(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.started || n.closed {
		return errors.New("ctl: node already started or closed")
	}
	if n.tx == nil {
		s, err := listenUDP(n.opts.Listen, n.opts.Port)
		if err != nil {
			return fmt.Errorf("ctl: %w", err)
		}
		if err := s.enableDst(); err != nil {
			s.close()
			return fmt.Errorf("ctl: %w", err)
		}
		n.sock, n.tx = s, s
	}
	if n.rtr != nil {
		if err := n.rtr.start(); err != nil {
			if n.sock != nil {
				n.sock.close()
			}
			return fmt.Errorf("ctl: RTR data socket: %w", err)
		}
	}
	n.started = true
	ctx, n.cancel = context.WithCancel(ctx)
	if n.sock != nil {
		n.sock.run(n.receive, func(err error) {
			n.logs.warn("read-error", netip.Addr{}, "control socket read failed", "err", err)
		})
	}
	n.spawn(func() {
		<-ctx.Done()
		n.shutdown()
	})
	if n.ms != nil {
		n.spawn(func() { n.ms.run(ctx) })
	}
	if n.itr != nil {
		n.spawn(func() { n.itr.run(ctx) })
		n.etr.start(ctx, n.spawn)
	}
	if n.prb != nil {
		n.spawn(func() { n.prb.run(ctx) })
	}
	if n.nat != nil {
		n.spawn(func() { n.nat.run(ctx) })
	}
	if n.rtr != nil {
		n.spawn(func() { n.rtr.run(ctx) })
	}
	n.log.Info("control plane started", "port", n.opts.Port, "listen", n.LocalAddrs(),
		"map_server", n.ms != nil, "xtr", n.itr != nil, "rtr", n.rtr != nil, "nat_traversal", n.nat != nil)
	return nil
}

func (n *Node) spawn(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

// shutdown closes the sockets and stops the timers; it runs once, from the
// goroutine watching the context.
func (n *Node) shutdown() {
	if n.itr != nil {
		n.itr.close()
	}
	if n.prb != nil {
		n.prb.close()
	}
	if n.sock != nil {
		n.sock.close()
	}
	if n.rtr != nil {
		n.rtr.close()
	}
}

// Close stops every goroutine and closes the sockets; it returns when they
// are gone.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	started := n.started
	n.mu.Unlock()
	if started {
		n.cancel()
		n.wg.Wait()
	}
	return nil
}

// Miss implements the data plane's miss handler: resolve dst in instance
// iid for a packet from src (the Map-Request's Source-EID; the zero Addr
// when unknown). It never blocks; when the queue is full the miss is
// dropped and counted (the data plane's pending entry times out or misses
// again).
func (n *Node) Miss(iid uint32, src, dst netip.Addr) {
	if n.itr == nil {
		return
	}
	n.itr.miss(iid, src, dst)
}

// Stats returns a snapshot of the counters.
func (n *Node) Stats() Stats {
	s := n.ctr.snapshot()
	if n.rtr != nil {
		r := n.RTRStats()
		s.RTR = &r
	}
	return s
}

// LocalAddrs returns the bound control addresses (empty before Start).
func (n *Node) LocalAddrs() []netip.AddrPort {
	if n.sock == nil {
		return nil
	}
	return n.sock.addrs()
}

// Registrations returns the Map-Server's sites and live registrations (zero
// when the role is off).
func (n *Node) Registrations() Registrations {
	if n.ms == nil {
		return Registrations{}
	}
	return n.ms.reg.snapshot(time.Now())
}

// MapServerStatus returns the ETR's registration state with each Map-Server
// (nil when the role is off).
func (n *Node) MapServerStatus() []MapServerStatus {
	if n.etr == nil {
		return nil
	}
	return n.etr.status()
}

// XTRID returns the xTR-ID this node registers with (zero without the xTR
// role).
func (n *Node) XTRID() [16]byte {
	if n.opts.XTR == nil {
		return [16]byte{}
	}
	return n.opts.XTR.XTRID
}

// PendingRequests returns the ITR's outstanding Map-Requests (nil when the
// role is off).
func (n *Node) PendingRequests() []PendingRequest {
	if n.itr == nil {
		return nil
	}
	return n.itr.snapshot()
}

// Reregister makes the ETR send a Map-Register to every Map-Server now
// rather than at the next interval (after a change of local locators, or on
// an operator's request). Without the ETR role it does nothing.
func (n *Node) Reregister() {
	if n.nat != nil {
		n.nat.rediscover()
	}
	if n.etr != nil {
		n.etr.reregister()
	}
}

// ProbeStatus returns the remote locators being RLOC-probed (nil when
// probing is off).
func (n *Node) ProbeStatus() []ProbeStatus {
	if n.prb == nil {
		return nil
	}
	return n.prb.status()
}

// Withdraw is Deregister for a node about to stop: it first stops the
// register loops, so that a timer or a kick cannot register the prefixes
// again between the withdrawal and the node's Close.
func (n *Node) Withdraw(prefixes []netip.Prefix) {
	if n.etr == nil {
		return
	}
	n.etr.regMu.Lock()
	n.etr.withdrawn = true
	n.etr.regMu.Unlock()
	n.Deregister(prefixes)
}

// Deregister withdraws prefixes from every Map-Server now (a Map-Register
// whose records carry TTL 0, RFC 9301), for EID prefixes removed from the
// configuration; without it they would stay registered until the
// Map-Server's registration timeout. Without the ETR role it does nothing.
func (n *Node) Deregister(prefixes []netip.Prefix) {
	if n.etr == nil || len(prefixes) == 0 {
		return
	}
	for _, p := range n.etr.peers {
		if err := n.sendDeregister(p, prefixes); err != nil {
			n.log.Warn("deregistration", "map_server", p.Addr, "err", err)
			continue
		}
		n.log.Info("deregistered", "map_server", p.Addr, "eid_prefixes", len(prefixes))
	}
}
