package netns

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// Do runs fn on an OS thread that has entered the host's network namespace.
// Sockets that fn creates belong to the namespace for their whole life, so
// fn may return a listener or connection for use from any goroutine. Do not
// start goroutines inside fn and expect them to be in the namespace.
func (h *Host) Do(fn func() error) error {
	runtime.LockOSThread()
	orig, err := unix.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("%s: open own netns: %w", h.Name, err)
	}
	defer unix.Close(orig)
	target, err := unix.Open("/run/netns/"+h.NS, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("%s: open netns: %w", h.Name, err)
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("%s: setns: %w", h.Name, err)
	}
	defer func() {
		// If the thread cannot go back, leave it locked: the runtime then
		// ends the thread with the goroutine instead of reusing it.
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return fn()
}
