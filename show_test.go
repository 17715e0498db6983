package main

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lispd/lispd/conf"
	"github.com/lispd/lispd/ctl/admin"
	"github.com/lispd/lispd/internal/jsonx"
)

// capture runs a command in-process with stdout and stderr captured.
func capture(t *testing.T, run func([]string) int, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	oldOut, oldErr := stdout, stderr
	stdout, stderr = &out, &errb
	defer func() { stdout, stderr = oldOut, oldErr }()
	code := run(args)
	return out.String(), errb.String(), code
}

func i64(v int64) *int64 { return &v }

// Fixed views the fake daemon serves.
var (
	snapTime = time.Date(2026, 11, 24, 21, 0, 0, 0, time.UTC)

	testMapCache = admin.MapCache{Limit: 10000, Total: 2, Entries: []admin.MapCacheEntry{
		{
			EIDPrefix: netip.MustParsePrefix("198.51.100.0/25"), State: admin.StateComplete, Origin: admin.OriginLearned,
			TTL: 86400, Age: i64(62), ExpiresIn: i64(86338), Idle: i64(1), Packets: 12, Bytes: 3400,
			RLOCs: []admin.MapCacheRLOC{
				{Address: netip.MustParseAddr("192.0.2.2"), Priority: 1, Weight: 60, Up: true, Packets: 12, Bytes: 3400},
				{Address: netip.MustParseAddr("2001:db8::2"), Priority: 2, Weight: 40, Up: false, Reason: "unreachable"},
			},
		},
		{
			EIDPrefix: netip.MustParsePrefix("203.0.113.0/24"), InstanceID: 7, State: admin.StateNegative, Action: "drop",
			Origin: admin.OriginStatic, RLOCs: []admin.MapCacheRLOC{},
		},
	}}

	testRegistrations = admin.Registrations{
		Time: snapTime,
		XTR: []admin.MapServerState{{
			MapServer: netip.MustParseAddr("192.0.2.10"), KeyType: "sha256", WantMapNotify: true, State: "registered",
			Registers: 3, Notifies: 3, Unsolicited: 1, LastRegister: snapTime.Add(-5 * time.Second),
		}, {
			MapServer: netip.MustParseAddr("192.0.2.11"), KeyType: "sha1", WantMapNotify: true, State: "failed",
			Reason: "no Map-Notify", Registers: 4,
		}},
		MapServer: []admin.SiteState{{
			Site: "branch1", KeyType: "sha256", Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/25")},
			Registrations: []admin.Registration{{
				EID: netip.MustParsePrefix("198.51.100.0/25"), Source: netip.MustParseAddrPort("192.0.2.1:4342"),
				RLOCs: []admin.RegisteredRLOC{{Address: netip.MustParseAddr("192.0.2.1"), Priority: 1, Weight: 100, Reachable: true}},
				XTRID: "00112233445566778899aabbccddeeff", SiteID: "000000000000002a", TTL: 86400,
				LastSeen: snapTime.Add(-20 * time.Second), ExpiresIn: 160,
			}},
		}, {
			Site: "branch2", InstanceID: 3, KeyType: "sha1", Prefixes: []netip.Prefix{netip.MustParsePrefix("2001:db8:2::/48")},
			Registrations: []admin.Registration{},
		}},
	}

	testRLOCs = admin.RLOCs{RLOCs: []admin.LocalRLOC{
		{Interface: "eth1", Address: netip.MustParseAddr("192.0.2.1"), Up: true, Priority: 1, Weight: 100},
		{Interface: "wwan0", Up: false, Reason: "no address", Priority: 2, Weight: 50},
		{Address: netip.MustParseAddr("2001:db8::1"), Up: true, Priority: 1, Weight: 100,
			NAT: &admin.NATState{Discovered: true, BehindNAT: true, Public: netip.MustParseAddrPort("203.0.113.9:61000"), RTR: netip.MustParseAddr("192.0.2.20")}},
	}}

	testRTR = admin.RTR{Time: snapTime, Enabled: true, Bindings: []admin.RTRBinding{{
		EID: netip.MustParsePrefix("198.51.100.0/25"), InstanceID: 3, XTRID: "00112233445566778899aabbccddeeff", SiteID: "000000000000002a",
		Public: netip.MustParseAddrPort("203.0.113.9:61000"), Private: netip.MustParseAddr("10.0.0.2"), MapServer: netip.MustParseAddr("192.0.2.10"),
		Verified: true, Rebinds: 1, LastSeen: snapTime.Add(-7 * time.Second), ExpiresIn: 173,
	}, {
		EID: netip.MustParsePrefix("2001:db8:1::/48"), XTRID: "ffeeddccbbaa99887766554433221100", SiteID: "0000000000000000",
		Public: netip.MustParseAddrPort("203.0.113.9:4341"), Private: netip.MustParseAddr("10.0.0.3"), MapServer: netip.MustParseAddr("192.0.2.10"),
		LastSeen: snapTime.Add(-1 * time.Second), ExpiresIn: 179,
	}}}

	testStats = admin.Stats{Groups: []admin.CounterGroup{
		{Name: admin.GroupDataPlane, Counters: []admin.Counter{{Name: "encap-packets", Value: 1234}, {Name: "encap-bytes", Value: 99999}}},
		{Name: admin.GroupDataDrops, Counters: []admin.Counter{{Name: "malformed", Value: 5}, {Name: "no-mapping", Value: 2}}},
		{Name: admin.GroupControlIn, Counters: []admin.Counter{{Name: "Map-Reply", Value: 4}, {Name: "Map-Notify", Value: 0}}},
	}, KernelPath: &admin.KernelPath{State: "fallback", Reason: "no TCX"},
		TUNPath: &admin.TUNPath{State: "plain", Reason: "tun_offload = off"}}

	testConfig = admin.Config{Path: "/etc/lispd/lispd.toml", Text: "log_level = \"info\"\n[[xtr.map_server]]\nkey = \"<redacted>\"\n"}
)

// fakeDaemon serves the fixed views on a socket in a temporary directory
// and records the arguments of each call.
type fakeDaemon struct {
	path string
	mu   sync.Mutex
	args map[string]jsonx.RawMessage
}

func (f *fakeDaemon) lastArgs(cmd string) jsonx.RawMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.args[cmd]
}

func startFakeDaemon(t *testing.T) *fakeDaemon {
	t.Helper()
	f := &fakeDaemon{path: filepath.Join(t.TempDir(), "lispd.sock"), args: map[string]jsonx.RawMessage{}}
	srv, err := admin.Listen(f.path)
	if err != nil {
		t.Fatal(err)
	}
	record := func(cmd string, fn func(jsonx.RawMessage) (any, error)) {
		srv.Handle(cmd, func(args jsonx.RawMessage) (any, error) {
			f.mu.Lock()
			f.args[cmd] = append(jsonx.RawMessage(nil), args...)
			f.mu.Unlock()
			return fn(args)
		})
	}
	record(admin.CmdShowMapCache, func(args jsonx.RawMessage) (any, error) {
		var q admin.MapCacheQuery
		if err := json.Unmarshal(args, &q); err != nil {
			return nil, err
		}
		if q.EID == "" {
			return testMapCache, nil
		}
		iid := uint32(0)
		if q.InstanceID != nil {
			iid = *q.InstanceID
		}
		v := admin.MapCache{Limit: testMapCache.Limit, Total: testMapCache.Total, Entries: []admin.MapCacheEntry{}, InstanceID: &iid}
		p, err := netip.ParsePrefix(q.EID)
		if err != nil {
			a := netip.MustParseAddr(q.EID)
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if e := testMapCache.Entries[0]; e.EIDPrefix.Bits() <= p.Bits() && e.EIDPrefix.Contains(p.Addr()) {
			v.Entries = append(v.Entries, e)
		}
		return v, nil
	})
	record(admin.CmdShowRegistrations, func(jsonx.RawMessage) (any, error) { return testRegistrations, nil })
	record(admin.CmdShowRLOCs, func(jsonx.RawMessage) (any, error) { return testRLOCs, nil })
	record(admin.CmdShowRTR, func(jsonx.RawMessage) (any, error) { return testRTR, nil })
	record(admin.CmdShowStats, func(jsonx.RawMessage) (any, error) { return testStats, nil })
	record(admin.CmdShowConfig, func(jsonx.RawMessage) (any, error) { return testConfig, nil })
	record(admin.CmdReload, func(jsonx.RawMessage) (any, error) {
		_, err := conf.Parse("/etc/lispd/lispd.toml", []byte("log_level = \"loud\"\n[xtr]\nmtu = \"big\"\n"))
		return nil, err
	})
	record(admin.CmdMapCacheAdd, func(args jsonx.RawMessage) (any, error) {
		var a admin.MapCacheAddArgs
		if err := json.Unmarshal(args, &a); err != nil {
			return nil, err
		}
		if _, err := a.Spec(0); err != nil {
			return nil, err
		}
		e := admin.MapCacheEntry{EIDPrefix: a.EIDPrefix, State: admin.StateComplete, Origin: admin.OriginStatic, Action: a.Action}
		for _, l := range a.RLOCs {
			e.RLOCs = append(e.RLOCs, admin.MapCacheRLOC{Address: l.Address, Priority: l.Priority, Weight: l.Weight, Up: true})
		}
		return e, nil
	})
	record(admin.CmdMapCacheDel, func(args jsonx.RawMessage) (any, error) {
		var a admin.MapCacheDelArgs
		if err := json.Unmarshal(args, &a); err != nil {
			return nil, err
		}
		return admin.MapCacheDelResult{Deleted: admin.MapCacheEntry{EIDPrefix: a.EIDPrefix, Origin: admin.OriginStatic}}, nil
	})
	done := make(chan struct{})
	go func() { srv.Serve(); close(done) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return f
}

// row returns the line whose fields start with first, split into columns
// (runs of two or more spaces separate columns).
func row(t *testing.T, out, first string) []string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		cols := columns(line)
		if len(cols) > 0 && cols[0] == first {
			return cols
		}
	}
	t.Fatalf("no row starting with %q in:\n%s", first, out)
	return nil
}

func columns(line string) []string {
	var cols []string
	for _, c := range strings.Split(strings.TrimSpace(line), "  ") {
		if c = strings.TrimSpace(c); c != "" {
			cols = append(cols, c)
		}
	}
	return cols
}

// checkAligned checks that in the lines starting with each of firsts, the
// column texts cols start at the same offset as in the header line.
func checkAligned(t *testing.T, out, header string, cells map[string]string) {
	t.Helper()
	lines := strings.Split(out, "\n")
	var hdr string
	for _, l := range lines {
		if strings.Contains(l, header) {
			hdr = l
			break
		}
	}
	if hdr == "" {
		t.Fatalf("no header %q in:\n%s", header, out)
	}
	for heading, cell := range cells {
		want := strings.Index(hdr, heading)
		found := false
		for _, l := range lines {
			if i := strings.Index(l, cell); i >= 0 && l != hdr {
				found = true
				if i != want {
					t.Errorf("%q starts at column %d, its heading %q at %d:\n%s", cell, i, heading, want, out)
				}
				break
			}
		}
		if !found {
			t.Errorf("no cell %q in:\n%s", cell, out)
		}
	}
}

func TestShowMapCacheTable(t *testing.T) {
	f := startFakeDaemon(t)
	out, errOut, code := capture(t, runShow, "map-cache", "--socket", f.path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "LISP map-cache: 2 entries (1 complete, 1 negative, 0 pending), limit 10000") {
		t.Errorf("no totals line:\n%s", out)
	}
	if !strings.Contains(out, "198.51.100.0/25, iid 0, learned, complete, uptime 00:01:02, expires 23:58:58, idle 00:00:01, ttl 1440m") ||
		!strings.Contains(out, "packets 12, bytes 3400") {
		t.Errorf("learned entry line missing:\n%s", out)
	}
	if !strings.Contains(out, "203.0.113.0/24, iid 7, static, negative, action drop, uptime -, expires never") {
		t.Errorf("negative entry line missing:\n%s", out)
	}
	if got, want := row(t, out, "192.0.2.2"), []string{"192.0.2.2", "1/60", "up", "-", "12", "3400"}; !reflect.DeepEqual(got, want) {
		t.Errorf("rloc row %q, want %q", got, want)
	}
	if got, want := row(t, out, "2001:db8::2"), []string{"2001:db8::2", "2/40", "down (unreachable)", "-", "0", "0"}; !reflect.DeepEqual(got, want) {
		t.Errorf("rloc row %q, want %q", got, want)
	}
	checkAligned(t, out, "Locator", map[string]string{"Pri/Wgt": "1/60", "State": "down (unreachable)"})
}

func TestShowMapCacheEID(t *testing.T) {
	f := startFakeDaemon(t)
	tests := []struct {
		args  []string
		query string // the EID sent
		want  string // the first line
	}{
		{[]string{"198.51.100.10", "--iid", "0"}, "198.51.100.10", "LISP map-cache entry for 198.51.100.10, instance-id 0: covered by 198.51.100.0/25"},
		{[]string{"198.51.100.0/25"}, "198.51.100.0/25", "LISP map-cache entry for 198.51.100.0/25, instance-id 0: exact match"},
		{[]string{"198.51.100.64/26"}, "198.51.100.64/26", "LISP map-cache entry for 198.51.100.64/26, instance-id 0: covered by 198.51.100.0/25"},
		{[]string{"198.51.100.65/26"}, "198.51.100.64/26", "LISP map-cache entry for 198.51.100.64/26, instance-id 0: covered by 198.51.100.0/25"},
		{[]string{"192.0.2.99"}, "192.0.2.99", "No map-cache entry covers 192.0.2.99 in instance-id 0; 2 entries in the cache."},
		{[]string{"198.51.100.0/24", "--iid", "7"}, "198.51.100.0/24", "No map-cache entry covers 198.51.100.0/24 in instance-id 7; 2 entries in the cache."},
	}
	for _, tt := range tests {
		out, errOut, code := capture(t, runShow, append([]string{"map-cache", "--socket", f.path}, tt.args...)...)
		if first, _, _ := strings.Cut(out, "\n"); code != 0 || first != tt.want {
			t.Errorf("show map-cache %q: exit %d, %s, first line %q, want %q", tt.args, code, errOut, first, tt.want)
		}
		if strings.Contains(out, "\n\n\n") || strings.Contains(out, "203.0.113.0/24") || strings.Contains(out, "xtr.instance_id") {
			t.Errorf("show map-cache %q: two blank lines, another entry or a config key:\n%s", tt.args, out)
		}
		var q admin.MapCacheQuery
		if err := json.Unmarshal(f.lastArgs(admin.CmdShowMapCache), &q); err != nil || q.EID != tt.query || (q.InstanceID != nil) != slices.Contains(tt.args, "--iid") {
			t.Errorf("show map-cache %q: query sent %s (%v)", tt.args, f.lastArgs(admin.CmdShowMapCache), err)
		}
	}
	if _, errOut, code := capture(t, runShow, "--socket", f.path, "map-cache", "not-an-eid"); code != exitUsage || !strings.Contains(errOut, "not an IP address or prefix") {
		t.Errorf("bad EID: exit %d, %s", code, errOut)
	}
}

// TestShowRoleOff: every view of a role the daemon does not run (here a
// Map-Server-only daemon without a control node) says so in one line on
// stdout naming the configuration that enables it, exits 0, and with
// --json prints an empty object.
func TestShowRoleOff(t *testing.T) {
	cfg, err := conf.Parse("ms.toml", []byte("[map_server]\nenabled = true\nlisten = [\"127.0.0.1\"]\n[[map_server.site]]\nname = \"a\"\nkey = \"k\"\neid_prefixes = [\"198.51.100.0/24\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ms.sock")
	srv, err := admin.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	admin.Daemon{Config: func() *conf.Config { return cfg }}.Register(srv)
	done := make(chan struct{})
	go func() { srv.Serve(); close(done) }()
	t.Cleanup(func() { srv.Close(); <-done })
	for what, section := range map[string]string{
		"map-cache": "[xtr]", "rlocs": "[xtr]", "rtr": "[rtr] enabled = true",
		"registrations": "[map_server] enabled = true", "stats": "[rtr]",
	} {
		out, errOut, code := capture(t, runShow, what, "--socket", path)
		if what == "rtr" && !conf.RTRBuilt {
			if code != exitOK || out != rtrNotBuilt+"\n" {
				t.Errorf("show rtr without the role built: exit %d, stdout %q", code, out)
			}
		} else if code != exitOK || errOut != "" || strings.Count(out, "\n") != 1 || !strings.Contains(out, section) || !strings.HasSuffix(out, "enables it).\n") || !strings.Contains(out, " configured (") {
			t.Errorf("show %s: exit %d, stdout %q, stderr %q; want one line naming %s", what, code, out, errOut, section)
		}
		out, errOut, code = capture(t, runShow, what, "--json", "--socket", path)
		if code != exitOK || errOut != "" || out != "{}\n" {
			t.Errorf("show %s --json: exit %d, stdout %q, stderr %q; want {}", what, code, out, errOut)
		}
	}
}

func TestShowRegistrationsTable(t *testing.T) {
	f := startFakeDaemon(t)
	out, errOut, code := capture(t, runShow, "registrations", "--socket", f.path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"xTR registrations: 2 Map-Servers, 1 registered",
		"Map-Server: 2 sites, 1 registration",
		"Site branch1, iid 0, key sha256, prefixes 198.51.100.0/25: 1 registration",
		"Site branch2, iid 3, key sha1, prefixes 2001:db8:2::/48: 0 registrations",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if got, want := row(t, out, "192.0.2.10"), []string{"192.0.2.10", "sha256", "registered", "00:00:05", "never", "3", "3 (+1 unsolicited)", "-"}; !reflect.DeepEqual(got, want) {
		t.Errorf("map-server row %q, want %q", got, want)
	}
	if got, want := row(t, out, "192.0.2.11"), []string{"192.0.2.11", "sha1", "failed", "never", "never", "4", "0", "no Map-Notify"}; !reflect.DeepEqual(got, want) {
		t.Errorf("map-server row %q, want %q", got, want)
	}
	want := []string{"198.51.100.0/25", "192.0.2.1:4342", "192.0.2.1 1/100", "00112233445566778899aabbccddeeff", "000000000000002a", "no", "00:00:20", "00:02:40"}
	if got := row(t, out, "198.51.100.0/25"); !reflect.DeepEqual(got, want) {
		t.Errorf("registration row %q, want %q", got, want)
	}
	checkAligned(t, out, "Map-Server  Key", map[string]string{"State": "failed", "Last register": "00:00:05"})
}

func TestShowRLOCsTable(t *testing.T) {
	f := startFakeDaemon(t)
	out, _, code := capture(t, runShow, "rlocs", "--socket", f.path)
	if code != 0 || !strings.Contains(out, "Local RLOCs: 3 locators, 2 up") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for first, want := range map[string][]string{
		"eth1":  {"eth1", "192.0.2.1", "up", "1/100", "-"},
		"wwan0": {"wwan0", "-", "down (no address)", "2/50", "-"},
		"-":     {"-", "2001:db8::1", "up", "1/100", "behind NAT, public 203.0.113.9:61000, RTR 192.0.2.20"},
	} {
		if got := row(t, out, first); !reflect.DeepEqual(got, want) {
			t.Errorf("row %q, want %q", got, want)
		}
	}
	checkAligned(t, out, "Interface", map[string]string{"Address": "192.0.2.1", "Pri/Wgt": "2/50"})
}

// TestNATColumn: the NAT column says the xTR's outcome in the same words on
// every locator, with the details on the one the Info-Requests left from
// and, on the others, which one that was; a failed discovery says so.
func TestNATColumn(t *testing.T) {
	a1, a2 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.1")
	pub, rtr := netip.MustParseAddrPort("203.0.113.9:61000"), netip.MustParseAddr("192.0.2.20")
	tests := []struct {
		name string
		nat  *admin.NATState
		addr netip.Addr
		want string
	}{
		{"off", nil, a1, "-"},
		{"discovering", &admin.NATState{}, a1, "discovering"},
		{"failed", &admin.NATState{Unanswered: true}, a1, "unknown: no Info-Reply"},
		{"no NAT, this uplink", &admin.NATState{Discovered: true, Local: a1}, a1, "no NAT"},
		{"no NAT, other uplink", &admin.NATState{Discovered: true, Local: a1}, a2, "no NAT (checked from 192.0.2.1)"},
		{"no NAT, uplink without address", &admin.NATState{Discovered: true, Local: a1}, netip.Addr{}, "no NAT (checked from 192.0.2.1)"},
		{"behind, this uplink", &admin.NATState{Discovered: true, BehindNAT: true, Local: a1, Public: pub, RTR: rtr, RTRs: []netip.Addr{rtr}}, a1,
			"behind NAT, public 203.0.113.9:61000, RTR 192.0.2.20, RTRs offered 192.0.2.20"},
		{"behind, other uplink", &admin.NATState{Discovered: true, BehindNAT: true, Local: a1, Public: pub, RTR: rtr}, a2, "behind NAT (checked from 192.0.2.1)"},
		{"no NAT, then unanswered", &admin.NATState{Discovered: true, Unanswered: true, Local: a1}, a1, "no NAT"},
		{"behind, two RTRs", &admin.NATState{Discovered: true, BehindNAT: true, RTRs: []netip.Addr{rtr, a2}}, a1, "behind NAT, RTRs offered 192.0.2.20 198.51.100.1"},
	}
	for _, tt := range tests {
		if got := natText(&admin.LocalRLOC{Address: tt.addr, NAT: tt.nat}); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestShowRTRTable(t *testing.T) {
	f := startFakeDaemon(t)
	out, _, code := capture(t, runShow, "rtr", "--socket", f.path)
	if code != 0 || !strings.Contains(out, "RTR NAT bindings: 2 bindings, 1 verified") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for first, want := range map[string][]string{
		"198.51.100.0/25": {"198.51.100.0/25", "3", "00112233445566778899aabbccddeeff", "000000000000002a", "203.0.113.9:61000", "10.0.0.2", "yes", "00:00:07", "00:02:53"},
		"2001:db8:1::/48": {"2001:db8:1::/48", "0", "ffeeddccbbaa99887766554433221100", "0000000000000000", "203.0.113.9:4341", "10.0.0.3", "no", "00:00:01", "00:02:59"},
	} {
		if got := row(t, out, first); !reflect.DeepEqual(got, want) {
			t.Errorf("row %q, want %q", got, want)
		}
	}
	checkAligned(t, out, "EID-prefix", map[string]string{"Public": "203.0.113.9:61000", "Verified": "yes"})
	out, _, _ = capture(t, runShow, "rtr", "--json", "--socket", f.path)
	for _, key := range []string{`"eid": "198.51.100.0/25"`, `"xtr_id": "00112233445566778899aabbccddeeff"`, `"site_id": "000000000000002a"`,
		`"public": "203.0.113.9:61000"`, `"private": "10.0.0.2"`, `"verified": true`, `"expires_in_s": 173`} {
		if !strings.Contains(out, key) {
			t.Errorf("rtr JSON lacks %s:\n%s", key, out)
		}
	}
}

func TestShowStatsTable(t *testing.T) {
	f := startFakeDaemon(t)
	out, _, code := capture(t, runShow, "stats", "--socket", f.path)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"TUN path: plain (tun_offload = off)\nKernel path: fallback (no TCX)\n", "Data plane:", "Data plane drops:", "Control messages in:"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing group %q:\n%s", want, out)
		}
	}
	for first, want := range map[string][]string{
		"encap-packets": {"encap-packets", "1234"},
		"no-mapping":    {"no-mapping", "2"},
		"Map-Notify":    {"Map-Notify", "0"},
	} {
		if got := row(t, out, first); !reflect.DeepEqual(got, want) {
			t.Errorf("row %q, want %q", got, want)
		}
	}
	// Drops and messages get a total; data-plane packets and bytes do not.
	if n := strings.Count(out, "total"); n != 2 {
		t.Errorf("%d totals, want 2 (drops and messages in):\n%s", n, out)
	}
	if !hasTotal(out, "7") || !hasTotal(out, "4") {
		t.Errorf("totals 7 (drops) and 4 (messages in) missing:\n%s", out)
	}
	checkAligned(t, out, "encap-packets", map[string]string{"1234": "99999"})
}

// hasTotal reports whether a "total N" row exists.
func hasTotal(out, n string) bool {
	for _, line := range strings.Split(out, "\n") {
		if c := columns(line); len(c) == 2 && c[0] == "total" && c[1] == n {
			return true
		}
	}
	return false
}

func TestShowConfig(t *testing.T) {
	f := startFakeDaemon(t)
	out, _, code := capture(t, runShow, "config", "--socket", f.path)
	if code != 0 || !strings.HasPrefix(out, "# Running configuration, read from /etc/lispd/lispd.toml (keys redacted)\n") ||
		!strings.HasSuffix(out, testConfig.Text) {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

// TestShowJSON parses the --json output of every view back into the view
// type and compares it with what the daemon sent.
func TestShowJSON(t *testing.T) {
	f := startFakeDaemon(t)
	tests := []struct {
		what string
		into any
		want any
	}{
		{"map-cache", new(admin.MapCache), &testMapCache},
		{"registrations", new(admin.Registrations), &testRegistrations},
		{"rlocs", new(admin.RLOCs), &testRLOCs},
		{"rtr", new(admin.RTR), &testRTR},
		{"stats", new(admin.Stats), &testStats},
		{"config", new(admin.Config), &testConfig},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			out, errOut, code := capture(t, runShow, tt.what, "--json", "--socket", f.path)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if !strings.Contains(out, "\n  \"") {
				t.Errorf("JSON not indented:\n%s", out)
			}
			if err := json.Unmarshal([]byte(out), tt.into); err != nil {
				t.Fatalf("parsing --json output: %v\n%s", err, out)
			}
			if !reflect.DeepEqual(normalize(t, tt.into), normalize(t, tt.want)) {
				t.Errorf("--json gave\n%s\nwant the view\n%+v", out, tt.want)
			}
		})
	}
	// Field names scripts rely on.
	out, _, _ := capture(t, runShow, "map-cache", "--json", "--socket", f.path)
	for _, key := range []string{`"eid_prefix": "198.51.100.0/25"`, `"instance_id": 7`, `"state": "negative"`, `"action": "drop"`,
		`"origin": "learned"`, `"age_s": 62`, `"expires_in_s": 86338`, `"priority": 1`, `"weight": 60`, `"up": false`, `"reason": "unreachable"`} {
		if !strings.Contains(out, key) {
			t.Errorf("map-cache JSON lacks %s", key)
		}
	}
}

// normalize round-trips v through JSON into a generic value, so views
// compare by what they say (time zones, nil vs empty slices aside).
func normalize(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var g any
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestShowUsageAndErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.sock")
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{}, exitUsage, "what to show?"},
		{[]string{"routes"}, exitUsage, `cannot show "routes"`},
		{[]string{"stats", "extra"}, exitUsage, `unexpected argument "extra"`},
		{[]string{"stats", "--iid", "3"}, exitUsage, "--iid applies to show map-cache only"},
		{[]string{"map-cache", "--iid", "16777216"}, exitUsage, "wider than 24 bits"},
		{[]string{"stats", "--socket", missing}, exitFail, "lispd is not running (no socket at " + missing + ")"},
	}
	for _, tt := range tests {
		_, errOut, code := capture(t, runShow, tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.want) {
			t.Errorf("show %q: exit %d, stderr %q; want %d and %q", tt.args, code, errOut, tt.code, tt.want)
		}
	}
}

func TestReload(t *testing.T) {
	f := startFakeDaemon(t)
	_, errOut, code := capture(t, runReload, "--socket", f.path)
	if code != exitFail {
		t.Errorf("reload of an invalid config: exit %d, want 1", code)
	}
	for _, want := range []string{
		"/etc/lispd/lispd.toml:1:", "log_level", "/etc/lispd/lispd.toml:3:", "xtr.mtu",
		"lispd reload: configuration invalid; refused, the daemon keeps running its previous configuration",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if a := f.lastArgs(admin.CmdReload); string(a) != "{}" {
		t.Errorf("reload args %s, want {} (the daemon's own file)", a)
	}

	// A daemon that accepts the reload.
	path := filepath.Join(t.TempDir(), "ok.sock")
	srv, err := admin.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	srv.Handle(admin.CmdReload, func(jsonx.RawMessage) (any, error) {
		return admin.ReloadResult{Path: "/etc/lispd/lispd.toml"}, nil
	})
	go srv.Serve()
	defer srv.Close()
	out, _, code := capture(t, runReload, "--socket", path)
	if code != 0 || out != "reloaded /etc/lispd/lispd.toml\n" {
		t.Errorf("reload: exit %d, %q", code, out)
	}
	if _, _, code := capture(t, runReload, "--socket", path, "extra"); code != exitUsage {
		t.Errorf("reload extra: exit %d", code)
	}
}

func TestMapCacheAddDel(t *testing.T) {
	f := startFakeDaemon(t)
	out, errOut, code := capture(t, runMapCache, "add", "198.51.100.128/25", "192.0.2.2,1,60", "--iid", "7", "2001:db8::2,2", "192.0.2.4", "--socket", f.path)
	if code != 0 {
		t.Fatalf("add: exit %d: %s", code, errOut)
	}
	var a admin.MapCacheAddArgs
	if err := json.Unmarshal(f.lastArgs(admin.CmdMapCacheAdd), &a); err != nil {
		t.Fatal(err)
	}
	want := admin.MapCacheAddArgs{
		EIDPrefix: netip.MustParsePrefix("198.51.100.128/25"), InstanceID: a.InstanceID,
		RLOCs: []admin.Locator{
			{Address: netip.MustParseAddr("192.0.2.2"), Priority: 1, Weight: 60},
			{Address: netip.MustParseAddr("2001:db8::2"), Priority: 2, Weight: 100},
			{Address: netip.MustParseAddr("192.0.2.4"), Priority: 1, Weight: 100},
		},
	}
	if a.InstanceID == nil || *a.InstanceID != 7 || !reflect.DeepEqual(a, want) {
		t.Errorf("add args %s", f.lastArgs(admin.CmdMapCacheAdd))
	}
	if !strings.Contains(out, "lost on restart") || !strings.Contains(out, "198.51.100.128/25, iid 0, static, complete") {
		t.Errorf("add output:\n%s", out)
	}

	_, errOut, code = capture(t, runMapCache, "--socket", f.path, "add", "203.0.113.0/24", "--action", "drop")
	if code != 0 || !strings.Contains(string(f.lastArgs(admin.CmdMapCacheAdd)), `"action":"drop"`) {
		t.Errorf("add negative: exit %d %s, args %s", code, errOut, f.lastArgs(admin.CmdMapCacheAdd))
	}

	out, _, code = capture(t, runMapCache, "del", "198.51.100.128/25", "--socket", f.path)
	if code != 0 || !strings.Contains(out, "deleted static entry 198.51.100.128/25") || string(f.lastArgs(admin.CmdMapCacheDel)) != `{"eid_prefix":"198.51.100.128/25"}` {
		t.Errorf("del: exit %d %q, args %s", code, out, f.lastArgs(admin.CmdMapCacheDel))
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"add"}, "need add|del"},
		{[]string{"add", "198.51.100.1/24", "192.0.2.2"}, "host bits"},
		{[]string{"add", "198.51.100.0/24"}, "needs --action"},
		{[]string{"add", "198.51.100.0/24", "--action", "boom"}, "use one of"},
		{[]string{"add", "198.51.100.0/24", "192.0.2.2,1,101"}, "weight"},
		{[]string{"add", "198.51.100.0/24", "192.0.2.2,x"}, "priority"},
		{[]string{"add", "198.51.100.0/24", "224.0.0.1"}, "unicast"},
		{[]string{"del", "198.51.100.0/24", "192.0.2.2"}, "unexpected argument"},
		{[]string{"move", "198.51.100.0/24"}, `unknown action "move"`},
	} {
		_, errOut, code := capture(t, runMapCache, append(tt.args, "--socket", f.path)...)
		if code != exitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("map-cache %q: exit %d, %q; want 2 and %q", tt.args, code, errOut, tt.want)
		}
	}
	// The daemon's refusal is reported, exit 1.
	_, errOut, code = capture(t, runMapCache, "add", "198.51.100.0/25", "198.51.100.1", "--socket", f.path)
	if code != exitFail || !strings.Contains(errOut, "inside the EID prefix") {
		t.Errorf("refused add: exit %d, %q", code, errOut)
	}
}

// `show map-cache ADDR` with a host entry for exactly that address says
// "exact match", not "covered by ADDR/32".
func TestShowMapCacheHostExact(t *testing.T) {
	for _, tc := range []struct{ query, entry, want string }{
		{"192.0.2.5", "192.0.2.5/32", "exact match"},
		{"2001:db8::5", "2001:db8::5/128", "exact match"},
		{"192.0.2.5", "192.0.2.0/24", "covered by 192.0.2.0/24"},
	} {
		var b bytes.Buffer
		v := &admin.MapCache{Entries: []admin.MapCacheEntry{{EIDPrefix: netip.MustParsePrefix(tc.entry)}}}
		if err := renderMapCache(&b, v, &admin.MapCacheQuery{EID: tc.query}); err != nil {
			t.Fatal(err)
		}
		if first, _, _ := strings.Cut(b.String(), "\n"); !strings.HasSuffix(first, ": "+tc.want) {
			t.Errorf("%s with %s: %q, want %q", tc.query, tc.entry, first, tc.want)
		}
	}
}
