package sock

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// cmsgHdrLen is the length of a control message header (struct cmsghdr).
var cmsgHdrLen = unix.CmsgLen(0)

// NextCmsg splits the first control message off received control data b
// (cmsghdr-aligned, as the kernel writes it into an aligned buffer): its
// level, type and data, and what follows it. ok is false when b holds no
// whole control message. It never reads past b and allocates nothing: the
// one walk over control data that package sock and the data plane's
// sockets (fwd/netio) share.
func NextCmsg(b []byte) (level, typ int32, data, rest []byte, ok bool) {
	if len(b) < cmsgHdrLen {
		return 0, 0, nil, nil, false
	}
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	l := int(h.Len)
	if l < cmsgHdrLen || l > len(b) {
		return 0, 0, nil, nil, false
	}
	data = b[cmsgHdrLen:l]
	if sp := unix.CmsgSpace(l - cmsgHdrLen); sp <= len(b) {
		rest = b[sp:]
	}
	return h.Level, h.Type, data, rest, true
}

// pktinfoDst returns the destination address of a received datagram from
// its control data: ipi_addr of IP_PKTINFO or ipi6_addr of
// IPV6_RECVPKTINFO's IPV6_PKTINFO (IPv4-mapped addresses unmapped); the
// zero Addr when there is none.
func pktinfoDst(b []byte) netip.Addr {
	for {
		level, typ, data, rest, ok := NextCmsg(b)
		if !ok {
			return netip.Addr{}
		}
		switch {
		case level == unix.IPPROTO_IP && typ == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			// struct in_pktinfo: ifindex, spec_dst, addr (the header's
			// destination).
			return netip.AddrFrom4([4]byte(data[8:12]))
		case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			return netip.AddrFrom16([16]byte(data[:16])).Unmap()
		}
		b = rest
	}
}
