package netio

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/lispd/lispd/internal/consterr"
)

// TUNSETOFFLOAD flags (linux/if_tun.h); x/sys has the ioctl numbers only.
const (
	tunFCsum = 0x01
	tunFTSO4 = 0x02
	tunFTSO6 = 0x04
	tunFUSO4 = 0x20
	tunFUSO6 = 0x40
)

// offloadReadBuf is the size of the buffer a super-packet is read into: the
// virtio header and the largest IP packet.
const offloadReadBuf = VirtioNetHdrLen + 65535

// OffloadTUN is a TUN device opened with IFF_VNET_HDR and TSO (and USO where
// the kernel has it): the kernel hands it TCP (and UDP) super-packets of up
// to 64 KB, which Read cuts into packets that fit the MTU, with correct IP
// and L4 headers and checksums, and completes partial checksums of the
// others. Write sends each packet behind a zero virtio header (writev, so
// the packet needs no headroom for it). One read(2) per super-packet
// instead of one per MTU-sized packet is where the encapsulating side saves
// its system calls.
type OffloadTUN struct {
	*tunFile
	uso bool

	// Read state, guarded by tunFile.rmu.
	orfn  func(fd uintptr) bool
	rbuf  []byte
	split gsoSplitter
	spl   bool // split holds segments not yet handed out

	// Write state, guarded by tunFile.wmu.
	owfn  func(fd uintptr) bool
	whdr  [VirtioNetHdrLen]byte
	wiov  [2]unix.Iovec
	ghdr  [VirtioNetHdrLen]byte       // virtio header of a coalesced write
	giov  [1 + maxCoalesce]unix.Iovec // header, first packet, payloads
	saved [60 + 60]byte               // first packet's headers before rewriting
	plain int                         // packets before this index are written alone

	superPackets atomic.Uint64
	segments     atomic.Uint64
	malformed    atomic.Uint64
	coalesced    atomic.Uint64 // super-packets written
	joined       atomic.Uint64 // packets written inside them
}

var _ TUN = (*OffloadTUN)(nil)

// OffloadStats are an OffloadTUN's counters.
type OffloadStats struct {
	SuperPackets uint64 // GSO packets read from the kernel
	Segments     uint64 // packets cut from them
	Malformed    uint64 // reads dropped: bad virtio header or headers, or no room
	Coalesced    uint64 // TCP super-packets written (coalesced on write)
	Joined       uint64 // packets written inside them
}

// Stats returns the device's counters.
func (t *OffloadTUN) Stats() OffloadStats {
	return OffloadStats{t.superPackets.Load(), t.segments.Load(), t.malformed.Load(), t.coalesced.Load(), t.joined.Load()}
}

// USO reports whether the kernel accepted UDP segmentation offload (6.2+).
func (t *OffloadTUN) USO() bool { return t.uso }

// Offloads reports true: the device reads super-packets. The data plane
// uses it to turn UDP GSO on for its send sockets.
func (t *OffloadTUN) Offloads() bool { return true }

// ErrNoOffload says that the kernel refused IFF_VNET_HDR or TSO on a TUN.
const ErrNoOffload = consterr.Error("TUN offloads not available")

// ifreqFlags is struct ifreq with the flags member (TUNSETIFF).
type ifreqFlags struct {
	name  [unix.IFNAMSIZ]byte
	flags uint16
	_     [22]byte
}

// OpenOffloadTUN opens a TUN device as cfg says, with IFF_VNET_HDR and the
// TSO4/TSO6 (and USO4/USO6 when the kernel takes them) offloads. When the
// kernel refuses the offloads the error wraps ErrNoOffload and the caller
// falls back to OpenTUNConfig.
func OpenOffloadTUN(cfg TUNConfig) (*OffloadTUN, error) {
	if len(cfg.Name) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("open TUN %q: name longer than %d bytes", cfg.Name, unix.IFNAMSIZ-1)
	}
	fd, err := unix.Open(tunDevicePath, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, ErrNoTUN
		}
		return nil, fmt.Errorf("open TUN %q: %s: %w", cfg.Name, tunDevicePath, err)
	}
	var ifr ifreqFlags
	copy(ifr.name[:], cfg.Name)
	ifr.flags = unix.IFF_TUN | unix.IFF_NO_PI | unix.IFF_VNET_HDR
	if err := ioctlPtr(fd, unix.TUNSETIFF, unsafe.Pointer(&ifr)); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EINVAL) {
			return nil, fmt.Errorf("open TUN %q: TUNSETIFF with IFF_VNET_HDR: %w: %w", cfg.Name, ErrNoOffload, err)
		}
		return nil, fmt.Errorf("open TUN %q: TUNSETIFF: %w", cfg.Name, err)
	}
	hdrSize := int32(VirtioNetHdrLen)
	if err := ioctlPtr(fd, unix.TUNSETVNETHDRSZ, unsafe.Pointer(&hdrSize)); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("open TUN %q: TUNSETVNETHDRSZ: %w: %w", cfg.Name, ErrNoOffload, err)
	}
	uso := true
	if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, tunFCsum|tunFTSO4|tunFTSO6|tunFUSO4|tunFUSO6); err != nil {
		uso = false
		if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, tunFCsum|tunFTSO4|tunFTSO6); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("open TUN %q: TUNSETOFFLOAD: %w: %w", cfg.Name, ErrNoOffload, err)
		}
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("open TUN %q: %w", cfg.Name, err)
	}
	name := unix.ByteSliceToString(ifr.name[:])
	f := os.NewFile(uintptr(fd), tunDevicePath)
	tf, err := newTUNFile(f, name, cfg.MTU)
	if err != nil {
		f.Close()
		return nil, err
	}
	t := &OffloadTUN{tunFile: tf, uso: uso, rbuf: make([]byte, offloadReadBuf)}
	t.orfn = t.readFn
	t.owfn = t.writeFn
	t.wiov[0].Base = &t.whdr[0]
	t.wiov[0].SetLen(VirtioNetHdrLen)
	t.giov[0].Base = &t.ghdr[0]
	t.giov[0].SetLen(VirtioNetHdrLen)
	if err := tf.configure(cfg); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

func ioctlPtr(fd int, req uint, arg unsafe.Pointer) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(arg))
	if e != 0 {
		return e
	}
	return nil
}

// Read implements TUN.Read: the segments of a super-packet left over from
// the previous call first, then read(2) until EAGAIN or until bufs are
// full, each super-packet split into as many buffers as it has segments.
// It blocks only when it has nothing at all to return.
func (t *OffloadTUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	if len(sizes) < len(bufs) {
		return 0, fmt.Errorf("TUN %s: read: %d sizes for %d buffers", t.name, len(sizes), len(bufs))
	}
	t.rmu.Lock()
	defer t.rmu.Unlock()
	t.rbufs, t.rsizes, t.roff, t.rn, t.rerr = bufs, sizes, offset, 0, nil
	t.drain()
	var err error
	if t.rn < len(bufs) {
		err = t.raw.Read(t.orfn)
	}
	n, rerr := t.rn, t.rerr
	t.rbufs, t.rsizes = nil, nil
	if n > 0 {
		return n, nil
	}
	if err != nil {
		return 0, t.pollErr("read", err)
	}
	if rerr != nil {
		return 0, fmt.Errorf("TUN %s: read: %w", t.name, rerr)
	}
	return 0, nil
}

// drain hands out the pending segments while there are buffers.
func (t *OffloadTUN) drain() {
	var segs, bad uint64
	for t.spl && t.rn < len(t.rbufs) {
		if t.split.done() {
			t.spl = false
			break
		}
		b := t.rbufs[t.rn]
		if t.roff > len(b) {
			t.rerr = fmt.Errorf("offset %d leaves no room in a %d-byte buffer", t.roff, len(b))
			t.spl = false
			return
		}
		n, err := t.split.nextInto(b[t.roff:])
		if err != nil {
			bad++
			continue
		}
		t.rsizes[t.rn] = n
		t.rn++
		segs++
	}
	if t.spl && t.split.done() {
		t.spl = false
	}
	if segs != 0 {
		t.segments.Add(segs)
	}
	if bad != 0 {
		t.malformed.Add(bad)
	}
}

func (t *OffloadTUN) readFn(fd uintptr) bool {
	for t.rn < len(t.rbufs) {
		n, err := rawRead(fd, t.rbuf)
		switch err {
		case 0:
			if !t.accept(t.rbuf[:n]) {
				continue
			}
			t.drain()
			if t.rerr != nil {
				return true
			}
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

// accept parses one read and loads the splitter; false drops it.
func (t *OffloadTUN) accept(b []byte) bool {
	h, err := decodeVirtioNetHdr(b)
	if err == nil {
		err = t.split.reset(h, b[VirtioNetHdrLen:])
	}
	if err != nil {
		t.malformed.Add(1)
		return false
	}
	if t.split.gso {
		t.superPackets.Add(1)
	}
	t.spl = true
	return true
}

// Write implements TUN.Write: consecutive segments of one TCP flow as one
// super-packet (see tun_coalesce.go), every other packet behind a zero
// virtio header (no GSO, checksum complete); one writev(2) each. The
// headers of the first packet of a coalesced run are left rewritten for the
// super-packet: bufs are consumed.
func (t *OffloadTUN) Write(bufs [][]byte, offset int) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	t.wmu.Lock()
	defer t.wmu.Unlock()
	t.plain = 0
	n, err := t.write(bufs, offset, t.owfn)
	// Drop the references to the caller's buffers.
	t.wiov[1].Base = nil
	for i := range t.giov[1:] {
		t.giov[1+i].Base = nil
	}
	return n, err
}

func (t *OffloadTUN) writeFn(fd uintptr) bool {
	for t.wn < len(t.wbuf) {
		if t.wn >= t.plain && t.woff < len(t.wbuf[t.wn]) {
			k, done, again := t.writeCoalesced(fd)
			if again {
				return false
			}
			if done {
				t.wn += k
				t.wok += k
				continue
			}
			t.plain = t.wn + k // not coalescible, or refused: one by one
		}
		b := t.wbuf[t.wn]
		if t.woff >= len(b) {
			if t.werr == nil {
				t.werr = fmt.Errorf("packet %d: offset %d leaves nothing in a %d-byte buffer", t.wn, t.woff, len(b))
			}
			t.wn++
			continue
		}
		t.wiov[1].Base = &b[t.woff]
		t.wiov[1].SetLen(len(b) - t.woff)
		_, e := rawWritev(fd, t.wiov[:])
		switch e {
		case 0:
			t.wn++
			t.wok++
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			if t.werr == nil {
				t.werr = fmt.Errorf("packet %d: %w", t.wn, e)
			}
			t.wn++
		}
	}
	return true
}

// writeCoalesced writes the run of TCP segments at t.wn as one super-packet.
// done: k packets were written; again: wait for the device to be writable
// (headers restored, the run is rebuilt on the next call); otherwise the k
// packets (k = 1 when nothing coalesces) are to be written one by one.
func (t *OffloadTUN) writeCoalesced(fd uintptr) (k int, done, again bool) {
	bufs := t.wbuf[t.wn:]
	k, f, total, lastFlags := coalesceRun(bufs, t.woff)
	if k < 2 {
		return 1, false, false
	}
	first := bufs[0][t.woff:]
	copy(t.saved[:f.hdrLen], first)
	h := superHeader(first, f, total, lastFlags)
	h.encode(t.ghdr[:])
	t.giov[1].Base = &first[0]
	t.giov[1].SetLen(len(first))
	for j := 1; j < k; j++ {
		p := bufs[j][t.woff:]
		pay := p[f.hdrLen:]
		t.giov[1+j].Base = &pay[0]
		t.giov[1+j].SetLen(len(pay))
	}
	for {
		_, e := rawWritev(fd, t.giov[:1+k])
		switch e {
		case 0:
			t.coalesced.Add(1)
			t.joined.Add(uint64(k))
			return k, true, false
		case unix.EINTR:
			continue
		}
		copy(first, t.saved[:f.hdrLen])
		return k, false, e == unix.EAGAIN
	}
}
