package netio

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// EnableGRO turns UDP_GRO (Linux 5.0+) on for the conn and reports whether
// the kernel took it: consecutive datagrams of one flow (same addresses and
// ports, equal sizes but the last) may then arrive as ONE message of up to
// 64 KB whose Message.GSOSize is the size of each datagram in it. Buffers
// offered to ReadBatch must then hold 64 KB, or coalesced datagrams are
// truncated.
func (u *UDPConn) EnableGRO() bool {
	var soErr error
	if err := u.raw.Control(func(fd uintptr) {
		soErr = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO, 1)
	}); err != nil || soErr != nil {
		return false
	}
	u.gro.Store(true)
	return true
}

// DisableGRO turns UDP_GRO off again (errors are ignored: a socket that
// refused EnableGRO has it off already).
func (u *UDPConn) DisableGRO() {
	_ = u.raw.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO, 0)
	})
	u.gro.Store(false)
}

// GRO reports whether EnableGRO succeeded.
func (u *UDPConn) GRO() bool { return u.gro.Load() }

// groSize returns the UDP_GRO segment size in received control data, or 0.
// It never reads past b.
func groSize(b []byte) int {
	for len(b) >= cmsgHdrLen {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		l := int(h.Len)
		if l < cmsgHdrLen || l > len(b) {
			return 0
		}
		if h.Level == unix.IPPROTO_UDP && h.Type == unix.UDP_GRO && l-cmsgHdrLen >= 2 {
			d := b[cmsgHdrLen:l]
			if len(d) >= 4 {
				return int(*(*int32)(unsafe.Pointer(&d[0])))
			}
			return int(*(*uint16)(unsafe.Pointer(&d[0])))
		}
		sp := unix.CmsgSpace(l - cmsgHdrLen)
		if sp > len(b) {
			return 0
		}
		b = b[sp:]
	}
	return 0
}
