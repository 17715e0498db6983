package netio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/lispd/lispd/internal/consterr"
	"github.com/lispd/lispd/internal/sock"
	"golang.org/x/sys/unix"
)

// DefaultBatchSize is the number of datagrams a UDPConn moves per system
// call unless ListenConfig.BatchSize says otherwise.
const DefaultBatchSize = 64

// DefaultSocketBuffer is the SO_RCVBUF/SO_SNDBUF size asked for unless
// ListenConfig says otherwise: several full batches of 1500-byte datagrams,
// small enough for a router with 128 MB of memory.
const DefaultSocketBuffer = 2 << 20

// PMTUMode is the IP_MTU_DISCOVER / IPV6_MTU_DISCOVER setting of a socket,
// which decides the DF bit of the packets it sends.
type PMTUMode uint8

const (
	// PMTUWant (the default) sets DF on packets that fit the path MTU the
	// kernel knows, so that routers report a smaller MTU with ICMP and the
	// kernel learns it; a datagram larger than the learned MTU is fragmented
	// by the kernel rather than refused. The data plane compares inner
	// packets with PathMTU to answer DF senders with ICMP too-big itself.
	PMTUWant PMTUMode = iota
	// PMTUDo sets DF always and makes a send larger than the learned path
	// MTU fail with EMSGSIZE (reported in Message.Err).
	PMTUDo
	// PMTUDont never sets DF and ignores learned path MTUs.
	PMTUDont
)

func (m PMTUMode) sockopt() int {
	switch m {
	case PMTUDo:
		return unix.IP_PMTUDISC_DO
	case PMTUDont:
		return unix.IP_PMTUDISC_DONT
	}
	return unix.IP_PMTUDISC_WANT
}

// ListenConfig says how to open a UDPConn. The zero value is usable; ListenUDP
// uses it with RecvTOSTTL set.
type ListenConfig struct {
	// BatchSize is the most datagrams one ReadBatch or WriteBatch system call
	// moves (the per-conn kernel structures are sized by it); 0 means
	// DefaultBatchSize. WriteBatch accepts longer batches in several calls.
	BatchSize int
	// ReusePort sets SO_REUSEPORT so that several conns (for example one per
	// core) share one port and the kernel spreads flows among them.
	ReusePort bool
	// RecvBuffer and SendBuffer are the socket buffer sizes; 0 means
	// DefaultSocketBuffer, a negative value leaves the kernel's default.
	// As root SO_RCVBUFFORCE/SO_SNDBUFFORCE lift the sysctl limits.
	RecvBuffer, SendBuffer int
	// RecvTOSTTL makes ReadBatch report each datagram's TOS/traffic class
	// and TTL/hop limit (IP_RECVTOS/IP_RECVTTL, IPV6_RECVTCLASS/
	// IPV6_RECVHOPLIMIT), which decapsulation needs (RFC 6040 ECN, TTL).
	RecvTOSTTL bool
	// PMTU is the socket's path-MTU discovery mode.
	PMTU PMTUMode
	// SendOnly keeps the socket out of the Go poller: it can only be
	// written to (ReadBatch returns ErrSendOnly). The kernel then skips a
	// wake-up for every datagram it frees after sending (an epoll waiter on
	// the socket costs an IRQ-saving lock and the epoll callback per
	// datagram: 44 per GSO message); a send that finds the socket buffer
	// full waits in poll(2) instead of the poller.
	SendOnly bool
	// ZeroChecksum6 makes an IPv6 conn accept datagrams whose UDP checksum
	// is zero (UDP_NO_CHECK6_RX), which the kernel otherwise drops. RFC
	// 9300 section 5.3 lets ITRs send zero over IPv6 too (RFC 6935, 6936)
	// and requires ETRs to accept it: the data port's receive sockets set
	// it. Nothing on an IPv4 conn (zero there already means "no checksum").
	ZeroChecksum6 bool
}

// ErrSendOnly is returned by ReadBatch on a conn opened with
// ListenConfig.SendOnly.
const ErrSendOnly = consterr.Error("socket is send-only")

// UDPConn is a UDP socket that receives and sends datagrams in batches with
// recvmmsg and sendmmsg, without allocating: the kernel structures for
// BatchSize messages are allocated once, and a goroutine with nothing to read
// (or no room to write) parks in the Go netpoller.
//
// ReadBatch and WriteBatch may run at the same time from two goroutines;
// concurrent calls of the same one take turns.
type UDPConn struct {
	conn  *sock.UDPConn
	raw   syscall.RawConn
	laddr netip.AddrPort
	v6    bool
	batch int
	// sendOnly: the descriptor is blocking and not in the poller
	// (ListenConfig.SendOnly); writes wait in poll(2) and look at closed.
	sendOnly bool
	closed   atomic.Bool

	drops atomic.Uint64 // last SO_RXQ_OVFL value seen

	gso atomic.Pointer[gsoState] // nil until EnableGSO (gso_linux.go)
	gro atomic.Bool              // UDP_GRO on (gro_linux.go)

	r readState
	w writeState
}

// batchBufs are the kernel-facing structures for one direction.
type batchBufs struct {
	hdrs  []mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6
	ctrl  []byte // ctrlSlot bytes per message, 8-byte aligned
}

func newBatchBufs(n int) batchBufs {
	ctrl := make([]uint64, n*ctrlSlot/8)
	b := batchBufs{
		hdrs:  make([]mmsghdr, n),
		iovs:  make([]unix.Iovec, n),
		names: make([]unix.RawSockaddrInet6, n),
		ctrl:  unsafe.Slice((*byte)(unsafe.Pointer(&ctrl[0])), n*ctrlSlot),
	}
	for i := range b.hdrs {
		h := &b.hdrs[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		h.Iov = &b.iovs[i]
		h.SetIovlen(1)
	}
	return b
}

func (b *batchBufs) ctrlAt(i int) []byte { return b.ctrl[i*ctrlSlot : (i+1)*ctrlSlot] }

type readState struct {
	mu   sync.Mutex
	bufs batchBufs
	fn   func(fd uintptr) bool
	k    int // messages offered
	n    int // messages received
	err  error
}

type writeState struct {
	mu   sync.Mutex
	bufs batchBufs
	fn   func(fd uintptr) bool
	msgs []Message
	idx  []int // slot -> index in msgs
	k    int   // slots filled
	pos  int   // next slot to send
	sent int
	err  error // first per-message error
	wait sendWait
}

// ListenUDP opens a UDPConn on laddr (IPv4 or IPv6 by its address family; an
// IPv6 conn is IPV6_V6ONLY) as a LISP data port's receive socket: the
// default ListenConfig with RecvTOSTTL and ZeroChecksum6.
func ListenUDP(laddr netip.AddrPort) (*UDPConn, error) {
	return ListenConfig{RecvTOSTTL: true, ZeroChecksum6: true}.Listen(laddr)
}

// Listen opens a UDPConn on laddr as c says.
func (c ListenConfig) Listen(laddr netip.AddrPort) (*UDPConn, error) {
	if !laddr.Addr().IsValid() {
		return nil, fmt.Errorf("listen udp: invalid local address %v", laddr)
	}
	laddr = netip.AddrPortFrom(laddr.Addr().Unmap(), laddr.Port())
	v6 := laddr.Addr().Is6()
	network := "udp4"
	if v6 {
		network = "udp6"
	}
	batch := c.BatchSize
	if batch <= 0 {
		batch = DefaultBatchSize
	}
	uc, err := sock.ListenUDP(laddr, func(fd int) error { return c.setsockopts(fd, v6, laddr.Port() != 0) })
	if err != nil {
		return nil, err
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		uc.Close()
		return nil, fmt.Errorf("listen %s %s: %w", network, laddr, err)
	}
	u := &UDPConn{
		conn:  uc,
		raw:   raw,
		laddr: uc.LocalAddr(),
		v6:    v6,
		batch: batch,

		sendOnly: c.SendOnly,
	}
	u.laddr = netip.AddrPortFrom(u.laddr.Addr().Unmap(), u.laddr.Port())
	u.r.bufs = newBatchBufs(batch)
	u.w.bufs = newBatchBufs(batch)
	u.w.idx = make([]int, batch)
	u.r.fn = u.readFn
	u.w.fn = u.writeFn
	u.w.wait.init(u, u.w.fn)
	return u, nil
}

// setIntOpt sets an int socket option, naming it (what) in the error. Not
// inlined: setsockopts calls it a dozen times (size, issue 6).
//
//go:noinline
func setIntOpt(fd, level, opt, v int, what string) error {
	if err := unix.SetsockoptInt(fd, level, opt, v); err != nil {
		return fmt.Errorf("setsockopt %s: %w", what, err)
	}
	return nil
}

func (c ListenConfig) setsockopts(fd int, v6, fixedPort bool) error {
	// SO_REUSEADDR lets a fixed port (4341 on an RLOC) be bound next to the
	// same port on the wildcard address. Never on an ephemeral bind: Linux
	// then counts a port held by another SO_REUSEADDR socket as free, and two
	// send-pool sockets could share one source port.
	if fixedPort {
		if err := setIntOpt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1, "SO_REUSEADDR"); err != nil {
			return err
		}
	}
	if c.SendOnly {
		// A blocking descriptor: os.NewFile registers only non-blocking
		// ones with the poller.
		if err := unix.SetNonblock(fd, false); err != nil {
			return err
		}
	}
	if c.ReusePort {
		if err := setIntOpt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1, "SO_REUSEPORT"); err != nil {
			return err
		}
	}
	bufOpt := func(size, force, plain int, what string) error {
		if size < 0 {
			return nil
		}
		if size == 0 {
			size = DefaultSocketBuffer
		}
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, force, size) == nil {
			return nil
		}
		return setIntOpt(fd, unix.SOL_SOCKET, plain, size, what)
	}
	if err := bufOpt(c.RecvBuffer, unix.SO_RCVBUFFORCE, unix.SO_RCVBUF, "SO_RCVBUF"); err != nil {
		return err
	}
	if err := bufOpt(c.SendBuffer, unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, "SO_SNDBUF"); err != nil {
		return err
	}
	// The drop counter is informative only; old kernels may refuse it.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1)
	if v6 {
		if err := setIntOpt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1, "IPV6_V6ONLY"); err != nil {
			return err
		}
		if err := setIntOpt(fd, unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, c.PMTU.sockopt(), "IPV6_MTU_DISCOVER"); err != nil {
			return err
		}
		if c.ZeroChecksum6 {
			if err := setIntOpt(fd, unix.IPPROTO_UDP, unix.UDP_NO_CHECK6_RX, 1, "UDP_NO_CHECK6_RX"); err != nil {
				return err
			}
		}
		if c.RecvTOSTTL {
			if err := setIntOpt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVTCLASS, 1, "IPV6_RECVTCLASS"); err != nil {
				return err
			}
			if err := setIntOpt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1, "IPV6_RECVHOPLIMIT"); err != nil {
				return err
			}
		}
		return nil
	}
	if err := setIntOpt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, c.PMTU.sockopt(), "IP_MTU_DISCOVER"); err != nil {
		return err
	}
	if c.RecvTOSTTL {
		if err := setIntOpt(fd, unix.IPPROTO_IP, unix.IP_RECVTOS, 1, "IP_RECVTOS"); err != nil {
			return err
		}
		if err := setIntOpt(fd, unix.IPPROTO_IP, unix.IP_RECVTTL, 1, "IP_RECVTTL"); err != nil {
			return err
		}
	}
	return nil
}

// LocalAddr returns the address and port the conn is bound to.
func (u *UDPConn) LocalAddr() netip.AddrPort { return u.laddr }

// Conn returns the underlying socket, for socket options and for
// occasional single-datagram I/O outside the fast path.
func (u *UDPConn) Conn() *sock.UDPConn { return u.conn }

// BatchSize returns the most datagrams one system call moves.
func (u *UDPConn) BatchSize() int { return u.batch }

// IsIPv6 reports whether the conn is an IPv6 socket.
func (u *UDPConn) IsIPv6() bool { return u.v6 }

// Drops returns the number of datagrams the kernel dropped because the
// receive buffer was full (SO_RXQ_OVFL), as of the last ReadBatch that
// returned a datagram.
func (u *UDPConn) Drops() uint64 { return u.drops.Load() }

// Close closes the socket; a ReadBatch parked in the poller returns an error
// satisfying errors.Is(err, os.ErrClosed).
func (u *UDPConn) Close() error {
	u.closed.Store(true)
	return u.conn.Close()
}

// ReadBatch blocks until at least one datagram is available, then receives
// up to min(len(msgs), BatchSize()) datagrams with one recvmmsg. For each
// received message it sets N, Addr, TOS and TTL (when RecvTOSTTL), and Err
// (ErrTruncated or nil). It returns the number of messages filled.
func (u *UDPConn) ReadBatch(msgs []Message) (int, error) {
	k := min(len(msgs), u.batch)
	if k == 0 {
		return 0, nil
	}
	if u.sendOnly {
		return 0, ErrSendOnly
	}
	r := &u.r
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range k {
		h := &r.bufs.hdrs[i]
		b := msgs[i].Buf
		if len(b) > 0 {
			r.bufs.iovs[i].Base = &b[0]
		} else {
			r.bufs.iovs[i].Base = nil
		}
		r.bufs.iovs[i].SetLen(len(b))
		h.hdr.Namelen = unix.SizeofSockaddrInet6
		h.hdr.Control = &r.bufs.ctrl[i*ctrlSlot]
		h.hdr.SetControllen(ctrlSlot)
		h.hdr.Flags = 0
		h.len = 0
	}
	r.k, r.n, r.err = k, 0, nil
	err := u.raw.Read(r.fn)
	n, rerr := r.n, r.err
	for i := range k {
		r.bufs.iovs[i].Base = nil // do not keep the caller's buffers alive
	}
	if err != nil {
		return 0, fmt.Errorf("recvmmsg on %s: %w", u.laddr, err)
	}
	if rerr != nil {
		return 0, fmt.Errorf("recvmmsg on %s: %w", u.laddr, rerr)
	}
	var drops uint32
	var haveDrops bool
	for i := range n {
		h := &r.bufs.hdrs[i]
		m := &msgs[i]
		m.N = min(int(h.len), len(m.Buf))
		m.Err = nil
		if h.hdr.Flags&unix.MSG_TRUNC != 0 {
			m.Err = ErrTruncated
		}
		m.Addr = sockaddrToAddrPort(&r.bufs.names[i])
		m.TOS, m.TTL, m.GSOSize = 0, 0, 0
		if cl := int(h.hdr.Controllen); cl > 0 {
			parseRecvCmsg(r.bufs.ctrl[i*ctrlSlot:i*ctrlSlot+min(cl, ctrlSlot)], m, &drops, &haveDrops)
			if u.gro.Load() {
				m.GSOSize = groSize(r.bufs.ctrl[i*ctrlSlot : i*ctrlSlot+min(cl, ctrlSlot)])
			}
		}
	}
	if haveDrops {
		u.drops.Store(uint64(drops))
	}
	return n, nil
}

func (u *UDPConn) readFn(fd uintptr) bool {
	r := &u.r
	for {
		n, e := recvmmsg(fd, r.bufs.hdrs[:r.k], 0)
		switch e {
		case 0:
			r.n = n
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			r.err = e
			return true
		}
	}
}

// WriteBatch sends every message of msgs (Buf to Addr, with TOS, TTL and Src
// as control data) using sendmmsg, BatchSize() messages per call, and
// returns the number of messages sent. A message the kernel refuses (for
// example EMSGSIZE under PMTUDo, or an unreachable network) is skipped: its
// Err says why and the rest are still sent. Every message's N and Err are
// set. err is the first per-message error, or a socket error (for example
// the conn was closed), in which case the unsent messages keep Err == nil
// and N == 0.
func (u *UDPConn) WriteBatch(msgs []Message) (int, error) {
	if g := u.gso.Load(); g != nil && g.on.Load() {
		return u.writeBatchGSO(g, msgs)
	}
	return u.writeBatchMmsg(msgs)
}

// writeBatchMmsg is WriteBatch with one datagram per message.
func (u *UDPConn) writeBatchMmsg(msgs []Message) (int, error) {
	w := &u.w
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs, w.sent, w.err = msgs, 0, nil
	var sockErr error
	for i := 0; i < len(msgs) && sockErr == nil; {
		k := 0
		for ; i < len(msgs) && k < u.batch; i++ {
			m := &msgs[i]
			m.N, m.Err = 0, nil
			if !u.packWrite(k, m) {
				m.Err = ErrAddrFamily
				if w.err == nil {
					w.err = ErrAddrFamily
				}
				continue
			}
			w.idx[k] = i
			k++
		}
		if k == 0 {
			continue
		}
		w.k, w.pos = k, 0
		if err := u.write(&w.wait); err != nil {
			sockErr = fmt.Errorf("sendmmsg on %s: %w", u.laddr, err)
		}
	}
	for i := range u.batch {
		w.bufs.iovs[i].Base = nil
	}
	w.msgs = nil
	if sockErr != nil {
		return w.sent, sockErr
	}
	if w.err != nil {
		for i := range msgs {
			if msgs[i].Err != nil {
				return w.sent, msgs[i].Err // the first failure in message order
			}
		}
	}
	return w.sent, nil
}

// packWrite fills slot k for m; it reports false if m's address does not
// suit the socket.
func (u *UDPConn) packWrite(k int, m *Message) bool {
	b := &u.w.bufs
	h := &b.hdrs[k]
	a := m.Addr.Addr()
	if u.v6 {
		if !a.Is6() || a.Is4In6() || (m.Src.IsValid() && !m.Src.Is6()) {
			return false
		}
		sa := &b.names[k]
		*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.As16()}
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], m.Addr.Port())
		h.hdr.Namelen = unix.SizeofSockaddrInet6
	} else {
		a = a.Unmap()
		if !a.Is4() || (m.Src.IsValid() && !m.Src.Unmap().Is4()) {
			return false
		}
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&b.names[k]))
		*sa = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.As4()}
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], m.Addr.Port())
		h.hdr.Namelen = unix.SizeofSockaddrInet4
	}
	if len(m.Buf) > 0 {
		b.iovs[k].Base = &m.Buf[0]
	} else {
		b.iovs[k].Base = nil
	}
	b.iovs[k].SetLen(len(m.Buf))
	src := m.Src
	if !u.v6 {
		src = src.Unmap()
	}
	mm := *m
	mm.Src = src
	cl := buildSendCmsg(b.ctrlAt(k), u.v6, &mm)
	if cl > 0 {
		h.hdr.Control = &b.ctrl[k*ctrlSlot]
	} else {
		h.hdr.Control = nil
	}
	h.hdr.SetControllen(cl)
	h.hdr.Flags = 0
	h.len = 0
	return true
}

func (u *UDPConn) writeFn(fd uintptr) bool {
	w := &u.w
	for w.pos < w.k {
		n, e := sendmmsg(fd, w.bufs.hdrs[w.pos:w.k], unix.MSG_DONTWAIT)
		switch e {
		case 0:
			for j := w.pos; j < w.pos+n; j++ {
				m := &w.msgs[w.idx[j]]
				m.N = int(w.bufs.hdrs[j].len)
			}
			w.pos += n
			w.sent += n
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			// The message at pos failed; skip it and go on with the rest.
			m := &w.msgs[w.idx[w.pos]]
			m.Err = e
			if w.err == nil {
				w.err = e
			}
			w.pos++
		}
	}
	return true
}

// sockaddrToAddrPort decodes a sockaddr_in or sockaddr_in6 written by the
// kernel.
func sockaddrToAddrPort(sa *unix.RawSockaddrInet6) netip.AddrPort {
	switch sa.Family {
	case unix.AF_INET:
		s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&s4.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom4(s4.Addr), port)
	case unix.AF_INET6:
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), port)
	}
	return netip.AddrPort{}
}

// IsMsgSize reports whether err (a Message.Err) says the datagram was larger
// than the path MTU allows (EMSGSIZE), so that the data plane can answer the
// inner packet's sender with ICMP too-big.
func IsMsgSize(err error) bool { return errors.Is(err, unix.EMSGSIZE) }

// sendWait runs one send function on a send-only conn until it has sent
// everything, waiting in poll(2) while the socket buffer is full. It is
// bound once per send function (writeState, gsoState), so that a send
// passes no new closure to RawConn.Control: no allocation per batch.
type sendWait struct {
	u   *UDPConn
	fn  func(fd uintptr) bool // sends with MSG_DONTWAIT; false on EAGAIN
	run func(fd uintptr)      // loop, bound once
	err error
	pfd unix.PollFd
	ts  unix.Timespec
}

// sendWaitTimeout is how long one poll(2) of a send-only conn waits before
// it looks whether the conn was closed.
var sendWaitTimeout = unix.Timespec{Nsec: 100e6}

func (w *sendWait) init(u *UDPConn, fn func(fd uintptr) bool) {
	w.u, w.fn = u, fn
	w.run = w.loop
}

// loop calls fn until it returns true, waking every 100 ms to notice Close.
func (w *sendWait) loop(fd uintptr) {
	for !w.fn(fd) {
		if w.u.closed.Load() {
			w.err = os.ErrClosed
			return
		}
		// ppoll(2) directly: unix.Poll converts a timeout per call and
		// grows the mips binary for a path that runs only when the socket
		// buffer is full.
		w.pfd = unix.PollFd{Fd: int32(fd), Events: unix.POLLOUT}
		w.ts = sendWaitTimeout
		_, _, e := unix.Syscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&w.pfd)), 1, uintptr(unsafe.Pointer(&w.ts)), 0, 0, 0)
		if e != 0 && e != unix.EINTR {
			w.err = e
			return
		}
	}
}

// write runs w.fn until it returns true: through the poller, or for a
// send-only conn in w.loop on this thread.
func (u *UDPConn) write(w *sendWait) error {
	if !u.sendOnly {
		return u.raw.Write(w.fn)
	}
	w.err = nil
	if err := u.raw.Control(w.run); err != nil {
		return err
	}
	return w.err
}
