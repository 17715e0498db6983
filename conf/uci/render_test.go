package uci

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/lispd/lispd/conf"
)

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRenderFull renders a UCI file using every option, reads the written
// TOML back with conf.Load (the same code as `lispd check`) and compares
// every value with the UCI text.
func TestRenderFull(t *testing.T) {
	out := filepath.Join(t.TempDir(), "var", "etc", "lispd.toml")
	var log bytes.Buffer
	check, err := Run(readTestdata(t, "full.uci"), out, Options{Devices: map[string]string{"wan": "pppoe-wan"}}, &log)
	if err != nil {
		t.Fatal(err)
	}
	if check != out {
		t.Errorf("check path %q, want the rendered file %q", check, out)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600 (the file holds Map-Server keys)", fi.Mode().Perm())
	}
	c, err := conf.Load(out)
	if err != nil {
		t.Fatalf("rendered file fails conf validation: %v", err)
	}
	x := c.XTR
	if x == nil {
		t.Fatal("no [xtr]")
	}
	pfx := func(s ...string) []netip.Prefix {
		var ps []netip.Prefix
		for _, v := range s {
			ps = append(ps, netip.MustParsePrefix(v))
		}
		return ps
	}
	addr := netip.MustParseAddr
	f := false
	wantMS := []conf.MapServerRef{
		{Address: addr("192.0.2.10"), Key: `it's a "secret" with spaces \ and a backslash`, KeyType: "sha1", WantMapNotify: &f},
		{Address: addr("2001:db8:ff::10"), Key: "plain", KeyType: "sha256"},
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"log_level", c.LogLevel, "debug"},
		{"tun", x.TUN, "lisp9"},
		{"instance_id", x.InstanceID, uint32(4096)},
		{"eid_prefixes", x.EIDPrefixes, pfx("198.51.100.0/25", "2001:db8:1::/48")},
		{"eid_space", x.EIDSpace, pfx("198.51.100.0/24", "2001:db8:1::/48")},
		{"map_resolvers", x.MapResolvers, []netip.Addr{addr("192.0.2.10"), addr("2001:db8:ff::10")}},
		{"proxy_etrs", x.ProxyETRs, []conf.Locator{{Address: addr("192.0.2.20"), Priority: 5, Weight: 50}}},
		{"rloc", x.RLOCs, []conf.LocalRLOC{{Interface: "pppoe-wan", Priority: 1, Weight: 60}, {Address: addr("203.0.113.7"), Priority: 2, Weight: 40}}},
	}
	for _, ck := range checks {
		if !equal(ck.got, ck.want) {
			t.Errorf("%s: got %v, want %v", ck.name, ck.got, ck.want)
		}
	}
	if len(x.MapServers) != len(wantMS) {
		t.Fatalf("map servers: got %d, want %d", len(x.MapServers), len(wantMS))
	}
	for i, w := range wantMS {
		g := x.MapServers[i]
		if g.Address != w.Address || g.Key != w.Key || g.KeyType != w.KeyType || g.WantsMapNotify() != w.WantsMapNotify() {
			t.Errorf("map_server[%d]: got %+v (notify %v), want %+v (notify %v)", i, g, g.WantsMapNotify(), w, w.WantsMapNotify())
		}
	}
	if !strings.Contains(log.String(), "rendered") {
		t.Errorf("log does not say what was done: %q", log.String())
	}
}

func equal(a, b any) bool {
	switch a := a.(type) {
	case []netip.Prefix:
		return slices.Equal(a, b.([]netip.Prefix))
	case []netip.Addr:
		return slices.Equal(a, b.([]netip.Addr))
	case []conf.Locator:
		return slices.Equal(a, b.([]conf.Locator))
	case []conf.LocalRLOC:
		return reflect.DeepEqual(a, b.([]conf.LocalRLOC))
	}
	return a == b
}

// TestRenderTrickyKeys renders every tricky value as a Map-Server key and
// checks that conf reads back exactly that key.
func TestRenderTrickyKeys(t *testing.T) {
	dir := t.TempDir()
	for i, key := range tricky {
		if key == "" {
			continue // an empty key is invalid; see TestRenderInvalid
		}
		text := "package lispd\nconfig lispd main\n\toption enabled 1\nconfig eid\n\tlist prefix '198.51.100.0/25'\n" +
			"config rloc\n\toption device 'eth1'\nconfig map_server\n\toption address '192.0.2.10'\n\toption key " + Quote(key) + "\n"
		out := filepath.Join(dir, "out.toml")
		if _, err := Run(text, out, Options{}, &bytes.Buffer{}); err != nil {
			t.Fatalf("%d %q: %v", i, key, err)
		}
		c, err := conf.Load(out)
		if err != nil {
			t.Fatalf("%q: %v", key, err)
		}
		if got := c.XTR.MapServers[0].Key; got != key {
			t.Errorf("key: got %q, want %q", got, key)
		}
	}
}

func TestRenderInvalid(t *testing.T) {
	base := "package lispd\nconfig lispd main\n\toption enabled 1\nconfig eid\n\tlist prefix '198.51.100.0/25'\nconfig rloc\n\toption interface wan\n"
	ms := "config map_server\n\toption address '192.0.2.10'\n\toption key k\n"
	for _, tc := range []struct{ name, text, want string }{
		{"key_type", base + ms + "\toption key_type md5\n", `lispd.@map_server[0].key_type: must be sha1 or sha256 (got "md5")`},
		{"empty key", base + "config map_server\n\toption address '192.0.2.10'\n\toption key ''\n", "lispd.@map_server[0].key: missing"},
		{"ms address", base + "config map_server\n\toption address 'ms.example'\n\toption key k\n", `lispd.@map_server[0].address: "ms.example" is not an IP address`},
		{"multicast", base + "config map_resolver\n\tlist address 224.0.0.1\n", "lispd.@map_resolver[0].address: 224.0.0.1 is not a unicast address"},
		{"host bits", base + "config eid\n\tlist prefix '198.51.100.1/24'\n", `lispd.@eid[1].prefix: "198.51.100.1/24" has host bits set (did you mean 198.51.100.0/24?)`},
		{"not prefix", base + "config eid\n\tlist prefix 'x y'\n", `lispd.@eid[1].prefix: "x y" is not an IP prefix`},
		{"priority", base + "config rloc\n\toption device eth2\n\toption priority 256\n", `lispd.@rloc[1].priority: must be an integer from 0 to 255 (got "256")`},
		{"weight", base + "config petr\n\toption address 192.0.2.20\n\toption weight 101\n", `lispd.@petr[0].weight: must be an integer from 0 to 100 (got "101")`},
		{"rloc none", base + "config rloc\n\toption priority 1\n", "lispd.@rloc[1]: needs exactly one of interface"},
		{"rloc two", base + "config rloc\n\toption device eth2\n\toption address 192.0.2.1\n", "lispd.@rloc[1]: needs exactly one of interface"},
		{"unresolved", strings.Replace(base, "interface wan", "interface wan6", 1), `lispd.@rloc[0].interface: logical interface "wan6" has no kernel device`},
		{"log_level", strings.Replace(base, "enabled 1", "enabled 1\n\toption log_level verbose", 1), `lispd.main.log_level: must be debug, info, warn or error (got "verbose")`},
		{"enabled", strings.Replace(base, "enabled 1", "enabled maybe", 1), `lispd.main.enabled: must be 0 or 1 (got "maybe")`},
		{"instance_id", strings.Replace(base, "enabled 1", "enabled 1\n\toption instance_id 16777215", 1), "lispd.main.instance_id: must be an integer from 0 to 16777214"},
		{"tun", strings.Replace(base, "enabled 1", "enabled 1\n\toption tun 'a b'", 1), "lispd.main.tun: must be a network device name"},
		{"config path", strings.Replace(base, "enabled 1", "enabled 1\n\toption config 'etc/x.toml'", 1), "lispd.main.config: must be a clean absolute path"},
		{"unknown option", base + ms + "\toption keytype sha1\n", "lispd.@map_server[0].keytype: unknown option"},
		{"unknown section", base + "config mapserver\n", `lispd.@mapserver[0]: unknown section type "mapserver"`},
		{"list for option", base + ms + "\tlist key a\n", "given both as option and as list"},
		{"list not allowed", base + "config petr\n\tlist address 192.0.2.20\n", "lispd.@petr[0].address: must be a single option, not a list"},
		{"unnamed lispd", strings.Replace(base, "config lispd main", "config lispd", 1), `lispd.@lispd[0]: the lispd section must be named "main"`},
		{"no lispd", "package lispd\nconfig eid\n\tlist prefix '198.51.100.0/25'\n", "lispd.@lispd[0]: no `config lispd` section"},
		{"xtr key in flash mode", "package lispd\nconfig lispd main\n\toption tun lisp1\n", "lispd.main.tun: only used when rendering from UCI sections"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(tc.text, filepath.Join(t.TempDir(), "out.toml"), Options{Devices: map[string]string{"wan": "eth1"}}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v\nwant %q", err, tc.want)
			}
		})
	}
}

// TestRenderAllProblems: every invalid value is reported, not just the first.
func TestRenderAllProblems(t *testing.T) {
	text := "package lispd\nconfig lispd main\n\toption log_level loud\nconfig map_server\n\toption address x\n\toption key_type md5\n"
	_, err := Run(text, filepath.Join(t.TempDir(), "o"), Options{}, &bytes.Buffer{})
	for _, want := range []string{"lispd.main.log_level", "lispd.@map_server[0].address", "lispd.@map_server[0].key:", "lispd.@map_server[0].key_type"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %s in %v", want, err)
		}
	}
}

// TestFlashMode: without eid/rloc/map_server/map_resolver/petr sections the
// flash TOML is used as is (-o becomes a symlink to it), or with UCI's
// log_level when that is set.
func TestFlashMode(t *testing.T) {
	dir := t.TempDir()
	flash := filepath.Join(dir, "flash.toml")
	if err := os.WriteFile(flash, conf.Example, 0o600); err != nil {
		t.Fatal(err)
	}
	want, err := conf.Load(flash)
	if err != nil {
		t.Fatalf("conf example: %v", err)
	}
	out := filepath.Join(dir, "run", "lispd.toml")
	text := strings.Replace(readTestdata(t, "flash.uci"), "/etc/lispd/lispd.toml", flash, 1)

	var log bytes.Buffer
	check, err := Run(text, out, Options{}, &log)
	if err != nil {
		t.Fatal(err)
	}
	if check != flash {
		t.Errorf("check path %q, want the flash TOML %q", check, flash)
	}
	if target, err := os.Readlink(out); err != nil || target != flash {
		t.Errorf("%s: link to %q (%v), want a symlink to %s", out, target, err, flash)
	}
	if !strings.Contains(log.String(), "using the flash TOML") {
		t.Errorf("log: %q", log.String())
	}

	// With log_level in UCI: a regular 0600 file equal to the flash TOML but
	// for log_level. It replaces the symlink, never the flash file.
	text = strings.Replace(text, "option enabled '1'", "option enabled '1'\n\toption log_level 'error'", 1)
	if _, err := Run(text, out, Options{}, &log); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(out)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v %v, want a regular 0600 file", out, fi.Mode(), err)
	}
	got, err := conf.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if got.LogLevel != "error" {
		t.Errorf("log_level %q, want error", got.LogLevel)
	}
	got.LogLevel, got.Path = want.LogLevel, want.Path
	var a, b bytes.Buffer
	if err := conf.Encode(&a, want); err != nil {
		t.Fatal(err)
	}
	if err := conf.Encode(&b, got); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() {
		t.Errorf("flash copy differs beyond log_level:\n%s\n---\n%s", a.String(), b.String())
	}
	if flashNow, _ := os.ReadFile(flash); !bytes.Equal(flashNow, conf.Example) {
		t.Error("the flash TOML was modified")
	}
}

func TestCommandExitCodes(t *testing.T) {
	dir := t.TempDir()
	full := filepath.Join("testdata", "full.uci")
	for _, tc := range []struct {
		args  []string
		stdin string
		code  int
		out   string
	}{
		{[]string{"-i", full, "-o", filepath.Join(dir, "a.toml"), "--device", "wan=eth1"}, "", ExitOK, filepath.Join(dir, "a.toml") + "\n"},
		{[]string{"-o", filepath.Join(dir, "b.toml"), "--device", "wan=eth1"}, readTestdata(t, "full.uci"), ExitOK, filepath.Join(dir, "b.toml") + "\n"},
		{[]string{"-i", full, "-o", filepath.Join(dir, "c.toml")}, "", ExitInvalid, ""}, // wan unresolved
		{[]string{"--device", "noequals"}, "", ExitUsage, ""},
		{[]string{"extra"}, "", ExitUsage, ""},
	} {
		var stdout, stderr bytes.Buffer
		code := Command(tc.args, strings.NewReader(tc.stdin), &stdout, &stderr)
		if code != tc.code || stdout.String() != tc.out {
			t.Errorf("%v: exit %d stdout %q stderr %q; want exit %d stdout %q", tc.args, code, stdout.String(), stderr.String(), tc.code, tc.out)
		}
	}
}

// TestRenderConfChecks: the problems conf finds in the rendered
// configuration (cross-field checks the renderer does not repeat) name the
// UCI option they came from, and the keys quoted in the message too, never
// the rendered file or its lines; the file is not written.
func TestRenderConfChecks(t *testing.T) {
	head := "package lispd\nconfig lispd main\n\toption enabled 1\n"
	eid := "config eid\n\tlist prefix '198.51.100.0/25'\n"
	rloc := "config rloc\n\toption interface wan\n"
	ms := "config map_server\n\toption address '192.0.2.10'\n\toption key k\n"
	for _, tc := range []struct{ name, text, want string }{
		{"overlapping eid sections", head + eid + "config eid\n\tlist prefix '198.51.100.0/24'\n" + rloc,
			"lispd.@eid[1].prefix: 198.51.100.0/24 overlaps 198.51.100.0/25 (lispd.@eid[0].prefix)"},
		{"overlap within one list", head + "config eid\n\tlist prefix '2001:db8:1::/48'\n\tlist prefix '198.51.100.0/25'\n\tlist prefix '2001:db8:1:2::/64'\n" + rloc,
			"lispd.@eid[0].prefix: 2001:db8:1:2::/64 overlaps 2001:db8:1::/48 (lispd.@eid[0].prefix)"},
		{"overlapping eid_space", strings.Replace(head, "enabled 1", "enabled 1\n\tlist eid_space 10.0.0.0/8\n\tlist eid_space 10.1.0.0/16", 1) + eid + rloc,
			"lispd.main.eid_space: 10.1.0.0/16 overlaps 10.0.0.0/8 (lispd.main.eid_space)"},
		{"named eid section", head + eid + "config eid 'lab'\n\tlist prefix '198.51.100.64/26'\n" + rloc,
			"lispd.lab.prefix: 198.51.100.64/26 overlaps 198.51.100.0/25 (lispd.@eid[0].prefix)"},
		{"same address twice", head + eid + "config rloc\n\toption address 203.0.113.7\nconfig rloc\n\toption address 203.0.113.7\n",
			"lispd.@rloc[1].address: address 203.0.113.7 is already lispd.@rloc[0]"},
		{"rloc inside eid", head + eid + rloc + "config rloc\n\toption address 198.51.100.7\n",
			"lispd.@rloc[1].address: 198.51.100.7 is inside EID prefix 198.51.100.0/25 (lispd.@eid[0].prefix): an RLOC may not be an EID"},
		{"same device, other priority", head + eid + rloc + "config rloc\n\toption interface wan6\n\toption priority 2\n",
			"lispd.@rloc[1].interface: interface eth1 is already lispd.@rloc[0]"},
		{"device and interface, other weight", head + eid + rloc + "config rloc 'up'\n\toption device eth1\n\toption weight 10\n",
			"lispd.up.device: interface eth1 is already lispd.@rloc[0]"},
		{"merged rloc shifts the index", head + eid + rloc + "config rloc\n\toption interface wan6\nconfig rloc\n\toption address 198.51.100.7\n",
			"lispd.@rloc[2].address: 198.51.100.7 is inside EID prefix 198.51.100.0/25 (lispd.@eid[0].prefix): an RLOC may not be an EID"},
		{"map server twice", head + eid + rloc + ms + ms,
			"lispd.@map_server[1].address: Map-Server 192.0.2.10 is already lispd.@map_server[0]"},
		{"map server inside eid", head + eid + rloc + "config map_server\n\toption address '198.51.100.9'\n\toption key k\n",
			"lispd.@map_server[0].address: 198.51.100.9 is inside EID prefix 198.51.100.0/25 (lispd.@eid[0].prefix): an RLOC may not be an EID"},
		{"map resolver twice", head + eid + rloc + "config map_resolver\n\tlist address 192.0.2.10\nconfig map_resolver\n\tlist address 192.0.2.11\n\tlist address 192.0.2.10\n",
			"lispd.@map_resolver[1].address: 192.0.2.10 is already lispd.@map_resolver[0].address"},
		{"ipv4-mapped petr", head + eid + rloc + "config petr\n\toption address '::ffff:192.0.2.20'\n",
			"lispd.@petr[0].address: ::ffff:192.0.2.20 is IPv4-mapped: write it as 192.0.2.20"},
		{"ipv4-mapped prefix", head + "config eid\n\tlist prefix '::ffff:198.51.100.0/120'\n" + rloc,
			"lispd.@eid[0].prefix: ::ffff:198.51.100.0/120 is IPv4-mapped: write it in IPv4 form"},
		{"mtu range", strings.Replace(head, "enabled 1", "enabled 1\n\toption mtu 100", 1) + eid + rloc,
			"lispd.main.mtu: 100 is out of range: 0 (derive from the path MTU) or 576..65535"},
		{"mtu below ipv6 minimum", strings.Replace(head, "enabled 1", "enabled 1\n\toption mtu 1000", 1) + eid + "config eid 'v6'\n\tlist prefix '2001:db8:1::/48'\n" + rloc,
			"lispd.main.mtu: 1000 is below 1280, the IPv6 minimum, but lispd.v6.prefix is IPv6 (2001:db8:1::/48)"},
		// Checks of the [xtr] table as a whole have no option to name.
		{"no rloc", head + eid + ms,
			"lispd: the rendered configuration is invalid: xtr: needs at least one [[xtr.rloc]]: the locator it sends from and is reached at"},
		{"all priorities 255", head + eid + "config rloc\n\toption interface wan\n\toption priority 255\n",
			"lispd: the rendered configuration is invalid: xtr.rloc: every locator has priority 255 (never used for unicast): give at least one a lower priority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "var", "etc", "lispd.toml")
			_, err := Run(tc.text, out, Options{Devices: map[string]string{"wan": "eth1", "wan6": "eth1"}}, &bytes.Buffer{})
			if err == nil || err.Error() != tc.want {
				t.Errorf("got %v\nwant %s", err, tc.want)
			}
			var ps Problems
			if !errors.As(err, &ps) {
				t.Errorf("%T is not Problems", err)
			}
			if _, err := os.Lstat(out); !os.IsNotExist(err) {
				t.Errorf("%s written for an invalid configuration (%v)", out, err)
			}
		})
	}
}

// TestRenderSameDevice: rloc sections whose interfaces resolve to one
// device with the same priority and weight (wan and wan6 on eth1, OpenWrt's
// default) are one locator entry: it already stands for the device's IPv4
// and IPv6 addresses.
func TestRenderSameDevice(t *testing.T) {
	text := "package lispd\nconfig lispd main\n\toption enabled 1\nconfig eid\n\tlist prefix '198.51.100.0/25'\n" +
		"config rloc\n\toption interface wan\n\toption priority 1\nconfig rloc\n\toption interface wan6\n\toption priority 1\n" +
		"config rloc\n\toption device eth1\n\toption priority 1\nconfig rloc\n\toption interface lte\n\toption priority 2\n"
	out := filepath.Join(t.TempDir(), "o.toml")
	if _, err := Run(text, out, Options{Devices: map[string]string{"wan": "eth1", "wan6": "eth1", "lte": "wwan0"}}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	c, err := conf.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []conf.LocalRLOC{{Interface: "eth1", Priority: 1, Weight: conf.DefaultWeight}, {Interface: "wwan0", Priority: 2, Weight: conf.DefaultWeight}}
	if !reflect.DeepEqual(c.XTR.RLOCs, want) {
		t.Errorf("rlocs %+v, want %+v", c.XTR.RLOCs, want)
	}
}

// TestUCIProblems: the key mapping on conf's errors as Encode returns them
// (with the rendered text's file and lines): keys and quoted keys are
// mapped exactly (xtr.rloc[1] is not a prefix of xtr.rloc[10]), and a key
// no option sets says the rendered configuration is invalid without the
// file or line.
func TestUCIProblems(t *testing.T) {
	r := &renderer{pkg: &Package{Name: PackageName}}
	for i := range 11 {
		s := &Section{Type: TypeRLOC, Index: i}
		r.pkg.Sections = append(r.pkg.Sections, s)
		r.rlocs = append(r.rlocs, s)
	}
	errs := conf.Errors{
		{File: "/var/etc/lispd.toml", Line: 38, Col: 1, Key: "xtr.rloc[10].address", Msg: "address 192.0.2.1 is already xtr.rloc[1]"},
		{File: "/var/etc/lispd.toml", Line: 40, Col: 1, Key: "xtr.rloc[1]", Msg: "x (xtr.rloc[10]) y"},
		{File: "/var/etc/lispd.toml", Line: 9, Col: 1, Key: "xtr.map_cache_limit", Msg: "0 is out of range 1..16777216"},
		{File: "/var/etc/lispd.toml", Line: 50, Col: 3, Key: "xtr.rloc[11].weight", Msg: "-1 is out of range 0..100"},
	}
	want := "lispd.@rloc[10].address: address 192.0.2.1 is already lispd.@rloc[1]\n" +
		"lispd.@rloc[1]: x (lispd.@rloc[10]) y\n" +
		"lispd: the rendered configuration is invalid: xtr.map_cache_limit: 0 is out of range 1..16777216\n" +
		"lispd: the rendered configuration is invalid: xtr.rloc[11].weight: -1 is out of range 0..100"
	err := r.uciProblems(fmt.Errorf("rendered configuration is invalid:\n%w", errs))
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
	other := errors.New("encode: disk on fire")
	if err := r.uciProblems(other); err != other {
		t.Errorf("an error that is not conf's: got %v, want it as is", err)
	}
}

// TestCommandConfProblems: `lispd uci-render --device wan=eth1 --device
// wan6=eth1` (OpenWrt's usual wan and wan6 on one device) renders when the
// two rloc sections agree and fails with exit 1 and a message naming the
// UCI option when they do not, or when conf's checks fail; a failed render
// leaves the previous file (a reload's) as it was.
func TestCommandConfProblems(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "lispd.toml")
	base := "package lispd\nconfig lispd main\n\toption enabled 1\nconfig eid\n\tlist prefix '198.51.100.0/25'\n" +
		"config rloc\n\toption interface wan\nconfig rloc\n\toption interface wan6\n"
	devs := []string{"-o", out, "--device", "wan=eth1", "--device", "wan6=eth1"}
	var stdout, stderr bytes.Buffer
	if code := Command(devs, strings.NewReader(base), &stdout, &stderr); code != ExitOK || stdout.String() != out+"\n" {
		t.Fatalf("wan and wan6 on eth1: exit %d stdout %q stderr %q", code, stdout.String(), stderr.String())
	}
	previous, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, text, stderr string }{
		{"other priority", base + "\toption priority 2\n",
			"lispd uci-render: lispd.@rloc[1].interface: interface eth1 is already lispd.@rloc[0]\n"},
		{"overlap", base + "config eid 'more'\n\tlist prefix '198.51.100.0/24'\n",
			"lispd uci-render: lispd.more.prefix: 198.51.100.0/24 overlaps 198.51.100.0/25 (lispd.@eid[0].prefix)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout.Reset()
			stderr.Reset()
			code := Command(devs, strings.NewReader(tc.text), &stdout, &stderr)
			if code != ExitInvalid || stdout.Len() != 0 || stderr.String() != tc.stderr {
				t.Errorf("exit %d stdout %q stderr\n%s\nwant exit %d, no stdout, stderr\n%s", code, stdout.String(), stderr.String(), ExitInvalid, tc.stderr)
			}
			if now, err := os.ReadFile(out); err != nil || !bytes.Equal(now, previous) {
				t.Errorf("the previous render was changed (%v)", err)
			}
		})
	}
}
