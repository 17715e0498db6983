package netio

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The packet path's system calls (TUN read/write(v), recvmmsg, sendmmsg)
// go through RawSyscall, not Syscall, as gVisor's rawfile does for its
// non-blocking I/O. Every descriptor they touch is non-blocking (an EAGAIN
// parks the goroutine in the netpoller instead), so each call returns in
// bounded time and need not give up its P. Syscall's entersyscall would:
// a call longer than ~20 µs (a 64 KB UDP GSO send runs the peer veth's
// receive in softirq inline) lets sysmon retake the P and start a spinning
// M to take it over, and keeps sysmon polling every 20 µs. Under an iperf3
// load that scheduler churn (futex wake-ups, thread switches, sysmon's
// nanosleeps) was 20-27 % of each xTR's CPU profile.

// rawRead is read(2) on a non-blocking fd.
func rawRead(fd uintptr, b []byte) (int, unix.Errno) {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	n, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(p), uintptr(len(b)))
	return int(n), e
}

// rawWrite is write(2) on a non-blocking fd.
func rawWrite(fd uintptr, b []byte) (int, unix.Errno) {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(p), uintptr(len(b)))
	return int(n), e
}

// rawWritev is writev(2) on a non-blocking fd.
func rawWritev(fd uintptr, iov []unix.Iovec) (int, unix.Errno) {
	n, _, e := unix.RawSyscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
	return int(n), e
}
