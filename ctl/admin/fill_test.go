package admin

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lispd/lispd/conf"
	"github.com/lispd/lispd/ctl"
	"github.com/lispd/lispd/fwd"
	"github.com/lispd/lispd/fwd/kpath"
)

func u32(v uint32) *uint32 { return &v }

func TestMapCacheOf(t *testing.T) {
	c := fwd.NewMapCache(100)
	start := time.Now()
	c.Tick(start)
	learned, err := c.Insert(fwd.MappingSpec{
		Prefix: netip.MustParsePrefix("198.51.100.0/25"), TTL: 10 * time.Minute,
		RLOCs: []fwd.RLOCSpec{
			{Addr: netip.MustParseAddr("192.0.2.2"), Priority: 1, Weight: 60},
			{Addr: netip.MustParseAddr("192.0.2.3"), Priority: 1, Weight: 40, Down: true},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	learned.Packets.Add(7)
	learned.Bytes.Add(700)
	learned.RLOCs[0].Packets.Add(7)
	spec, err := (&MapCacheAddArgs{EIDPrefix: netip.MustParsePrefix("203.0.113.0/24"), Action: "drop"}).Spec(0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Insert(spec); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Insert(fwd.MappingSpec{InstanceID: 5, Prefix: netip.MustParsePrefix("2001:db8:1::/48"), Pending: true}); err != nil {
		t.Fatal(err)
	}
	c.Tick(start.Add(90 * time.Second))

	all, err := MapCacheOf(c, MapCacheQuery{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if all.Limit != 100 || all.Total != 3 || len(all.Entries) != 3 {
		t.Fatalf("view %+v", all)
	}
	e := all.Entries[0]
	if e.EIDPrefix.String() != "198.51.100.0/25" || e.State != StateComplete || e.Origin != OriginLearned ||
		e.TTL != 600 || e.Packets != 7 || e.Bytes != 700 || len(e.RLOCs) != 2 {
		t.Errorf("learned entry %+v", e)
	}
	if e.ExpiresIn == nil || *e.ExpiresIn != 510 || e.Age == nil || *e.Age != 90 {
		t.Errorf("learned entry: expires in %v, age %v; want 510 and 90", deref(e.ExpiresIn), deref(e.Age))
	}
	if r := e.RLOCs[0]; r.Address.String() != "192.0.2.2" || r.Weight != 60 || !r.Up || r.Packets != 7 || r.Port != 0 {
		t.Errorf("rloc 0 %+v", r)
	}
	if r := e.RLOCs[1]; r.Up || r.Reason == "" {
		t.Errorf("rloc 1 %+v, want down with a reason", r)
	}
	if n := all.Entries[1]; n.State != StateNegative || n.Action != "drop" || n.Origin != OriginStatic || n.ExpiresIn != nil {
		t.Errorf("static negative entry %+v", n)
	}
	if p := all.Entries[2]; p.State != StatePending || p.InstanceID != 5 {
		t.Errorf("pending entry %+v", p)
	}

	one, _ := MapCacheOf(c, MapCacheQuery{EID: "198.51.100.10"}, 0)
	if len(one.Entries) != 1 || one.Entries[0].EIDPrefix.String() != "198.51.100.0/25" {
		t.Errorf("lookup 198.51.100.10: %+v", one.Entries)
	}
	none, _ := MapCacheOf(c, MapCacheQuery{EID: "198.51.100.200"}, 0)
	if len(none.Entries) != 0 || none.Total != 3 {
		t.Errorf("lookup 198.51.100.200: %+v", none)
	}
	v6, _ := MapCacheOf(c, MapCacheQuery{EID: "2001:db8:1::1", InstanceID: u32(5)}, 0)
	if len(v6.Entries) != 1 {
		t.Errorf("lookup [5]2001:db8:1::1: %+v", v6)
	}
	iid5, _ := MapCacheOf(c, MapCacheQuery{InstanceID: u32(5)}, 0)
	if len(iid5.Entries) != 1 {
		t.Errorf("iid 5 only: %+v", iid5)
	}
	if _, err := MapCacheOf(c, MapCacheQuery{EID: "nonsense"}, 0); err == nil {
		t.Error("a bad EID was accepted")
	}
}

// TestMapCacheOfPrefix: a prefix query gives the entry of exactly that
// prefix, else the longest covering it, never a more specific one inside
// it; an address query the longest match; both say the instance-id.
func TestMapCacheOfPrefix(t *testing.T) {
	c := fwd.NewMapCache(100)
	for _, p := range []string{"198.51.100.0/24", "198.51.100.128/25", "198.51.100.192/27"} {
		if _, err := c.Insert(fwd.MappingSpec{Prefix: netip.MustParsePrefix(p), InstanceID: 3, Static: true,
			RLOCs: []fwd.RLOCSpec{{Addr: netip.MustParseAddr("192.0.2.2"), Weight: 100}}}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		eid  string
		iid  uint32
		want string // the entry's prefix; "" for none
	}{
		{"198.51.100.128/25", 3, "198.51.100.128/25"}, // exact
		{"198.51.100.128/26", 3, "198.51.100.128/25"}, // covered, although the /27 lies inside
		{"198.51.100.130/26", 3, "198.51.100.128/25"}, // host bits ignored
		{"198.51.100.0/23", 3, ""},                    // wider than every entry
		{"198.51.100.200", 3, "198.51.100.192/27"},    // address: longest match
		{"198.51.100.128/25", 0, ""},                  // another instance-id
		{"::ffff:198.51.100.5", 3, "198.51.100.0/24"}, // IPv4-mapped
	}
	for _, tt := range tests {
		v, err := MapCacheOf(c, MapCacheQuery{EID: tt.eid, InstanceID: u32(tt.iid)}, 0)
		got := ""
		if len(v.Entries) == 1 {
			got = v.Entries[0].EIDPrefix.String()
		}
		if err != nil || got != tt.want || len(v.Entries) > 1 || v.InstanceID == nil || *v.InstanceID != tt.iid {
			t.Errorf("[%d]%s: %v %+v; want %q", tt.iid, tt.eid, err, v, tt.want)
		}
	}
	if v, _ := MapCacheOf(c, MapCacheQuery{EID: "198.51.100.200"}, 3); v.InstanceID == nil || *v.InstanceID != 3 || len(v.Entries) != 1 {
		t.Errorf("default instance-id: %+v", v)
	}
	if _, err := MapCacheOf(c, MapCacheQuery{EID: "198.51.100.0/33"}, 0); err == nil {
		t.Error("a bad prefix was accepted")
	}
}

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestMapCacheAddArgsSpec(t *testing.T) {
	good := MapCacheAddArgs{
		EIDPrefix: netip.MustParsePrefix("198.51.100.128/25"), InstanceID: u32(7),
		RLOCs: []Locator{{Address: netip.MustParseAddr("192.0.2.2"), Priority: 2, Weight: 50}},
	}
	spec, err := good.Spec(0)
	if err != nil {
		t.Fatal(err)
	}
	if !spec.Static || spec.InstanceID != 7 || len(spec.RLOCs) != 1 || spec.RLOCs[0].Priority != 2 || spec.RLOCs[0].Weight != 50 {
		t.Errorf("spec %+v", spec)
	}
	if spec, _ := (&MapCacheAddArgs{EIDPrefix: good.EIDPrefix, Action: "native-forward"}).Spec(3); spec.Action != fwd.ActionNativelyForward || spec.InstanceID != 3 {
		t.Errorf("negative spec %+v", spec)
	}
	bad := []struct {
		name string
		args MapCacheAddArgs
		want string
	}{
		{"no prefix", MapCacheAddArgs{Action: "drop"}, "eid_prefix"},
		{"host bits", MapCacheAddArgs{EIDPrefix: netip.MustParsePrefix("198.51.100.1/24"), Action: "drop"}, "host bits"},
		{"no rlocs no action", MapCacheAddArgs{EIDPrefix: good.EIDPrefix}, "needs an action"},
		{"unknown action", MapCacheAddArgs{EIDPrefix: good.EIDPrefix, Action: "explode"}, "not an action"},
		{"action with rlocs", MapCacheAddArgs{EIDPrefix: good.EIDPrefix, Action: "drop", RLOCs: good.RLOCs}, "negative"},
		{"weight", MapCacheAddArgs{EIDPrefix: good.EIDPrefix, RLOCs: []Locator{{Address: netip.MustParseAddr("192.0.2.2"), Weight: 101}}}, "weight"},
		{"rloc in eid", MapCacheAddArgs{EIDPrefix: good.EIDPrefix, RLOCs: []Locator{{Address: netip.MustParseAddr("198.51.100.129")}}}, "inside"},
		{"iid", MapCacheAddArgs{EIDPrefix: good.EIDPrefix, Action: "drop", InstanceID: u32(0xffffff)}, "instance_id"},
	}
	for _, tt := range bad {
		if _, err := tt.args.Spec(0); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

func TestStatsOf(t *testing.T) {
	var s fwd.Stats
	s.EncapPackets.Add(3)
	dp := s.Snapshot()
	cp := ctl.Stats{
		In:    map[string]uint64{"Map-Reply": 2},
		Out:   map[string]uint64{"Encapsulated-Control-Message": 4},
		Drops: map[string]uint64{"bad-nonce": 1},
	}
	v := StatsOf(&dp, &cp)
	want := []struct {
		group, name string
		value       uint64
	}{
		{GroupDataPlane, "encap-packets", 3},
		{GroupDataDrops, "malformed", 0},
		{GroupDataDrops, "tun-write-error", 0},
		{GroupControlIn, "Map-Reply", 2},
		{GroupControlIn, "Map-Register", 0},
		{GroupControlOut, "Encapsulated-Control-Message", 4},
		{GroupControlDrops, "bad-nonce", 1},
		{GroupControlDrops, "malformed", 0},
	}
	for _, w := range want {
		if got, ok := v.Get(w.group, w.name); !ok || got != w.value {
			t.Errorf("%s/%s = %d, %v; want %d", w.group, w.name, got, ok, w.value)
		}
	}
	// Every data-plane drop reason is listed, in the data plane's order.
	for _, g := range v.Groups {
		if g.Name == GroupDataDrops && (len(g.Counters) != len(dp.Drops) || g.Counters[0].Name != fwd.DropReason(0).String()) {
			t.Errorf("data drops %+v, want %d reasons in order", g.Counters, len(dp.Drops))
		}
	}
	if v := StatsOf(nil, nil); len(v.Groups) != 0 || v.KernelPath != nil {
		t.Errorf("no roles: %+v", v)
	}
	// The kernel path: its state always, its counters when it runs.
	if k := v.KernelPath; k == nil || k.State != fwd.KernelOff {
		t.Errorf("kernel path %+v, want off", k)
	}
	if _, ok := v.Get(GroupKernelPath, "encap-packets"); ok {
		t.Errorf("kernel path counters while it is off")
	}
	dp.Kernel = fwd.KernelSnapshot{State: fwd.KernelFallback, Reason: "no TCX"}
	if k := StatsOf(&dp, nil).KernelPath; k == nil || k.State != fwd.KernelFallback || k.Reason != "no TCX" {
		t.Errorf("kernel path %+v, want the fallback and its reason", k)
	}
	dp.Kernel = fwd.KernelSnapshot{State: fwd.KernelOn, Mirrored: 2, EncapPackets: 5, DecapBytes: 7, DecapGRO: "xdp"}
	dp.Kernel.EncapStats[kpath.StatEncapSkip] = 3
	dp.Kernel.DecapStats[kpath.StatDecapGRO] = 4
	dp.Kernel.EncapStats[kpath.StatDecapGRO] = 99 // not the encapsulating program's slot
	v = StatsOf(&dp, nil)
	if k := v.KernelPath; k == nil || k.DecapGRO != "xdp" {
		t.Errorf("kernel path %+v, want decap GRO xdp", k)
	}
	for name, want := range map[string]uint64{"mirrored-mappings": 2, "encap-packets": 5, "decap-bytes": 7, "encap-skip": 3, "decap-gro": 4} {
		if got, ok := v.Get(GroupKernelPath, name); !ok || got != want {
			t.Errorf("%s/%s = %d, %v; want %d", GroupKernelPath, name, got, ok, want)
		}
	}
}

func TestConfigOfRedacts(t *testing.T) {
	cfg, err := conf.Parse("test.toml", conf.Example)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ConfigOf(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if v.Path != "test.toml" || !strings.Contains(v.Text, conf.RedactedKey) {
		t.Errorf("config view %q lacks the path or redaction", v.Text)
	}
	for _, ms := range cfg.XTR.MapServers {
		if strings.Contains(v.Text, `"`+ms.Key+`"`) {
			t.Errorf("key %q shown", ms.Key)
		}
	}
}

func TestRegistrationsOf(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	xtr := []ctl.MapServerStatus{{
		Addr: netip.MustParseAddr("192.0.2.10"), KeyType: "sha256", WantMapNotify: true,
		State: ctl.RegStateRegistered, Registers: 3, Notifies: 3, Unsolicited: 2, LastRegister: now.Add(-5 * time.Second),
	}}
	ms := &ctl.Registrations{
		Sites: []ctl.SiteInfo{{Name: "branch1", KeyType: "sha1", EIDPrefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/25")}, Registered: 1}},
		Registrations: []ctl.RegistrationInfo{{
			Site: "branch1", Prefix: netip.MustParsePrefix("198.51.100.0/25"),
			Registrants: []ctl.RegistrantInfo{{
				Source: netip.MustParseAddrPort("192.0.2.1:4342"), XTRID: "00112233445566778899aabbccddeeff", SiteID: 42,
				Locators:  []ctl.Locator{{Addr: netip.MustParseAddr("192.0.2.1"), Priority: 1, Weight: 100, Reachable: true}},
				RecordTTL: 24 * time.Hour, LastSeen: now.Add(-10 * time.Second), Expires: now.Add(170 * time.Second),
			}},
		}},
	}
	v := RegistrationsOf(now, xtr, ms)
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var back Registrations
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.XTR) != 1 || back.XTR[0].State != "registered" || back.XTR[0].Unsolicited != 2 || !back.XTR[0].LastRegister.Equal(now.Add(-5*time.Second)) || !back.XTR[0].LastNotify.IsZero() {
		t.Errorf("xtr %+v", back.XTR)
	}
	if strings.Contains(string(b), "last_notify") {
		t.Errorf("a never-received Map-Notify is in the JSON: %s", b)
	}
	if len(back.MapServer) != 1 || len(back.MapServer[0].Registrations) != 1 {
		t.Fatalf("map_server %+v", back.MapServer)
	}
	r := back.MapServer[0].Registrations[0]
	if r.SiteID != "000000000000002a" || r.ExpiresIn != 170 || r.TTL != 86400 || len(r.RLOCs) != 1 || r.Source.Port() != 4342 {
		t.Errorf("registration %+v", r)
	}
	if v := RegistrationsOf(now, nil, nil); v.XTR != nil || v.MapServer != nil {
		t.Errorf("no roles: %+v", v)
	}
}

func TestRTROf(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	bs := []ctl.RTRBinding{{
		InstanceID: 3, Prefix: netip.MustParsePrefix("198.51.100.0/25"), XTRID: [16]byte{0x00, 0x11, 15: 0xff}, SiteID: 42,
		Public: netip.MustParseAddrPort("203.0.113.9:61000"), Private: netip.MustParseAddr("10.0.0.2"), MapServer: netip.MustParseAddr("192.0.2.10"),
		Verified: true, Rebinds: 2, LastSeen: now.Add(-10 * time.Second), Expires: now.Add(170 * time.Second),
	}, {
		Prefix: netip.MustParsePrefix("2001:db8::/48"), LastSeen: now.Add(-time.Hour), Expires: now.Add(-time.Minute),
	}}
	v := RTROf(now, true, bs)
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var back RTR
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.Enabled || !back.Time.Equal(now) || len(back.Bindings) != 2 {
		t.Fatalf("rtr %+v", back)
	}
	want := RTRBinding{
		EID: bs[0].Prefix, InstanceID: 3, XTRID: "001100000000000000000000000000ff", SiteID: "000000000000002a",
		Public: bs[0].Public, Private: bs[0].Private, MapServer: bs[0].MapServer, Verified: true, Rebinds: 2,
		LastSeen: bs[0].LastSeen, ExpiresIn: 170,
	}
	if got := back.Bindings[0]; !reflect.DeepEqual(got, want) {
		t.Errorf("binding\n%+v, want\n%+v", got, want)
	}
	if got := back.Bindings[1]; got.Verified || got.ExpiresIn != 0 {
		t.Errorf("expired unverified binding %+v: want expires_in_s 0, not verified", got)
	}
	for _, key := range []string{`"xtr_id":"001100000000000000000000000000ff"`, `"public":"203.0.113.9:61000"`, `"verified":true`, `"private":"10.0.0.2"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON lacks %s: %s", key, b)
		}
	}
	if v := RTROf(now, false, nil); v.Enabled || v.Bindings == nil || len(v.Bindings) != 0 {
		t.Errorf("no role: %+v", v)
	}
}
