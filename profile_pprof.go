//go:build pprof

package main

import (
	"os"
	"runtime/pprof"

	flag "github.com/lispd/lispd/internal/flagx"
)

// addProfileFlags adds -cpuprofile FILE to `lispd run` in builds made with
// `-tags pprof` (make profile); release builds leave runtime/pprof out.
func addProfileFlags(fs *flag.FlagSet) func() (stop func()) {
	path := fs.String("cpuprofile", "", "write a CPU profile of the daemon's run to `FILE`")
	return func() func() {
		if *path == "" {
			return func() {}
		}
		f, err := os.Create(*path)
		if err != nil {
			return func() {}
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return func() {}
		}
		return func() {
			pprof.StopCPUProfile()
			f.Close()
		}
	}
}
