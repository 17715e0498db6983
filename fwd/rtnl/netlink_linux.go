package rtnl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// netlinkSeq numbers rtnetlink requests so that an acknowledgement is matched
// to its request.
var netlinkSeq atomic.Uint32

// nlRequest builds one rtnetlink message: a header, a fixed family header and
// attributes, all in host byte order as rtnetlink wants.
type nlRequest struct {
	b []byte
}

func newNLRequest(typ, flags uint16, fixed []byte) *nlRequest {
	r := &nlRequest{b: make([]byte, unix.SizeofNlMsghdr, 256)}
	ne := binary.NativeEndian
	ne.PutUint16(r.b[4:], typ)
	ne.PutUint16(r.b[6:], flags|unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	ne.PutUint32(r.b[8:], netlinkSeq.Add(1))
	r.b = append(r.b, fixed...)
	r.align()
	return r
}

func (r *nlRequest) align() {
	for len(r.b)%unix.NLMSG_ALIGNTO != 0 {
		r.b = append(r.b, 0)
	}
}

// attr appends a route attribute (struct rtattr + data).
func (r *nlRequest) attr(typ uint16, data []byte) {
	var h [unix.SizeofRtAttr]byte
	binary.NativeEndian.PutUint16(h[0:], uint16(unix.SizeofRtAttr+len(data)))
	binary.NativeEndian.PutUint16(h[2:], typ)
	r.b = append(r.b, h[:]...)
	r.b = append(r.b, data...)
	r.align()
}

func (r *nlRequest) attrU32(typ uint16, v uint32) {
	var d [4]byte
	binary.NativeEndian.PutUint32(d[:], v)
	r.attr(typ, d[:])
}

func (r *nlRequest) seq() uint32 { return binary.NativeEndian.Uint32(r.b[8:]) }

// execute sends the request on a fresh NETLINK_ROUTE socket (in the calling
// thread's network namespace) and waits for its acknowledgement. A negative
// errno in the NLMSG_ERROR answer is returned as a unix.Errno.
func (r *nlRequest) execute() error {
	binary.NativeEndian.PutUint32(r.b[0:], uint32(len(r.b)))
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return os.NewSyscallError("socket(AF_NETLINK)", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return os.NewSyscallError("bind(AF_NETLINK)", err)
	}
	if err := unix.Sendto(fd, r.b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return os.NewSyscallError("sendto(AF_NETLINK)", err)
	}
	seq := r.seq()
	buf := make([]byte, 8192)
	for {
		n, err := syscall.Read(fd, buf) // read(2): the sender is the kernel, no address to decode
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return os.NewSyscallError("read(AF_NETLINK)", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return fmt.Errorf("parse netlink answer: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != seq || m.Header.Type != unix.NLMSG_ERROR {
				continue
			}
			if len(m.Data) < 4 {
				return fmt.Errorf("netlink error message of %d bytes", len(m.Data))
			}
			if errno := int32(binary.NativeEndian.Uint32(m.Data)); errno != 0 {
				return unix.Errno(-errno)
			}
			return nil
		}
	}
}

// ifInfomsg encodes struct ifinfomsg.
func ifInfomsg(index int, flags, change uint32) []byte {
	var m unix.IfInfomsg
	m.Family = unix.AF_UNSPEC
	m.Index = int32(index)
	m.Flags = flags
	m.Change = change
	return unsafe.Slice((*byte)(unsafe.Pointer(&m)), unix.SizeofIfInfomsg)
}

func nativeU32(b []byte) uint32 { return binary.NativeEndian.Uint32(b) }
