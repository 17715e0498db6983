package admin

import (
	"net/netip"
	"testing"
	"time"

	"github.com/lispd/lispd/fwd"
)

// show map-cache carries what RLOC probing found: up/down, why, and RTT.
func TestMapCacheOfProbeState(t *testing.T) {
	c := fwd.NewMapCache(10)
	c.Tick(time.Now())
	m, err := c.Insert(fwd.MappingSpec{Prefix: netip.MustParsePrefix("198.51.100.0/25"), TTL: time.Hour,
		RLOCs: []fwd.RLOCSpec{
			{Addr: netip.MustParseAddr("192.0.2.11"), Priority: 1, Weight: 100},
			{Addr: netip.MustParseAddr("192.0.2.1"), Priority: 2, Weight: 100},
			{Addr: netip.MustParseAddr("192.0.2.3"), Priority: 3, Weight: 100, Down: true},
		}})
	if err != nil {
		t.Fatal(err)
	}
	m.RLOCs[0].SetReason("probe timeout")
	m.RLOCs[0].SetUp(false)
	m.RLOCs[1].SetReason("probe reply")
	m.RLOCs[1].SetRTT(2500 * time.Microsecond)
	v, err := MapCacheOf(c, MapCacheQuery{}, 0)
	if err != nil || len(v.Entries) != 1 || len(v.Entries[0].RLOCs) != 3 {
		t.Fatalf("view %+v, %v", v, err)
	}
	rs := v.Entries[0].RLOCs
	if r := rs[0]; r.Up || r.Reason != "probe timeout" || r.RTT != nil {
		t.Errorf("probed down: %+v", r)
	}
	if r := rs[1]; !r.Up || r.Reason != "probe reply" || r.RTT == nil || *r.RTT != 2.5 {
		t.Errorf("probed up: %+v (rtt %v)", r, deref64(r.RTT))
	}
	if r := rs[2]; r.Up || r.Reason != "unreachable" {
		t.Errorf("down without a reason given: %+v", r)
	}
}

func deref64(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
