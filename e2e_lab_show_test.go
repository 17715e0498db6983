package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/admin"
	"github.com/lispd/lispd/testing/lab"
	"github.com/lispd/lispd/testing/netns"
)

// waitSocket waits until the daemon answers on its control socket, skipping
// (or failing with LISPD_E2E_REQUIRE=1) when it never does.
func waitSocket(t *testing.T, d *lab.Daemon) {
	t.Helper()
	deadline := time.Now().Add(8 * time.Second)
	for {
		err := admin.Call(d.Socket, admin.CmdShowStats, nil, nil)
		if err == nil {
			return
		}
		if d.Proc.Exited() || time.Now().After(deadline) {
			msg := "lispd " + d.Name + " does not answer on " + d.Socket + ": " + err.Error() + "\n" + d.Proc.Output()
			if os.Getenv("LISPD_E2E_REQUIRE") == "1" {
				t.Fatal(msg)
			}
			t.Skip("control socket or roles not wired into `lispd run` yet (LISPD_E2E_REQUIRE=1 makes this fail): " + msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// showJSON runs `lispd show WHAT --json` against d and decodes the view.
func showJSON(t *testing.T, d *lab.Daemon, v any, what ...string) {
	t.Helper()
	out, _, code := lispd(t, append(append([]string{"show"}, what...), "--json", "--socket", d.Socket)...)
	if code != 0 {
		t.Fatalf("show %v: exit %d\n%s", what, code, out)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("show %v --json: %v\n%s", what, err, out)
	}
}

// TestE2ELabShow runs a Map-Server and two xTRs in namespaces (root) and
// checks every show command, lig and map-cache add/del against what the
// lab set up.
func TestE2ELabShow(t *testing.T) {
	topo := netns.New(t) // skips without root (fails with CI=true)
	l, err := lab.Build(topo, lab.Options{Core: lab.CoreBridge})
	if err != nil {
		t.Fatal(err)
	}
	start := func(h *netns.Host, name, text string) *lab.Daemon {
		path, err := l.WriteConfig(name, text)
		if err != nil {
			t.Fatal(err)
		}
		d, err := l.StartLispd(h, name, lispdBin, path)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	extra := `register_interval = "2s"`
	ms := start(l.MS, "ms", l.MapServerTOML())
	waitSocket(t, ms)
	x1 := start(l.XTR1, "xtr1", l.XTRTOML(lab.XTRConfig{Side: 1, MapServer: true, Extra: extra}))
	x2 := start(l.XTR2, "xtr2", l.XTRTOML(lab.XTRConfig{Side: 2, MapServer: true, Extra: extra}))
	for _, d := range []*lab.Daemon{x1, x2} {
		if err := d.WaitTUN("lisp0", 8*time.Second); err != nil {
			if errors.Is(err, lab.ErrNotWired) && os.Getenv("LISPD_E2E_REQUIRE") != "1" {
				t.Skip(err)
			}
			t.Fatal(err)
		}
		waitSocket(t, d)
	}

	// Both sites register: the Map-Server lists them, the xTRs say registered.
	var regs admin.Registrations
	deadline := time.Now().Add(15 * time.Second)
	for {
		regs = admin.Registrations{}
		showJSON(t, ms, &regs, "registrations")
		n := 0
		for _, s := range regs.MapServer {
			n += len(s.Registrations)
		}
		if n == 4 { // two prefixes per site
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("registrations after 15 s: %+v", regs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(regs.MapServer) != 2 || regs.MapServer[0].Site != "site1" || regs.MapServer[1].Site != "site2" {
		t.Fatalf("sites %+v", regs.MapServer)
	}
	for i, s := range regs.MapServer {
		rloc := []string{l.RLOC1v4.String(), l.RLOC2v4.String()}[i]
		for _, r := range s.Registrations {
			if len(r.RLOCs) != 1 || r.RLOCs[0].Address.String() != rloc || r.RLOCs[0].Priority != 1 || r.RLOCs[0].Weight != 100 ||
				r.Source.Addr().String() != rloc || len(r.XTRID) != 32 || r.ExpiresIn <= 0 {
				t.Errorf("site %s registration %+v, want RLOC %s 1/100 with an xTR-ID", s.Site, r, rloc)
			}
		}
	}
	table, _, _ := lispd(t, "show", "registrations", "--socket", ms.Socket)
	if !strings.Contains(table, "Site site2, iid 0, key sha256, prefixes 198.51.100.128/25 2001:db8:2::/48: 2 registrations") {
		t.Errorf("registrations table:\n%s", table)
	}
	var xregs admin.Registrations
	showJSON(t, x1, &xregs, "registrations")
	if len(xregs.XTR) != 1 || xregs.XTR[0].MapServer != l.MSv4 || xregs.XTR[0].State != "registered" || xregs.XTR[0].LastNotify.IsZero() || xregs.MapServer != nil {
		t.Errorf("xtr1 registrations %+v", xregs)
	}

	// Traffic A -> B makes xTR1 learn site 2.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := l.A.CombinedOutput(ctx, "ping", "-c", "3", "-i", "0.2", "-W", "2", lab.HostB4.String()); err != nil {
		t.Fatalf("ping A -> B: %v\n%s", err, out)
	}
	var mc admin.MapCache
	showJSON(t, x1, &mc, "map-cache", lab.HostB4.String())
	if len(mc.Entries) != 1 {
		t.Fatalf("no entry for %v: %+v", lab.HostB4, mc)
	}
	e := mc.Entries[0]
	if e.EIDPrefix != lab.Site2v4 || e.State != admin.StateComplete || e.Origin != admin.OriginLearned || e.TTL != 86400 ||
		e.ExpiresIn == nil || *e.ExpiresIn <= 0 || e.Packets == 0 || len(e.RLOCs) != 1 ||
		e.RLOCs[0].Address != l.RLOC2v4 || !e.RLOCs[0].Up || e.RLOCs[0].Priority != 1 || e.RLOCs[0].Weight != 100 || e.RLOCs[0].Packets == 0 {
		t.Errorf("learned entry %+v", e)
	}
	table, _, _ = lispd(t, "show", "map-cache", "--socket", x1.Socket)
	if !strings.Contains(table, lab.Site2v4.String()+", iid 0, learned, complete") {
		t.Errorf("map-cache table:\n%s", table)
	}

	var st admin.Stats
	showJSON(t, x1, &st, "stats")
	for _, c := range []struct{ group, name string }{
		{admin.GroupDataPlane, "encap-packets"}, {admin.GroupDataPlane, "decap-packets"},
		{admin.GroupControlIn, "Map-Reply"}, {admin.GroupControlIn, "Map-Notify"},
		{admin.GroupControlOut, "Map-Register"}, {admin.GroupControlOut, "Encapsulated-Control-Message"},
	} {
		if v, ok := st.Get(c.group, c.name); !ok || v == 0 {
			t.Errorf("%s %s = %d, %v; want > 0", c.group, c.name, v, ok)
		}
	}

	var rl admin.RLOCs
	showJSON(t, x1, &rl, "rlocs")
	if len(rl.RLOCs) != 1 || rl.RLOCs[0].Address != l.RLOC1v4 || !rl.RLOCs[0].Up || rl.RLOCs[0].Priority != 1 || rl.RLOCs[0].Weight != 100 {
		t.Errorf("rlocs %+v", rl)
	}

	var cv admin.Config
	showJSON(t, x1, &cv, "config")
	if strings.Contains(cv.Text, lab.Site1Key) || !strings.Contains(cv.Text, "<redacted>") {
		t.Errorf("config not redacted:\n%s", cv.Text)
	}

	// lig from xTR1's namespace: the registered EID answered by xTR2, an
	// EID outside every site answered negatively by the Map-Resolver.
	out, err := l.XTR1.CombinedOutput(ctx, lispdBin, "lig", "-m", l.MSv4.String(), "-t", "3", lab.HostB4.String())
	if err != nil || !strings.Contains(out, "Received map-reply from "+l.RLOC2v4.String()) ||
		!strings.Contains(out, lab.Site2v4.String()+", record ttl: 1440, auth") {
		t.Errorf("lig %v: %v\n%s", lab.HostB4, err, out)
	}
	if got := row(t, out, l.RLOC2v4.String()); len(got) != 3 || got[1] != "up" && got[1] != "up, local" || got[2] != "1/100" {
		t.Errorf("lig locator row %q", got)
	}
	out, err = l.XTR1.CombinedOutput(ctx, lispdBin, "lig", "-m", l.MSv4.String(), "-t", "3", "2001:db8:3::1")
	if err != nil || !strings.Contains(out, "Received map-reply from "+l.MSv4.String()) ||
		!strings.Contains(out, "record ttl: 15, auth") || !strings.Contains(out, "Negative cache entry, action: Natively-Forward") {
		t.Errorf("lig 2001:db8:3::1: %v\n%s", err, out)
	}

	// map-cache add / del at run time.
	if out, errOut, code := lispd(t, "map-cache", "add", "2001:db8:3::/48", l.RLOC2v4.String()+",2,30", "--socket", x1.Socket); code != 0 {
		t.Fatalf("map-cache add: exit %d %s %s", code, out, errOut)
	}
	mc = admin.MapCache{} // decode afresh: Unmarshal keeps fields absent from the JSON
	showJSON(t, x1, &mc, "map-cache", "2001:db8:3::1")
	if len(mc.Entries) != 1 || mc.Entries[0].Origin != admin.OriginStatic || mc.Entries[0].EIDPrefix.String() != "2001:db8:3::/48" ||
		mc.Entries[0].RLOCs[0].Priority != 2 || mc.Entries[0].RLOCs[0].Weight != 30 || mc.Entries[0].ExpiresIn != nil {
		t.Errorf("added entry %+v", mc.Entries)
	}
	if out, errOut, code := lispd(t, "map-cache", "del", "2001:db8:3::/48", "--socket", x1.Socket); code != 0 || !strings.Contains(out, "deleted static entry 2001:db8:3::/48") {
		t.Errorf("map-cache del: exit %d %s %s", code, out, errOut)
	}
	mc = admin.MapCache{}
	showJSON(t, x1, &mc, "map-cache", "2001:db8:3::1")
	if len(mc.Entries) != 0 {
		t.Errorf("entry still there after del: %+v", mc.Entries)
	}
}
