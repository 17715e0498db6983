package kpath

import (
	"encoding/binary"
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// cls_bpf through rtnetlink: the fallback for kernels without TCX (before
// 6.6; OpenWrt 23.05 runs 5.15). The same SchedCLS programs run there as a
// direct-action filter on a clsact qdisc (tc qdisc add dev D clsact; tc
// filter add dev D ingress|egress prio clsPrio handle 1 bpf da fd N).

// Constants of include/uapi/linux/pkt_sched.h and pkt_cls.h.
const (
	tcHClsact       = 0xfffffff1 // TC_H_CLSACT: the clsact qdisc's parent
	tcHClsactHandle = 0xffff0000 // its handle, TC_H_MAKE(TC_H_CLSACT, 0)
	tcHMinIngress   = 0xfff2
	tcHMinEgress    = 0xfff3
	tcaBPFFD        = 6
	tcaBPFName      = 7
	tcaBPFFlags     = 8
	tcaBPFActDirect = 1
	// clsPrio is the filter priority lispd's filters take; handle 1.
	clsPrio   = 0xc1a5
	clsHandle = 1
)

// AttachCLS attaches prog as a direct-action cls_bpf filter (priority
// 0xc1a5, handle 1) at the ingress or egress (typ TCXIngress or TCXEgress)
// of the interface ifindex, adding a clsact qdisc there when it has none,
// in the network namespace of the calling thread: the hook kernels before
// 6.6 have. Unlike a TCX link, the filter is not tied to a file
// descriptor: Close deletes it, in the calling thread's namespace then, and
// a crashed daemon leaves it behind (the next AttachCLS replaces it).
func AttachCLS(prog *Program, ifindex int, typ AttachType) (*Link, error) {
	op := attachOp(prog, "cls_bpf "+typ.String(), ifindex)
	parent := uint32(tcHClsact&0xffff0000 | tcHMinIngress)
	if typ == TCXEgress {
		parent = tcHClsact&0xffff0000 | tcHMinEgress
	} else if typ != TCXIngress {
		return nil, errors.New(op + ": not a TC hook")
	}
	err := rtnl(unix.RTM_NEWQDISC, unix.NLM_F_CREATE|unix.NLM_F_EXCL, ifindex, tcHClsactHandle, tcHClsact, 0,
		nlAttr(nil, unix.TCA_KIND, []byte("clsact\x00")))
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, wrap(op+": clsact qdisc", err)
	}
	var opts []byte
	opts = nlAttr(opts, tcaBPFFD, binary.NativeEndian.AppendUint32(nil, uint32(prog.FD())))
	opts = nlAttr(opts, tcaBPFName, append([]byte(prog.Name()), 0))
	opts = nlAttr(opts, tcaBPFFlags, binary.NativeEndian.AppendUint32(nil, tcaBPFActDirect))
	attrs := nlAttr(nil, unix.TCA_KIND, []byte("bpf\x00"))
	attrs = nlAttr(attrs, unix.TCA_OPTIONS|unix.NLA_F_NESTED, opts)
	if err := rtnl(unix.RTM_NEWTFILTER, unix.NLM_F_CREATE|unix.NLM_F_REPLACE, ifindex, clsHandle, parent, clsInfo(), attrs); err != nil {
		return nil, wrap(op, err)
	}
	return &Link{fd: -1, ifindex: ifindex, typ: typ, clsParent: parent}, nil
}

// clsInfo is tcm_info of lispd's filters: priority, and the protocol
// (ETH_P_ALL) in network order.
func clsInfo() uint32 {
	return clsPrio<<16 | uint32(binary.BigEndian.Uint16(binary.NativeEndian.AppendUint16(nil, unix.ETH_P_ALL)))
}

// clsDelete deletes lispd's filter at parent of ifindex.
func clsDelete(ifindex int, parent uint32) error {
	return rtnl(unix.RTM_DELTFILTER, 0, ifindex, clsHandle, parent, clsInfo(), nlAttr(nil, unix.TCA_KIND, []byte("bpf\x00")))
}

// nlAttr appends a netlink attribute (padded to 4 bytes) to b.
func nlAttr(b []byte, typ uint16, data []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(4+len(data)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// rtnl sends one rtnetlink request with a struct tcmsg and attrs, and
// waits for its acknowledgement.
func rtnl(typ, flags uint16, ifindex int, handle, parent, info uint32, attrs []byte) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	const hdr = unix.SizeofNlMsghdr + 20 // struct tcmsg
	m := make([]byte, hdr, hdr+len(attrs))
	ne := binary.NativeEndian
	ne.PutUint32(m[0:], uint32(hdr+len(attrs)))
	ne.PutUint16(m[4:], typ)
	ne.PutUint16(m[6:], flags|unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	ne.PutUint32(m[8:], 1) // sequence
	// tcmsg: family (AF_UNSPEC) and padding, ifindex, handle, parent, info.
	ne.PutUint32(m[20:], uint32(ifindex))
	ne.PutUint32(m[24:], handle)
	ne.PutUint32(m[28:], parent)
	ne.PutUint32(m[32:], info)
	m = append(m, attrs...)
	if err := unix.Sendto(fd, m, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	buf := make([]byte, 4096)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return err
		}
		for b := buf[:n]; len(b) >= unix.SizeofNlMsghdr; {
			l := int(ne.Uint32(b))
			if l < unix.SizeofNlMsghdr || l > len(b) {
				return errors.New("rtnetlink: truncated answer")
			}
			if ne.Uint16(b[4:]) == unix.NLMSG_ERROR && l >= unix.SizeofNlMsghdr+4 {
				if code := int32(ne.Uint32(b[16:])); code != 0 {
					return syscall.Errno(-code)
				}
				return nil
			}
			b = b[(l+3)&^3:]
		}
	}
}
