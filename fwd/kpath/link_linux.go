package kpath

import (
	"errors"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// AttachType is where a link attaches a program (enum bpf_attach_type).
type AttachType uint32

// Hooks.
const (
	XDP        AttachType = 37 // the XDP hook (BPF_XDP), through a link (5.9+)
	TCXIngress AttachType = 46
	TCXEgress  AttachType = 47
)

func (t AttachType) String() string {
	switch t {
	case TCXIngress:
		return "tcx ingress"
	case TCXEgress:
		return "tcx egress"
	case XDP:
		return "xdp"
	}
	return "attach type " + strconv.Itoa(int(t))
}

// ErrNoTCX says that the kernel has no TCX hooks (before 6.6): a cls_bpf
// filter on a clsact qdisc would be the fallback.
var ErrNoTCX = errors.New("kernel without TCX (BPF_LINK_CREATE for tcx needs Linux 6.6+)")

// Link is a program attached to a hook through a BPF link; closing the
// link's file descriptor detaches the program.
type Link struct {
	_         [0]func() // not comparable: no equality function in the binary
	fd        int
	ifindex   int
	typ       AttachType
	clsParent uint32 // a cls_bpf filter's parent (AttachCLS); 0 for a BPF link
}

// linkCreateAttr is the BPF_LINK_CREATE part of union bpf_attr with the tcx
// member of its union.
type linkCreateAttr struct {
	progFD           uint32
	targetIfindex    uint32
	attachType       uint32
	flags            uint32
	relativeFD       uint32
	_                uint32
	expectedRevision uint64
}

// AttachTCX attaches prog to the TCX hook typ of the interface ifindex (in
// the network namespace of the calling thread), after any programs already
// there.
func AttachTCX(prog *Program, ifindex int, typ AttachType) (*Link, error) {
	a := linkCreateAttr{progFD: uint32(prog.FD()), targetIfindex: uint32(ifindex), attachType: uint32(typ)}
	fd, err := bpf(cmdLinkCreate, unsafe.Pointer(&a), unsafe.Sizeof(a))
	if err != nil {
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) {
			return nil, &opError{op: attachOp(prog, typ.String(), ifindex), err: err, cause: ErrNoTCX}
		}
		return nil, wrap(attachOp(prog, typ.String(), ifindex), err)
	}
	unix.CloseOnExec(fd)
	return &Link{fd: fd, ifindex: ifindex, typ: typ}, nil
}

// Close detaches the program.
func (l *Link) Close() error {
	if l != nil && l.clsParent != 0 {
		p := l.clsParent
		l.clsParent = 0
		return clsDelete(l.ifindex, p)
	}
	if l == nil || l.fd < 0 {
		return nil
	}
	err := unix.Close(l.fd)
	l.fd = -1
	return err
}

// AttachXDP attaches the XDP program prog to the interface ifindex (in the
// network namespace of the calling thread), in the driver's mode where it
// has one.
func AttachXDP(prog *Program, ifindex int) (*Link, error) { return attachXDP(prog, ifindex, 0) }

// XDP attach flags (XDP_FLAGS_*): generic (skb) mode, driver (native) mode.
const (
	xdpFlagsSKBMode = 1 << 1
	xdpFlagsDrvMode = 1 << 2
)

// errNoNativeXDP says that the driver has no XDP of its own.
var errNoNativeXDP = errors.New("driver without native XDP")

// attachXDP is AttachXDP with XDP_FLAGS_* flags.
func attachXDP(prog *Program, ifindex int, flags uint32) (*Link, error) {
	a := linkCreateAttr{progFD: uint32(prog.FD()), targetIfindex: uint32(ifindex), attachType: uint32(XDP), flags: flags}
	fd, err := bpf(cmdLinkCreate, unsafe.Pointer(&a), unsafe.Sizeof(a))
	if err != nil {
		if flags&xdpFlagsDrvMode != 0 && errors.Is(err, unix.EOPNOTSUPP) {
			return nil, &opError{op: attachOp(prog, "xdp", ifindex), err: err, cause: errNoNativeXDP}
		}
		return nil, wrap(attachOp(prog, "xdp", ifindex), err)
	}
	unix.CloseOnExec(fd)
	return &Link{fd: fd, ifindex: ifindex, typ: XDP}, nil
}

// attachOp describes an attach for an error.
func attachOp(prog *Program, hook string, ifindex int) string {
	return "attach " + prog.Name() + " to " + hook + " of ifindex " + strconv.Itoa(ifindex)
}
