//go:build linux && !386

package sock

import (
	"net/netip"
	"syscall"
	"unsafe"
)

// recvfrom is recvfrom(2) on fd into b, with the source address written
// into rsa (which the caller owns, e.g. a pooled recvOp) and decoded into
// a netip.AddrPort: nothing is allocated per datagram. syscall.Recvfrom
// allocates the raw address and the Sockaddr it returns, two allocations
// per datagram on the RTR's data path, which relays every packet through
// here.
func recvfrom(fd uintptr, b []byte, rsa *syscall.RawSockaddrInet6, rsaLen *uint32) (int, netip.AddrPort, error) {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	*rsaLen = syscall.SizeofSockaddrInet6
	n, _, e := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(p), uintptr(len(b)), 0,
		uintptr(unsafe.Pointer(rsa)), uintptr(unsafe.Pointer(rsaLen)))
	if e != 0 {
		return 0, netip.AddrPort{}, e
	}
	return int(n), rawAddrPort(rsa, *rsaLen), nil
}

// rawAddrPort decodes a raw IPv4 or IPv6 socket address of length n
// (IPv4-mapped IPv6 addresses unmapped, as addrPort does); anything else
// is the zero AddrPort.
func rawAddrPort(rsa *syscall.RawSockaddrInet6, n uint32) netip.AddrPort {
	switch rsa.Family {
	case syscall.AF_INET:
		if n < syscall.SizeofSockaddrInet4 {
			break
		}
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(rsa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), networkPort(&sa.Port))
	case syscall.AF_INET6:
		if n < syscall.SizeofSockaddrInet6 {
			break
		}
		return netip.AddrPortFrom(netip.AddrFrom16(rsa.Addr).Unmap(), networkPort(&rsa.Port))
	}
	return netip.AddrPort{}
}

// networkPort reads a sockaddr's port, which is in network byte order in
// memory whatever the host's.
func networkPort(p *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// recvmsg is recvmsg(2) on fd into b with the source address written into
// rsa and control data into oob (both owned by the caller, as for
// recvfrom): nothing is allocated per datagram. It returns the datagram's
// length, its source and the length of the control data.
func recvmsg(fd uintptr, b []byte, rsa *syscall.RawSockaddrInet6, oob []byte, m *syscall.Msghdr, iov *syscall.Iovec) (int, netip.AddrPort, int, error) {
	*iov = syscall.Iovec{}
	if len(b) > 0 {
		iov.Base = &b[0]
	}
	iov.SetLen(len(b))
	*m = syscall.Msghdr{Name: (*byte)(unsafe.Pointer(rsa)), Namelen: syscall.SizeofSockaddrInet6, Iov: iov, Iovlen: 1}
	if len(oob) > 0 {
		m.Control = &oob[0]
		m.SetControllen(len(oob))
	}
	n, _, e := syscall.Syscall(syscall.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(m)), 0)
	if e != 0 {
		return 0, netip.AddrPort{}, 0, e
	}
	return int(n), rawAddrPort(rsa, m.Namelen), int(m.Controllen), nil
}
