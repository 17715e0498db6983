package fwd

import (
	"testing"
	"time"
)

// Multihoming failover: when every locator of the best priority is down,
// traffic moves to the next priority; when they come back, it returns, each
// flow to the locator it had.
func TestLocatorFailoverAndReturn(t *testing.T) {
	m := newMapping(t, rlocSpec("192.0.2.1", 1, 50), rlocSpec("192.0.2.2", 1, 50), rlocSpec("192.0.2.9", 2, 100))
	before := make([]*RLOC, selSlots)
	for h := range before {
		before[h] = m.RLOC(uint32(h))
		if before[h] == m.RLOCs[2] {
			t.Fatalf("hash %d on the priority-2 locator while priority 1 is up", h)
		}
	}
	steps := []struct {
		name   string
		up     [2]bool // the two priority-1 locators
		shares map[string]int
	}{
		{"one best down", [2]bool{false, true}, map[string]int{"192.0.2.2": 64}},
		{"all best down", [2]bool{false, false}, map[string]int{"192.0.2.9": 64}},
		{"one best back", [2]bool{true, false}, map[string]int{"192.0.2.1": 64}},
		{"all back", [2]bool{true, true}, map[string]int{"192.0.2.1": 32, "192.0.2.2": 32}},
	}
	for _, s := range steps {
		m.RLOCs[0].SetUp(s.up[0])
		m.RLOCs[1].SetUp(s.up[1])
		if got := share(m); len(got) != len(s.shares) || got["192.0.2.1"] != s.shares["192.0.2.1"] ||
			got["192.0.2.2"] != s.shares["192.0.2.2"] || got["192.0.2.9"] != s.shares["192.0.2.9"] {
			t.Fatalf("%s: shares = %v, want %v", s.name, got, s.shares)
		}
	}
	// Back where they started: every flow is back on a priority-1 locator,
	// most of them on the very one they had.
	same := 0
	for h := range before {
		r := m.RLOC(uint32(h))
		if r == m.RLOCs[2] {
			t.Fatalf("hash %d still on the priority-2 locator", h)
		}
		if r == before[h] {
			same++
		}
	}
	if same < selSlots/2 {
		t.Errorf("only %d of %d hashes back on their first locator", same, selSlots)
	}
}

func TestRLOCRTTAndReason(t *testing.T) {
	m := newMapping(t, rlocSpec("192.0.2.1", 1, 100))
	r := m.RLOCs[0]
	if r.RTT() != 0 || r.Reason() != "" {
		t.Fatalf("fresh RLOC: rtt %v reason %q", r.RTT(), r.Reason())
	}
	for _, tt := range []struct{ in, want time.Duration }{
		{1500 * time.Microsecond, 1500 * time.Microsecond},
		{10 * time.Nanosecond, time.Microsecond}, // rounds up, never to "unknown"
		{-time.Second, 0},
		{100 * time.Hour, 0xffffffff * time.Microsecond},
	} {
		r.SetRTT(tt.in)
		if got := r.RTT(); got != tt.want {
			t.Errorf("SetRTT(%v): RTT() = %v, want %v", tt.in, got, tt.want)
		}
	}
	r.SetReason("probe timeout")
	if r.Reason() != "probe timeout" {
		t.Errorf("Reason() = %q", r.Reason())
	}
}
