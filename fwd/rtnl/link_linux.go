package rtnl

import (
	"fmt"
	"net/netip"
	"unsafe"

	"github.com/lispd/lispd/internal/sock"
	"golang.org/x/sys/unix"
)

// LinkIndex returns the interface index of the link called name.
func LinkIndex(name string) (int, error) {
	ifi, err := sock.InterfaceByName(name)
	if err != nil {
		return 0, fmt.Errorf("link %q: %w", name, err)
	}
	return ifi.Index, nil
}

// setLink sends RTM_NEWLINK for an existing link with the given flag change
// and attributes.
func setLink(name, what string, flags, change uint32, attrs func(*nlRequest)) error {
	idx, err := LinkIndex(name)
	if err != nil {
		return err
	}
	r := newNLRequest(unix.RTM_NEWLINK, 0, ifInfomsg(idx, flags, change))
	if attrs != nil {
		attrs(r)
	}
	if err := r.execute(); err != nil {
		return fmt.Errorf("link %q: set %s: %w", name, what, err)
	}
	return nil
}

// LinkSetMTU sets the MTU of the link called name.
func LinkSetMTU(name string, mtu int) error {
	return setLink(name, fmt.Sprintf("mtu %d", mtu), 0, 0, func(r *nlRequest) {
		r.attrU32(unix.IFLA_MTU, uint32(mtu))
	})
}

// LinkSetTxQueueLen sets the transmit queue length of the link called name.
// For a TUN device this is the queue of packets the kernel holds for the
// reader; it must be long enough to absorb bursts of a TCP window.
func LinkSetTxQueueLen(name string, qlen int) error {
	return setLink(name, fmt.Sprintf("txqueuelen %d", qlen), 0, 0, func(r *nlRequest) {
		r.attrU32(unix.IFLA_TXQLEN, uint32(qlen))
	})
}

// LinkSetUp sets the link called name administratively up.
func LinkSetUp(name string) error {
	return setLink(name, "up", unix.IFF_UP, unix.IFF_UP, nil)
}

// LinkSetDown sets the link called name administratively down.
func LinkSetDown(name string) error {
	return setLink(name, "down", 0, unix.IFF_UP, nil)
}

// AddAddress assigns the address and prefix length of p to the link called
// name (like `ip address add p dev name`). IPv6 addresses skip duplicate
// address detection (IFA_F_NODAD) so that they can be bound at once.
func AddAddress(name string, p netip.Prefix) error {
	idx, err := LinkIndex(name)
	if err != nil {
		return err
	}
	if !p.IsValid() {
		return fmt.Errorf("link %q: add address: invalid prefix", name)
	}
	a := p.Addr().Unmap()
	m := unix.IfAddrmsg{
		Family:    familyOf(a),
		Prefixlen: uint8(p.Bits()),
		Index:     uint32(idx),
	}
	if a.Is6() {
		m.Flags = unix.IFA_F_NODAD // usable at once: no duplicate detection on a tunnel
	}
	r := newNLRequest(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_EXCL,
		unsafe.Slice((*byte)(unsafe.Pointer(&m)), unix.SizeofIfAddrmsg))
	r.attr(unix.IFA_LOCAL, a.AsSlice())
	r.attr(unix.IFA_ADDRESS, a.AsSlice())
	if err := r.execute(); err != nil {
		return fmt.Errorf("link %q: add address %s: %w", name, p, err)
	}
	return nil
}

// familyOf returns AF_INET or AF_INET6 for a.
func familyOf(a netip.Addr) uint8 {
	if a.Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}
