package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/lispd/lispd/conf"
	"github.com/lispd/lispd/ctl/admin"
	"github.com/lispd/lispd/fwd"
	"github.com/lispd/lispd/fwd/netio"
	"github.com/lispd/lispd/internal/logx"
)

// netnsChildEnv marks the test process that inFreshNetns started.
const netnsChildEnv = "LISPD_TEST_FRESH_NETNS"

// inFreshNetns runs the calling test again, in a process of its own in a
// fresh network namespace (unshare -n: gone when the process exits) with
// loopback up and 192.0.2.1/24 on it, so a data plane started in-process
// touches no interface of the host. It returns true in that process (the
// test body runs there) and false in the parent, which has then checked
// that the child passed. Needs root: skips without it, fails with CI=true.
func inFreshNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv(netnsChildEnv) == "1" {
		return true
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root (a network namespace and a TUN device)")
		}
		t.Skip("needs root (a network namespace and a TUN device)")
	}
	cmd := exec.Command("unshare", "--net", "sh", "-c",
		`ip link set lo up && ip addr add 192.0.2.1/24 dev lo && exec "$0" "$@"`,
		os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), netnsChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("in a fresh network namespace:\n%s", out)
	if err != nil {
		t.Fatalf("the test failed in its network namespace: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatal("the test did not pass in its network namespace (skipped or not run)")
	}
	return false
}

// TestTUNOffloadFallback starts the xTR's data plane in-process with
// xtr.tun_offload = "auto" while the kernel refuses the offload TUN: it
// comes up on the plain TUN, `show stats` says tun-offload 0 and the log
// says why. With "off" no offload TUN is even tried; with "auto" and a
// kernel that accepts, the offload path runs (so the plain path above is
// the fallback's doing, not this kernel's).
func TestTUNOffloadFallback(t *testing.T) {
	if !inFreshNetns(t) {
		return
	}
	refused := fmt.Errorf("TUNSETOFFLOAD: %w", syscall.EINVAL)
	refuse := func(netio.TUNConfig) (*netio.OffloadTUN, error) { return nil, refused }
	for _, tc := range []struct {
		name, mode string
		open       func(netio.TUNConfig) (*netio.OffloadTUN, error)
		path       string // fwd.TUNPathPlain or fwd.TUNPathOffload
		reason     string // show stats: why the plain path runs
		offload    uint64 // show stats: tun-offload
		log        string // a line the log must hold
	}{
		{"auto, refused", "auto", refuse, fwd.TUNPathPlain, "offloads refused: TUNSETOFFLOAD: invalid argument", 0, `TUN offloads unavailable, using the plain TUN err="TUNSETOFFLOAD: invalid argument"`},
		{"off", "off", refuse, fwd.TUNPathPlain, "tun_offload = off", 0, "data plane up"},
		{"auto, accepted", "auto", netio.OpenOffloadTUN, fwd.TUNPathOffload, "", 1, "TUN offloads on"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			openOffloadTUN = func(c netio.TUNConfig) (*netio.OffloadTUN, error) {
				calls++
				return tc.open(c)
			}
			defer func() { openOffloadTUN = netio.OpenOffloadTUN }()

			x := &conf.XTR{}
			x.SetDefaults()
			x.TUN = "lispoff0"
			x.TUNOffload = tc.mode
			x.KernelPath = "off"
			x.EIDPrefixes = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/25")}
			x.EIDSpace = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
			x.RLOCs = []conf.LocalRLOC{{Address: netip.MustParseAddr("192.0.2.1"), Priority: 1, Weight: 100}}
			var logs syncBuffer
			p, err := startXTR(context.Background(), logx.New(&logs, logx.Options{}), x)
			if err != nil {
				t.Fatalf("startXTR: %v\n%s", err, logs.String())
			}
			defer p.Close()

			wantCalls := 1
			if tc.mode == "off" {
				wantCalls = 0
			}
			if calls != wantCalls {
				t.Errorf("offload TUN opened %d times, want %d", calls, wantCalls)
			}
			_, isOffload := p.tun.(*netio.OffloadTUN)
			if isOffload != (tc.path == fwd.TUNPathOffload) {
				t.Errorf("TUN is %T, want the %s path", p.tun, tc.path)
			}
			if got := p.plane.TUNPath(); got != tc.path {
				t.Errorf("plane runs the %s path, want %s", got, tc.path)
			}
			snap := p.plane.Stats().Snapshot()
			if snap.Offload.Path != tc.path {
				t.Errorf("stats snapshot: path %q, want %q", snap.Offload.Path, tc.path)
			}
			stats := admin.StatsOf(&snap, nil)
			if v, ok := stats.Get(admin.GroupDataPlane, "tun-offload"); !ok || v != tc.offload {
				t.Errorf("show stats: tun-offload %d (present %v), want %d", v, ok, tc.offload)
			}
			if tp := stats.TUNPath; tp == nil || tp.State != tc.path || tp.Reason != tc.reason {
				t.Errorf("show stats: TUN path %+v, want %s (%q)", tp, tc.path, tc.reason)
			}
			if !strings.Contains(logs.String(), tc.log) {
				t.Errorf("log lacks %q:\n%s", tc.log, logs.String())
			}
			if tc.mode == "off" && strings.Contains(logs.String(), "offload") {
				t.Errorf("with tun_offload = off the log speaks of offloads:\n%s", logs.String())
			}
		})
	}
}
