package netio

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/lispd/lispd/internal/sock"
)

// ctrlSlot is the control buffer size reserved per message: enough for
// TOS + TTL + IPV6_PKTINFO on send, and TOS + TTL + SO_RXQ_OVFL on receive,
// on 32- and 64-bit alike.
const ctrlSlot = 128

var cmsgHdrLen = unix.CmsgLen(0)

// putCmsgInt appends a control message carrying a native int to b at off and
// returns the new offset; b must be 8-byte aligned at off and long enough.
func putCmsgInt(b []byte, off int, level, typ int32, v int32) int {
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[off]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(4))
	*(*int32)(unsafe.Pointer(&b[off+cmsgHdrLen])) = v
	return off + unix.CmsgSpace(4)
}

// putCmsgPktinfo appends IP_PKTINFO or IPV6_PKTINFO selecting src (the
// zero Addr: the kernel's choice) and the outgoing interface ifindex (0:
// the route's).
func putCmsgPktinfo(b []byte, off int, v6 bool, src netip.Addr, ifindex int) int {
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[off]))
	d := unsafe.Pointer(&b[off+cmsgHdrLen])
	if !v6 {
		h.Level, h.Type = unix.IPPROTO_IP, unix.IP_PKTINFO
		h.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
		pi := unix.Inet4Pktinfo{Ifindex: int32(ifindex)}
		if src.Is4() {
			pi.Spec_dst = src.As4()
		}
		*(*unix.Inet4Pktinfo)(d) = pi
		return off + unix.CmsgSpace(unix.SizeofInet4Pktinfo)
	}
	h.Level, h.Type = unix.IPPROTO_IPV6, unix.IPV6_PKTINFO
	h.SetLen(unix.CmsgLen(unix.SizeofInet6Pktinfo))
	pi := unix.Inet6Pktinfo{Ifindex: uint32(ifindex)}
	if src.Is6() {
		pi.Addr = src.As16()
	}
	*(*unix.Inet6Pktinfo)(d) = pi
	return off + unix.CmsgSpace(unix.SizeofInet6Pktinfo)
}

// buildSendCmsg writes the control messages m asks for into b and returns
// their total length.
func buildSendCmsg(b []byte, v6 bool, m *Message) int {
	off := 0
	if v6 {
		if m.TOS != 0 {
			off = putCmsgInt(b, off, unix.IPPROTO_IPV6, unix.IPV6_TCLASS, int32(m.TOS))
		}
		if m.TTL != 0 {
			off = putCmsgInt(b, off, unix.IPPROTO_IPV6, unix.IPV6_HOPLIMIT, int32(m.TTL))
		}
	} else {
		if m.TOS != 0 {
			off = putCmsgInt(b, off, unix.IPPROTO_IP, unix.IP_TOS, int32(m.TOS))
		}
		if m.TTL != 0 {
			off = putCmsgInt(b, off, unix.IPPROTO_IP, unix.IP_TTL, int32(m.TTL))
		}
	}
	if m.Src.IsValid() || m.IfIndex > 0 {
		off = putCmsgPktinfo(b, off, v6, m.Src, m.IfIndex)
	}
	return off
}

// parseRecvCmsg reads TOS, TTL and the socket's drop counter from received
// control data. It never reads past b and ignores what it does not know.
func parseRecvCmsg(b []byte, m *Message, drops *uint32, haveDrops *bool) {
	for {
		level, typ, data, rest, ok := sock.NextCmsg(b)
		if !ok {
			return
		}
		switch {
		case level == unix.IPPROTO_IP && typ == unix.IP_TOS && len(data) >= 1:
			m.TOS = data[0]
		case level == unix.IPPROTO_IP && typ == unix.IP_TTL && len(data) >= 4:
			m.TTL = uint8(*(*int32)(unsafe.Pointer(&data[0])))
		case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_TCLASS && len(data) >= 4:
			m.TOS = uint8(*(*int32)(unsafe.Pointer(&data[0])))
		case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_HOPLIMIT && len(data) >= 4:
			m.TTL = uint8(*(*int32)(unsafe.Pointer(&data[0])))
		case level == unix.SOL_SOCKET && typ == unix.SO_RXQ_OVFL && len(data) >= 4:
			*drops = *(*uint32)(unsafe.Pointer(&data[0]))
			*haveDrops = true
		}
		b = rest
	}
}
