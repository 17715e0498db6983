package ctl

import "testing"

// Every drop reason has its own name, which `show stats` lists (it stops
// at the first "unknown"): a reason added without a name would hide the
// ones after it.
func TestDropReasonNames(t *testing.T) {
	seen := map[string]DropReason{}
	for r := range numDropReasons {
		n := r.String()
		if n == "" || n == "unknown" {
			t.Errorf("drop reason %d has no name", r)
		}
		if o, dup := seen[n]; dup {
			t.Errorf("drop reasons %d and %d are both %q", o, r, n)
		}
		seen[n] = r
	}
	for _, n := range []string{"site-full", "replayed", "forward-rate-limited", "record-overclaim", "unknown-site"} {
		if _, ok := seen[n]; !ok {
			t.Errorf("no drop reason %q", n)
		}
	}
}
