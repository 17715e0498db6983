package sock

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/lispd/lispd/internal/nocmp"
)

// UDPConn is a UDP socket of one address family.
type UDPConn struct {
	_ nocmp.DoNotCompare

	conn
	laddr netip.AddrPort
}

// ListenUDP opens a UDP socket bound to laddr: IPv4 or IPv6 by laddr's
// family (an IPv4-mapped address counts as IPv4), an IPv6 socket with
// IPV6_V6ONLY set. control, when not nil, runs on the descriptor before the
// bind (socket options); its error aborts the listen.
func ListenUDP(laddr netip.AddrPort, control func(fd int) error) (*UDPConn, error) {
	laddr = unmapPort(laddr)
	if !laddr.Addr().IsValid() {
		return nil, fmt.Errorf("listen udp: invalid local address %v", laddr)
	}
	fd, err := udpSocket(laddr.Addr())
	if err != nil {
		return nil, fmt.Errorf("listen udp %v: %w", laddr, err)
	}
	if control != nil {
		if err := control(fd); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("listen udp %v: %w", laddr, err)
		}
	}
	if err := unix.Bind(fd, sockaddr(laddr)); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("listen udp %v: %w", laddr, os.NewSyscallError("bind", err))
	}
	return newUDPConn(fd, "udp "+laddr.String())
}

// DialUDP opens a UDP socket connected to raddr from the local address the
// kernel's routing picks (no packet is sent).
func DialUDP(raddr netip.AddrPort) (*UDPConn, error) {
	raddr = unmapPort(raddr)
	if !raddr.Addr().IsValid() {
		return nil, fmt.Errorf("dial udp: invalid address %v", raddr)
	}
	fd, err := udpSocket(raddr.Addr())
	if err != nil {
		return nil, fmt.Errorf("dial udp %v: %w", raddr, err)
	}
	if err := connect(fd, sockaddr(raddr)); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("dial udp %v: %w", raddr, err)
	}
	return newUDPConn(fd, "udp "+raddr.String())
}

// udpSocket creates a UDP socket of a's family with the options package net
// would set (SO_BROADCAST; IPV6_V6ONLY on IPv6).
func udpSocket(a netip.Addr) (int, error) {
	family := unix.AF_INET
	if a.Is6() {
		family = unix.AF_INET6
	}
	fd, err := socket(family, unix.SOCK_DGRAM)
	if err != nil {
		return -1, err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BROADCAST, 1); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("setsockopt SO_BROADCAST", err)
	}
	if family == unix.AF_INET6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			unix.Close(fd)
			return -1, os.NewSyscallError("setsockopt IPV6_V6ONLY", err)
		}
	}
	return fd, nil
}

func newUDPConn(fd int, name string) (*UDPConn, error) {
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: %w", name, os.NewSyscallError("getsockname", err))
	}
	c := &UDPConn{laddr: addrPort(sa)}
	if err := c.init(fd, name); err != nil {
		return nil, err
	}
	return c, nil
}

// LocalAddr returns the bound address and port (IPv4 addresses unmapped).
func (c *UDPConn) LocalAddr() netip.AddrPort { return c.laddr }

// ReadFromUDPAddrPort receives one datagram into b, blocking until one
// arrives, the read deadline passes or the socket is closed. A datagram
// longer than b is truncated. (The name is net.UDPConn's, so code written
// for one reads the same.)
func (c *UDPConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	o := getRecvOp()
	o.b = b
	err := c.raw.Read(o.call)
	n, from, serr := o.n, o.from, o.err
	putRecvOp(o)
	if err == nil {
		err = serr
	}
	if err != nil {
		return 0, netip.AddrPort{}, fmt.Errorf("read udp %v: %w", c.laddr, c.wrap(err))
	}
	return n, from, nil
}

// EnableRecvDst asks the kernel for each received datagram's destination
// address (IP_PKTINFO, or IPV6_RECVPKTINFO on an IPv6 socket), which
// ReadMsgUDPAddrPort then returns: on a wildcard socket, the local address
// the datagram was sent to.
func (c *UDPConn) EnableRecvDst() error {
	return c.control(func(fd int) error {
		if c.laddr.Addr().Is4() {
			return os.NewSyscallError("setsockopt IP_PKTINFO", unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1))
		}
		return os.NewSyscallError("setsockopt IPV6_RECVPKTINFO", unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1))
	})
}

// ReadMsgUDPAddrPort is ReadFromUDPAddrPort that also returns the
// datagram's destination address, when EnableRecvDst is on (else the zero
// Addr; IPv4-mapped addresses unmapped).
func (c *UDPConn) ReadMsgUDPAddrPort(b []byte) (int, netip.AddrPort, netip.Addr, error) {
	o := getRecvOp()
	o.b, o.withDst = b, true
	err := c.raw.Read(o.call)
	n, from, serr := o.n, o.from, o.err
	var dst netip.Addr
	if serr == nil && err == nil {
		dst = pktinfoDst(o.oobBytes()[:o.oobn])
	}
	putRecvOp(o)
	if err == nil {
		err = serr
	}
	if err != nil {
		return 0, netip.AddrPort{}, netip.Addr{}, fmt.Errorf("read udp %v: %w", c.laddr, c.wrap(err))
	}
	return n, from, dst, nil
}

// recvOp is one recvfrom in flight, pooled like sendOp, with the raw
// source address inside, so that a receive allocates nothing.
type recvOp struct {
	b      []byte
	n      int
	from   netip.AddrPort
	err    error
	rsa    syscall.RawSockaddrInet6
	rsaLen uint32
	call   func(fd uintptr) bool

	// recvmsg with control data (ReadMsgUDPAddrPort)
	withDst bool
	oob     [8]uint64 // aligned for cmsghdr; room for IPV6_PKTINFO
	oobn    int
	msg     syscall.Msghdr
	iov     syscall.Iovec
}

// oobBytes is the control data buffer.
func (o *recvOp) oobBytes() []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(&o.oob[0])), len(o.oob)*8)
}

func (o *recvOp) recvfrom(fd uintptr) bool {
	if o.withDst {
		o.n, o.from, o.oobn, o.err = recvmsg(fd, o.b, &o.rsa, o.oobBytes(), &o.msg, &o.iov)
		o.oobn = min(max(o.oobn, 0), len(o.oob)*8)
	} else {
		o.n, o.from, o.err = recvfrom(fd, o.b, &o.rsa, &o.rsaLen)
	}
	return !retry(o.err)
}

var recvOps = make(chan *recvOp, 32)

func getRecvOp() *recvOp {
	select {
	case o := <-recvOps:
		return o
	default:
		o := new(recvOp)
		o.call = o.recvfrom
		return o
	}
}

func putRecvOp(o *recvOp) {
	o.b, o.from, o.err, o.withDst, o.oobn = nil, netip.AddrPort{}, nil, false, 0
	o.iov, o.msg = syscall.Iovec{}, syscall.Msghdr{} // do not keep the caller's buffer alive
	select {
	case recvOps <- o:
	default:
	}
}

// sendOp is one sendto in flight; pooled, with its callback bound once, so
// that a send allocates nothing (a closure and a sockaddr per datagram
// would, on paths that relay every packet such as the RTR's).
type sendOp struct {
	b    []byte
	sa   unix.Sockaddr
	sa4  unix.SockaddrInet4
	sa6  unix.SockaddrInet6
	err  error
	call func(fd uintptr) bool
}

func (o *sendOp) sendto(fd uintptr) bool {
	o.err = unix.Sendto(int(fd), o.b, 0, o.sa)
	return !retry(o.err)
}

// sendOps holds idle sendOps. A channel rather than a sync.Pool: the
// pool drops items at random under the race detector, which would make
// the allocation tests flaky there.
var sendOps = make(chan *sendOp, 32)

func getSendOp() *sendOp {
	select {
	case o := <-sendOps:
		return o
	default:
		o := new(sendOp)
		o.call = o.sendto
		return o
	}
}

func putSendOp(o *sendOp) {
	o.b, o.sa, o.err = nil, nil, nil
	select {
	case sendOps <- o:
	default:
	}
}

// WriteToUDPAddrPort sends b as one datagram to dst.
func (c *UDPConn) WriteToUDPAddrPort(b []byte, dst netip.AddrPort) (int, error) {
	dst = c.family(dst)
	o := getSendOp()
	if a := dst.Addr(); a.Is4() && a.Zone() == "" {
		o.sa4 = unix.SockaddrInet4{Port: int(dst.Port()), Addr: a.As4()}
		o.sa = &o.sa4
	} else if a.Is6() && a.Zone() == "" {
		o.sa6 = unix.SockaddrInet6{Port: int(dst.Port()), Addr: a.As16()}
		o.sa = &o.sa6
	} else {
		o.sa = sockaddr(dst)
	}
	o.b = b
	err := c.raw.Write(o.call)
	serr := o.err
	putSendOp(o)
	if err == nil {
		err = serr
	}
	if err != nil {
		return 0, fmt.Errorf("write udp %v to %v: %w", c.laddr, dst, c.wrap(err))
	}
	return len(b), nil
}

// WriteToUDPAddrPortVia sends b as one datagram to dst from the source
// address src and out of the interface ifindex, both given per packet in
// IP_PKTINFO or IPV6_PKTINFO: the kernel routes through that interface
// (using the routes through it) without policy routing. The zero src
// leaves the source to the kernel; ifindex 0 leaves the interface to the
// route. src must be an address of the host (or the socket's own).
func (c *UDPConn) WriteToUDPAddrPortVia(b []byte, dst netip.AddrPort, src netip.Addr, ifindex int) (int, error) {
	src = src.Unmap()
	if (!src.IsValid() || src.IsUnspecified()) && ifindex <= 0 {
		return c.WriteToUDPAddrPort(b, dst)
	}
	sa := sockaddr(c.family(dst))
	var oob []byte
	if c.laddr.Addr().Is4() {
		pi := unix.Inet4Pktinfo{Ifindex: int32(ifindex)}
		if src.Is4() {
			pi.Spec_dst = src.As4()
		}
		oob = unix.PktInfo4(&pi)
	} else {
		pi := unix.Inet6Pktinfo{Ifindex: uint32(max(ifindex, 0))}
		if src.Is6() && !src.IsUnspecified() {
			pi.Addr = src.As16()
		}
		oob = unix.PktInfo6(&pi)
	}
	var serr error
	err := c.raw.Write(func(fd uintptr) bool {
		_, serr = unix.SendmsgN(int(fd), b, oob, sa, 0)
		return !retry(serr)
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return 0, fmt.Errorf("write udp %v to %v from %v via interface %d: %w", c.laddr, dst, src, ifindex, c.wrap(err))
	}
	return len(b), nil
}

// family maps an IPv4 destination into the socket's family when the socket
// is IPv6.
func (c *UDPConn) family(dst netip.AddrPort) netip.AddrPort {
	if c.laddr.Addr().Is6() && dst.Addr().Is4() {
		return netip.AddrPortFrom(netip.AddrFrom16(dst.Addr().As16()), dst.Port())
	}
	return unmapPort(dst)
}

// sockaddr converts an address and port to a unix.Sockaddr of its family.
func sockaddr(ap netip.AddrPort) unix.Sockaddr {
	a := ap.Addr()
	if a.Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}
	}
	sa := &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
	if z := a.Zone(); z != "" {
		if n, err := strconv.ParseUint(z, 10, 32); err == nil {
			sa.ZoneId = uint32(n)
		} else if ifi, err := InterfaceByName(z); err == nil {
			sa.ZoneId = uint32(ifi.Index)
		}
	}
	return sa
}

// addrPort converts a unix.Sockaddr to an address and port (IPv4-mapped
// addresses unmapped); other kinds of address give the zero value.
// addrPort converts a source or bound address. Received and bound
// addresses come from package syscall's recvfrom and getsockname, not
// x/sys/unix's: those convert through a sockaddr decoder for every address
// family x/sys/unix knows (CAN, Bluetooth, TIPC, VM sockets, ...), ~12 KB
// of MIPS code; syscall's knows five and is linked anyway.
func addrPort(sa syscall.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *syscall.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port))
	}
	return netip.AddrPort{}
}

func unmapPort(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
