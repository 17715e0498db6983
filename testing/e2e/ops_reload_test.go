package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/admin"
	"github.com/lispd/lispd/testing/lab"
)

// reloadApplied bounds how long a reload takes to show in the map-cache.
const reloadApplied = 5 * time.Second

// TestOpsReloadAddsStaticMapping starts both xTRs with no mapping for the
// other site (static mode, no Map-Server, no Map-Resolver): host A cannot
// reach host B. Then both configuration files gain the static mappings and
// the daemons re-read them, xTR1 on SIGHUP, xTR2 on `lispd reload`: A
// reaches B over both EID families, `show map-cache --json` lists the
// entries as static, and the TUN device is the same one (not rebuilt).
func TestOpsReloadAddsStaticMapping(t *testing.T) {
	s := opsStart(t, lab.XTRConfig{}, lab.XTRConfig{}, nil)
	opsPingFails(t, s.A, lab.HostB4)
	for _, x := range []struct {
		d    *lab.Daemon
		peer []netip.Prefix
	}{{s.X1, []netip.Prefix{lab.Site2v4, lab.Site2v6}}, {s.X2, []netip.Prefix{lab.Site1v4, lab.Site1v6}}} {
		mc := opsMapCache(t, x.d)
		for _, p := range x.peer {
			if e, ok := opsEntry(mc, p); ok {
				t.Fatalf("%s has an entry for %v before the reload: %+v", x.d.Name, p, e)
			}
		}
	}
	idx1, idx2 := opsLinkIndex(t, s.XTR1, "lisp0"), opsLinkIndex(t, s.XTR2, "lisp0")

	s.C1.Static, s.C2.Static = true, true
	if _, err := s.WriteConfig("xtr1", s.XTRTOML(s.C1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteConfig("xtr2", s.XTRTOML(s.C2)); err != nil {
		t.Fatal(err)
	}
	// xTR1: SIGHUP. Wait for its log to say so (a signal has no answer).
	before := strings.Count(s.X1.Log(), "reloaded")
	if err := s.X1.Proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	opsWaitLog(t, s.X1, "reloaded", before, reloadApplied)
	// xTR2: `lispd reload`, which answers.
	out, err := s.X2.Reload(t.Context())
	if err != nil {
		t.Fatalf("lispd reload on xtr2: %v\n%s", err, out)
	}
	if !strings.Contains(out, "reloaded "+s.Path2) {
		t.Errorf("lispd reload printed %q; want \"reloaded %s\"", strings.TrimSpace(out), s.Path2)
	}

	opsWaitEntry(t, s.X1, lab.Site2v4, reloadApplied)
	pingWorks(t, s.A, lab.HostB4)
	pingWorks(t, s.A, lab.HostB6)
	pingWorks(t, s.B, lab.HostA4)

	mc1 := opsMapCache(t, s.X1)
	e := opsCheckStatic(t, "xtr1", mc1, lab.Site2v4, s.RLOC2v4)
	if e.Packets == 0 {
		t.Errorf("xtr1: static entry %v counted no packets after the pings", lab.Site2v4)
	}
	opsCheckStatic(t, "xtr1", mc1, lab.Site2v6, s.RLOC2v4)
	mc2 := opsMapCache(t, s.X2)
	opsCheckStatic(t, "xtr2", mc2, lab.Site1v4, s.RLOC1v4)
	opsCheckStatic(t, "xtr2", mc2, lab.Site1v6, s.RLOC1v4)
	if table, err := s.X1.Show(t.Context(), "map-cache"); err != nil || !strings.Contains(table, lab.Site2v4.String()) || !strings.Contains(table, "static") {
		t.Errorf("show map-cache table on xtr1 (%v) does not list %v as static:\n%s", err, lab.Site2v4, table)
	}
	if got := opsLinkIndex(t, s.XTR1, "lisp0"); got != idx1 {
		t.Errorf("xtr1: lisp0 is ifindex %d after adding a static mapping, was %d: the reload rebuilt the data plane", got, idx1)
	}
	if got := opsLinkIndex(t, s.XTR2, "lisp0"); got != idx2 {
		t.Errorf("xtr2: lisp0 is ifindex %d after adding a static mapping, was %d: the reload rebuilt the data plane", got, idx2)
	}
}

// Bounds of TestOpsReloadKeepsForwarding.
const (
	// opsPingInterval is the continuous ping's interval (root may go
	// below 0.2 s).
	opsPingInterval = 50 * time.Millisecond
	// opsPingCount is how many echo requests the continuous ping sends:
	// 8 s of them, enough to cover both reloads with margin on each side.
	opsPingCount = 160
)

// TestOpsReloadKeepsForwarding pings host B from host A every 50 ms while
// both xTRs are asked to reload, first with a configuration holding a TOML
// syntax error (xTR1 through `lispd reload`, which must exit non-zero and
// print FILE:LINE:COL; xTR2 through SIGHUP, which must log the same), then
// with a valid one that changes only log_level and adds a static mapping
// for a third prefix. Not one echo request may be lost, the invalid file
// must change nothing (`show config`), the valid one must be applied
// (`show config`, `show map-cache`), and the TUN must not be rebuilt.
func TestOpsReloadKeepsForwarding(t *testing.T) {
	c := lab.XTRConfig{Static: true}
	s := opsStart(t, c, c, nil)
	pingWorks(t, s.A, lab.HostB4)
	idx1, idx2 := opsLinkIndex(t, s.XTR1, "lisp0"), opsLinkIndex(t, s.XTR2, "lisp0")

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	pinger, err := s.A.Start("ping", "-n", "-i", fmt.Sprint(opsPingInterval.Seconds()), "-W", "1",
		"-c", fmt.Sprint(opsPingCount), lab.HostB4.String())
	if err != nil {
		t.Fatal(err)
	}
	// And the other way, over IPv6 EIDs.
	pinger6, err := s.B.Start("ping", "-n", "-i", fmt.Sprint(opsPingInterval.Seconds()), "-W", "1",
		"-c", fmt.Sprint(opsPingCount), lab.HostA6.String())
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	time.Sleep(time.Second)

	// 1. A file with a syntax error on a known line.
	good1, good2 := s.XTRTOML(s.C1), s.XTRTOML(s.C2)
	broken := func(text string) (string, int) {
		lines := strings.SplitAfter(text, "\n")
		for i, l := range lines {
			if strings.HasPrefix(l, "[xtr]") {
				out := strings.Join(lines[:i+2], "") + "this line is not toml\n" + strings.Join(lines[i+2:], "")
				return out, i + 3 // 1-based line of the bad one
			}
		}
		t.Fatalf("no [xtr] table in the generated configuration:\n%s", text)
		return "", 0
	}
	bad1, line1 := broken(good1)
	bad2, line2 := broken(good2)
	if _, err := s.WriteConfig("xtr1", bad1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteConfig("xtr2", bad2); err != nil {
		t.Fatal(err)
	}
	out, err := s.X1.Reload(ctx)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 {
		t.Errorf("lispd reload with a syntax error on line %d: err %v, want a non-zero exit\n%s", line1, err, out)
	}
	if want := fmt.Sprintf("%s:%d:", s.Path1, line1); !strings.Contains(out, want) {
		t.Errorf("lispd reload with a syntax error: output does not name %q:\n%s", want, out)
	}
	t.Logf("lispd reload with a syntax error: exit %v:\n%s", err, strings.TrimSpace(out))
	// The same problems as `lispd check` prints for that file.
	check, _ := exec.CommandContext(ctx, s.Bin, "check", "-c", s.Path1).CombinedOutput()
	for l := range strings.SplitSeq(strings.TrimSpace(string(check)), "\n") {
		if strings.HasPrefix(l, s.Path1+":") && !strings.Contains(out, l) {
			t.Errorf("lispd check prints %q, lispd reload does not:\n%s", l, out)
		}
	}
	if !strings.Contains(string(check), fmt.Sprintf("%s:%d:", s.Path1, line1)) {
		t.Errorf("lispd check on the broken file does not name line %d either (the test's line count is off?):\n%s", line1, check)
	}
	refused := strings.Count(s.X2.Log(), "reload refused")
	if err := s.X2.Proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	opsWaitLog(t, s.X2, "reload refused", refused, reloadApplied)
	if want := fmt.Sprintf("%s:%d:", s.Path2, line2); !strings.Contains(s.X2.Log(), want) {
		t.Errorf("xtr2 refused the reload on SIGHUP but its log does not name %q:\n%s", want, opsTail(s.X2.Log(), 10))
	}
	for _, d := range []*lab.Daemon{s.X1, s.X2} {
		var cv admin.Config
		opsShow(t, d, &cv, "config")
		if !strings.Contains(cv.Text, `log_level = "debug"`) || strings.Contains(cv.Text, "not toml") {
			t.Errorf("%s: running configuration changed by a refused reload:\n%s", d.Name, cv.Text)
		}
	}
	time.Sleep(time.Second)

	// 2. A valid file changing nothing the data plane uses: log_level, a
	// static mapping for another prefix, and a control-plane timer (the
	// control plane restarts; forwarding must not notice).
	// A malformed control message first, so that xTR1 has a control-plane
	// counter to keep across the control plane's restart.
	if err := s.XTR2.Do(func() error {
		conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(s.RLOC1v4, 4342)))
		if err != nil {
			return err
		}
		defer conn.Close()
		_, err = conn.Write([]byte{0x10, 0, 0}) // a Map-Request cut after 3 bytes
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var malformed uint64
	eventually(t, 5*time.Second, "xtr1 counts the malformed control message", func() error {
		if malformed = counter(t, s.X1, admin.GroupControlDrops, "malformed"); malformed == 0 {
			return errors.New("control-plane drops: malformed 0")
		}
		return nil
	})
	third := netip.MustParsePrefix("2001:db8:3::/48")
	c.LogLevel = "info"
	c.Extra = `map_request_timeout = "2s"`
	c.Side = 1
	next1 := s.XTRTOML(c) + opsStaticTOML(third, s.RLOC2v4)
	c.Side = 2
	next2 := s.XTRTOML(c) + opsStaticTOML(third, s.RLOC1v4)
	if _, err := s.WriteConfig("xtr1", next1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteConfig("xtr2", next2); err != nil {
		t.Fatal(err)
	}
	if out, err := s.X1.Reload(ctx); err != nil {
		t.Fatalf("lispd reload with a valid configuration: %v\n%s", err, out)
	}
	reloaded := strings.Count(s.X2.Log(), "reloaded")
	if err := s.X2.Proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	opsWaitLog(t, s.X2, "reloaded", reloaded, reloadApplied)
	if !strings.Contains(s.X1.Log(), "restarting the control plane") {
		t.Errorf("xtr1: the reload did not restart the control plane, so it does not test that counters survive one:\n%s", opsTail(s.X1.Log(), 10))
	}
	if got := counter(t, s.X1, admin.GroupControlDrops, "malformed"); got < malformed {
		t.Errorf("xtr1: control-plane drops malformed %d after the reload, %d before: counters must count from the daemon's start", got, malformed)
	}
	if pinger.Exited() {
		t.Fatalf("the continuous ping ended (%v after its start) before the reloads were done; the test proves nothing", time.Since(started))
	}
	for _, x := range []struct {
		d    *lab.Daemon
		rloc netip.Addr
	}{{s.X1, s.RLOC2v4}, {s.X2, s.RLOC1v4}} {
		opsCheckStatic(t, x.d.Name, opsWaitEntry(t, x.d, third, reloadApplied), third, x.rloc)
		var cv admin.Config
		opsShow(t, x.d, &cv, "config")
		if !strings.Contains(cv.Text, `log_level = "info"`) {
			t.Errorf("%s: log_level not applied by the reload:\n%s", x.d.Name, cv.Text)
		}
	}

	for _, p := range []struct {
		name string
		proc interface {
			Done() <-chan struct{}
			Output() string
		}
	}{{"A→B (IPv4)", pinger}, {"B→A (IPv6)", pinger6}} {
		select {
		case <-p.proc.Done():
		case <-ctx.Done():
			t.Fatalf("the continuous ping %s did not end", p.name)
		}
		sent, recv := opsPingSummary(t, p.proc.Output())
		t.Logf("continuous ping %s every %v across a refused and an applied reload on both xTRs: %d sent, %d lost",
			p.name, opsPingInterval, sent, sent-recv)
		if sent != opsPingCount {
			t.Errorf("ping %s sent %d echo requests, want %d", p.name, sent, opsPingCount)
		}
		if recv != sent {
			t.Errorf("ping %s: %d of %d echo requests lost across the reloads; want none:\n%s", p.name, sent-recv, sent, opsTail(p.proc.Output(), 10))
		}
	}
	if got := opsLinkIndex(t, s.XTR1, "lisp0"); got != idx1 {
		t.Errorf("xtr1: lisp0 is ifindex %d after the reloads, was %d: the data plane was rebuilt", got, idx1)
	}
	if got := opsLinkIndex(t, s.XTR2, "lisp0"); got != idx2 {
		t.Errorf("xtr2: lisp0 is ifindex %d after the reloads, was %d: the data plane was rebuilt", got, idx2)
	}
}

// TestOpsReloadUnapplicableKeepsRunning asks xTR1 to reload a
// configuration that passes validation but cannot be applied on this
// router: its only RLOC, 192.0.2.99, is not an address of xTR1, so the
// data plane cannot bind its send sockets to it. `lispd reload` must fail
// (non-zero exit, saying why), and, as for an invalid file, the running
// configuration must keep running: the TUN stays, host A still reaches
// host B, and `show config` still shows the old RLOC.
func TestOpsReloadUnapplicableKeepsRunning(t *testing.T) {
	s := opsStart(t, lab.XTRConfig{Static: true}, lab.XTRConfig{Static: true}, nil)
	pingWorks(t, s.A, lab.HostB4)
	foreign := netip.MustParseAddr("192.0.2.99")
	good := s.XTRTOML(s.C1)
	own := fmt.Sprintf("address = %q", s.RLOC1v4)
	if strings.Count(good, own) != 1 {
		t.Fatalf("expected one %s in xtr1's configuration:\n%s", own, good)
	}
	bad := strings.Replace(good, own, fmt.Sprintf("address = %q", foreign), 1)
	if _, err := s.WriteConfig("xtr1", bad); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.CommandContext(t.Context(), s.Bin, "check", "-c", s.Path1).CombinedOutput(); err != nil {
		t.Fatalf("lispd check refuses the unapplicable configuration, so this test does not test what it says: %v\n%s", err, out)
	}
	out, err := s.X1.Reload(t.Context())
	t.Logf("lispd reload with an RLOC that is not local: %v\n%s", err, strings.TrimSpace(out))
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 {
		t.Errorf("lispd reload of a configuration whose RLOC %v is not local: err %v, want a non-zero exit", foreign, err)
	}
	if s.X1.Proc.Exited() {
		t.Fatalf("lispd exited after the failed reload: %v\n%s", s.X1.Proc.Wait(), opsTail(s.X1.Log(), 15))
	}
	if !s.XTR1.HasLink("lisp0") {
		t.Errorf("xtr1: lisp0 is gone after a reload that could not be applied; the old configuration should keep running\n%s", opsTail(s.X1.Log(), 15))
	}
	if _, sent, recv := ping(t, s.A, lab.HostB4, "-c", "5", "-i", "0.1", "-W", "1"); recv != sent {
		t.Errorf("A → B: %d of %d answered after a reload that could not be applied; the old configuration should keep forwarding\n%s",
			recv, sent, opsTail(s.X1.Log(), 15))
	}
	var cv admin.Config
	opsShow(t, s.X1, &cv, "config")
	if strings.Contains(cv.Text, foreign.String()) {
		t.Errorf("xtr1: show config shows the configuration that could not be applied (RLOC %v) as the running one:\n%s", foreign, cv.Text)
	}
}
