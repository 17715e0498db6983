// Package e2e holds lispd's end-to-end tests: real lispd daemons in network
// namespaces (host A — xTR1 — core — xTR2 — host B), driven with ping, TCP,
// crafted LISP packets and captures judged by tshark. They need root; until
// `lispd run` brings up the data plane they skip with "data plane not wired
// yet" unless LISPD_E2E_REQUIRE=1. LISPD_E2E_BIN=PATH tests a given lispd
// binary instead of building the module's.
package e2e

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/admin"
	"github.com/lispd/lispd/testing/lab"
	"github.com/lispd/lispd/testing/netns"
)

// upTimeout is how long a daemon gets to create its TUN.
const upTimeout = 5 * time.Second

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	binDir    string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// required reports whether the daemon must be wired (LISPD_E2E_REQUIRE=1).
func required() bool { return os.Getenv("LISPD_E2E_REQUIRE") == "1" }

// firstNotWired remembers why the first test found the daemon not wired,
// so later tests skip at once instead of waiting for a TUN again.
var (
	notWiredMu    sync.Mutex
	firstNotWired error
)

// notWired skips the test because lispd's data plane is not up, or fails it
// when LISPD_E2E_REQUIRE=1.
func notWired(t *testing.T, err error) {
	t.Helper()
	if required() {
		t.Fatalf("LISPD_E2E_REQUIRE=1: %v", err)
	}
	notWiredMu.Lock()
	if firstNotWired == nil {
		firstNotWired = err
	}
	notWiredMu.Unlock()
	t.Skipf("data plane not wired yet: %v", err)
}

// skipIfNotWired skips at once when an earlier test found lispd not wired.
func skipIfNotWired(t *testing.T) {
	t.Helper()
	notWiredMu.Lock()
	err := firstNotWired
	notWiredMu.Unlock()
	if err != nil {
		t.Skipf("data plane not wired yet (as found earlier): %v", err)
	}
}

// lispdBinary builds lispd once per test binary (or uses the binary named
// by LISPD_E2E_BIN).
func lispdBinary(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("LISPD_E2E_BIN"); b != "" {
		return b
	}
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "lispd-e2e-bin-")
		if buildErr == nil {
			binPath, buildErr = lab.BuildLispd(binDir)
		}
	})
	if buildErr != nil {
		notWired(t, buildErr)
	}
	return binPath
}

// setup is a lab with lispd running on both xTRs.
type setup struct {
	*lab.Lab
	X1, X2 *lab.Daemon
	C1, C2 lab.XTRConfig
}

// start builds a lab with opt and starts lispd on both xTRs with static
// mappings (RLOC family per rloc6); it skips (see notWired) when the
// daemons do not bring their TUN up.
func start(t *testing.T, opt lab.Options, rloc6 bool) *setup {
	t.Helper()
	return startWith(t, opt, rloc6, nil)
}

// startWith is start with both xTR configurations passed through shape
// first (when not nil).
func startWith(t *testing.T, opt lab.Options, rloc6 bool, shape func(c *lab.XTRConfig)) *setup {
	t.Helper()
	skipIfNotWired(t)
	topo := netns.New(t) // skips without root before building anything
	bin := lispdBinary(t)
	l, err := lab.Build(topo, opt)
	if err != nil {
		t.Fatal(err)
	}
	s := &setup{Lab: l,
		C1: lab.XTRConfig{Side: 1, RLOC6: rloc6, Static: true},
		C2: lab.XTRConfig{Side: 2, RLOC6: rloc6, Static: true},
	}
	if shape != nil {
		shape(&s.C1)
		shape(&s.C2)
	}
	var ds []*lab.Daemon
	for _, x := range []struct {
		h    *netns.Host
		name string
		c    lab.XTRConfig
	}{{l.XTR1, "xtr1", s.C1}, {l.XTR2, "xtr2", s.C2}} {
		path, err := l.WriteConfig(x.name, l.XTRTOML(x.c))
		if err != nil {
			t.Fatal(err)
		}
		d, err := l.StartLispd(x.h, x.name, bin, path)
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	for i, d := range ds {
		tun := []lab.XTRConfig{s.C1, s.C2}[i].TUNName()
		if err := d.WaitTUN(tun, upTimeout); err != nil {
			if errors.Is(err, lab.ErrNotWired) {
				notWired(t, err)
			}
			t.Fatal(err)
		}
	}
	s.X1, s.X2 = ds[0], ds[1]
	return s
}

// daemonStats is one `show stats` of a daemon, with a counter getter.
type daemonStats struct {
	st *admin.Stats
}

// readStats reads `show stats` of d.
func readStats(t *testing.T, d *lab.Daemon) daemonStats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := &admin.Stats{}
	if err := d.ShowJSON(ctx, st, "stats"); err != nil {
		t.Fatal(err)
	}
	return daemonStats{st}
}

func (k daemonStats) get(t *testing.T, group, name string) uint64 {
	t.Helper()
	v, ok := k.st.Get(group, name)
	if !ok {
		t.Fatalf("show stats has no %s/%s", group, name)
	}
	return v
}
