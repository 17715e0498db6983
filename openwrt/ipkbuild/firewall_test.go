package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fwHarness runs the firewall scripts against testdata/fake-uci, a stand-in
// for uci that keeps the configuration in a file.
type fwHarness struct {
	t     *testing.T
	dir   string
	store string
}

func newFWHarness(t *testing.T, initial string) *fwHarness {
	if _, err := os.Stat("/etc/init.d/firewall"); err == nil {
		t.Skip("this machine has /etc/init.d/firewall; the scripts would reload it")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	fake, err := filepath.Abs(filepath.Join("testdata", "fake-uci"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(fake, filepath.Join(bin, "uci")); err != nil {
		t.Fatal(err)
	}
	h := &fwHarness{t: t, dir: dir, store: filepath.Join(dir, "store")}
	if err := os.WriteFile(h.store, []byte(initial), 0o644); err != nil {
		t.Fatal(err)
	}
	return h
}

// run runs script with sh and the given extra environment.
func (h *fwHarness) run(script string, env ...string) {
	h.t.Helper()
	cmd := exec.Command("sh", script)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Join(h.dir, "bin")+":"+os.Getenv("PATH"), "UCI_STORE="+h.store, "IPKG_INSTROOT=", "PKG_UPGRADE=")
	cmd.Env = append(cmd.Env, env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		h.t.Fatalf("%s: %v\n%s", script, err, out)
	}
}

func (h *fwHarness) config() string {
	b, err := os.ReadFile(h.store)
	if err != nil {
		h.t.Fatal(err)
	}
	return string(b)
}

func (h *fwHarness) commits() int {
	b, _ := os.ReadFile(h.store + ".commits")
	return strings.Count(string(b), "firewall\n")
}

const baseFirewall = `firewall.cfg01=zone
firewall.cfg01.name='lan'
firewall.cfg02=zone
firewall.cfg02.name='wan'
firewall.cfg03=forwarding
firewall.cfg03.src='lan'
firewall.cfg03.dest='wan'
`

var lispdSections = []string{
	"firewall.lispd_zone=zone",
	"firewall.lispd_zone.name='lisp'",
	"firewall.lispd_zone.input='REJECT'",
	"firewall.lispd_zone.output='ACCEPT'",
	"firewall.lispd_zone.forward='REJECT'",
	"firewall.lispd_fwd_lan_lisp=forwarding",
	"firewall.lispd_fwd_lan_lisp.src='lan'",
	"firewall.lispd_fwd_lan_lisp.dest='lisp'",
	"firewall.lispd_fwd_lisp_lan=forwarding",
	"firewall.lispd_fwd_lisp_lan.src='lisp'",
	"firewall.lispd_fwd_lisp_lan.dest='lan'",
	"firewall.lispd_wan_udp=rule",
	"firewall.lispd_wan_udp.src='wan'",
	"firewall.lispd_wan_udp.proto='udp'",
	"firewall.lispd_wan_udp.dest_port='4341-4342'",
	"firewall.lispd_wan_udp.target='ACCEPT'",
}

// prermScript writes the feed Makefile's prerm as it lands in the ipk.
func prermScript(t *testing.T) string {
	fd, err := ReadFeed(filepath.Join(feedDir(t), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "prerm-pkg")
	if err := os.WriteFile(p, []byte(fd.Defines["Package/lispd/prerm"]+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFirewallDefaultsAndRemoval: the uci-defaults script adds the lisp zone,
// the lan<->lisp forwardings and the wan rule once; running it again changes
// nothing; the prerm removes exactly those sections, except on upgrade.
func TestFirewallDefaultsAndRemoval(t *testing.T) {
	defaults := filepath.Join(feedDir(t), "files", "lispd.defaults")
	h := newFWHarness(t, baseFirewall)
	h.run(defaults)
	cfg := h.config()
	for _, l := range append(lispdSections, "firewall.lispd_zone.device='lisp0'") {
		if !strings.Contains(cfg, l+"\n") {
			t.Errorf("after uci-defaults, missing %s", l)
		}
	}
	if !strings.HasPrefix(cfg, baseFirewall) || h.commits() != 1 {
		t.Errorf("existing sections changed or commits %d != 1:\n%s", h.commits(), cfg)
	}

	h.run(defaults) // again: nothing is added twice
	if h.config() != cfg || h.commits() != 1 {
		t.Errorf("second run changed the configuration (commits %d):\n%s", h.commits(), h.config())
	}

	prerm := prermScript(t)
	h.run(prerm, "PKG_UPGRADE=1")
	if h.config() != cfg {
		t.Error("prerm during an upgrade removed firewall sections")
	}
	h.run(prerm, "IPKG_INSTROOT=/build/root")
	if h.config() != cfg {
		t.Error("prerm while building an image removed firewall sections")
	}
	h.run(prerm)
	if got := h.config(); got != baseFirewall || h.commits() != 2 {
		t.Errorf("after prerm (commits %d), want the original configuration:\n%s", h.commits(), got)
	}
	h.run(prerm)
	if h.commits() != 2 {
		t.Error("prerm with nothing to remove committed")
	}
}

// TestFirewallDefaultsExisting: a zone named lisp that the user made is kept
// and not duplicated; the TUN name comes from lispd.main.tun.
func TestFirewallDefaultsExisting(t *testing.T) {
	defaults := filepath.Join(feedDir(t), "files", "lispd.defaults")
	h := newFWHarness(t, baseFirewall+"firewall.cfg09=zone\nfirewall.cfg09.name='lisp'\nlispd.main.tun='lisp7'\n")
	h.run(defaults)
	cfg := h.config()
	if strings.Contains(cfg, "firewall.lispd_zone") {
		t.Errorf("added a second lisp zone:\n%s", cfg)
	}
	if !strings.Contains(cfg, "firewall.lispd_wan_udp=rule\n") || !strings.Contains(cfg, "firewall.lispd_fwd_lan_lisp=forwarding\n") {
		t.Errorf("rule or forwarding missing:\n%s", cfg)
	}

	h2 := newFWHarness(t, baseFirewall+"lispd.main.tun='lisp7'\n")
	h2.run(defaults)
	if !strings.Contains(h2.config(), "firewall.lispd_zone.device='lisp7'\n") {
		t.Errorf("zone device is not lispd.main.tun:\n%s", h2.config())
	}
}
