package rtnl

import (
	"errors"
	"fmt"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Defaults of PolicyRoutes.
const (
	// DefaultRouteTable is the routing table that holds the eid_space
	// routes into the TUN when they are installed with AddPolicyRoutes.
	DefaultRouteTable = 76
	// DefaultRulePriority is the priority of the first policy rule; the
	// second takes the next one. Below the main table's rule (32766).
	DefaultRulePriority = 7600
)

// PolicyRoutes says how AddPolicyRoutes sends eid_space into the TUN while
// packets carrying a firewall mark keep the kernel's own routes (the data
// plane's native forwarding writes such packets to a raw socket).
type PolicyRoutes struct {
	// Ifname is the TUN.
	Ifname string
	// Prefixes are eid_space (IPv4 and IPv6).
	Prefixes []netip.Prefix
	// Table receives one route per prefix through the TUN; 0 =
	// DefaultRouteTable. Must not be a reserved table (253, 254, 255).
	Table uint32
	// Mark is the fwmark of packets that must not enter the TUN.
	Mark uint32
	// Priority is the priority of the first rule, Priority+1 the second's;
	// 0 = DefaultRulePriority.
	Priority uint32
}

// AddPolicyRoutes installs, instead of AddRoutes' main-table routes:
//
//	ip route add E dev TUN table T proto 76 scope link         # each prefix E
//	ip rule add pref P to E lookup main suppress_prefixlength len(E)   # each prefix E
//	ip rule add pref P+1 not fwmark M lookup T                          # per family
//
// Unmarked packets behave as with AddRoutes: a main-table route more
// specific than an eid_space prefix (the site's own, connected EID subnet)
// wins, anything else in eid_space enters the TUN. Packets marked M skip
// table T and see the main table as if lispd were not there (normally the
// default route): the way out for native forwarding.
//
// Rules left at P and P+1 by a lispd that died without removing them
// (kill -9, a crash, a power cut of a router whose /etc is on flash does
// not matter: rules live in the kernel until reboot) are deleted first:
// they would make every restart fail with "file exists", and procd's
// respawn would loop on it. The routes need no such care: they go with
// the old TUN.
//
// If anything fails, what was installed is removed again. remove deletes
// exactly what AddPolicyRoutes installed; entries already gone are not an
// error.
func AddPolicyRoutes(cfg PolicyRoutes) (remove func() error, err error) {
	if cfg.Table == 0 {
		cfg.Table = DefaultRouteTable
	}
	if cfg.Priority == 0 {
		cfg.Priority = DefaultRulePriority
	}
	switch cfg.Table {
	case unix.RT_TABLE_DEFAULT, unix.RT_TABLE_MAIN, unix.RT_TABLE_LOCAL:
		return nil, fmt.Errorf("policy routes: table %d is reserved", cfg.Table)
	}
	idx, err := LinkIndex(cfg.Ifname)
	if err != nil {
		return nil, err
	}
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		if err := deleteRules(fam, cfg.Priority, unix.RT_TABLE_MAIN); err != nil {
			return nil, err
		}
		if err := deleteRules(fam, cfg.Priority+1, cfg.Table); err != nil {
			return nil, err
		}
	}
	var undo []*nlRequest // delete requests, in install order
	remove = func() error {
		var errs []error
		for i := len(undo) - 1; i >= 0; i-- {
			err := undo[i].execute()
			if err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENODEV) {
				errs = append(errs, fmt.Errorf("policy routes: remove: %w", err))
			}
		}
		undo = nil
		return errors.Join(errs...)
	}
	add := func(what string, req, del func() *nlRequest) error {
		if err := req().execute(); err != nil {
			return errors.Join(fmt.Errorf("policy routes: add %s: %w", what, err), remove())
		}
		undo = append(undo, del())
		return nil
	}
	families := map[uint8]bool{}
	for _, p := range cfg.Prefixes {
		if !p.IsValid() {
			return nil, errors.Join(fmt.Errorf("policy routes: invalid prefix %v", p), remove())
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()).Masked()
		families[familyOf(p.Addr())] = true
		if err := add(fmt.Sprintf("route %s dev %s table %d", p, cfg.Ifname, cfg.Table),
			func() *nlRequest {
				return tableRouteRequest(unix.RTM_NEWROUTE, unix.NLM_F_CREATE|unix.NLM_F_EXCL, idx, p, cfg.Table)
			},
			func() *nlRequest { return tableRouteRequest(unix.RTM_DELROUTE, 0, idx, p, cfg.Table) }); err != nil {
			return nil, err
		}
		r := rule{family: familyOf(p.Addr()), dst: p, table: unix.RT_TABLE_MAIN, priority: cfg.Priority, suppress: int32(p.Bits())}
		if err := add(fmt.Sprintf("rule to %s lookup main suppress_prefixlength %d", p, p.Bits()),
			func() *nlRequest { return r.request(unix.RTM_NEWRULE, unix.NLM_F_CREATE|unix.NLM_F_EXCL) },
			func() *nlRequest { return r.request(unix.RTM_DELRULE, 0) }); err != nil {
			return nil, err
		}
	}
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		if !families[fam] {
			continue
		}
		r := rule{family: fam, table: cfg.Table, priority: cfg.Priority + 1, mark: cfg.Mark, invert: true, suppress: -1}
		if err := add(fmt.Sprintf("rule not fwmark %#x lookup %d (family %d)", cfg.Mark, cfg.Table, fam),
			func() *nlRequest { return r.request(unix.RTM_NEWRULE, unix.NLM_F_CREATE|unix.NLM_F_EXCL) },
			func() *nlRequest { return r.request(unix.RTM_DELRULE, 0) }); err != nil {
			return nil, err
		}
	}
	return remove, nil
}

// deleteRules deletes every rule of family fam at priority that looks up
// table: the kernel deletes the first rule matching the attributes given,
// until none is left (ENOENT).
func deleteRules(fam uint8, priority, table uint32) error {
	r := rule{family: fam, table: table, priority: priority, suppress: -1}
	for range 4096 {
		err := r.request(unix.RTM_DELRULE, 0).execute()
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EAFNOSUPPORT) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("policy routes: remove stale rules at priority %d: %w", priority, err)
		}
	}
	return fmt.Errorf("policy routes: more than 4096 rules at priority %d", priority)
}

// tableRouteRequest is routeRequest for a route in table.
func tableRouteRequest(typ, flags uint16, idx int, p netip.Prefix, table uint32) *nlRequest {
	m := unix.RtMsg{
		Family:   familyOf(p.Addr()),
		Dst_len:  uint8(p.Bits()),
		Table:    unix.RT_TABLE_UNSPEC,
		Protocol: RouteProtocol,
		Scope:    unix.RT_SCOPE_LINK,
		Type:     unix.RTN_UNICAST,
	}
	if table < 256 {
		m.Table = uint8(table)
	}
	r := newNLRequest(typ, flags, unsafe.Slice((*byte)(unsafe.Pointer(&m)), unix.SizeofRtMsg))
	r.attr(unix.RTA_DST, p.Addr().AsSlice())
	r.attrU32(unix.RTA_OIF, uint32(idx))
	r.attrU32(unix.RTA_TABLE, table)
	return r
}

// rule is one policy routing rule (struct fib_rule_hdr + FRA_ attributes).
type rule struct {
	family   uint8
	dst      netip.Prefix // zero: any destination
	table    uint32
	priority uint32
	mark     uint32 // with invert: "not fwmark mark"
	invert   bool
	suppress int32 // suppress_prefixlength; -1 = none
}

// fibRuleHdr is struct fib_rule_hdr.
type fibRuleHdr struct {
	Family, DstLen, SrcLen, TOS uint8
	Table, Res1, Res2, Action   uint8
	Flags                       uint32
}

func (r rule) request(typ, flags uint16) *nlRequest {
	h := fibRuleHdr{Family: r.family, Action: unix.FR_ACT_TO_TBL}
	if r.table < 256 {
		h.Table = uint8(r.table)
	}
	if r.dst.IsValid() {
		h.DstLen = uint8(r.dst.Bits())
	}
	if r.invert {
		h.Flags |= unix.FIB_RULE_INVERT
	}
	req := newNLRequest(typ, flags, unsafe.Slice((*byte)(unsafe.Pointer(&h)), unsafe.Sizeof(h)))
	req.attrU32(unix.FRA_PRIORITY, r.priority)
	req.attrU32(unix.FRA_TABLE, r.table)
	if r.dst.IsValid() {
		req.attr(unix.FRA_DST, r.dst.Addr().AsSlice())
	}
	if r.invert {
		req.attrU32(unix.FRA_FWMARK, r.mark)
		req.attrU32(unix.FRA_FWMASK, 0xffffffff)
	}
	if r.suppress >= 0 {
		req.attrU32(unix.FRA_SUPPRESS_PREFIXLEN, uint32(r.suppress))
	}
	return req
}
