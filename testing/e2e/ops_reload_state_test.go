package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/admin"
	"github.com/lispd/lispd/testing/lab"
)

// Reloads and stops keep (or withdraw) the state a network engineer
// expects: a Map-Server's registrations survive a reload, a change of an
// uplink's priority does not rebuild the xTR, and a clean stop deregisters
// the site.

// msRegistered returns the EID prefixes the Map-Server lists as registered
// for each of the two lab sites.
func msRegistered(t *testing.T, ms *lab.Daemon) map[string][]string {
	t.Helper()
	var r admin.Registrations
	show(t, ms, &r, "registrations")
	out := map[string][]string{}
	for _, name := range []string{"site1", "site2"} {
		for _, reg := range site(t, &r, name).Registrations {
			out[name] = append(out[name], reg.EID.String())
		}
	}
	return out
}

// TestOpsReloadMapServerKeepsRegistrations registers both sites, then
// freezes both xTRs (SIGSTOP: nobody registers again until the end), so
// that whatever the Map-Server lists afterwards is what it carried over
// its reload. The reload changes registration_timeout and site2's key:
// site1's registrations must survive it, site2's (whose key changed) must
// be gone, and the log must say how many were kept and dropped.
func TestOpsReloadMapServerKeepsRegistrations(t *testing.T) {
	s := startControl(t, ctlOptions{ms: lab.MapServerConfig{RegistrationTimeout: "5m"}})
	waitRegistered(t, s.X1, s.X2)
	waitBothSitesRegistered(t, s)
	for _, d := range []*lab.Daemon{s.X1, s.X2} {
		if err := d.Proc.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		// Before the lab's cleanup, which stops them cleanly.
		t.Cleanup(func() { _ = d.Proc.Signal(syscall.SIGCONT) })
	}
	time.Sleep(100 * time.Millisecond) // a Map-Register in flight lands
	before := msRegistered(t, s.MS)

	old, err := os.ReadFile(s.MSConfig)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(old), `registration_timeout = "5m"`, `registration_timeout = "4m"`, 1)
	text = strings.Replace(text, fmt.Sprintf("key = %q", lab.Site2Key), `key = "site2-new-secret"`, 1)
	if strings.Count(text, "4m") != 1 || !strings.Contains(text, "site2-new-secret") {
		t.Fatalf("premise: the Map-Server configuration does not have the expected keys:\n%s", old)
	}
	if err := os.WriteFile(s.MSConfig, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := s.MS.Reload(t.Context())
	if err != nil {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	t.Logf("lispd reload:\n%s", strings.TrimSpace(out))
	after := msRegistered(t, s.MS)
	if strings.Join(after["site1"], ",") != strings.Join(before["site1"], ",") {
		t.Errorf("site1 registrations %v after the reload, %v before: registrations of an unchanged site must survive a reload", after["site1"], before["site1"])
	}
	if len(after["site2"]) != 0 {
		t.Errorf("site2 registrations %v survived a reload that changed site2's key", after["site2"])
	}
	if log := s.MS.Log(); !strings.Contains(log, "kept=2 dropped=2") {
		t.Errorf("the Map-Server's log does not say 2 registrations kept, 2 dropped:\n%s", tail(log, 10))
	}
	if !strings.Contains(out, "2 registrations kept, 2 dropped") {
		t.Errorf("lispd reload does not say what was kept:\n%s", out)
	}
	if strings.Contains(s.MS.Log(), "Map-Servers re-registered") {
		t.Errorf("the Map-Server's log claims Map-Servers re-registered:\n%s", tail(s.MS.Log(), 10))
	}
}

// TestOpsStopDeregisters stops xTR1 cleanly (SIGTERM): the Map-Server,
// whose registrations last 5 minutes, must stop listing site1's prefixes
// within seconds, while site2 stays registered.
func TestOpsStopDeregisters(t *testing.T) {
	s := startControl(t, ctlOptions{ms: lab.MapServerConfig{RegistrationTimeout: "5m"}})
	waitRegistered(t, s.X1, s.X2)
	waitBothSitesRegistered(t, s)
	start := time.Now()
	if err := s.X1.Proc.Stop(); err != nil {
		t.Fatalf("stopping xtr1: %v", err)
	}
	t.Logf("xtr1 stopped in %v", time.Since(start).Round(time.Millisecond))
	took := eventually(t, 3*time.Second, "site1 deregistered", func() error {
		if r := msRegistered(t, s.MS); len(r["site1"]) != 0 || len(r["site2"]) != 2 {
			return fmt.Errorf("registered %v", r)
		}
		return nil
	})
	t.Logf("site1 gone from the Map-Server %v after xtr1's stop (registration timeout 5m)", took.Round(time.Millisecond))
	if !strings.Contains(s.X1.Log(), "deregistered") {
		t.Errorf("xtr1 does not log the deregistration:\n%s", tail(s.X1.Log(), 10))
	}
}

// TestOpsReloadPriorityInPlace changes only the priority and weight of
// xTR1's uplink: the reload must not rebuild the xTR (same TUN ifindex,
// the learned map-cache entry for site2 stays), `show rlocs` must show the
// new values and the Map-Server must receive them in the next
// Map-Register. A change of mtu then does restart the xTR, and `lispd
// reload` must say so.
func TestOpsReloadPriorityInPlace(t *testing.T) {
	s := startControl(t, ctlOptions{ms: lab.MapServerConfig{RegistrationTimeout: "5m"}})
	waitRegistered(t, s.X1, s.X2)
	reachable(t, s.A, lab.HostB4, 10*time.Second)
	opsWaitEntry(t, s.X1, lab.Site2v4, 5*time.Second)
	tun := s.C1.TUNName()
	idx := opsLinkIndex(t, s.XTR1, tun)

	path := s.Dir + "/xtr1.toml"
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rloc := fmt.Sprintf("address = %q\npriority = 1\nweight = 100\n", s.RLOC1v4)
	if !strings.Contains(string(old), rloc) {
		t.Fatalf("premise: xtr1's configuration has no %q:\n%s", rloc, old)
	}
	next := strings.Replace(string(old), rloc, fmt.Sprintf("address = %q\npriority = 7\nweight = 40\n", s.RLOC1v4), 1)
	if err := os.WriteFile(path, []byte(next), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := s.X1.Reload(t.Context())
	if err != nil {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	if strings.Contains(out, "restarted") {
		t.Errorf("lispd reload says something restarted after a priority change:\n%s", out)
	}
	if got := opsLinkIndex(t, s.XTR1, tun); got != idx {
		t.Errorf("%s is ifindex %d after the reload, was %d: the xTR was rebuilt for a priority change", tun, got, idx)
	}
	if _, ok := opsEntry(opsMapCache(t, s.X1), lab.Site2v4); !ok {
		t.Errorf("the learned map-cache entry for %v is gone after a priority change", lab.Site2v4)
	}
	var rl admin.RLOCs
	opsShow(t, s.X1, &rl, "rlocs")
	found := false
	for _, r := range rl.RLOCs {
		if r.Address == s.RLOC1v4 {
			found = true
			if r.Priority != 7 || r.Weight != 40 {
				t.Errorf("show rlocs: %v priority %d weight %d, want 7 and 40", r.Address, r.Priority, r.Weight)
			}
		}
	}
	if !found {
		t.Errorf("show rlocs does not list %v: %+v", s.RLOC1v4, rl.RLOCs)
	}
	eventually(t, 3*time.Second, "the Map-Server has the new priority", func() error {
		var r admin.Registrations
		show(t, s.MS, &r, "registrations")
		for _, reg := range site(t, &r, "site1").Registrations {
			for _, l := range reg.RLOCs {
				if l.Address == s.RLOC1v4 && (l.Priority != 7 || l.Weight != 40) {
					return fmt.Errorf("%v registered %v with priority %d weight %d", reg.EID, l.Address, l.Priority, l.Weight)
				}
			}
		}
		return nil
	})

	// A data-plane key: the xTR restarts, and reload says so.
	mtu := regexp.MustCompile(`(?m)^mtu = \d+$`)
	if len(mtu.FindAllString(next, -1)) != 1 {
		t.Fatalf("premise: not one mtu key:\n%s", next)
	}
	if err := os.WriteFile(path, []byte(mtu.ReplaceAllString(next, "mtu = 1300")), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = s.X1.Reload(t.Context())
	if err != nil {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	if !strings.Contains(out, "xTR role restarted") || !strings.Contains(out, "map-cache flushed") || !strings.Contains(out, "mtu") {
		t.Errorf("lispd reload after an mtu change does not say the xTR restarted and its map-cache was flushed:\n%s", out)
	}
	t.Logf("lispd reload after an mtu change:\n%s", strings.TrimSpace(out))
}

// TestOpsReloadLimitsInPlace changes xTR1's map_cache_limit (to one
// entry more than its cache holds) and pending_packets: the reload must not
// rebuild the xTR (same TUN ifindex, the map-cache entry learned for site2
// stays), must say the keys were applied in place, and the cache must hold
// to the new limit: two static entries added past it evict a learned entry
// instead of growing the cache. A change of tun_offload then does restart
// the xTR (new TUN, learned entries gone), and `lispd reload` says so.
func TestOpsReloadLimitsInPlace(t *testing.T) {
	s := startControl(t, ctlOptions{
		ms: lab.MapServerConfig{RegistrationTimeout: "5m"},
		x1: lab.XTRConfig{TUNOffload: "auto", Extra: "map_cache_limit = 1000\npending_packets = 8"},
	})
	waitRegistered(t, s.X1, s.X2)
	reachable(t, s.A, lab.HostB4, 10*time.Second)
	mc := opsWaitEntry(t, s.X1, lab.Site2v4, 5*time.Second)
	tun := s.C1.TUNName()
	idx := opsLinkIndex(t, s.XTR1, tun)

	path := s.Dir + "/xtr1.toml"
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	limit := mc.Total + 1
	next := strings.Replace(string(old), "map_cache_limit = 1000\n", fmt.Sprintf("map_cache_limit = %d\n", limit), 1)
	next = strings.Replace(next, "pending_packets = 8\n", "pending_packets = 3\n", 1)
	if strings.Count(next, "map_cache_limit") != 1 || strings.Count(next, "pending_packets = 3") != 1 || strings.Count(next, `tun_offload = "auto"`) != 1 {
		t.Fatalf("premise: xtr1's configuration does not have the expected keys once each:\n%s", old)
	}
	if err := os.WriteFile(path, []byte(next), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := s.X1.Reload(t.Context())
	if err != nil {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	t.Logf("lispd reload after map_cache_limit and pending_packets changed:\n%s", strings.TrimSpace(out))
	if strings.Contains(out, "restarted") || !strings.Contains(out, "xtr.map_cache_limit, xtr.pending_packets applied in place") {
		t.Errorf("lispd reload does not say the limits were applied in place (or says something restarted):\n%s", out)
	}
	if got := opsLinkIndex(t, s.XTR1, tun); got != idx {
		t.Errorf("%s is ifindex %d after the reload, was %d: the xTR was rebuilt for a limit change", tun, got, idx)
	}
	mc = opsMapCache(t, s.X1)
	if _, ok := opsEntry(mc, lab.Site2v4); !ok || mc.Limit != limit {
		t.Fatalf("after the reload: entry for %v present %v, limit %d (want kept, %d): %+v", lab.Site2v4, ok, mc.Limit, limit, mc.Entries)
	}

	// The new limit holds: the second static entry evicts a learned one.
	statics := []netip.Prefix{netip.MustParsePrefix("198.51.100.192/27"), netip.MustParsePrefix("198.51.100.224/27")}
	for _, p := range statics {
		if b, err := exec.CommandContext(t.Context(), s.Bin, "map-cache", "add", p.String(), s.RLOC2v4.String(), "--socket", s.X1.Socket).CombinedOutput(); err != nil {
			t.Fatalf("map-cache add %v: %v\n%s", p, err, b)
		}
	}
	mc = opsMapCache(t, s.X1)
	learned := 0
	for _, e := range mc.Entries {
		if e.Origin != admin.OriginStatic {
			learned++
		}
	}
	if mc.Total != limit || learned != limit-len(statics) {
		t.Errorf("after adding %d static entries: %d entries (%d learned) under a limit of %d; want %d, %d: %+v",
			len(statics), mc.Total, learned, limit, limit, limit-len(statics), mc.Entries)
	}
	for _, p := range statics {
		if _, ok := opsEntry(mc, p); !ok {
			t.Errorf("static entry %v missing", p)
		}
	}

	// tun_offload needs a new TUN: the xTR restarts, and reload says so.
	next = strings.Replace(next, `tun_offload = "auto"`, `tun_offload = "off"`, 1)
	if err := os.WriteFile(path, []byte(next), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = s.X1.Reload(t.Context())
	if err != nil {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	t.Logf("lispd reload after tun_offload changed:\n%s", strings.TrimSpace(out))
	if !strings.Contains(out, "xTR role restarted (xtr.tun_offload changed)") || !strings.Contains(out, "map-cache flushed") {
		t.Errorf("lispd reload after a tun_offload change does not say the xTR restarted and its map-cache was flushed:\n%s", out)
	}
	if got := opsLinkIndex(t, s.XTR1, tun); got == idx {
		t.Errorf("%s kept ifindex %d over a tun_offload change: the TUN was not recreated", tun, got)
	}
	if e, ok := opsEntry(opsMapCache(t, s.X1), lab.Site2v4); ok {
		t.Errorf("the learned entry for %v survived a restart of the xTR: %+v", lab.Site2v4, e)
	}
}

// waitBothSitesRegistered waits until the Map-Server lists both prefixes
// of both sites.
func waitBothSitesRegistered(t *testing.T, s *ctlSetup) {
	t.Helper()
	eventually(t, 10*time.Second, "both sites register both prefixes", func() error {
		if r := msRegistered(t, s.MS); len(r["site1"]) != 2 || len(r["site2"]) != 2 {
			return fmt.Errorf("registered %v", r)
		}
		return nil
	})
}
