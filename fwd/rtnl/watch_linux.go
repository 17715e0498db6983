package rtnl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/lispd/lispd/internal/consterr"
	"github.com/lispd/lispd/internal/nocmp"
)

// Watching local links and addresses over rtnetlink: the multihoming code
// needs to know at once when an uplink goes down or its address changes
// (DHCP, PPPoE), without polling. A LinkWatcher is a NETLINK_ROUTE socket
// subscribed to RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR and RTNLGRP_IPV6_IFADDR;
// DumpLinks reads the whole current state. Callers re-read the state
// (DumpLinks) after each wake-up rather than apply the events one by one,
// so that a lost event (the socket's buffer overflowing, ENOBUFS) costs
// nothing but a dump.

// Link is a network interface as rtnetlink describes it.
type Link struct {
	_ nocmp.DoNotCompare

	Index int
	Name  string
	Flags uint32 // IFF_* (net/if.h)
}

// Up reports whether the link can carry traffic: administratively up
// (IFF_UP) and operationally running (IFF_RUNNING: carrier present, the
// peer of a veth up).
func (l Link) Up() bool {
	return l.Flags&unix.IFF_UP != 0 && l.Flags&unix.IFF_RUNNING != 0
}

// IfAddr is an address assigned to a link.
type IfAddr struct {
	_ nocmp.DoNotCompare

	Index  int          // the link's index
	Prefix netip.Prefix // the local address and its prefix length
	Flags  uint32       // IFA_F_* (tentative, deprecated, ...)
}

// Usable reports whether the address can be a packet's source now: not
// tentative (IPv6 duplicate address detection still running) unless
// optimistic (RFC 4429: the kernel lets it be a source during DAD), not
// failed DAD, not deprecated.
func (a IfAddr) Usable() bool {
	f := a.Flags
	if f&unix.IFA_F_OPTIMISTIC != 0 {
		f &^= unix.IFA_F_TENTATIVE
	}
	return f&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED|unix.IFA_F_DEPRECATED) == 0
}

// LinkState is a snapshot of every link and address of the network
// namespace.
type LinkState struct {
	Links []Link
	Addrs []IfAddr
}

// LinkByName returns the link called name.
func (s *LinkState) LinkByName(name string) (Link, bool) {
	for _, l := range s.Links {
		if l.Name == name {
			return l, true
		}
	}
	return Link{}, false
}

// LinkByIndex returns the link with index idx.
func (s *LinkState) LinkByIndex(idx int) (Link, bool) {
	for _, l := range s.Links {
		if l.Index == idx {
			return l, true
		}
	}
	return Link{}, false
}

// AddrsOf returns the addresses of the link with index idx, in the order
// the kernel listed them.
func (s *LinkState) AddrsOf(idx int) []IfAddr {
	var out []IfAddr
	for _, a := range s.Addrs {
		if a.Index == idx {
			out = append(out, a)
		}
	}
	return out
}

// errShort is wrapped by the decoders for messages cut short.
const errShort = consterr.Error("netlink message truncated")

// ParseLinkMessage decodes the payload of an RTM_NEWLINK/RTM_DELLINK
// message: struct ifinfomsg and its attributes (only IFLA_IFNAME is kept).
func ParseLinkMessage(b []byte) (Link, error) {
	if len(b) < unix.SizeofIfInfomsg {
		return Link{}, fmt.Errorf("ifinfomsg: %w: %d bytes, need %d", errShort, len(b), unix.SizeofIfInfomsg)
	}
	ne := binary.NativeEndian
	l := Link{Index: int(int32(ne.Uint32(b[4:8]))), Flags: ne.Uint32(b[8:12])}
	err := parseAttrs(b, unix.SizeofIfInfomsg, func(typ uint16, data []byte) {
		if typ == unix.IFLA_IFNAME {
			for i, c := range data {
				if c == 0 {
					data = data[:i]
					break
				}
			}
			l.Name = string(data)
		}
	})
	if err != nil {
		return Link{}, fmt.Errorf("ifinfomsg: %w", err)
	}
	return l, nil
}

// ParseAddrMessage decodes the payload of an RTM_NEWADDR/RTM_DELADDR
// message: struct ifaddrmsg and its attributes. The address is IFA_LOCAL
// when present (the local end of a point-to-point link: PPPoE), else
// IFA_ADDRESS; IFA_FLAGS, when present, overrides the 8-bit flags.
func ParseAddrMessage(b []byte) (IfAddr, error) {
	if len(b) < unix.SizeofIfAddrmsg {
		return IfAddr{}, fmt.Errorf("ifaddrmsg: %w: %d bytes, need %d", errShort, len(b), unix.SizeofIfAddrmsg)
	}
	family, plen := b[0], int(b[1])
	a := IfAddr{Flags: uint32(b[2]), Index: int(binary.NativeEndian.Uint32(b[4:8]))}
	var local, address netip.Addr
	var bad error
	err := parseAttrs(b, unix.SizeofIfAddrmsg, func(typ uint16, data []byte) {
		switch typ {
		case unix.IFA_LOCAL, unix.IFA_ADDRESS:
			ip, ok := netip.AddrFromSlice(data)
			if !ok || (family == unix.AF_INET) != ip.Is4() {
				bad = fmt.Errorf("address attribute %d of %d bytes for family %d", typ, len(data), family)
				return
			}
			if typ == unix.IFA_LOCAL {
				local = ip
			} else {
				address = ip
			}
		case unix.IFA_FLAGS:
			if len(data) >= 4 {
				a.Flags = binary.NativeEndian.Uint32(data)
			}
		}
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return IfAddr{}, fmt.Errorf("ifaddrmsg: %w", err)
	}
	ip := local
	if !ip.IsValid() {
		ip = address
	}
	if !ip.IsValid() {
		return IfAddr{}, errors.New("ifaddrmsg: no address attribute")
	}
	if plen > ip.BitLen() {
		return IfAddr{}, fmt.Errorf("ifaddrmsg: prefix length %d for an IPv%d address", plen, map[bool]int{true: 4, false: 6}[ip.Is4()])
	}
	a.Prefix = netip.PrefixFrom(ip, plen)
	return a, nil
}

// parseAttrs walks the route attributes of b from offset off (aligned to
// 4), calling fn for each. It never reads past b.
func parseAttrs(b []byte, off int, fn func(typ uint16, data []byte)) error {
	off = nlAlign(off)
	for off < len(b) {
		if len(b)-off < unix.SizeofRtAttr {
			return fmt.Errorf("attribute header at offset %d: %w", off, errShort)
		}
		l := int(binary.NativeEndian.Uint16(b[off:]))
		typ := binary.NativeEndian.Uint16(b[off+2:]) & 0x3fff // without NLA_F_NESTED / NET_BYTEORDER
		if l < unix.SizeofRtAttr || l > len(b)-off {
			return fmt.Errorf("attribute at offset %d: length %d out of range", off, l)
		}
		fn(typ, b[off+unix.SizeofRtAttr:off+l])
		off += nlAlign(l)
	}
	return nil
}

func nlAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }

// parseNLMessages splits a netlink datagram into messages, calling fn with
// each one's type and payload. It stops at NLMSG_DONE (done true) and
// returns the errno of an NLMSG_ERROR that carries one.
func parseNLMessages(b []byte, fn func(typ uint16, data []byte)) (done bool, err error) {
	off := 0
	for off < len(b) {
		if len(b)-off < unix.SizeofNlMsghdr {
			return false, fmt.Errorf("netlink header at offset %d: %w", off, errShort)
		}
		l := int(binary.NativeEndian.Uint32(b[off:]))
		typ := binary.NativeEndian.Uint16(b[off+4:])
		if l < unix.SizeofNlMsghdr || l > len(b)-off {
			return false, fmt.Errorf("netlink message at offset %d: length %d out of range", off, l)
		}
		data := b[off+unix.SizeofNlMsghdr : off+l]
		switch typ {
		case unix.NLMSG_DONE:
			return true, nil
		case unix.NLMSG_ERROR:
			if len(data) >= 4 {
				if errno := int32(binary.NativeEndian.Uint32(data)); errno != 0 {
					return false, unix.Errno(-errno)
				}
			}
		default:
			fn(typ, data)
		}
		off += nlAlign(l)
	}
	return false, nil
}

// DumpLinks reads every link and address of the calling thread's network
// namespace (RTM_GETLINK and RTM_GETADDR dumps).
func DumpLinks() (*LinkState, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, os.NewSyscallError("socket(AF_NETLINK)", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, os.NewSyscallError("bind(AF_NETLINK)", err)
	}
	s := &LinkState{}
	var perr error
	collect := func(typ uint16, data []byte) {
		if err := s.add(typ, data); err != nil {
			perr = err
		}
	}
	for _, typ := range []uint16{unix.RTM_GETLINK, unix.RTM_GETADDR} {
		var fixed []byte
		if typ == unix.RTM_GETLINK {
			fixed = ifInfomsg(0, 0, 0)
		} else {
			fixed = make([]byte, unix.SizeofIfAddrmsg) // family AF_UNSPEC: both
		}
		r := newNLRequest(typ, unix.NLM_F_DUMP, fixed)
		binary.NativeEndian.PutUint32(r.b[0:], uint32(len(r.b)))
		if err := unix.Sendto(fd, r.b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return nil, os.NewSyscallError("sendto(AF_NETLINK)", err)
		}
		buf := make([]byte, 32<<10)
		for {
			n, err := syscall.Read(fd, buf) // read(2): the sender is the kernel, no address needed
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				return nil, os.NewSyscallError("read(AF_NETLINK)", err)
			}
			done, err := parseNLMessages(buf[:n], collect)
			if err != nil {
				return nil, fmt.Errorf("netlink dump: %w", err)
			}
			if perr != nil {
				return nil, fmt.Errorf("netlink dump: %w", perr)
			}
			if done {
				break
			}
		}
	}
	return s, nil
}

// add records one message of a dump. The address dump asks for AF_UNSPEC,
// so the kernel lists the addresses of every family that has them (MCTP,
// Phonet...): those are no locators and are skipped, not an error that
// would fail the whole dump.
func (s *LinkState) add(typ uint16, data []byte) error {
	switch typ {
	case unix.RTM_NEWLINK:
		l, err := ParseLinkMessage(data)
		if err != nil {
			return err
		}
		s.Links = append(s.Links, l)
	case unix.RTM_NEWADDR:
		if len(data) > 0 && data[0] != unix.AF_INET && data[0] != unix.AF_INET6 {
			return nil
		}
		a, err := ParseAddrMessage(data)
		if err != nil {
			return err
		}
		s.Addrs = append(s.Addrs, a)
	}
	return nil
}

// LinkWatcher is a NETLINK_ROUTE socket subscribed to link and address
// changes. Wait blocks until something changed; Close ends a Wait.
type LinkWatcher struct {
	f      *os.File
	raw    syscall.RawConn
	buf    []byte
	closed atomic.Bool
}

// WatchLinks subscribes to link and IPv4/IPv6 address notifications in the
// calling thread's network namespace.
func WatchLinks() (*LinkWatcher, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, os.NewSyscallError("socket(AF_NETLINK)", err)
	}
	groups := uint32(1<<(unix.RTNLGRP_LINK-1) | 1<<(unix.RTNLGRP_IPV4_IFADDR-1) | 1<<(unix.RTNLGRP_IPV6_IFADDR-1))
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("bind(AF_NETLINK)", err)
	}
	f := os.NewFile(uintptr(fd), "rtnetlink")
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("rtnetlink watcher: %w", err)
	}
	return &LinkWatcher{f: f, raw: raw, buf: make([]byte, 32<<10)}, nil
}

// LinkEvent is one notification the watcher read.
type LinkEvent struct {
	_ nocmp.DoNotCompare

	Type uint16 // RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR or RTM_DELADDR
	Link Link   // for link events
	Addr IfAddr // for address events
}

// watchReadMax bounds the datagrams one Wait reads, so that a storm of
// notifications (a flapping link, thousands of addresses changing) cannot
// keep it reading, and growing its events, forever.
const watchReadMax = 64

// Wait blocks until at least one notification arrives and returns the
// events of the datagrams read (it reads what is queued, at most
// watchReadMax datagrams, without blocking further). Overflow (ENOBUFS: notifications were lost) returns no events
// and no error: the caller re-reads the state anyway. Undecodable
// messages are skipped; the error says why when nothing else came. Only
// an error that Is os.ErrClosed (after Close) is final: after any other,
// the caller re-reads the state and waits again.
func (w *LinkWatcher) Wait() ([]LinkEvent, error) {
	var evs []LinkEvent
	var perr error
	got := false
	collect := func(typ uint16, data []byte) {
		ev := LinkEvent{Type: typ}
		var err error
		switch typ {
		case unix.RTM_NEWLINK, unix.RTM_DELLINK:
			ev.Link, err = ParseLinkMessage(data)
		case unix.RTM_NEWADDR, unix.RTM_DELADDR:
			ev.Addr, err = ParseAddrMessage(data)
		default:
			return
		}
		if err != nil {
			perr = err
			return
		}
		evs = append(evs, ev)
	}
	var rerr error
	reads := 0
	err := w.raw.Read(func(fd uintptr) bool {
		for {
			if reads >= watchReadMax {
				return true // more may be queued: the next Wait reads it
			}
			n, err := syscall.Read(int(fd), w.buf)
			switch {
			case err == nil:
				got = true
				reads++
				if _, err := parseNLMessages(w.buf[:n], collect); err != nil {
					perr = err
				}
				continue
			case errors.Is(err, unix.EINTR):
				continue
			case errors.Is(err, unix.EAGAIN):
				return got // block until readable unless something came
			case errors.Is(err, unix.ENOBUFS):
				got = true // lost notifications: the caller re-reads
				continue
			default:
				rerr = os.NewSyscallError("read(AF_NETLINK)", err)
				return true
			}
		}
	})
	if err != nil {
		if w.closed.Load() {
			return nil, fmt.Errorf("rtnetlink watcher: %w", os.ErrClosed)
		}
		return nil, err
	}
	if rerr != nil {
		return evs, rerr
	}
	if len(evs) == 0 && perr != nil {
		return nil, fmt.Errorf("rtnetlink notification: %w", perr)
	}
	return evs, nil
}

// Close closes the socket; a blocked Wait, and every later one, returns an
// error that Is os.ErrClosed.
func (w *LinkWatcher) Close() error {
	w.closed.Store(true)
	return w.f.Close()
}
