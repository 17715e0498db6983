package main

import "testing"

func TestOffloadProcs(t *testing.T) {
	for _, tc := range []struct {
		env       string
		ncpu, cur int
		want      int
	}{
		{"", 1, 1, 0},  // already one
		{"", 2, 2, 1},  // two CPUs: one P
		{"", 2, 8, 1},  // whatever the runtime chose
		{"", 4, 4, 0},  // more CPUs: the runtime's choice
		{"2", 2, 2, 0}, // the operator's GOMAXPROCS wins
		{"1", 2, 1, 0},
	} {
		if got := offloadProcs(tc.env, tc.ncpu, tc.cur); got != tc.want {
			t.Errorf("offloadProcs(%q, %d, %d) = %d, want %d", tc.env, tc.ncpu, tc.cur, got, tc.want)
		}
	}
}
