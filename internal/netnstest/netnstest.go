// Package netnstest puts a test into a network namespace of its own. Only
// tests import it.
package netnstest

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// RequireRoot skips a test that needs root, or fails it when CI=true.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test needs root (CI=true)")
	}
	t.Skip("needs root")
}

// Enter moves the calling test goroutine into a fresh network namespace for
// the rest of the test, with its loopback up: its OS thread is locked and
// unshared, and never unlocked, so the runtime ends the thread when the test
// goroutine exits and the namespace disappears with its last socket or
// device, even if the test fails or the process is killed. Sockets and
// devices must be created on the test goroutine itself (goroutines it starts
// run on other threads, in the original namespace), but may be used from
// anywhere. Nothing is left behind in /var/run/netns.
//
// Under qemu-user the test is skipped: qemu passes netlink messages to the
// host kernel through an incomplete translation (no rule messages,
// attributes mangled on big-endian targets).
func Enter(t testing.TB) {
	t.Helper()
	RequireRoot(t)
	if comm, _ := os.ReadFile("/proc/self/comm"); strings.HasPrefix(string(comm), "qemu-") {
		t.Skip("network namespace tests need a native kernel interface, not qemu-user")
	}
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		t.Fatalf("unshare(CLONE_NEWNET): %v", err)
	}
	if err := loopbackUp(); err != nil {
		t.Fatalf("lo up: %v", err)
	}
}

// loopbackUp sets IFF_UP on lo (SIOCGIFFLAGS, SIOCSIFFLAGS).
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var ifr struct {
		name  [unix.IFNAMSIZ]byte
		flags uint16
		_     [22]byte
	}
	copy(ifr.name[:], "lo")
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCGIFFLAGS, uintptr(unsafe.Pointer(&ifr))); e != 0 {
		return e
	}
	ifr.flags |= unix.IFF_UP
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCSIFFLAGS, uintptr(unsafe.Pointer(&ifr))); e != 0 {
		return e
	}
	return nil
}
