package rtnl

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// RouteProtocol is the rtm_protocol value lispd marks its routes with, so
// that they can be told apart from everyone else's (`ip route show proto 76`)
// and removed by hand after a crash.
const RouteProtocol = 76

// routeMsg encodes struct rtmsg for a unicast link-scope route in the main
// table.
func routeMsg(p netip.Prefix) []byte {
	m := unix.RtMsg{
		Family:   familyOf(p.Addr()),
		Dst_len:  uint8(p.Bits()),
		Table:    unix.RT_TABLE_MAIN,
		Protocol: RouteProtocol,
		Scope:    unix.RT_SCOPE_LINK,
		Type:     unix.RTN_UNICAST,
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&m)), unix.SizeofRtMsg)
}

func routeRequest(typ, flags uint16, idx int, p netip.Prefix) *nlRequest {
	r := newNLRequest(typ, flags, routeMsg(p))
	r.attr(unix.RTA_DST, p.Addr().AsSlice())
	r.attrU32(unix.RTA_OIF, uint32(idx))
	return r
}

// AddRoutes installs one route per prefix through the link called ifname
// (IPv4 and IPv6 alike, main table, protocol RouteProtocol). A route that
// already exists is an error: lispd only removes what it installed. If one
// prefix fails, the routes added so far are removed again.
//
// remove deletes exactly the routes AddRoutes installed; a route that is
// already gone (for example because the link disappeared) is not an error.
func AddRoutes(ifname string, prefixes []netip.Prefix) (remove func() error, err error) {
	idx, err := LinkIndex(ifname)
	if err != nil {
		return nil, err
	}
	var added []netip.Prefix
	remove = func() error {
		var errs []error
		for _, p := range added {
			err := routeRequest(unix.RTM_DELROUTE, 0, idx, p).execute()
			if err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENODEV) {
				errs = append(errs, fmt.Errorf("delete route %s dev %s: %w", p, ifname, err))
			}
		}
		added = nil
		return errors.Join(errs...)
	}
	for _, p := range prefixes {
		if !p.IsValid() {
			return nil, errors.Join(fmt.Errorf("add route: invalid prefix %v", p), remove())
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()).Masked()
		err := routeRequest(unix.RTM_NEWROUTE, unix.NLM_F_CREATE|unix.NLM_F_EXCL, idx, p).execute()
		if err != nil {
			return nil, errors.Join(fmt.Errorf("add route %s dev %s: %w", p, ifname, err), remove())
		}
		added = append(added, p)
	}
	return remove, nil
}

// Route is one entry of the kernel's routing table as ListRoutes reports it.
type Route struct {
	Dst      netip.Prefix // destination
	Ifindex  int          // output interface, 0 if none
	Protocol uint8        // rtm_protocol
	Table    uint32       // routing table
}

// ListRoutes dumps the IPv4 and IPv6 unicast routes of all tables whose
// output interface is ifindex (all routes when ifindex is 0).
func ListRoutes(ifindex int) ([]Route, error) {
	var out []Route
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		rib, err := syscall.NetlinkRIB(unix.RTM_GETROUTE, fam)
		if err != nil {
			return nil, fmt.Errorf("dump routes: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(rib)
		if err != nil {
			return nil, fmt.Errorf("parse route dump: %w", err)
		}
		for i := range msgs {
			m := &msgs[i]
			if m.Header.Type != unix.RTM_NEWROUTE || len(m.Data) < unix.SizeofRtMsg {
				continue
			}
			rt := (*unix.RtMsg)(unsafe.Pointer(&m.Data[0]))
			if rt.Type != unix.RTN_UNICAST {
				continue
			}
			attrs, err := syscall.ParseNetlinkRouteAttr(m)
			if err != nil {
				return nil, fmt.Errorf("parse route attributes: %w", err)
			}
			r := Route{Protocol: rt.Protocol, Table: uint32(rt.Table)}
			dst := netip.IPv4Unspecified()
			if rt.Family == unix.AF_INET6 {
				dst = netip.IPv6Unspecified()
			}
			for _, a := range attrs {
				switch a.Attr.Type {
				case unix.RTA_DST:
					if d, ok := netip.AddrFromSlice(a.Value); ok {
						dst = d
					}
				case unix.RTA_OIF:
					if len(a.Value) >= 4 {
						r.Ifindex = int(int32(nativeU32(a.Value)))
					}
				case unix.RTA_TABLE:
					if len(a.Value) >= 4 {
						r.Table = nativeU32(a.Value)
					}
				}
			}
			r.Dst = netip.PrefixFrom(dst, int(rt.Dst_len))
			if ifindex == 0 || r.Ifindex == ifindex {
				out = append(out, r)
			}
		}
	}
	return out, nil
}
