package sock

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/lispd/lispd/internal/consterr"
	"github.com/lispd/lispd/internal/nocmp"
)

// ErrNoSuchInterface is returned (wrapped) for an interface name or index
// that no link has.
const ErrNoSuchInterface = consterr.Error("no such network interface")

// Interface is a network link as the kernel reports it (RTM_GETLINK).
type Interface struct {
	_ nocmp.DoNotCompare

	Index int    // ifindex, > 0
	Name  string // e.g. "eth0"
	MTU   int
	Flags uint32 // IFF_* flags
}

// Up reports whether the link is administratively up (IFF_UP).
func (i Interface) Up() bool { return i.Flags&unix.IFF_UP != 0 }

// Interfaces returns the links of the network namespace.
func Interfaces() ([]Interface, error) {
	msgs, err := dump(unix.RTM_GETLINK, unix.AF_UNSPEC)
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	var out []Interface
	for i := range msgs {
		m := &msgs[i]
		if m.Header.Type != unix.RTM_NEWLINK || len(m.Data) < unix.SizeofIfInfomsg {
			continue
		}
		ifi := (*unix.IfInfomsg)(unsafe.Pointer(&m.Data[0]))
		attrs, err := syscall.ParseNetlinkRouteAttr(m)
		if err != nil {
			return nil, fmt.Errorf("list interfaces: %w", err)
		}
		x := Interface{Index: int(ifi.Index), Flags: ifi.Flags}
		for _, a := range attrs {
			switch a.Attr.Type {
			case unix.IFLA_IFNAME:
				x.Name = cString(a.Value)
			case unix.IFLA_MTU:
				if len(a.Value) >= 4 {
					x.MTU = int(binary.NativeEndian.Uint32(a.Value))
				}
			}
		}
		out = append(out, x)
	}
	return out, nil
}

// InterfaceByName returns the link called name (by ioctl: no dump of
// every link).
func InterfaceByName(name string) (Interface, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return Interface{}, fmt.Errorf("interface %q: %w", name, os.NewSyscallError("socket", err))
	}
	defer unix.Close(fd)
	x := Interface{Name: name}
	for _, q := range []struct {
		req  uint
		what string
		set  func(*unix.Ifreq)
	}{
		{unix.SIOCGIFINDEX, "SIOCGIFINDEX", func(r *unix.Ifreq) { x.Index = int(int32(r.Uint32())) }},
		{unix.SIOCGIFFLAGS, "SIOCGIFFLAGS", func(r *unix.Ifreq) { x.Flags = uint32(r.Uint16()) }},
		{unix.SIOCGIFMTU, "SIOCGIFMTU", func(r *unix.Ifreq) { x.MTU = int(int32(r.Uint32())) }},
	} {
		r, err := unix.NewIfreq(name)
		if err != nil {
			return Interface{}, fmt.Errorf("interface %q: %w", name, ErrNoSuchInterface)
		}
		if err := unix.IoctlIfreq(fd, q.req, r); err != nil {
			if err == unix.ENODEV {
				return Interface{}, fmt.Errorf("interface %q: %w", name, ErrNoSuchInterface)
			}
			return Interface{}, fmt.Errorf("interface %q: %w", name, os.NewSyscallError(q.what, err))
		}
		q.set(r)
	}
	return x, nil
}

// InterfaceAddrs returns the addresses (with prefix lengths) assigned to
// the link with index, or to every link when index is 0; IPv4 addresses
// come first.
func InterfaceAddrs(index int) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		msgs, err := dump(unix.RTM_GETADDR, fam)
		if err != nil {
			return nil, fmt.Errorf("list addresses: %w", err)
		}
		for i := range msgs {
			m := &msgs[i]
			if m.Header.Type != unix.RTM_NEWADDR || len(m.Data) < unix.SizeofIfAddrmsg {
				continue
			}
			ifa := (*unix.IfAddrmsg)(unsafe.Pointer(&m.Data[0]))
			if index != 0 && int(ifa.Index) != index {
				continue
			}
			attrs, err := syscall.ParseNetlinkRouteAttr(m)
			if err != nil {
				return nil, fmt.Errorf("list addresses: %w", err)
			}
			// IFA_LOCAL is the address of a point-to-point link's own
			// end; IFA_ADDRESS the peer's there, ours elsewhere.
			var local, addr netip.Addr
			for _, a := range attrs {
				switch a.Attr.Type {
				case unix.IFA_LOCAL:
					local, _ = netip.AddrFromSlice(a.Value)
				case unix.IFA_ADDRESS:
					addr, _ = netip.AddrFromSlice(a.Value)
				}
			}
			if local.IsValid() {
				addr = local
			}
			if addr.IsValid() {
				out = append(out, netip.PrefixFrom(addr, int(ifa.Prefixlen)))
			}
		}
	}
	return out, nil
}

// dump sends a netlink dump request and returns its messages.
func dump(typ, family int) ([]syscall.NetlinkMessage, error) {
	rib, err := syscall.NetlinkRIB(typ, family)
	if err != nil {
		return nil, os.NewSyscallError("netlink", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(rib)
	if err != nil {
		return nil, fmt.Errorf("parse netlink dump: %w", err)
	}
	return msgs, nil
}

// cString returns b up to its first NUL.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
