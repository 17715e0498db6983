package netio

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/lispd/lispd/internal/consterr"
	"github.com/lispd/lispd/internal/sock"
	"github.com/songgao/water"
	"golang.org/x/sys/unix"

	"github.com/lispd/lispd/fwd/rtnl"
)

// tunDevicePath is the TUN clone device.
const tunDevicePath = "/dev/net/tun"

// ErrNoTUN says that the kernel offers no TUN device (no tun module, or no
// /dev/net/tun node in this container).
const ErrNoTUN = consterr.Error(tunDevicePath + " is missing: load the tun module (modprobe tun) or create the device node")

// OpenTUN opens a TUN device called name (IFF_TUN|IFF_NO_PI), sets its MTU
// and the DefaultTxQueueLen, and brings it up.
func OpenTUN(name string, mtu int) (TUN, error) {
	return OpenTUNConfig(TUNConfig{Name: name, MTU: mtu})
}

// OpenTUNConfig opens a TUN device as cfg says and brings it up.
func OpenTUNConfig(cfg TUNConfig) (TUN, error) {
	if len(cfg.Name) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("open TUN %q: name longer than %d bytes", cfg.Name, unix.IFNAMSIZ-1)
	}
	if _, err := os.Stat(tunDevicePath); errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoTUN
	}
	ifce, err := water.New(water.Config{
		DeviceType:             water.TUN,
		PlatformSpecificParams: water.PlatformSpecificParams{Name: cfg.Name},
	})
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrPermission), errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
			return nil, fmt.Errorf("open TUN %q: %w (needs CAP_NET_ADMIN and access to %s)", cfg.Name, err, tunDevicePath)
		case errors.Is(err, unix.EBUSY):
			return nil, fmt.Errorf("open TUN %q: %w (a TUN of that name exists and another program holds it)", cfg.Name, err)
		case errors.Is(err, unix.EINVAL):
			// TUNSETIFF on an existing device of another kind.
			if _, lerr := rtnl.LinkIndex(cfg.Name); lerr == nil {
				return nil, fmt.Errorf("open TUN %q: %w (an interface of that name exists and is not a TUN: choose another name)", cfg.Name, err)
			}
		}
		return nil, fmt.Errorf("open TUN %q: %w", cfg.Name, err)
	}
	f, ok := ifce.ReadWriteCloser.(*os.File)
	if !ok {
		ifce.Close()
		return nil, fmt.Errorf("open TUN %q: water returned %T, not *os.File", cfg.Name, ifce.ReadWriteCloser)
	}
	t, err := newTUNFile(f, ifce.Name(), cfg.MTU)
	if err != nil {
		f.Close()
		return nil, err
	}
	if err := t.configure(cfg); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// tunFile is a TUN device read and written through its non-blocking file
// descriptor under the Go netpoller.
type tunFile struct {
	file   *os.File
	raw    syscall.RawConn
	name   string
	mtu    int
	closed atomic.Bool

	// Read state: the callback is bound once so that a Read allocates
	// nothing; its arguments and results travel through these fields.
	rmu    sync.Mutex
	rfn    func(fd uintptr) bool
	rbufs  [][]byte
	rsizes []int
	roff   int
	rn     int
	rerr   error

	wmu  sync.Mutex
	wfn  func(fd uintptr) bool
	wbuf [][]byte
	woff int
	wn   int // next packet to write
	wok  int // packets written
	werr error
}

func newTUNFile(f *os.File, name string, mtu int) (*tunFile, error) {
	raw, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("TUN %q: %w", name, err)
	}
	t := &tunFile{file: f, raw: raw, name: name, mtu: mtu}
	t.rfn = t.readFn
	t.wfn = t.writeFn
	return t, nil
}

func (t *tunFile) configure(cfg TUNConfig) error {
	if cfg.MTU > 0 {
		if err := rtnl.LinkSetMTU(t.name, cfg.MTU); err != nil {
			return err
		}
	} else if ifi, err := sock.InterfaceByName(t.name); err == nil {
		t.mtu = ifi.MTU
	}
	qlen := cfg.TxQueueLen
	if qlen == 0 {
		qlen = DefaultTxQueueLen
	}
	if err := rtnl.LinkSetTxQueueLen(t.name, qlen); err != nil {
		return err
	}
	if err := rtnl.QuietLink(t.name); err != nil {
		return err
	}
	return rtnl.LinkSetUp(t.name)
}

func (t *tunFile) Name() string { return t.name }
func (t *tunFile) MTU() int     { return t.mtu }

// Close implements TUN.Close.
func (t *tunFile) Close() error {
	t.closed.Store(true)
	return t.file.Close()
}

// pollErr turns the poller's error for a closed file into os.ErrClosed.
func (t *tunFile) pollErr(op string, err error) error {
	if t.closed.Load() {
		err = os.ErrClosed
	}
	return fmt.Errorf("TUN %s: %s: %w", t.name, op, err)
}

// Read implements TUN.Read: one wake-up from the poller, then read(2) until
// EAGAIN or until bufs are full.
func (t *tunFile) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	if len(sizes) < len(bufs) {
		return 0, fmt.Errorf("TUN %s: read: %d sizes for %d buffers", t.name, len(sizes), len(bufs))
	}
	t.rmu.Lock()
	defer t.rmu.Unlock()
	t.rbufs, t.rsizes, t.roff, t.rn, t.rerr = bufs, sizes, offset, 0, nil
	err := t.raw.Read(t.rfn)
	n, rerr := t.rn, t.rerr
	t.rbufs, t.rsizes = nil, nil
	if err != nil {
		return n, t.pollErr("read", err)
	}
	if rerr != nil && n == 0 {
		return 0, fmt.Errorf("TUN %s: read: %w", t.name, rerr)
	}
	return n, nil
}

func (t *tunFile) readFn(fd uintptr) bool {
	for t.rn < len(t.rbufs) {
		b := t.rbufs[t.rn]
		if t.roff >= len(b) {
			t.rerr = fmt.Errorf("offset %d leaves no room in a %d-byte buffer", t.roff, len(b))
			return true
		}
		n, err := rawRead(fd, b[t.roff:])
		switch err {
		case 0:
			t.rsizes[t.rn] = n
			t.rn++
		case unix.EINTR:
		case unix.EAGAIN:
			return t.rn > 0 // park in the poller only if nothing was read
		default:
			t.rerr = err
			return true
		}
	}
	return true
}

// Write implements TUN.Write.
func (t *tunFile) Write(bufs [][]byte, offset int) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	t.wmu.Lock()
	defer t.wmu.Unlock()
	return t.write(bufs, offset, t.wfn)
}

// write hands bufs (packets at offset) to fn as the poller's write
// callback, parking while the device queue is full, and returns how many
// packets the kernel took. The caller holds wmu; fn is prebound, so nothing
// is allocated.
func (t *tunFile) write(bufs [][]byte, offset int, fn func(fd uintptr) bool) (int, error) {
	t.wbuf, t.woff, t.wn, t.wok, t.werr = bufs, offset, 0, 0, nil
	err := t.raw.Write(fn)
	ok, werr := t.wok, t.werr
	t.wbuf = nil
	if err != nil {
		return ok, t.pollErr("write", err)
	}
	if werr != nil {
		return ok, fmt.Errorf("TUN %s: write: %w", t.name, werr)
	}
	return ok, nil
}

func (t *tunFile) writeFn(fd uintptr) bool {
	for t.wn < len(t.wbuf) {
		b := t.wbuf[t.wn]
		if t.woff > len(b) {
			if t.werr == nil {
				t.werr = fmt.Errorf("packet %d: offset %d beyond %d-byte buffer", t.wn, t.woff, len(b))
			}
			t.wn++
			continue
		}
		_, err := rawWrite(fd, b[t.woff:])
		switch err {
		case 0:
			t.wn++
			t.wok++
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			if t.werr == nil {
				t.werr = fmt.Errorf("packet %d: %w", t.wn, err)
			}
			t.wn++
		}
	}
	return true
}
