//go:build !nortr

package ctl

import (
	"net/netip"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/msg"
)

// TestRTRRecordTTL: the RTR converts record TTLs without overflow and
// keeps a TTL-0 route for a second only (enough for the queued packets).
func TestRTRRecordTTL(t *testing.T) {
	k := regKey{iid: 0, prefix: netip.MustParsePrefix("198.51.100.7/32")}
	eid := netip.MustParsePrefix("198.51.100.0/24")
	for _, tc := range []struct {
		ttl  uint32
		want time.Duration
	}{
		{0, time.Second},
		{1, time.Minute},
		{1440, 24 * time.Hour},
		{0xfffffffe, maxRecordTTL},
		{0xffffffff, maxRecordTTL},
	} {
		r := &rtr{routes: map[regKey]*rtrRoute{}}
		before := time.Now()
		r.learnLocked(k, &msg.MapReply{Records: []msg.Record{{TTL: tc.ttl, EID: msg.EID{Prefix: eid}}}})
		rt := r.routes[regKey{0, eid}]
		if rt == nil {
			t.Fatalf("TTL %d: no route learned", tc.ttl)
		}
		if got := rt.expires.Sub(before); got < tc.want || got > tc.want+time.Second {
			t.Errorf("TTL %d: route expires in %v, want %v", tc.ttl, got, tc.want)
		}
	}
}
