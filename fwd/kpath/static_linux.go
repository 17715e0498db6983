package kpath

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/lispd/lispd/internal/sock"
)

// StaticConfig describes an xTR with one local and one remote RLOC (both
// IPv4 or both IPv6) and static mappings: what the tests and the bench's kpath path install (the
// daemon would mirror its map-cache instead).
type StaticConfig struct {
	TUN    string         // the TUN device, opened (and kept open) by the caller
	WAN    string         // the RLOC interface
	Local  netip.Addr     // the local RLOC, on WAN
	Remote netip.Addr     // the remote RLOC
	EIDs   []netip.Prefix // the remote site's IPv4 EID prefixes
	// LocalEIDs are this site's EID prefixes, the only inner destinations
	// decapsulated (Decap.SetLocalEIDs); nil takes every destination
	// (0.0.0.0/0 and ::/0), for benches without a site to name.
	LocalEIDs  []netip.Prefix
	PathMTU    int    // toward Remote; 0 = WAN's MTU
	InstanceID uint32 // 0: no I bit, and none required
	LSBs       uint32 // locator-status-bits to send
	// DecapXDP decapsulates at WAN's XDP hook (Decap.AttachXDP) instead
	// of its TCX ingress: inner packets are GRO-merged and enter on WAN.
	DecapXDP bool
	// DecapGRO attaches the decapsulating program to WAN's TCX ingress
	// and its XDP variant to WAN's XDP hook, as the daemon does: inner
	// packets decapsulated at XDP are GRO-merged and moved into the TUN
	// by the TC program.
	DecapGRO bool
	// CLS attaches the TC programs as cls_bpf filters (AttachCLS), the
	// fallback for kernels before 6.6, even where TCX works.
	CLS bool
}

// Static is a StaticConfig attached: the encapsulating program on the TUN's
// egress, the decapsulating one on the WAN's ingress.
type Static struct {
	Encap *Encap
	Decap *Decap
}

// AttachStatic loads both programs, fills their maps from c and attaches
// them, in the calling thread's network namespace.
func AttachStatic(c StaticConfig) (*Static, error) {
	tun, err := sock.InterfaceByName(c.TUN)
	if err != nil {
		return nil, fmt.Errorf("kpath: TUN %q: %w", c.TUN, err)
	}
	wan, err := sock.InterfaceByName(c.WAN)
	if err != nil {
		return nil, fmt.Errorf("kpath: RLOC interface %q: %w", c.WAN, err)
	}
	mtu := c.PathMTU
	if mtu == 0 {
		mtu = wan.MTU
	}
	s := &Static{}
	if s.Encap, err = NewEncap(max(64, len(c.EIDs))); err != nil {
		return nil, err
	}
	if s.Decap, err = NewDecap(4); err != nil {
		s.Close()
		return nil, err
	}
	s.Encap.cls, s.Decap.cls = c.CLS, c.CLS
	flags := uint8(0x80 | 0x40) // N and L, as the daemon sends
	if c.InstanceID != 0 {
		flags |= flagI
	}
	for _, p := range c.EIDs {
		if err := s.Encap.Set(p, EncapEntry{Dst: c.Remote, MTU: mtu,
			Flags: flags, InstanceID: c.InstanceID, LSBs: c.LSBs}); err != nil {
			s.Close()
			return nil, err
		}
	}
	setLocals := s.Encap.SetLocals
	if c.Local.Is6() {
		setLocals = s.Encap.SetLocals6
	}
	if err := setLocals(EncapLocals{Locals: [MaxEncapLocals]EncapLocal{{Src: c.Local, IfIndex: wan.Index}}}); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.Decap.SetLocal(c.Local, DecapEntry{TUNIfIndex: tun.Index, InstanceID: c.InstanceID}); err != nil {
		s.Close()
		return nil, err
	}
	local := c.LocalEIDs
	if local == nil {
		local = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
	}
	if err := s.Decap.SetLocalEIDs(local); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.Encap.Attach(tun.Index); err != nil {
		s.Close()
		return nil, err
	}
	attach := s.Decap.Attach
	if c.DecapXDP {
		attach = s.Decap.AttachXDP
	}
	if err := attach(wan.Index); err != nil {
		s.Close()
		return nil, err
	}
	if c.DecapGRO && !c.DecapXDP {
		if err := s.Decap.AttachXDP(wan.Index); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Close detaches both programs and releases their maps.
func (s *Static) Close() error {
	var errs []error
	if s.Encap != nil {
		errs = append(errs, s.Encap.Close())
	}
	if s.Decap != nil {
		errs = append(errs, s.Decap.Close())
	}
	return errors.Join(errs...)
}
