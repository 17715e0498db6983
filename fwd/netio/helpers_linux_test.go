package netio

import (
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// requireRoot skips a test that needs root, or fails it when CI=true.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test needs root (CI=true)")
	}
	t.Skip("needs root")
}

// enterNetns moves the calling test goroutine into a fresh network
// namespace for the rest of the test: its OS thread is locked and unshared,
// and never unlocked, so the runtime ends the thread when the test goroutine
// exits and the namespace disappears with its last socket or device, even if
// the test fails or the process is killed. Sockets and devices must be
// created on the test goroutine itself (goroutines it starts run on other
// threads, in the original namespace), but may be used from anywhere.
//
// This needs no named namespace (`ip netns add`), so nothing can be left
// behind in /var/run/netns.
func enterNetns(t testing.TB) {
	t.Helper()
	requireRoot(t)
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		t.Fatalf("unshare(CLONE_NEWNET): %v", err)
	}
	if err := LinkSetUp("lo"); err != nil {
		t.Fatalf("lo up: %v", err)
	}
}
