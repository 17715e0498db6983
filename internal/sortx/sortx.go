// Package sortx sorts by index through sort.Sort.
//
// sort.Slice is sort.Sort's pdqsort generated a second time for less
// functions, plus internal/reflectlite's Swapper to move the elements: ~8 KB
// of MIPS code that the OpenWrt package pays for a handful of listings.
// sort.Sort is linked anyway (the TOML decoder sorts struct fields with it).
// Sort here runs that one with the caller's less and swap; it makes the same
// comparisons and swaps as sort.Slice (both are the same pdqsort), so the
// result is the same, ties included.
package sortx

import "sort"

// Sort sorts the n elements of a collection that less compares and swap
// exchanges, by index, like sort.Slice: not stable.
func Sort(n int, less func(i, j int) bool, swap func(i, j int)) {
	sort.Sort(byIndex{n, less, swap})
}

type byIndex struct {
	n    int
	less func(i, j int) bool
	swap func(i, j int)
}

func (b byIndex) Len() int           { return b.n }
func (b byIndex) Less(i, j int) bool { return b.less(i, j) }
func (b byIndex) Swap(i, j int)      { b.swap(i, j) }
