package netio

import (
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// UDP generic segmentation offload (UDP_SEGMENT, Linux 4.18+): a run of
// datagrams of equal size to one destination with the same control data
// leaves as ONE message whose iovecs are the datagrams and whose
// UDP_SEGMENT control message carries their size; the kernel (or the NIC)
// cuts it into datagrams again after routing, so the whole run costs one
// pass through the socket layer. The last datagram of a run may be shorter.
const (
	// gsoMaxSegments is the kernel's UDP_MAX_SEGMENTS.
	gsoMaxSegments = 64
	// gsoMaxBytes bounds the payload of one GSO message: under the
	// 65535-byte IP and UDP length fields with room for both headers.
	gsoMaxBytes = 65535 - 8 - 40
)

// gsoState is a UDPConn's GSO sender, allocated by EnableGSO.
type gsoState struct {
	on atomic.Bool

	mu     sync.Mutex
	bufs   batchBufs
	groups []gsoGroup // slot -> run of messages
	failed []gsoGroup // runs to resend one datagram per message
	fn     func(fd uintptr) bool
	wait   sendWait
	msgs   []Message
	k, pos int

	datagrams atomic.Uint64 // GSO messages sent
	segments  atomic.Uint64 // datagrams they carried

	// sendHook, set by tests only, is called instead of sendmmsg (to
	// answer like a kernel that refuses).
	sendHook func(fd uintptr, hs []mmsghdr, flags int) (int, unix.Errno)
}

type gsoGroup struct{ start, n int }

// EnableGSO makes WriteBatch send runs of equal-size datagrams with
// UDP_SEGMENT when the kernel supports it, and reports whether it does.
// The conn turns GSO off for good if the kernel answers EIO (a device or
// route without checksum offload); runs the kernel refuses otherwise (for
// example EINVAL when a run's datagrams exceed the path MTU) are resent
// one datagram per message, so GSO never changes what is delivered.
func (u *UDPConn) EnableGSO() bool {
	g := u.gsoState()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.on.Load() {
		return true
	}
	var soErr error
	if err := u.raw.Control(func(fd uintptr) {
		_, soErr = unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT)
	}); err != nil || soErr != nil {
		return false
	}
	if g.groups == nil {
		g.bufs = newBatchBufs(u.batch)
		g.groups = make([]gsoGroup, u.batch)
		g.failed = make([]gsoGroup, 0, u.batch)
		g.fn = u.gsoWriteFn
		g.wait.init(u, g.fn)
	}
	g.on.Store(true)
	return true
}

// GSO reports whether WriteBatch uses UDP_SEGMENT.
func (u *UDPConn) GSO() bool {
	g := u.gso.Load()
	return g != nil && g.on.Load()
}

// GSOStats returns how many GSO messages the conn sent and how many
// datagrams they carried.
func (u *UDPConn) GSOStats() (messages, datagrams uint64) {
	g := u.gso.Load()
	if g == nil {
		return 0, 0
	}
	return g.datagrams.Load(), g.segments.Load()
}

func (u *UDPConn) gsoState() *gsoState {
	if g := u.gso.Load(); g != nil {
		return g
	}
	u.gso.CompareAndSwap(nil, new(gsoState))
	return u.gso.Load()
}

// gsoRun returns how many messages from msgs[0] on can share one GSO
// message: same destination, source, TOS and TTL, the size of the first
// (the last may be shorter), at most limit and gsoMaxSegments of them,
// gsoMaxBytes in all.
func gsoRun(msgs []Message, limit int) int {
	m := &msgs[0]
	size := len(m.Buf)
	if size == 0 {
		return 1
	}
	n, total := 1, size
	for ; n < len(msgs) && n < limit && n < gsoMaxSegments; n++ {
		o := &msgs[n]
		l := len(o.Buf)
		if l > size || l == 0 || total+l > gsoMaxBytes || o.Addr != m.Addr || o.TOS != m.TOS || o.TTL != m.TTL || o.Src != m.Src || o.IfIndex != m.IfIndex {
			break
		}
		total += l
		if l < size {
			n++
			break
		}
	}
	return n
}

// writeBatchGSO is WriteBatch with UDP_SEGMENT runs.
func (u *UDPConn) writeBatchGSO(g *gsoState, msgs []Message) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.msgs = msgs
	g.failed = g.failed[:0]
	var sockErr error
	for i := 0; i < len(msgs) && sockErr == nil; {
		k, iov := 0, 0
		for i < len(msgs) && k < u.batch && iov < u.batch {
			n := gsoRun(msgs[i:], u.batch-iov)
			for j := i; j < i+n; j++ {
				msgs[j].N, msgs[j].Err = 0, nil
			}
			if !u.packGSO(g, k, iov, msgs[i:i+n]) {
				for j := i; j < i+n; j++ {
					msgs[j].Err = ErrAddrFamily
				}
				i += n
				continue
			}
			g.groups[k] = gsoGroup{i, n}
			k++
			iov += n
			i += n
		}
		if k == 0 {
			continue
		}
		g.k, g.pos = k, 0
		if err := u.write(&g.wait); err != nil {
			sockErr = fmt.Errorf("sendmmsg on %s: %w", u.laddr, err)
		}
	}
	for i := range g.bufs.iovs {
		g.bufs.iovs[i].Base = nil
	}
	g.msgs = nil
	for _, f := range g.failed {
		if sockErr != nil {
			break
		}
		if _, err := u.writeBatchMmsg(msgs[f.start : f.start+f.n]); err != nil && !isMsgErr(msgs[f.start:f.start+f.n], err) {
			sockErr = err
		}
	}
	sent := 0
	var first error
	for i := range msgs {
		switch {
		case msgs[i].Err != nil:
			if first == nil {
				first = msgs[i].Err
			}
		case msgs[i].N > 0 || len(msgs[i].Buf) == 0:
			sent++
		}
	}
	if sockErr != nil {
		return sent, sockErr
	}
	return sent, first
}

// isMsgErr reports whether err is one of msgs' own errors (not a socket
// error).
func isMsgErr(msgs []Message, err error) bool {
	for i := range msgs {
		if msgs[i].Err == err {
			return true
		}
	}
	return false
}

// packGSO fills slot k with the run ms, its iovecs from iovs[iov] on.
func (u *UDPConn) packGSO(g *gsoState, k, iov int, ms []Message) bool {
	b := &g.bufs
	h := &b.hdrs[k]
	m := &ms[0]
	a := m.Addr.Addr()
	if u.v6 {
		if !a.Is6() || a.Is4In6() || (m.Src.IsValid() && !m.Src.Is6()) {
			return false
		}
		sa := &b.names[k]
		*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.As16()}
		sa.Port = htons(m.Addr.Port())
		h.hdr.Namelen = unix.SizeofSockaddrInet6
	} else {
		a = a.Unmap()
		if !a.Is4() || (m.Src.IsValid() && !m.Src.Unmap().Is4()) {
			return false
		}
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&b.names[k]))
		*sa = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.As4()}
		sa.Port = htons(m.Addr.Port())
		h.hdr.Namelen = unix.SizeofSockaddrInet4
	}
	for j := range ms {
		v := &b.iovs[iov+j]
		if len(ms[j].Buf) > 0 {
			v.Base = &ms[j].Buf[0]
		} else {
			v.Base = nil
		}
		v.SetLen(len(ms[j].Buf))
	}
	h.hdr.Iov = &b.iovs[iov]
	h.hdr.SetIovlen(len(ms))
	mm := *m
	if !u.v6 {
		mm.Src = mm.Src.Unmap()
	}
	ctrl := b.ctrlAt(k)
	cl := buildSendCmsg(ctrl, u.v6, &mm)
	if len(ms) > 1 {
		cl = putCmsgUint16(ctrl, cl, unix.IPPROTO_UDP, unix.UDP_SEGMENT, uint16(len(m.Buf)))
	}
	if cl > 0 {
		h.hdr.Control = &ctrl[0]
	} else {
		h.hdr.Control = nil
	}
	h.hdr.SetControllen(cl)
	h.hdr.Flags = 0
	h.len = 0
	return true
}

// htons returns port in network byte order as the kernel's sockaddr wants
// it in a uint16 field.
func htons(port uint16) uint16 {
	var b [2]byte
	b[0], b[1] = byte(port>>8), byte(port)
	return *(*uint16)(unsafe.Pointer(&b[0]))
}

// putCmsgUint16 appends a control message carrying a uint16 (UDP_SEGMENT).
func putCmsgUint16(b []byte, off int, level, typ int32, v uint16) int {
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[off]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(2))
	*(*uint16)(unsafe.Pointer(&b[off+cmsgHdrLen])) = v
	return off + unix.CmsgSpace(2)
}

func (u *UDPConn) gsoWriteFn(fd uintptr) bool {
	g := u.gso.Load()
	for g.pos < g.k {
		var n int
		var e unix.Errno
		if g.sendHook == nil {
			n, e = sendmmsg(fd, g.bufs.hdrs[g.pos:g.k], unix.MSG_DONTWAIT)
		} else {
			n, e = g.sendHook(fd, g.bufs.hdrs[g.pos:g.k], unix.MSG_DONTWAIT)
		}
		switch e {
		case 0:
			for s := g.pos; s < g.pos+n; s++ {
				gr := g.groups[s]
				for j := gr.start; j < gr.start+gr.n; j++ {
					g.msgs[j].N = len(g.msgs[j].Buf)
				}
				if gr.n > 1 {
					g.datagrams.Add(1)
					g.segments.Add(uint64(gr.n))
				}
			}
			g.pos += n
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			gr := g.groups[g.pos]
			if gr.n > 1 {
				if e == unix.EIO {
					g.on.Store(false) // no checksum offload on the way: GSO off for good
				}
				g.failed = append(g.failed, gr)
			} else {
				g.msgs[gr.start].Err = e
			}
			g.pos++
		}
	}
	return true
}
