package sock

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/lispd/lispd/internal/nocmp"
)

// UnixListener is a listening Unix-domain stream socket.
type UnixListener struct {
	_ nocmp.DoNotCompare

	conn
	path string
}

// ListenUnix creates a stream socket bound to the file path and listens on
// it. Close removes the file.
func ListenUnix(path string) (*UnixListener, error) {
	fd, err := socket(unix.AF_UNIX, unix.SOCK_STREAM)
	if err != nil {
		return nil, fmt.Errorf("listen unix %s: %w", path, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("listen unix %s: %w", path, os.NewSyscallError("bind", err))
	}
	if err := unix.Listen(fd, unix.SOMAXCONN); err != nil {
		unix.Close(fd)
		os.Remove(path)
		return nil, fmt.Errorf("listen unix %s: %w", path, os.NewSyscallError("listen", err))
	}
	l := &UnixListener{path: path}
	if err := l.init(fd, "unix "+path); err != nil {
		os.Remove(path)
		return nil, err
	}
	return l, nil
}

// Accept waits for a connection (until Close or the deadline).
func (l *UnixListener) Accept() (*UnixConn, error) {
	nfd := -1
	var serr error
	err := l.raw.Read(func(fd uintptr) bool {
		// syscall's accept4, not x/sys/unix's: see addrPort.
		nfd, _, serr = syscall.Accept4(int(fd), syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		return !retry(serr) && serr != unix.ECONNABORTED
	})
	if err == nil && serr != nil {
		err = os.NewSyscallError("accept4", serr)
	}
	if err != nil {
		return nil, fmt.Errorf("accept unix %s: %w", l.path, l.wrap(err))
	}
	c := &UnixConn{}
	if err := c.init(nfd, "unix "+l.path); err != nil {
		return nil, err
	}
	return c, nil
}

// Close stops listening and removes the socket file.
func (l *UnixListener) Close() error {
	err := l.conn.Close()
	if err == nil {
		os.Remove(l.path)
	}
	return err
}

// UnixConn is a connected Unix-domain stream socket.
type UnixConn struct{ conn }

// DialUnix connects to the stream socket at path. Connecting to a local
// socket does not wait: it succeeds, or fails at once (nothing listening,
// backlog full).
func DialUnix(path string) (*UnixConn, error) {
	fd, err := socket(unix.AF_UNIX, unix.SOCK_STREAM)
	if err != nil {
		return nil, fmt.Errorf("dial unix %s: %w", path, err)
	}
	if err := connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("dial unix %s: %w", path, err)
	}
	c := &UnixConn{}
	if err := c.init(fd, "unix "+path); err != nil {
		return nil, err
	}
	return c, nil
}

// Read reads from the connection; io.EOF after the peer closed its side.
func (c *UnixConn) Read(b []byte) (int, error) { return c.f.Read(b) }

// Write writes all of b (or fails).
func (c *UnixConn) Write(b []byte) (int, error) { return c.f.Write(b) }

// CloseWrite shuts the sending side down: the peer reads EOF.
func (c *UnixConn) CloseWrite() error {
	return c.control(func(fd int) error {
		return os.NewSyscallError("shutdown", unix.Shutdown(fd, unix.SHUT_WR))
	})
}

// PeerCred returns the credentials of the process at the other end, as of
// its connect (SO_PEERCRED).
func (c *UnixConn) PeerCred() (*unix.Ucred, error) {
	var cred *unix.Ucred
	err := c.control(func(fd int) error {
		var err error
		cred, err = unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
		return os.NewSyscallError("getsockopt SO_PEERCRED", err)
	})
	return cred, err
}
