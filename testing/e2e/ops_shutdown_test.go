package e2e

import (
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lispd/lispd/testing/lab"
	"github.com/lispd/lispd/testing/netns"
)

// opsStopLimit is how long lispd may take to exit after SIGTERM (issue 5).
const opsStopLimit = 2 * time.Second

// opsNetState is what `ip` shows of a namespace's links, routes (every
// table) and policy rules, a line each.
type opsNetState struct {
	links, routes, rules []string
}

func opsSnapshot(t *testing.T, h *netns.Host) opsNetState {
	t.Helper()
	get := func(args ...string) []string {
		out, err := h.Output(t.Context(), append([]string{"ip"}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for l := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				lines = append(lines, l)
			}
		}
		slices.Sort(lines)
		return lines
	}
	var links []string
	for _, l := range get("-o", "link", "show") {
		// "3: lisp0: <...> ..." → "lisp0"
		if f := strings.Fields(l); len(f) > 1 {
			links = append(links, strings.TrimSuffix(strings.SplitN(f[1], "@", 2)[0], ":"))
		}
	}
	slices.Sort(links)
	// Link-local routes come and go with IPv6 duplicate address detection
	// and cached routes with traffic: leave them out of the comparison.
	var routes []string
	for _, r := range append(get("-4", "route", "show", "table", "all"), get("-6", "route", "show", "table", "all")...) {
		if !strings.Contains(r, "fe80:") && !strings.Contains(r, " cache") {
			routes = append(routes, r)
		}
	}
	return opsNetState{
		links:  links,
		routes: routes,
		rules:  append(get("-4", "rule", "show"), get("-6", "rule", "show")...),
	}
}

// opsMentions returns the lines of ls that contain any of subs.
func opsMentions(ls []string, subs ...string) []string {
	var out []string
	for _, l := range ls {
		for _, s := range subs {
			if strings.Contains(l, s) {
				out = append(out, l)
				break
			}
		}
	}
	return out
}

// opsMissing returns the lines of want that got lacks.
func opsMissing(want, got []string) []string {
	var out []string
	for _, l := range want {
		if !slices.Contains(got, l) {
			out = append(out, l)
		}
	}
	return out
}

// TestOpsShutdown sends SIGTERM to xTR1's lispd while traffic flows: it
// must exit with status 0 within 2 s, and leave xTR1's namespace as it was
// before it started: no TUN device, no route in any table into the TUN or
// for eid_space, no policy rule of its own (ip link / ip route show table
// all / ip rule, compared line by line with a snapshot taken before the
// daemon started). The second case first reloads a configuration that
// changes data-plane keys (TUN name and MTU), so that the data plane is
// rebuilt: the old TUN must go at once, the rules must not pile up, and
// SIGTERM must then remove the new TUN and its routes as well.
func TestOpsShutdown(t *testing.T) {
	for _, c := range []struct {
		name    string
		rebuild bool
	}{{"Running", false}, {"AfterDataPlaneRebuild", true}} {
		t.Run(c.name, func(t *testing.T) { opsShutdown(t, c.rebuild) })
	}
}

func opsShutdown(t *testing.T, rebuild bool) {
	var pre opsNetState
	s := opsStart(t, lab.XTRConfig{Static: true}, lab.XTRConfig{Static: true}, func(s *opsLab) {
		pre = opsSnapshot(t, s.XTR1)
	})
	pingWorks(t, s.A, lab.HostB4)
	tun := s.C1.TUNName()
	space := []string{tun}
	for _, p := range lab.EIDSpace {
		space = append(space, p.String())
	}

	// While it runs, the daemon's TUN, routes and rules are there: the
	// comparison after the stop can fail.
	run := opsSnapshot(t, s.XTR1)
	if !slices.Contains(run.links, tun) {
		t.Fatalf("xtr1: no %s among the links while lispd runs: %v", tun, run.links)
	}
	for _, p := range lab.EIDSpace {
		if len(opsMentions(run.routes, p.String())) == 0 {
			t.Errorf("xtr1: no route for eid_space %v while lispd runs:\n%s", p, strings.Join(run.routes, "\n"))
		}
	}
	if added := opsMissing(run.rules, pre.rules); len(added) == 0 {
		t.Logf("xtr1: lispd added no policy rule (routes only)")
	} else {
		t.Logf("xtr1: policy rules lispd added: %q", added)
	}

	if rebuild {
		old := tun
		s.C1.TUN, s.C1.MTU = "lisp1", 1400
		tun = s.C1.TUNName()
		space = append(space, tun)
		if _, err := s.WriteConfig("xtr1", s.XTRTOML(s.C1)); err != nil {
			t.Fatal(err)
		}
		n := strings.Count(s.X1.Log(), "reloaded")
		if err := s.X1.Proc.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		opsWaitLog(t, s.X1, "reloaded", n, reloadApplied)
		pingWorks(t, s.A, lab.HostB4)
		rb := opsSnapshot(t, s.XTR1)
		if slices.Contains(rb.links, old) || !slices.Contains(rb.links, tun) {
			t.Errorf("xtr1: links %v after the reload from %s to %s", rb.links, old, tun)
		}
		if left := opsMentions(rb.routes, old); len(left) > 0 {
			t.Errorf("xtr1: routes into the old %s left after the data plane was rebuilt:\n%s", old, strings.Join(left, "\n"))
		}
		if !slices.Equal(rb.rules, run.rules) {
			t.Errorf("xtr1: policy rules after the data plane was rebuilt differ from the first ones:\nfirst:\n%s\nnow:\n%s",
				strings.Join(run.rules, "\n"), strings.Join(rb.rules, "\n"))
		}
		if mtu, err := s.XTR1.LinkMTU(tun); err != nil || mtu != 1400 {
			t.Errorf("xtr1: %s MTU %d (%v), want 1400 from the reloaded configuration", tun, mtu, err)
		}
	}

	pinger, err := s.A.Start("ping", "-n", "-i", "0.05", lab.HostB4.String())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	sent := time.Now()
	if err := s.X1.Proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.X1.Proc.Done():
	case <-time.After(opsStopLimit + 3*time.Second):
	}
	took := time.Since(sent)
	if !s.X1.Proc.Exited() {
		t.Fatalf("lispd still running %v after SIGTERM (limit %v)\n%s", took, opsStopLimit, opsTail(s.X1.Log(), 10))
	}
	t.Logf("lispd exited %v after SIGTERM: %v", took.Round(time.Millisecond), s.X1.Proc.Wait())
	if took > opsStopLimit {
		t.Errorf("lispd took %v to exit after SIGTERM; limit %v", took, opsStopLimit)
	}
	if err := s.X1.Proc.Wait(); err != nil {
		t.Errorf("lispd exited with %v after SIGTERM; want status 0\n%s", err, opsTail(s.X1.Log(), 10))
	}
	_ = pinger.Signal(syscall.SIGINT)

	post := opsSnapshot(t, s.XTR1)
	if slices.Contains(post.links, tun) {
		t.Errorf("xtr1: %s still exists after lispd exited: %v", tun, post.links)
	}
	if left := opsMentions(post.routes, space...); len(left) > 0 {
		t.Errorf("xtr1: routes into %s or for eid_space left after lispd exited:\n%s", tun, strings.Join(left, "\n"))
	}
	if extra := opsMissing(post.routes, pre.routes); len(extra) > 0 {
		t.Errorf("xtr1: routes that were not there before lispd started:\n%s", strings.Join(extra, "\n"))
	}
	if gone := opsMissing(pre.routes, post.routes); len(gone) > 0 {
		t.Errorf("xtr1: routes that were there before lispd started and are gone:\n%s", strings.Join(gone, "\n"))
	}
	if !slices.Equal(pre.rules, post.rules) {
		t.Errorf("xtr1: policy rules differ from before lispd started:\nbefore:\n%s\nafter:\n%s",
			strings.Join(pre.rules, "\n"), strings.Join(post.rules, "\n"))
	}
	if !slices.Equal(pre.links, post.links) {
		t.Errorf("xtr1: links %v after lispd exited, %v before it started", post.links, pre.links)
	}
	if log := s.X1.Log(); !strings.Contains(log, "stopped") {
		t.Errorf("xtr1: lispd's log does not say it stopped:\n%s", opsTail(log, 10))
	}
}
