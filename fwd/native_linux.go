package fwd

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/lispd/lispd/internal/consterr"
	"github.com/lispd/lispd/internal/nocmp"
)

// DefaultNativeMark is the firewall mark (SO_MARK) main gives RawForwarder
// when the configuration does not choose one: "LI" in ASCII. Policy routing
// lets packets carrying it bypass the routes that send eid_space into the
// TUN (see RawForwarder).
const DefaultNativeMark = 0x4c49

// RawForwarder is a NativeForwarder over raw IP sockets (IPPROTO_RAW, with
// IP_HDRINCL / IPV6_HDRINCL: the packet goes out with its own header,
// source address included) whose packets carry a firewall mark (SO_MARK).
//
// The kernel routes eid_space into the TUN, so a packet to an EID written
// to a plain raw socket would come straight back. Policy routing keeps the
// marked ones out of the tunnel: the eid_space routes live in a table of
// their own that only unmarked packets consult (rtnl.AddPolicyRoutes
// installs them so):
//
//	ip rule add pref P   to E lookup main suppress_prefixlength len(E)   # each eid_space prefix E
//	ip rule add pref P+1 not fwmark M lookup T                           # T: eid_space dev TUN
//
// Marked packets then follow the main table as if lispd were not there
// (normally the default route). The raw sockets are send-only in effect
// and non-blocking: when the socket buffer is full Forward fails and the
// packet is counted as native-error. Needs CAP_NET_RAW and CAP_NET_ADMIN
// (for SO_MARK).
type RawForwarder struct {
	_ nocmp.DoNotCompare

	mark uint32

	mu4 sync.Mutex
	fd4 int
	sa4 unix.SockaddrInet4

	mu6 sync.Mutex
	fd6 int
	sa6 unix.SockaddrInet6
}

// NewRawForwarder opens the raw sockets (IPv4, and IPv6 when the kernel
// has it; IPV6_HDRINCL needs Linux 4.5) with SO_MARK mark.
func NewRawForwarder(mark uint32) (*RawForwarder, error) {
	f := &RawForwarder{mark: mark, fd4: -1, fd6: -1}
	fd4, err := openRaw(unix.AF_INET, mark)
	if err != nil {
		return nil, fmt.Errorf("fwd: native forwarding over IPv4: %w", err)
	}
	f.fd4 = fd4
	fd6, err := openRaw(unix.AF_INET6, mark)
	if err != nil && !errors.Is(err, unix.EAFNOSUPPORT) {
		unix.Close(fd4)
		return nil, fmt.Errorf("fwd: native forwarding over IPv6: %w", err)
	}
	if err == nil {
		f.fd6 = fd6
	}
	return f, nil
}

func openRaw(family int, mark uint32) (int, error) {
	fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.IPPROTO_RAW)
	if err != nil {
		return -1, os.NewSyscallError("socket(SOCK_RAW, IPPROTO_RAW)", err)
	}
	opt := func(level, name, v int, what string) error {
		if err := unix.SetsockoptInt(fd, level, name, v); err != nil {
			unix.Close(fd)
			return os.NewSyscallError("setsockopt("+what+")", err)
		}
		return nil
	}
	if family == unix.AF_INET {
		err = opt(unix.IPPROTO_IP, unix.IP_HDRINCL, 1, "IP_HDRINCL")
	} else {
		err = opt(unix.IPPROTO_IPV6, unix.IPV6_HDRINCL, 1, "IPV6_HDRINCL")
	}
	if err != nil {
		return -1, err
	}
	if err := opt(unix.SOL_SOCKET, unix.SO_MARK, int(mark), "SO_MARK"); err != nil {
		return -1, err
	}
	// Nothing is read from these sockets: keep the receive buffer minimal.
	if err := opt(unix.SOL_SOCKET, unix.SO_RCVBUF, 1, "SO_RCVBUF"); err != nil {
		return -1, err
	}
	return fd, nil
}

// Mark returns the firewall mark of the forwarded packets.
func (f *RawForwarder) Mark() uint32 { return f.mark }

// Forward sends the IPv4 or IPv6 packet pkt as it is (TTL included: the
// kernel decremented it when it routed the packet into the TUN). Safe for
// concurrent use; it does not allocate.
func (f *RawForwarder) Forward(pkt []byte) error {
	var p Packet
	if err := ParsePacket(pkt, &p); err != nil {
		return fmt.Errorf("native forwarding: %w", err)
	}
	pkt = pkt[:p.Len]
	if !p.Is6 {
		f.mu4.Lock()
		defer f.mu4.Unlock()
		if f.fd4 < 0 {
			return errRawClosed
		}
		f.sa4.Addr = p.Dst.As4()
		return sendRaw(f.fd4, pkt, &f.sa4)
	}
	f.mu6.Lock()
	defer f.mu6.Unlock()
	if f.fd6 < 0 {
		return errNoRaw6
	}
	f.sa6.Addr = p.Dst.As16()
	return sendRaw(f.fd6, pkt, &f.sa6)
}

const (
	errRawClosed = consterr.Error("native forwarding: raw socket closed")
	errNoRaw6    = consterr.Error("native forwarding: no IPv6 raw socket")
)

func sendRaw(fd int, pkt []byte, to unix.Sockaddr) error {
	for {
		err := unix.Sendto(fd, pkt, unix.MSG_DONTWAIT, to)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("sendto(raw)", err)
		}
		return nil
	}
}

// Close closes the sockets.
func (f *RawForwarder) Close() error {
	f.mu4.Lock()
	defer f.mu4.Unlock()
	f.mu6.Lock()
	defer f.mu6.Unlock()
	var errs []error
	for _, fd := range []*int{&f.fd4, &f.fd6} {
		if *fd >= 0 {
			errs = append(errs, unix.Close(*fd))
			*fd = -1
		}
	}
	return errors.Join(errs...)
}

var _ NativeForwarder = (*RawForwarder)(nil)
