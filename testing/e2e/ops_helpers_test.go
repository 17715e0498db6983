package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/admin"
	"github.com/lispd/lispd/testing/lab"
	"github.com/lispd/lispd/testing/netns"
)

// Operations end-to-end tests (issue 5): reload, malformed floods,
// shutdown. Each test builds its own lab (host A — xTR1 — core router —
// xTR2 — host B) and drives real lispd daemons through signals, the
// control socket (`lispd show --json`, `lispd reload`) and their logs.

// opsSocketWait bounds how long a daemon gets to answer on its control
// socket once its TUN is up.
const opsSocketWait = 5 * time.Second

// opsLab is a lab with lispd running on both xTRs.
type opsLab struct {
	*lab.Lab
	Bin          string
	X1, X2       *lab.Daemon
	C1, C2       lab.XTRConfig
	Path1, Path2 string // the daemons' configuration files
}

// opsStart builds a CoreRouter lab, runs before (if set) once the
// namespaces exist, starts lispd on both xTRs with c1 and c2 (Side is set
// here) and waits for their TUNs and control sockets.
func opsStart(t *testing.T, c1, c2 lab.XTRConfig, before func(*opsLab)) *opsLab {
	t.Helper()
	skipIfNotWired(t)
	topo := netns.New(t) // skips without root before building anything
	bin := lispdBinary(t)
	l, err := lab.Build(topo, lab.Options{Core: lab.CoreRouter})
	if err != nil {
		t.Fatal(err)
	}
	c1.Side, c2.Side = 1, 2
	s := &opsLab{Lab: l, Bin: bin, C1: c1, C2: c2}
	if s.Path1, err = l.WriteConfig("xtr1", l.XTRTOML(c1)); err != nil {
		t.Fatal(err)
	}
	if s.Path2, err = l.WriteConfig("xtr2", l.XTRTOML(c2)); err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(s)
	}
	if s.X1, err = l.StartLispd(l.XTR1, "xtr1", bin, s.Path1); err != nil {
		t.Fatal(err)
	}
	if s.X2, err = l.StartLispd(l.XTR2, "xtr2", bin, s.Path2); err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		d *lab.Daemon
		c lab.XTRConfig
	}{{s.X1, c1}, {s.X2, c2}} {
		if err := x.d.WaitTUN(x.c.TUNName(), upTimeout); err != nil {
			if errors.Is(err, lab.ErrNotWired) {
				notWired(t, err)
			}
			t.Fatal(err)
		}
		opsWaitSocket(t, x.d)
	}
	return s
}

// opsWaitSocket waits until d answers `lispd show stats --json`.
func opsWaitSocket(t *testing.T, d *lab.Daemon) {
	t.Helper()
	deadline := time.Now().Add(opsSocketWait)
	for {
		var st admin.Stats
		err := d.ShowJSON(t.Context(), &st, "stats")
		if err == nil {
			return
		}
		if d.Proc.Exited() || time.Now().After(deadline) {
			t.Fatalf("lispd %s does not answer on its control socket: %v\n%s", d.Name, err, opsTail(d.Log(), 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// opsShow runs `lispd show ARGS --json` against d and decodes it into v,
// which should be a fresh value (json.Unmarshal keeps absent fields).
func opsShow(t *testing.T, d *lab.Daemon, v any, args ...string) {
	t.Helper()
	if err := d.ShowJSON(t.Context(), v, args...); err != nil {
		t.Fatal(err)
	}
}

// opsStats returns d's `show stats --json`.
func opsStats(t *testing.T, d *lab.Daemon) *admin.Stats {
	t.Helper()
	st := &admin.Stats{}
	opsShow(t, d, st, "stats")
	return st
}

// opsCounter returns one counter of st, failing the test when `show
// stats` does not have it.
func opsCounter(t *testing.T, st *admin.Stats, group, name string) uint64 {
	t.Helper()
	v, ok := st.Get(group, name)
	if !ok {
		t.Fatalf("show stats has no counter %q in group %q", name, group)
	}
	return v
}

// opsMapCache returns d's whole map-cache.
func opsMapCache(t *testing.T, d *lab.Daemon) admin.MapCache {
	t.Helper()
	var mc admin.MapCache
	opsShow(t, d, &mc, "map-cache")
	return mc
}

// opsEntry returns the map-cache entry of exactly prefix p, if any.
func opsEntry(mc admin.MapCache, p netip.Prefix) (admin.MapCacheEntry, bool) {
	for _, e := range mc.Entries {
		if e.EIDPrefix == p {
			return e, true
		}
	}
	return admin.MapCacheEntry{}, false
}

// opsCheckStatic checks that mc holds a complete static entry for p whose
// only locator is rloc, priority 1, weight 100, up, never expiring.
func opsCheckStatic(t *testing.T, who string, mc admin.MapCache, p netip.Prefix, rloc netip.Addr) admin.MapCacheEntry {
	t.Helper()
	e, ok := opsEntry(mc, p)
	if !ok {
		t.Errorf("%s: no map-cache entry for %v after the reload: %+v", who, p, mc.Entries)
		return e
	}
	if e.Origin != admin.OriginStatic || e.State != admin.StateComplete || e.InstanceID != 0 || e.ExpiresIn != nil || e.TTL != 0 {
		t.Errorf("%s: entry %v is origin %q state %q iid %d ttl %d expires %v; want a static complete entry in iid 0 that never expires",
			who, p, e.Origin, e.State, e.InstanceID, e.TTL, e.ExpiresIn)
	}
	if len(e.RLOCs) != 1 || e.RLOCs[0].Address != rloc || e.RLOCs[0].Priority != 1 || e.RLOCs[0].Weight != 100 || !e.RLOCs[0].Up {
		t.Errorf("%s: entry %v has locators %+v; want only %v, priority 1, weight 100, up", who, p, e.RLOCs, rloc)
	}
	return e
}

// opsWaitEntry polls d's map-cache until it has an entry for exactly p.
func opsWaitEntry(t *testing.T, d *lab.Daemon, p netip.Prefix, within time.Duration) admin.MapCache {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		mc := opsMapCache(t, d)
		if _, ok := opsEntry(mc, p); ok {
			return mc
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no map-cache entry for %v within %v: %+v\nlog:\n%s", d.Name, p, within, mc.Entries, opsTail(d.Log(), 15))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// opsWaitLog waits until d's log holds more than n lines containing s and
// returns how many it holds.
func opsWaitLog(t *testing.T, d *lab.Daemon, s string, n int, within time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if c := strings.Count(d.Log(), s); c > n {
			return c
		}
		if d.Proc.Exited() || time.Now().After(deadline) {
			t.Fatalf("%s: no new log line with %q within %v (exited: %v); log:\n%s", d.Name, s, within, d.Proc.Exited(), opsTail(d.Log(), 15))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// opsLinkIndex returns the interface index of dev in h.
func opsLinkIndex(t *testing.T, h *netns.Host, dev string) int {
	t.Helper()
	out, err := h.Output(t.Context(), "cat", "/sys/class/net/"+dev+"/ifindex")
	if err != nil {
		t.Fatal(err)
	}
	i, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("%s: ifindex of %s: %v", h, dev, err)
	}
	return i
}

// opsPingSummary parses ping's "N packets transmitted, M received".
func opsPingSummary(t *testing.T, out string) (sent, recv int) {
	t.Helper()
	m := receivedRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("ping output has no summary:\n%s", opsTail(out, 20))
	}
	sent, _ = strconv.Atoi(m[1])
	recv, _ = strconv.Atoi(m[2])
	return sent, recv
}

// opsPingFails requires that no echo request from h to dst is answered.
func opsPingFails(t *testing.T, h *netns.Host, dst netip.Addr) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	out, _ := h.CombinedOutput(ctx, "ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", dst.String())
	if sent, recv := opsPingSummary(t, out); sent == 0 || recv != 0 {
		t.Fatalf("%s → %s: %d of %d answered before any mapping exists; the lab leaks EID routes", h, dst, recv, sent)
	}
}

// opsTail returns the last n lines of s.
func opsTail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// opsStaticTOML is a [[xtr.map_cache]] entry mapping p to rloc.
func opsStaticTOML(p netip.Prefix, rloc netip.Addr) string {
	return fmt.Sprintf("\n[[xtr.map_cache]]\neid_prefix = %q\nrlocs = [{ address = %q, priority = 1, weight = 100 }]\n", p.String(), rloc.String())
}
