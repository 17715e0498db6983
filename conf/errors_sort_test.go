package conf

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"testing"
)

// TestSortProblemsStable checks sortProblems against sort.SliceStable and
// adjacent de-duplication, on random problem lists with many equal
// positions and keys and some exact duplicates.
func TestSortProblemsStable(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 6))
	for range 2000 {
		ps := make([]Problem, r.IntN(12))
		for i := range ps {
			ps[i] = Problem{File: "f", Line: r.IntN(3), Col: r.IntN(3), Key: []string{"", "a", "b"}[r.IntN(3)], Msg: []string{"x", "y", "z"}[r.IntN(3)]}
		}
		want := slices.Clone(ps)
		sort.SliceStable(want, func(i, j int) bool {
			a, b := want[i], want[j]
			if a.Line != b.Line {
				return a.Line < b.Line
			}
			if a.Col != b.Col {
				return a.Col < b.Col
			}
			return a.Key < b.Key
		})
		want = slices.Compact(want)
		got := sortProblems(slices.Clone(ps))
		if !reflect.DeepEqual([]Problem(got), want) && (len(got) != 0 || len(want) != 0) {
			t.Fatalf("sortProblems(%v)\n got %v\nwant %v", ps, got, want)
		}
	}
}
