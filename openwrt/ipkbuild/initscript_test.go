package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// initHarness runs files/lispd.init through testdata/rc-harness: procd,
// config_* and validation are stand-ins that record their calls, uci is
// testdata/fake-uci, and lispd is the real binary built for this machine.
// The script's absolute paths (/usr/sbin/lispd, /var/..., network.sh) are
// redirected into a temporary directory.
type initHarness struct {
	t   *testing.T
	dir string
}

const harnessNetworkSh = `network_flush_cache() { :; }
network_get_device() { eval "$1=\$(cat \"\$HARNESS/dev_$2\" 2>/dev/null)"; eval "[ -n \"\$$1\" ]"; }
network_get_physdev() { eval "$1=\$(cat \"\$HARNESS/physdev_$2\" 2>/dev/null)"; eval "[ -n \"\$$1\" ]"; }
`

func newInitHarness(t *testing.T, store string) *initHarness {
	t.Helper()
	dir := t.TempDir()
	h := &initHarness{t: t, dir: dir}
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "lispd"), ".")
	build.Dir = repoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(filepath.Join(feedDir(t), "files", "lispd.init"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer("/usr/sbin/lispd", dir+"/lispd", "/var/", dir+"/var/", "/lib/functions/network.sh", dir+"/network.sh").Replace(string(raw))
	s = strings.ReplaceAll(s, "mkdir -p /var/etc /var/run", "mkdir -p "+dir+"/var/etc "+dir+"/var/run")
	for name, data := range map[string]string{"lispd.init": s, "network.sh": harnessNetworkSh, "store": store} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for cmd, fake := range map[string]string{"uci": "fake-uci", "logger": "fake-logger"} {
		abs, err := filepath.Abs(filepath.Join("testdata", fake))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(abs, filepath.Join(bin, cmd)); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// run runs an init action and returns the calls and syslog lines it added.
func (h *initHarness) run(action string) (calls, syslog string) {
	h.t.Helper()
	before := func(name string) int { b, _ := os.ReadFile(filepath.Join(h.dir, name)); return len(b) }
	nc, ns := before("calls"), before("syslog")
	harness, err := filepath.Abs(filepath.Join("testdata", "rc-harness"))
	if err != nil {
		h.t.Fatal(err)
	}
	cmd := exec.Command("sh", harness, filepath.Join(h.dir, "lispd.init"), action)
	cmd.Env = append(os.Environ(), "HARNESS="+h.dir, "UCI_STORE="+filepath.Join(h.dir, "store"),
		"PATH="+filepath.Join(h.dir, "bin")+":"+os.Getenv("PATH"))
	out, _ := cmd.CombinedOutput() // a failed start is part of what is tested
	if len(out) > 0 {
		h.t.Logf("%s: %s", action, out)
	}
	after := func(name string, n int) string { b, _ := os.ReadFile(filepath.Join(h.dir, name)); return string(b[n:]) }
	return after("calls", nc), after("syslog", ns)
}

func (h *initHarness) set(name, value string) {
	h.t.Helper()
	if err := os.WriteFile(filepath.Join(h.dir, name), []byte(value), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

func (h *initHarness) runConf() string {
	b, err := os.ReadFile(filepath.Join(h.dir, "var", "etc", "lispd.toml"))
	if err != nil {
		h.t.Fatal(err)
	}
	return string(b)
}

const harnessStore = `lispd.main=lispd
lispd.main.enabled='1'
lispd.main.log_level='debug'
lispd.main.eid_space='198.51.100.0/24'
lispd.e1=eid
lispd.e1.prefix='198.51.100.0/25'
lispd.r1=rloc
lispd.r1.interface='wan'
lispd.m1=map_server
lispd.m1.address='192.0.2.10'
lispd.m1.key='s3cret key'
lispd.m1.key_type='sha256'
lispd.mr=map_resolver
lispd.mr.address='192.0.2.10'
`

// TestInitScriptRun walks the init script through start, a reload after the
// WAN device changed and a reload with an invalid value.
func TestInitScriptRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds lispd; skipped with -short")
	}
	h := newInitHarness(t, harnessStore)
	h.set("dev_wan", "eth1")

	calls, syslog := h.run("start")
	for _, want := range []string{
		"procd_set_param command " + h.dir + "/lispd run -c " + h.dir + "/var/etc/lispd.toml\n",
		"procd_set_param respawn\n",
		"procd_set_param stdout 1\n",
		"procd_set_param stderr 1\n",
		"procd_set_param file /etc/config/lispd /etc/lispd/lispd.toml " + h.dir + "/var/etc/lispd.toml\n",
		"procd_set_param reload_signal HUP\n",
		"procd_add_reload_trigger lispd\n",
		"procd_add_interface_trigger interface.* wan /etc/init.d/lispd reload\n",
	} {
		if !strings.Contains(calls, want) {
			t.Errorf("start: no call %q in\n%s", want, calls)
		}
	}
	conf := h.runConf()
	if !strings.Contains(conf, `interface = "eth1"`) || !strings.Contains(conf, `key = "s3cret key"`) {
		t.Errorf("rendered configuration:\n%s", conf)
	}
	if !strings.Contains(syslog, "lispd.toml: OK") {
		t.Errorf("lispd check's output is not in syslog:\n%s", syslog)
	}

	// The WAN comes up as pppoe-wan: the interface trigger reloads.
	h.set("running", "")
	h.set("dev_wan", "pppoe-wan")
	calls, _ = h.run("reload")
	if !strings.Contains(h.runConf(), `interface = "pppoe-wan"`) {
		t.Errorf("reload did not render the new device:\n%s", h.runConf())
	}
	if !strings.Contains(calls, "procd_send_signal lispd * HUP\n") {
		t.Errorf("reload sent no SIGHUP:\n%s", calls)
	}
	if strings.Contains(calls, "procd_kill") || strings.Contains(calls, "procd_open_instance") {
		t.Errorf("reload stopped or restarted the daemon:\n%s", calls)
	}

	// A PPPoE reconnect: while wan is down it has no layer-3 device, and
	// its configured device (eth0.2) must not replace pppoe-wan there and
	// back: a changed locator restarts the xTR and empties its map-cache.
	h.set("dev_wan", "")
	h.set("physdev_wan", "eth0.2")
	calls, syslog = h.run("reload")
	if conf := h.runConf(); !strings.Contains(conf, `interface = "pppoe-wan"`) {
		t.Errorf("reload while wan is down changed its device:\n%s", conf)
	}
	if !strings.Contains(calls, "procd_send_signal lispd * HUP\n") || !strings.Contains(syslog, "reloaded") {
		t.Errorf("reload while wan is down did not go through (calls, syslog):\n%s\n%s", calls, syslog)
	}

	// An invalid value: no signal, the running configuration stays.
	before := h.runConf()
	store, _ := os.ReadFile(filepath.Join(h.dir, "store"))
	h.set("store", strings.Replace(string(store), "key_type='sha256'", "key_type='md5'", 1))
	calls, syslog = h.run("reload")
	if strings.Contains(calls, "procd_send_signal") {
		t.Errorf("reload signalled a configuration that does not validate:\n%s", calls)
	}
	// Validation catches it first (uci-render would too: TestRender*); what
	// validate_data says reaches syslog, not a stderr nobody reads.
	if !strings.Contains(syslog, "lispd.m1.key_type='md5'") ||
		!strings.Contains(syslog, "invalid values in /etc/config/lispd section m1") {
		t.Errorf("syslog does not name the invalid section and option:\n%s", syslog)
	}
	if h.runConf() != before {
		t.Error("an invalid configuration replaced the running one")
	}
}

// TestInitScriptWANDown: a WAN that was never up renders with its configured
// device (lispd follows it when it comes up).
func TestInitScriptWANDown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds lispd; skipped with -short")
	}
	h := newInitHarness(t, harnessStore)
	h.set("physdev_wan", "eth0.2")
	calls, _ := h.run("start")
	if !strings.Contains(calls, "procd_open_instance") {
		t.Fatalf("no instance started:\n%s", calls)
	}
	if conf := h.runConf(); !strings.Contains(conf, `interface = "eth0.2"`) {
		t.Errorf("rendered configuration:\n%s", conf)
	}
}

// TestInitScriptDisabled: with enabled 0 nothing runs, and syslog says why.
func TestInitScriptDisabled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds lispd; skipped with -short")
	}
	h := newInitHarness(t, strings.Replace(harnessStore, "enabled='1'", "enabled='0'", 1))
	calls, syslog := h.run("start")
	if strings.Contains(calls, "procd_open_instance") {
		t.Errorf("disabled service started an instance:\n%s", calls)
	}
	if !strings.Contains(calls, "procd_add_reload_trigger lispd") {
		t.Error("no reload trigger: enabling it in UCI would not start it")
	}
	if !strings.Contains(syslog, "disabled") {
		t.Errorf("syslog: %q", syslog)
	}
}
