package kpath

import (
	"encoding/binary"
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
	parent := uint32(tcHClsact&0xffff0000 | tcHMinIngress)
	if typ == TCXEgress {
		parent = tcHClsact&0xffff0000 | tcHMinEgress
	}
	err := rtnl(unix.RTM_NEWQDISC, unix.NLM_F_CREATE|unix.NLM_F_EXCL, ifindex, tcHClsactHandle, tcHClsact, 0, "clsact", -1)
	if err == unix.EEXIST {
		err = nil
	}
	if err == nil {
		err = rtnl(unix.RTM_NEWTFILTER, unix.NLM_F_CREATE|unix.NLM_F_REPLACE, ifindex, clsHandle, parent, clsInfo(), "bpf", prog.FD())
	}
	if err != nil {
		return nil, wrap("attach "+prog.Name()+" as cls_bpf", err)
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
	return rtnl(unix.RTM_DELTFILTER, 0, ifindex, clsHandle, parent, clsInfo(), "bpf", -1)
}

// rtnl sends one rtnetlink request: a struct tcmsg, the TCA_KIND kind and,
// with progFD >= 0, the options of a direct-action bpf filter running it;
// and waits for the acknowledgement.
func rtnl(typ, flags uint16, ifindex int, handle, parent, info uint32, kind string, progFD int) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var m [80]byte
	ne := binary.NativeEndian
	attr := func(at int, typ uint16, n int) int {
		ne.PutUint16(m[at:], uint16(4+n))
		ne.PutUint16(m[at+2:], typ)
		return at + 4
	}
	ne.PutUint16(m[4:], typ)
	ne.PutUint16(m[6:], flags|unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	// tcmsg: family (AF_UNSPEC) and padding, ifindex, handle, parent, info.
	ne.PutUint32(m[20:], uint32(ifindex))
	ne.PutUint32(m[24:], handle)
	ne.PutUint32(m[28:], parent)
	ne.PutUint32(m[32:], info)
	n := attr(36, unix.TCA_KIND, len(kind)+1)
	n += copy(m[n:], kind)
	n = (n + 4) &^ 3
	if progFD >= 0 {
		o := attr(n, unix.TCA_OPTIONS|unix.NLA_F_NESTED, 8+12+8)
		ne.PutUint32(m[attr(o, tcaBPFFD, 4):], uint32(progFD))
		copy(m[attr(o+8, tcaBPFName, 6):], "lispd")
		ne.PutUint32(m[attr(o+20, tcaBPFFlags, 4):], tcaBPFActDirect)
		n = o + 28
	}
	ne.PutUint32(m[0:], uint32(n))
	if _, err := unix.Write(fd, m[:n]); err != nil {
		return err
	}
	var buf [512]byte
	for {
		r, err := unix.Read(fd, buf[:])
		if err != nil {
			return err
		}
		// The answer to a request with NLM_F_ACK: NLMSG_ERROR, error 0 on
		// success, else a negative errno.
		if r >= unix.SizeofNlMsghdr+4 && ne.Uint16(buf[4:]) == unix.NLMSG_ERROR {
			if code := int32(ne.Uint32(buf[16:])); code != 0 {
				return syscall.Errno(-code)
			}
			return nil
		}
	}
}
