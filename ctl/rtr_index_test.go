//go:build !nortr

package ctl

import (
	"net/netip"
	"testing"
	"time"
)

// TestRTRBindingFor checks the verified-binding index: the longest covering
// prefix in the instance, and among the bindings of that prefix (several
// xTRs of a multihomed site) the one seen last; unverified bindings and
// other instances are not found.
func TestRTRBindingFor(t *testing.T) {
	r := newRTR(nil, nil)
	t0 := time.Unix(1700000000, 0)
	add := func(iid uint32, prefix string, id byte, verified bool, seen time.Duration) {
		k := rtrKey{key: regKey{iid: iid, prefix: netip.MustParsePrefix(prefix)}, xtrID: [16]byte{id}}
		r.bindings[k] = &rtrEntry{RTRBinding: RTRBinding{InstanceID: iid, Prefix: k.key.prefix, XTRID: k.xtrID,
			Verified: verified, LastSeen: t0.Add(seen)}}
	}
	add(7, "198.51.100.0/24", 1, true, 1*time.Second)
	add(7, "198.51.100.0/24", 2, true, 3*time.Second) // seen last: chosen
	add(7, "198.51.100.0/24", 3, true, 2*time.Second)
	add(7, "198.51.100.0/24", 4, false, 9*time.Second) // unverified: ignored
	add(7, "198.51.100.128/25", 5, true, 0)
	add(7, "2001:db8::/32", 6, true, 0)
	add(8, "203.0.113.0/24", 7, true, 0)
	add(7, "203.0.113.0/24", 8, false, 0)
	r.reindexLocked()
	cases := []struct {
		iid  uint32
		eid  string
		want byte // xTR-ID's first byte; 0 = none
	}{
		{7, "198.51.100.1", 2},
		{7, "198.51.100.200", 5},
		{7, "::ffff:198.51.100.1", 2},
		{7, "2001:db8::9", 6},
		{7, "203.0.113.1", 0},
		{8, "203.0.113.1", 7},
		{8, "198.51.100.1", 0},
		{9, "198.51.100.1", 0},
	}
	for _, c := range cases {
		b, ok := r.bindingFor(c.iid, netip.MustParseAddr(c.eid))
		if got := map[bool]byte{true: b.XTRID[0]}[ok]; got != c.want || ok != (c.want != 0) {
			t.Errorf("bindingFor(%d, %s) = xTR %d, %v; want xTR %d", c.iid, c.eid, b.XTRID[0], ok, c.want)
		}
	}
}
