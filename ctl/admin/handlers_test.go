package admin

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lispd/lispd/conf"
	"github.com/lispd/lispd/ctl"
	"github.com/lispd/lispd/fwd"
	"github.com/lispd/lispd/internal/logx"
)

const handlersConfig = `control_socket = "/run/x.sock"
[xtr]
instance_id = 3
eid_prefixes = ["198.51.100.0/25"]
eid_space = ["198.51.100.0/24"]
map_resolvers = ["127.0.0.1"]
[[xtr.rloc]]
address = "192.0.2.1"
[[xtr.rloc]]
interface = "eth1"
priority = 2
weight = 50
[[xtr.map_server]]
address = "127.0.0.1"
key = "topsecret"
[map_server]
enabled = true
listen = ["127.0.0.1"]
[[map_server.site]]
name = "branch1"
key = "sitesecret"
instance_id = 3
eid_prefixes = ["198.51.100.0/24"]
`

// testDaemon serves the standard handlers over a map-cache, stats, a
// Map-Server node on loopback and a reloadable configuration.
type testDaemon struct {
	mu      sync.Mutex
	cfg     *conf.Config
	next    []byte // what Reload reads
	cache   *fwd.MapCache
	stats   fwd.Stats
	node    *ctl.Node
	path    string
	reloads int
}

func newTestDaemon(t *testing.T) *testDaemon {
	t.Helper()
	cfg, err := conf.Parse("/etc/lispd/lispd.toml", []byte(handlersConfig))
	if err != nil {
		t.Fatal(err)
	}
	d := &testDaemon{cfg: cfg, cache: fwd.NewMapCache(50)}
	node, err := ctl.New(ctl.Options{
		Port: 0, Listen: []netip.Addr{netip.MustParseAddr("127.0.0.1")},
		Logger:    logx.Discard(),
		MapServer: &ctl.MapServerOptions{Sites: []ctl.SiteOptions{{Name: "branch1", Key: "k", KeyType: ctl.KeySHA256, InstanceID: 3, EIDPrefixes: cfg.MapServer.Sites[0].EIDPrefixes}}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.node = node
	d.path = filepath.Join(t.TempDir(), "lispd.sock")
	srv, err := Listen(d.path)
	if err != nil {
		t.Fatal(err)
	}
	Daemon{
		Config:    func() *conf.Config { d.mu.Lock(); defer d.mu.Unlock(); return d.cfg },
		MapCache:  func() *fwd.MapCache { return d.cache },
		DataStats: func() *fwd.Stats { return &d.stats },
		Control:   func() *ctl.Node { return d.node },
		Reload: func() ([]string, error) {
			d.mu.Lock()
			defer d.mu.Unlock()
			cfg, err := conf.Parse(d.cfg.Path, d.next)
			if err != nil {
				return nil, err
			}
			d.cfg = cfg
			d.reloads++
			return nil, nil
		},
	}.Register(srv)
	go srv.Serve()
	t.Cleanup(func() { srv.Close() })
	return d
}

func TestDaemonHandlers(t *testing.T) {
	d := newTestDaemon(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := d.node.Start(ctx); err != nil {
		t.Skipf("cannot start a Map-Server on 127.0.0.1: %v", err)
	}
	defer d.node.Close()

	// map-cache add, with the default instance-id from the config.
	var added MapCacheEntry
	err := Call(d.path, CmdMapCacheAdd, MapCacheAddArgs{
		EIDPrefix: netip.MustParsePrefix("203.0.113.0/24"),
		RLOCs:     []Locator{{Address: netip.MustParseAddr("192.0.2.9"), Priority: 1, Weight: 100}},
	}, &added)
	if err != nil {
		t.Fatal(err)
	}
	if added.InstanceID != 3 || added.Origin != OriginStatic || added.State != StateComplete || len(added.RLOCs) != 1 {
		t.Errorf("added %+v", added)
	}
	if m, ok := d.cache.Lookup(3, netip.MustParseAddr("203.0.113.5")); !ok || !m.Static || m.RLOCs[0].Addr.Addr().String() != "192.0.2.9" {
		t.Errorf("entry not in the map-cache: %v %v", m, ok)
	}
	// A bad one is refused with the reason.
	err = Call(d.path, CmdMapCacheAdd, MapCacheAddArgs{EIDPrefix: netip.MustParsePrefix("203.0.113.0/24")}, nil)
	var re *RemoteError
	if !errors.As(err, &re) || !strings.Contains(re.Msg, "needs an action") {
		t.Errorf("negative add without action: %v", err)
	}

	// show map-cache, all and by EID.
	var mc MapCache
	if err := Call(d.path, CmdShowMapCache, MapCacheQuery{EID: "203.0.113.77"}, &mc); err != nil || len(mc.Entries) != 1 || mc.Total != 1 || mc.Limit != 50 {
		t.Errorf("show map-cache EID: %+v %v", mc, err)
	}
	if err := Call(d.path, CmdShowMapCache, nil, &mc); err != nil || len(mc.Entries) != 1 {
		t.Errorf("show map-cache: %+v %v", mc, err)
	}

	// map-cache del.
	var del MapCacheDelResult
	if err := Call(d.path, CmdMapCacheDel, MapCacheDelArgs{EIDPrefix: netip.MustParsePrefix("203.0.113.0/24")}, &del); err != nil || del.Deleted.Origin != OriginStatic {
		t.Errorf("del: %+v %v", del, err)
	}
	if d.cache.Len() != 0 {
		t.Error("entry still in the map-cache")
	}
	if err := Call(d.path, CmdMapCacheDel, MapCacheDelArgs{EIDPrefix: netip.MustParsePrefix("203.0.113.0/24")}, nil); err == nil || !strings.Contains(err.Error(), "no map-cache entry") {
		t.Errorf("second del: %v", err)
	}

	// show registrations: the Map-Server's site; the xTR role is configured
	// but the node runs none, so the xtr list is empty, not absent.
	var regs Registrations
	if err := Call(d.path, CmdShowRegistrations, nil, &regs); err != nil {
		t.Fatal(err)
	}
	if len(regs.MapServer) != 1 || regs.MapServer[0].Site != "branch1" || regs.MapServer[0].InstanceID != 3 || regs.XTR == nil || regs.Time.IsZero() {
		t.Errorf("registrations %+v", regs)
	}

	// show rtr: the role is not configured.
	var rv RTR
	if err := Call(d.path, CmdShowRTR, nil, &rv); err != nil || rv.Enabled || rv.Bindings == nil || len(rv.Bindings) != 0 {
		t.Errorf("show rtr without the role: %+v %v", rv, err)
	}

	// show stats: both planes.
	d.stats.EncapPackets.Add(42)
	var st Stats
	if err := Call(d.path, CmdShowStats, nil, &st); err != nil {
		t.Fatal(err)
	}
	if v, ok := st.Get(GroupDataPlane, "encap-packets"); !ok || v != 42 {
		t.Errorf("encap-packets %d %v", v, ok)
	}
	if _, ok := st.Get(GroupControlIn, "Map-Register"); !ok {
		t.Errorf("no control counters: %+v", st)
	}

	// show rlocs from the configuration.
	var rl RLOCs
	if err := Call(d.path, CmdShowRLOCs, nil, &rl); err != nil || len(rl.RLOCs) != 2 ||
		rl.RLOCs[0].Address.String() != "192.0.2.1" || !rl.RLOCs[0].Up || rl.RLOCs[1].Interface != "eth1" || rl.RLOCs[1].Weight != 50 {
		t.Errorf("rlocs %+v %v", rl, err)
	}

	// show config: redacted.
	var cv Config
	if err := Call(d.path, CmdShowConfig, nil, &cv); err != nil || strings.Contains(cv.Text, "secret") || !strings.Contains(cv.Text, "instance_id = 3") {
		t.Errorf("config %+v %v", cv, err)
	}

	// reload: refused with problems, then applied.
	d.mu.Lock()
	d.next = []byte(strings.Replace(handlersConfig, "instance_id = 3\neid_prefixes", "instance_id = 99999999\neid_prefixes", 1))
	d.mu.Unlock()
	err = Call(d.path, CmdReload, ReloadArgs{}, nil)
	if !errors.As(err, &re) || len(re.Problems) != 1 || !strings.HasPrefix(re.Problems[0], "/etc/lispd/lispd.toml:3:") {
		t.Errorf("bad reload: %v %+v", err, re)
	}
	d.mu.Lock()
	d.next = []byte(strings.Replace(handlersConfig, "instance_id = 3\neid_prefixes", "instance_id = 4\neid_prefixes", 1))
	d.mu.Unlock()
	var rr ReloadResult
	if err := Call(d.path, CmdReload, ReloadArgs{}, &rr); err != nil || rr.Path != "/etc/lispd/lispd.toml" || d.reloads != 1 {
		t.Errorf("reload: %+v %v", rr, err)
	}
	if err := Call(d.path, CmdReload, ReloadArgs{Path: "/tmp/other.toml"}, nil); err == nil {
		t.Error("reload of another file accepted")
	}
}

func TestDaemonHandlersWithoutXTR(t *testing.T) {
	cfg, err := conf.Parse("ms.toml", []byte("[map_server]\nenabled = true\nlisten = [\"127.0.0.1\"]\n[[map_server.site]]\nname = \"a\"\nkey = \"k\"\neid_prefixes = [\"198.51.100.0/24\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "s.sock")
	srv, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	Daemon{Config: func() *conf.Config { return cfg }}.Register(srv)
	go srv.Serve()
	for _, cmd := range []string{CmdMapCacheAdd, CmdMapCacheDel} {
		if err := Call(path, cmd, nil, nil); err == nil || !strings.Contains(err.Error(), "xTR role is not configured") {
			t.Errorf("%s without xTR: %v", cmd, err)
		}
	}
	// The views of a role that is not configured say so, not fail.
	var mc MapCache
	if err := Call(path, CmdShowMapCache, nil, &mc); err != nil || !mc.Off || len(mc.Entries) != 0 {
		t.Errorf("show map-cache without xTR: %+v %v", mc, err)
	}
	var rl RLOCs
	if err := Call(path, CmdShowRLOCs, nil, &rl); err != nil || !rl.Off || len(rl.RLOCs) != 0 {
		t.Errorf("show rlocs without xTR: %+v %v", rl, err)
	}
	var st Stats
	if err := Call(path, CmdShowStats, nil, &st); err != nil || st.Groups == nil {
		t.Errorf("stats %+v %v", st, err)
	}
	// Before the daemon has a configuration, commands say it is starting.
	path2 := filepath.Join(t.TempDir(), "s2.sock")
	srv2, err := Listen(path2)
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	Daemon{Config: func() *conf.Config { return nil }}.Register(srv2)
	go srv2.Serve()
	if err := Call(path2, CmdShowConfig, nil, nil); err == nil || !strings.Contains(err.Error(), "starting") {
		t.Errorf("show config before start: %v", err)
	}
	if err := Call(path, CmdShowStats, nil, &st); err != nil {
		t.Errorf("stats %+v %v", st, err)
	}
	var regs Registrations
	if err := Call(path, CmdShowRegistrations, nil, &regs); err != nil || regs.XTR != nil || regs.MapServer != nil {
		t.Errorf("registrations %+v %v", regs, err)
	}
	if err := Call(path, CmdReload, nil, nil); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("reload without Reload: %v", err)
	}
}

// TestMapCacheAddChecks: a runtime map-cache add meets the rules of a
// [[xtr.map_cache]] entry in `lispd check`, and says which it breaks.
func TestMapCacheAddChecks(t *testing.T) {
	d := newTestDaemon(t)
	rloc := []Locator{{Address: netip.MustParseAddr("203.0.113.2"), Priority: 1, Weight: 100}}
	for _, tc := range []struct {
		prefix string
		want   string // in the error; "" = accepted
	}{
		{"198.51.100.0/25", "overlaps this site's own EID prefix 198.51.100.0/25"},
		{"198.51.100.0/26", "overlaps this site's own EID prefix"},
		{"192.0.2.0/24", "192.0.2.1 is inside EID prefix 192.0.2.0/24 (this entry): an RLOC may not be an EID"},
		{"127.0.0.0/8", "an RLOC may not be an EID"}, // the Map-Server and Map-Resolver
		{"198.51.100.128/25", ""},
	} {
		t.Run(tc.prefix, func(t *testing.T) {
			err := Call(d.path, CmdMapCacheAdd, MapCacheAddArgs{EIDPrefix: netip.MustParsePrefix(tc.prefix), RLOCs: rloc}, nil)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var re *RemoteError
			if !errors.As(err, &re) || !strings.Contains(re.Msg, tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			if _, ok := d.cache.Get(3, netip.MustParsePrefix(tc.prefix)); ok {
				t.Fatal("refused entry is in the map-cache")
			}
		})
	}
}
