package sortx

import (
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// TestSortSameAsSortSlice sorts random slices with many ties by a key,
// carrying the original index, with Sort and with sort.Slice: the results
// must be the same permutation (same algorithm), not merely both sorted.
func TestSortSameAsSortSlice(t *testing.T) {
	type item struct{ key, orig int }
	r := rand.New(rand.NewPCG(4, 6))
	for _, n := range []int{0, 1, 2, 5, 12, 13, 50, 100, 1000} {
		for range 20 {
			a := make([]item, n)
			for i := range a {
				a[i] = item{r.IntN(n/3 + 1), i}
			}
			b := slices.Clone(a)
			Sort(len(a), func(i, j int) bool { return a[i].key < a[j].key }, func(i, j int) { a[i], a[j] = a[j], a[i] })
			sort.Slice(b, func(i, j int) bool { return b[i].key < b[j].key })
			if !slices.Equal(a, b) {
				t.Fatalf("n=%d: Sort and sort.Slice differ\n%v\n%v", n, a, b)
			}
			if !slices.IsSortedFunc(a, func(x, y item) int { return x.key - y.key }) {
				t.Fatalf("n=%d: not sorted: %v", n, a)
			}
		}
	}
}
