package sock

import (
	"net/netip"
	"syscall"
)

// recvfrom is recvfrom(2) on fd into b. linux/386 has no recvfrom system
// call of its own (it goes through socketcall), so this one takes the
// syscall package's path and its allocations; lispd ships no 386 build.
func recvfrom(fd uintptr, b []byte, _ *syscall.RawSockaddrInet6, _ *uint32) (int, netip.AddrPort, error) {
	n, sa, err := syscall.Recvfrom(int(fd), b, 0)
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	return n, addrPort(sa), nil
}

// recvmsg is recvmsg(2) on fd into b, with control data into oob, through
// the syscall package (and its allocations), as recvfrom on linux/386.
func recvmsg(fd uintptr, b []byte, _ *syscall.RawSockaddrInet6, oob []byte, _ *syscall.Msghdr, _ *syscall.Iovec) (int, netip.AddrPort, int, error) {
	n, oobn, _, sa, err := syscall.Recvmsg(int(fd), b, oob, 0)
	if err != nil {
		return 0, netip.AddrPort{}, 0, err
	}
	return n, addrPort(sa), oobn, nil
}
