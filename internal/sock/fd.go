package sock

import (
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lispd/lispd/internal/nocmp"
)

// conn is what every socket of this package shares: the descriptor as an
// *os.File registered with the poller, and whether Close was called.
type conn struct {
	_ nocmp.DoNotCompare

	f      *os.File
	raw    syscall.RawConn
	closed atomic.Bool
}

// socket creates a non-blocking, close-on-exec socket.
func socket(family, typ int) (int, error) {
	fd, err := unix.Socket(family, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	return fd, nil
}

// connect connects the fresh descriptor fd to sa. Neither a UDP socket nor
// a Unix-domain one leaves a connect in progress, so there is nothing to
// wait for.
func connect(fd int, sa unix.Sockaddr) error {
	for {
		err := unix.Connect(fd, sa)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("connect", err)
		}
		return nil
	}
}

// init wraps the non-blocking descriptor fd; on failure fd is closed.
func (c *conn) init(fd int, name string) error {
	c.f = os.NewFile(uintptr(fd), name)
	if c.f == nil {
		unix.Close(fd)
		return fmt.Errorf("%s: invalid descriptor %d", name, fd)
	}
	raw, err := c.f.SyscallConn()
	if err != nil {
		c.f.Close()
		return fmt.Errorf("%s: %w", name, err)
	}
	c.raw = raw
	return nil
}

// wrap returns err, or os.ErrClosed when the socket was closed: the poller
// reports a closed descriptor with an error of its own.
func (c *conn) wrap(err error) error {
	if err != nil && c.closed.Load() {
		return os.ErrClosed
	}
	return err
}

// Close closes the socket; a read, write or accept blocked on it returns an
// error satisfying errors.Is(err, os.ErrClosed).
func (c *conn) Close() error {
	if c.closed.Swap(true) {
		return os.ErrClosed
	}
	return c.f.Close()
}

// SetDeadline sets the read and write deadlines (the zero time: none).
func (c *conn) SetDeadline(t time.Time) error { return c.f.SetDeadline(t) }

// SetReadDeadline sets the deadline of reads (the zero time: none).
func (c *conn) SetReadDeadline(t time.Time) error { return c.f.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline of writes (the zero time: none).
func (c *conn) SetWriteDeadline(t time.Time) error { return c.f.SetWriteDeadline(t) }

// SyscallConn returns the raw descriptor for socket options and batched
// I/O; errors after Close satisfy errors.Is(err, os.ErrClosed).
func (c *conn) SyscallConn() (syscall.RawConn, error) { return rawConn{c}, nil }

// control runs fn on the descriptor and returns fn's error.
func (c *conn) control(fn func(fd int) error) error {
	var ferr error
	if err := c.raw.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return c.wrap(err)
	}
	return ferr
}

// rawConn is the conn's syscall.RawConn with closed-socket errors mapped
// to os.ErrClosed.
type rawConn struct{ c *conn }

func (r rawConn) Control(f func(fd uintptr)) error { return r.c.wrap(r.c.raw.Control(f)) }
func (r rawConn) Read(f func(fd uintptr) bool) error {
	return r.c.wrap(r.c.raw.Read(f))
}
func (r rawConn) Write(f func(fd uintptr) bool) error {
	return r.c.wrap(r.c.raw.Write(f))
}

// retry reports whether a non-blocking call must wait for the poller (or
// simply be repeated, after EINTR).
func retry(err error) bool { return err == unix.EAGAIN || err == unix.EINTR }
