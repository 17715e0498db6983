package fwd

import "slices"

// Locator choice (RFC 9300 section 6 with RFC 9301 priorities and weights).
//
// Each Mapping holds an immutable selection table, rebuilt (under the
// mapping's mutex, off the packet path) whenever an RLOC's reachability
// changes. The packet path does one atomic load and one index:
//
//   - usable RLOCs are the reachable ones of the best (lowest) priority below
//     255; when all of that priority are down, the next priority takes over;
//   - with one usable RLOC the table is that RLOC;
//   - with several, selSlots slots are shared out in proportion to the
//     weights (largest remainder; all weights zero = equal shares), and the
//     flow hash picks a slot: one flow, one RLOC.
//
// A rebuild starts from the previous table and keeps every slot whose RLOC
// is still usable and within its share; only the remaining slots are handed
// out again. So a flow moves only when its RLOC goes down (or when an RLOC
// comes back and takes back its share). Replacing a mapping with one that
// has the same RLOC addresses keeps the flows where they were.

// selSlots is the size of a selection table: weight resolution 1/64.
const selSlots = 64

// selection is an immutable RLOC-selection table.
type selection struct {
	single *RLOC   // the only usable RLOC, or nil
	slots  []uint8 // index into Mapping.RLOCs per slot, when several
}

// rebuild recomputes m's selection table. prev, when non-nil, is a mapping
// that m replaces: its table seeds m's so flows keep their RLOC.
func (m *Mapping) rebuild(prev *Mapping) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.cache.Load(); c != nil {
		defer c.signal() // after the new table is stored
	}

	best := -1
	for _, r := range m.RLOCs {
		if r.Up() && r.Priority < 255 && (best < 0 || int(r.Priority) < best) {
			best = int(r.Priority)
		}
	}
	var usable []int
	for i, r := range m.RLOCs {
		if r.Up() && int(r.Priority) == best {
			usable = append(usable, i)
		}
	}
	switch len(usable) {
	case 0:
		m.sel.Store(&selection{})
		return
	case 1:
		m.sel.Store(&selection{single: m.RLOCs[usable[0]]})
		return
	}

	// Seed from the previous table: this mapping's own, or the replaced one's
	// translated by RLOC address; then by candidate (position in usable).
	var seed [selSlots]int
	for j := range seed {
		seed[j] = -1
	}
	if prev == nil {
		prev = m
	}
	if ps := prev.sel.Load(); ps != nil {
		idxOf := func(r *RLOC) int {
			if prev == m {
				for i, x := range m.RLOCs {
					if x == r {
						return i
					}
				}
				return -1
			}
			for i, x := range m.RLOCs {
				if x.Addr == r.Addr {
					return i
				}
			}
			return -1
		}
		switch {
		case ps.single != nil:
			i := idxOf(ps.single)
			for j := range seed {
				seed[j] = i
			}
		case len(ps.slots) == selSlots:
			for j, s := range ps.slots {
				if int(s) < len(prev.RLOCs) {
					seed[j] = idxOf(prev.RLOCs[s])
				}
			}
		}
	}
	weights := make([]int, len(usable))
	for k, i := range usable {
		weights[k] = int(m.RLOCs[i].Weight)
	}
	for j, i := range seed {
		seed[j] = slices.Index(usable, i) // -1 when not usable
	}
	shared := shareSlots(weights, &seed)
	slots := make([]uint8, selSlots)
	for j, k := range shared {
		slots[j] = uint8(usable[k])
	}
	m.sel.Store(&selection{slots: slots})
}

// shareSlots shares the selSlots slots of a table among candidates in
// proportion to their weights (largest remainder; all weights zero: equal
// shares) and returns each slot's candidate (index into weights). seed is
// the previous table by candidate (-1: none): a slot keeps its candidate
// while that one is within its share, and only the remaining slots are
// handed out again, so a flow moves only when its candidate loses share.
// There must be at least one candidate, and at most 256.
func shareSlots(weights []int, seed *[selSlots]int) (slots [selSlots]uint8) {
	total := 0
	for _, w := range weights {
		total += w
	}
	// Shares by largest remainder.
	quota := make([]int, len(weights))
	rems := make([]int, len(weights))
	given := 0
	for k, w := range weights {
		t := total
		if total == 0 {
			w, t = 1, len(weights)
		}
		quota[k] = selSlots * w / t
		rems[k] = selSlots * w % t
		given += quota[k]
	}
	for given < selSlots {
		bi := 0
		for k := range rems {
			if rems[k] > rems[bi] {
				bi = k
			}
		}
		quota[bi]++
		rems[bi] = -1
		given++
	}

	count := make([]int, len(weights))
	free := make([]int, 0, selSlots)
	for j, k := range seed {
		if k >= 0 && k < len(weights) && count[k] < quota[k] {
			slots[j] = uint8(k)
			count[k]++
			continue
		}
		free = append(free, j)
	}
	for _, j := range free {
		bk, bd := -1, 0
		for k := range weights {
			if d := quota[k] - count[k]; d > bd {
				bk, bd = k, d
			}
		}
		slots[j] = uint8(bk)
		count[bk]++
	}
	return slots
}
