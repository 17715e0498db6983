//go:build !pprof

package main

import flag "github.com/lispd/lispd/internal/flagx"

// addProfileFlags adds nothing to release builds: the profiling flag lives in
// builds made with `-tags pprof` (profile_pprof.go).
func addProfileFlags(*flag.FlagSet) func() (stop func()) {
	return func() func() { return func() {} }
}
