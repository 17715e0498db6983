package fwd

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
)

func newMapping(t testing.TB, rlocs ...RLOCSpec) *Mapping {
	t.Helper()
	m, err := NewMapping(MappingSpec{Prefix: netip.MustParsePrefix("198.51.100.0/24"), RLOCs: rlocs})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// share counts how many of the selSlots hash values land on each RLOC.
func share(m *Mapping) map[string]int {
	out := map[string]int{}
	for h := uint32(0); h < selSlots; h++ {
		if r := m.RLOC(h); r != nil {
			out[r.Addr.Addr().String()]++
		}
	}
	return out
}

func TestLocatorChoice(t *testing.T) {
	tests := []struct {
		name  string
		rlocs []RLOCSpec
		down  []int
		want  map[string]int // slots out of 64
	}{
		{"single", []RLOCSpec{rlocSpec("192.0.2.1", 1, 100)}, nil, map[string]int{"192.0.2.1": 64}},
		{"best priority only", []RLOCSpec{rlocSpec("192.0.2.1", 2, 100), rlocSpec("192.0.2.2", 1, 100)}, nil, map[string]int{"192.0.2.2": 64}},
		{"equal weights", []RLOCSpec{rlocSpec("192.0.2.1", 1, 50), rlocSpec("192.0.2.2", 1, 50)}, nil, map[string]int{"192.0.2.1": 32, "192.0.2.2": 32}},
		{"weights 75/25", []RLOCSpec{rlocSpec("192.0.2.1", 1, 75), rlocSpec("192.0.2.2", 1, 25)}, nil, map[string]int{"192.0.2.1": 48, "192.0.2.2": 16}},
		{"all weights zero", []RLOCSpec{rlocSpec("192.0.2.1", 1, 0), rlocSpec("192.0.2.2", 1, 0)}, nil, map[string]int{"192.0.2.1": 32, "192.0.2.2": 32}},
		{"zero weight gets none", []RLOCSpec{rlocSpec("192.0.2.1", 1, 0), rlocSpec("192.0.2.2", 1, 10)}, nil, map[string]int{"192.0.2.2": 64}},
		{"30/20/20/30", []RLOCSpec{rlocSpec("192.0.2.1", 1, 30), rlocSpec("192.0.2.2", 1, 20), rlocSpec("192.0.2.3", 1, 20), rlocSpec("192.0.2.4", 1, 30)}, nil,
			map[string]int{"192.0.2.1": 19, "192.0.2.2": 13, "192.0.2.3": 13, "192.0.2.4": 19}},
		{"priority 255 never", []RLOCSpec{rlocSpec("192.0.2.1", 255, 100)}, nil, map[string]int{}},
		{"255 not a fallback", []RLOCSpec{rlocSpec("192.0.2.1", 1, 100), rlocSpec("192.0.2.2", 255, 100)}, []int{0}, map[string]int{}},
		{"down falls to next priority", []RLOCSpec{rlocSpec("192.0.2.1", 1, 100), rlocSpec("192.0.2.2", 2, 100), rlocSpec("192.0.2.3", 3, 100)}, []int{0}, map[string]int{"192.0.2.2": 64}},
		{"all down", []RLOCSpec{rlocSpec("192.0.2.1", 1, 100), rlocSpec("192.0.2.2", 2, 100)}, []int{0, 1}, map[string]int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMapping(t, tt.rlocs...)
			for _, i := range tt.down {
				m.RLOCs[i].SetUp(false)
			}
			got := share(m)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("shares = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLocatorFlowsMoveOnlyWhenDown(t *testing.T) {
	m := newMapping(t, rlocSpec("192.0.2.1", 1, 25), rlocSpec("192.0.2.2", 1, 25), rlocSpec("192.0.2.3", 1, 50), rlocSpec("192.0.2.9", 2, 1))
	before := make([]*RLOC, selSlots)
	for h := range before {
		before[h] = m.RLOC(uint32(h))
	}
	m.RLOCs[1].SetUp(false)
	moved := 0
	for h := range before {
		now := m.RLOC(uint32(h))
		if before[h] == m.RLOCs[1] {
			if now == m.RLOCs[1] {
				t.Fatalf("hash %d still on the down RLOC", h)
			}
			moved++
			continue
		}
		if now != before[h] {
			t.Fatalf("hash %d moved from %v to %v though its RLOC is up", h, before[h].Addr, now.Addr)
		}
	}
	if moved == 0 {
		t.Fatal("no flow was on the RLOC that went down")
	}
	// The remaining two keep weights 25:50 over 64 slots.
	if got := share(m); got["192.0.2.1"] != 21 || got["192.0.2.3"] != 43 {
		t.Fatalf("shares after down = %v", got)
	}
	// Back up: it takes back its share; flows of the others that stay within
	// their share do not move.
	m.RLOCs[1].SetUp(true)
	if got := share(m); got["192.0.2.1"] != 16 || got["192.0.2.2"] != 16 || got["192.0.2.3"] != 32 {
		t.Fatalf("shares after up = %v", got)
	}
	back := 0
	for h := range before {
		if m.RLOC(uint32(h)) == before[h] {
			back++
		}
	}
	if back < selSlots/2 {
		t.Fatalf("only %d of %d hashes back on their first RLOC", back, selSlots)
	}
}

func TestLocatorSameHashSameRLOC(t *testing.T) {
	m := newMapping(t, rlocSpec("192.0.2.1", 1, 50), rlocSpec("192.0.2.2", 1, 50))
	for h := uint32(0); h < 10000; h += 37 {
		first, again := m.RLOC(h), m.RLOC(h)
		if first != again || first != m.RLOC(h+selSlots) {
			t.Fatalf("hash %d not stable", h)
		}
	}
	n := testing.AllocsPerRun(1000, func() { _ = m.RLOC(12345) })
	if n != 0 {
		t.Fatalf("RLOC: %v allocations", n)
	}
}

func BenchmarkLocatorChoice(b *testing.B) {
	m := newMapping(b, rlocSpec("192.0.2.1", 1, 30), rlocSpec("192.0.2.2", 1, 70))
	b.ReportAllocs()
	h := uint32(0)
	var sink *RLOC
	for b.Loop() {
		sink = m.RLOC(h)
		h += 0x9e3779b9
	}
	_ = sink
}

// TestShareSlots checks the slot sharing of the RLOCs' and the local
// locators' tables: shares in proportion to the weights, and a seeded
// slot kept by its candidate while that one is within its share.
func TestShareSlots(t *testing.T) {
	none := func() *[selSlots]int {
		var s [selSlots]int
		for j := range s {
			s[j] = -1
		}
		return &s
	}
	all := func(k int) *[selSlots]int {
		var s [selSlots]int
		for j := range s {
			s[j] = k
		}
		return &s
	}
	halves := func() *[selSlots]int {
		var s [selSlots]int
		for j := range s {
			s[j] = j % 2
		}
		return &s
	}
	tests := []struct {
		name    string
		weights []int
		seed    *[selSlots]int
		shares  []int
		kept    []int // candidates whose seeded slots must all be theirs still
	}{
		{"one", []int{5}, none(), []int{64}, nil},
		{"50/50", []int{50, 50}, none(), []int{32, 32}, nil},
		{"3:1", []int{75, 25}, none(), []int{48, 16}, nil},
		{"all zero: equal", []int{0, 0, 0, 0}, none(), []int{16, 16, 16, 16}, nil},
		{"a zero weight beside others", []int{0, 1}, none(), []int{0, 64}, nil},
		{"largest remainder", []int{1, 1, 1}, none(), []int{22, 21, 21}, nil},
		{"seeded, unchanged", []int{1, 1}, halves(), []int{32, 32}, []int{0, 1}},
		{"seeded, a third joins", []int{1, 1, 1}, halves(), []int{22, 21, 21}, nil},
		{"seeded, one grows", []int{3, 1}, halves(), []int{48, 16}, []int{0}},
		{"seeded by one that takes less now", []int{1, 1}, all(0), []int{32, 32}, nil},
		{"seed beyond the candidates", []int{1, 1}, all(7), []int{32, 32}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seed := *tt.seed
			slots := shareSlots(tt.weights, tt.seed)
			shares := make([]int, len(tt.weights))
			for _, k := range slots {
				if int(k) >= len(shares) {
					t.Fatalf("slot names candidate %d of %d", k, len(shares))
				}
				shares[k]++
			}
			if !slices.Equal(shares, tt.shares) {
				t.Errorf("shares %v, want %v", shares, tt.shares)
			}
			for _, k := range tt.kept {
				for j, s := range seed {
					if s == k && int(slots[j]) != k {
						t.Errorf("slot %d moved from candidate %d to %d", j, k, slots[j])
					}
				}
			}
		})
	}
}
