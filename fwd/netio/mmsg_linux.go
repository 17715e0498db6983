package netio

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The mmsghdr layout must match the kernel's on every architecture; a wrong
// size fails the build here (index out of range), not at run time.
var _ = [1]struct{}{}[unsafe.Sizeof(mmsghdr{})-sizeofMmsghdr]
var _ = [1]struct{}{}[sizeofMmsghdr-unsafe.Sizeof(mmsghdr{})]

// recvmmsg and sendmmsg use the classic syscall numbers: on 32-bit
// architectures recvmmsg_time64 exists only since Linux 5.1, and lispd passes
// no timeout anyway. RawSyscall: the sockets are non-blocking (see
// rawsys_linux.go).
func recvmmsg(fd uintptr, hs []mmsghdr, flags int) (int, unix.Errno) {
	n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&hs[0])), uintptr(len(hs)), uintptr(flags), 0, 0)
	return int(n), e
}

func sendmmsg(fd uintptr, hs []mmsghdr, flags int) (int, unix.Errno) {
	n, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&hs[0])), uintptr(len(hs)), uintptr(flags), 0, 0)
	return int(n), e
}
