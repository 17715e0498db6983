package main

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/lispd/lispd/conf"
)

// TestReloadClassifiesRLOCChanges: a change of only the local RLOCs'
// priorities or weights keeps the data plane and the control plane running
// (it is applied in place); any other RLOC change, or another data-plane
// key, restarts the xTR, and changedDataPlaneKeys names what changed.
func TestReloadClassifiesRLOCChanges(t *testing.T) {
	base := func() *conf.Config {
		return &conf.Config{XTR: &conf.XTR{
			TUN:         "lisp0",
			EIDPrefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/25")},
			RLOCs: []conf.LocalRLOC{
				{Address: netip.MustParseAddr("192.0.2.1"), Priority: 1, Weight: 100},
				{Interface: "wan", Priority: 2, Weight: 50},
			},
		}}
	}
	cases := []struct {
		name       string
		change     func(c *conf.Config)
		sameData   bool
		sameNode   bool
		inPlace    bool     // sameRLOCs false while the planes stay
		wantKeysIn []string // changedDataPlaneKeys contains these
	}{
		{"nothing", func(*conf.Config) {}, true, true, false, nil},
		{"priority", func(c *conf.Config) { c.XTR.RLOCs[0].Priority = 7 }, true, true, true, nil},
		{"weight of an interface", func(c *conf.Config) { c.XTR.RLOCs[1].Weight = 10 }, true, true, true, nil},
		{"address", func(c *conf.Config) { c.XTR.RLOCs[0].Address = netip.MustParseAddr("192.0.2.7") }, false, false, false, []string{"xtr.rloc.address"}},
		{"interface", func(c *conf.Config) { c.XTR.RLOCs[1].Interface = "wan2" }, false, false, false, []string{"xtr.rloc.interface"}},
		{"mtu", func(c *conf.Config) { c.XTR.MTU = 1300 }, false, false, false, []string{"xtr.mtu"}},
		// decap_allow goes to the running plane (SetDecapAllow), the
		// filter's mode restarts it.
		{"decap_allow", func(c *conf.Config) { c.XTR.DecapAllow = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")} }, true, true, false, nil},
		{"decap_filter", func(c *conf.Config) { c.XTR.DecapFilter = "off" }, false, false, false, []string{"xtr.decap_filter"}},
		{"mtu and priority", func(c *conf.Config) { c.XTR.MTU = 1300; c.XTR.RLOCs[0].Priority = 9 }, false, false, false, []string{"xtr.mtu"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b := base(), base()
			tc.change(b)
			if got := sameDataPlane(a.XTR, b.XTR); got != tc.sameData {
				t.Errorf("sameDataPlane = %v, want %v", got, tc.sameData)
			}
			if got := sameNode(a, b); got != tc.sameNode {
				t.Errorf("sameNode = %v, want %v", got, tc.sameNode)
			}
			if got := tc.sameData && !sameRLOCs(a.XTR.RLOCs, b.XTR.RLOCs); got != tc.inPlace {
				t.Errorf("applied in place = %v, want %v", got, tc.inPlace)
			}
			if !tc.sameData {
				keys := changedDataPlaneKeys(a.XTR, b.XTR)
				for _, k := range tc.wantKeysIn {
					if !slices.Contains(keys, k) {
						t.Errorf("changedDataPlaneKeys = %v, want %q in it", keys, k)
					}
				}
				if slices.ContainsFunc(keys, func(k string) bool { return k == "xtr.rloc.priority" || k == "xtr.rloc.weight" }) {
					t.Errorf("changedDataPlaneKeys = %v names a key applied in place", keys)
				}
			}
			// The configuration itself is not modified by the comparison.
			if b.XTR.RLOCs[0].Priority == 0 {
				t.Errorf("comparison zeroed the configuration's priority")
			}
		})
	}
	if got := changedDataPlaneKeys(nil, base().XTR); !slices.Equal(got, []string{"[xtr]"}) {
		t.Errorf("changedDataPlaneKeys(nil, x) = %v", got)
	}
}

// TestReloadClassifiesLimits: a change of map_cache_limit or of the pending
// queue bounds keeps both planes running (applied in place by
// applyLimits), except map_cache_limit while the in-kernel path may run
// (its map is sized for the limit at start); eid_space, tun_offload and
// nat_traversal still restart the xTR, and changedDataPlaneKeys names them.
func TestReloadClassifiesLimits(t *testing.T) {
	base := func(kernel string) *conf.Config {
		return &conf.Config{XTR: &conf.XTR{
			TUN: "lisp0", EIDPrefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/25")},
			EIDSpace:      []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")},
			MapCacheLimit: 10000, PendingPackets: 8, PendingTotal: 1024,
			TUNOffload: "auto", NATTraversal: "auto", KernelPath: kernel,
		}}
	}
	cases := []struct {
		name    string
		kernel  string // kernel_path of both configurations
		change  func(x *conf.XTR)
		inPlace bool   // both planes stay
		wantKey string // else changedDataPlaneKeys names it
	}{
		{"map_cache_limit", "off", func(x *conf.XTR) { x.MapCacheLimit = 50 }, true, ""},
		{"pending_packets", "off", func(x *conf.XTR) { x.PendingPackets = 2 }, true, ""},
		{"pending_total", "off", func(x *conf.XTR) { x.PendingTotal = 16 }, true, ""},
		{"all three", "off", func(x *conf.XTR) { x.MapCacheLimit, x.PendingPackets, x.PendingTotal = 20000, 16, 4096 }, true, ""},
		{"pending with the kernel path", "auto", func(x *conf.XTR) { x.PendingTotal = 16 }, true, ""},
		{"map_cache_limit with the kernel path", "auto", func(x *conf.XTR) { x.MapCacheLimit = 20000 }, false, "xtr.map_cache_limit"},
		{"eid_space", "off", func(x *conf.XTR) { x.EIDSpace = append(x.EIDSpace, netip.MustParsePrefix("203.0.113.0/24")) }, false, "xtr.eid_space"},
		{"tun_offload", "off", func(x *conf.XTR) { x.TUNOffload = "off" }, false, "xtr.tun_offload"},
		{"nat_traversal", "off", func(x *conf.XTR) { x.NATTraversal = "off" }, false, "xtr.nat_traversal"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b := base(tc.kernel), base(tc.kernel)
			tc.change(b.XTR)
			if got := sameDataPlane(a.XTR, b.XTR); got != tc.inPlace {
				t.Errorf("sameDataPlane = %v, want %v", got, tc.inPlace)
			}
			if tc.inPlace && !sameNode(a, b) {
				t.Errorf("sameNode = false: the control plane would restart for a data-plane limit")
			}
			if !tc.inPlace {
				if keys := changedDataPlaneKeys(a.XTR, b.XTR); !slices.Equal(keys, []string{tc.wantKey}) {
					t.Errorf("changedDataPlaneKeys = %v, want [%s]", keys, tc.wantKey)
				}
			}
		})
	}
}
