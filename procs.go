package main

import (
	"os"
	"runtime"

	"github.com/lispd/lispd/internal/logx"
)

// offloadProcs is the GOMAXPROCS the offload data plane runs best with on
// a machine of ncpu CPUs, or 0 to leave the runtime's choice: with at most
// two CPUs, one. Each wake-up of the offload path moves a 64 KB
// super-packet, so one P keeps up with the encapsulating and the
// decapsulating goroutine, while a second P only makes the runtime wake a
// spinning thread for it at every netpoller hand-off (context switches
// that cost a small router more than the parallelism gains; the kernel's
// softirq work runs on the other CPU either way). Measured on 2 vCPUs
// (testing/BENCH.md, 2026-11-25): the encapsulating xTR's CPU seconds per
// GB down by about 10 %, single-flow TCP up. An operator's GOMAXPROCS
// (env set) always wins.
func offloadProcs(env string, ncpu, cur int) int {
	if env != "" || ncpu > 2 || cur <= 1 {
		return 0
	}
	return 1
}

// setOffloadProcs applies offloadProcs once the offload TUN is open.
func setOffloadProcs(log *logx.Logger) {
	n := offloadProcs(os.Getenv("GOMAXPROCS"), runtime.NumCPU(), runtime.GOMAXPROCS(0))
	if n == 0 {
		return
	}
	runtime.GOMAXPROCS(n)
	log.Info("offload data plane on one Go scheduler thread (GOMAXPROCS overrides)", "gomaxprocs", n, "cpus", runtime.NumCPU())
}
