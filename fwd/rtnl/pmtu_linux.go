package rtnl

import (
	"fmt"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// PathMTU returns the MTU of the path to dst as the kernel knows it now: the
// MTU learned from ICMP fragmentation-needed / packet-too-big for dst if
// there is one, else the route's or the outgoing device's MTU. It asks with
// IP_MTU / IPV6_MTU on a temporary connected UDP socket (a few system calls,
// no packet sent): call it when a mapping is installed, on EMSGSIZE, or on a
// timer, not per packet.
func PathMTU(dst netip.Addr) (int, error) {
	_, mtu, err := RouteTo(dst)
	return mtu, err
}

// RouteTo returns the source address the kernel would use toward dst and the
// path MTU (see PathMTU).
func RouteTo(dst netip.Addr) (src netip.Addr, mtu int, err error) {
	dst = dst.Unmap()
	if !dst.IsValid() {
		return netip.Addr{}, 0, fmt.Errorf("path to %v: invalid address", dst)
	}
	var fam, level, opt int
	var sa unix.Sockaddr
	if dst.Is4() {
		fam, level, opt = unix.AF_INET, unix.IPPROTO_IP, unix.IP_MTU
		sa = &unix.SockaddrInet4{Port: 4341, Addr: dst.As4()}
	} else {
		fam, level, opt = unix.AF_INET6, unix.IPPROTO_IPV6, unix.IPV6_MTU
		sa = &unix.SockaddrInet6{Port: 4341, Addr: dst.As16()}
	}
	fd, err := unix.Socket(fam, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("path to %s: socket: %w", dst, err)
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, sa); err != nil {
		return netip.Addr{}, 0, fmt.Errorf("path to %s: %w", dst, err)
	}
	mtu, err = unix.GetsockoptInt(fd, level, opt)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("path to %s: getsockopt MTU: %w", dst, err)
	}
	local, err := syscall.Getsockname(fd) // syscall, not x/sys/unix: see sock.addrPort
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("path to %s: getsockname: %w", dst, err)
	}
	switch a := local.(type) {
	case *syscall.SockaddrInet4:
		src = netip.AddrFrom4(a.Addr)
	case *syscall.SockaddrInet6:
		src = netip.AddrFrom16(a.Addr)
	}
	return src, mtu, nil
}
