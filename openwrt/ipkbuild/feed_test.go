package main

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/lispd/lispd/conf"
	"github.com/lispd/lispd/conf/uci"
)

// The OpenWrt SDK cannot run here, so the feed Makefile is checked
// statically: the variables the packages feed requires, the install rules
// against files/, and conffiles against what is shipped.
func TestFeedMakefile(t *testing.T) {
	path := filepath.Join(feedDir(t), "Makefile")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	fd, err := ReadFeed(path)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile(filepath.Join(repoRoot(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	module := regexp.MustCompile(`(?m)^module\s+(\S+)`).FindSubmatch(mod)[1]

	for name, want := range map[string]string{
		"PKG_NAME":          `^lispd$`,
		"PKG_VERSION":       `^[0-9]+(\.[0-9]+)*$`,
		"PKG_RELEASE":       `^1$`, // numeric: -1 for ipk, -r1 for apk
		"PKG_SOURCE":        `^\$\(PKG_NAME\)-\$\(PKG_VERSION\)\.tar\.gz$`,
		"PKG_SOURCE_URL":    `^https://.*\$\(PKG_VERSION\)`,
		"PKG_HASH":          `^([0-9a-f]{64}|skip)$`,
		"PKG_LICENSE":       `.`,
		"PKG_MAINTAINER":    `.`,
		"PKG_BUILD_DEPENDS": `(^| )golang/host( |$)`,
		"GO_PKG":            `^` + regexp.QuoteMeta(string(module)) + `$`,
		"GO_PKG_LDFLAGS_X":  `(^| )main\.version=\$\(PKG_VERSION\)`,
		// The kernel path and the RTR role are built in only on request,
		// as `make ipk` does with IPK_KERNEL_PATH=1 and IPK_RTR=1; -tags
		// takes a comma-separated list.
		"GO_PKG_TAGS": `^\$\(subst \$\(space\),\$\(comma\),\$\(strip ` +
			`\$\(if \$\(CONFIG_LISPD_KERNEL_PATH\),,nokernelpath\) \$\(if \$\(CONFIG_LISPD_RTR\),,nortr\)\)\)$`,
		"PKG_CONFIG_DEPENDS": `^CONFIG_LISPD_KERNEL_PATH CONFIG_LISPD_RTR$`,
	} {
		v, ok := fd.Vars[name]
		if !ok {
			t.Errorf("%s is not set", name)
			continue
		}
		if !regexp.MustCompile(want).MatchString(v) {
			t.Errorf("%s:=%s does not match %s", name, v, want)
		}
	}
	// The release PGO profile, as `make ipk` uses it (the top Makefile's PGO).
	if v := fd.Vars["LISPD_PGO"]; v != "$(PKG_BUILD_DIR)/fwd/lookup.pgo" {
		t.Errorf("LISPD_PGO:=%s, want $(PKG_BUILD_DIR)/fwd/lookup.pgo", v)
	} else if _, err := os.Stat(filepath.Join(repoRoot(t), "fwd", "lookup.pgo")); err != nil {
		t.Errorf("LISPD_PGO: %v", err)
	}
	if !strings.Contains(fd.Defines["Build/Compile"], " -pgo=$(LISPD_PGO))") {
		t.Error("Build/Compile does not pass -pgo=$(LISPD_PGO) to the go build")
	}
	if top, err := os.ReadFile(filepath.Join(repoRoot(t), "Makefile")); err != nil {
		t.Fatal(err)
	} else if !strings.Contains(string(top), "PGO         := -pgo=$(CURDIR)/fwd/lookup.pgo\n") {
		t.Error("the top Makefile's PGO is not -pgo=$(CURDIR)/fwd/lookup.pgo")
	}
	if !strings.Contains(text, "define Package/lispd/config\nconfig LISPD_KERNEL_PATH\n") {
		t.Error("no menuconfig option LISPD_KERNEL_PATH (Package/lispd/config)")
	}
	// Both options: booleans of the package, off unless selected.
	for _, opt := range []string{"LISPD_KERNEL_PATH", "LISPD_RTR"} {
		i := strings.Index(fd.Defines["Package/lispd/config"], "config "+opt+"\n")
		if i < 0 {
			t.Errorf("no menuconfig option %s (Package/lispd/config)", opt)
			continue
		}
		body, _, _ := strings.Cut(fd.Defines["Package/lispd/config"][i:], "\n\n")
		for _, line := range []string{"\tbool \"", "\tdepends on PACKAGE_lispd\n", "\tdefault n\n", "\thelp\n"} {
			if !strings.Contains(body, line) {
				t.Errorf("menuconfig option %s lacks %q:\n%s", opt, line, body)
			}
		}
	}
	// The includes and calls of a golang package, in order.
	order := []string{
		"include $(TOPDIR)/rules.mk",
		"include $(INCLUDE_DIR)/package.mk",
		"include ../../lang/golang/golang-package.mk",
		"$(eval $(call BuildPackage,lispd))",
	}
	at := -1
	for _, s := range order {
		i := strings.Index(text, s)
		if i < 0 || i < at {
			t.Errorf("missing or out of order: %s", s)
		}
		at = i
	}
	if i := strings.Index(text, "GO_PKG:="); i < 0 || i > strings.Index(text, "golang-package.mk") {
		t.Error("GO_PKG must be set before golang-package.mk is included")
	}
	if d := fd.PackageVar("lispd", "DEPENDS"); d != "$(GO_ARCH_DEPENDS) +kmod-tun" {
		t.Errorf("DEPENDS:=%s, want $(GO_ARCH_DEPENDS) +kmod-tun", d)
	}
	for _, v := range []string{"SECTION", "CATEGORY", "TITLE", "URL"} {
		if fd.PackageVar("lispd", v) == "" {
			t.Errorf("Package/lispd lacks %s", v)
		}
	}
	if strings.TrimSpace(fd.Defines["Package/lispd/description"]) == "" {
		t.Error("no Package/lispd/description")
	}

	// Install rules: exactly these files, each directory created first, every
	// file in files/ installed.
	ins, err := fd.Installs("lispd")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"/usr/sbin/lispd":                     "BIN $(GO_PKG_BUILD_BIN_DIR)/lispd",
		"/etc/init.d/lispd":                   "BIN ./files/lispd.init",
		"/etc/config/lispd":                   "CONF ./files/lispd.config",
		"/etc/lispd/lispd.toml":               "CONF ./files/lispd.toml",
		"/etc/uci-defaults/90-lispd-firewall": "BIN ./files/lispd.defaults",
	}
	dirs := map[string]bool{}
	used := map[string]bool{}
	var shipped []string
	for _, in := range ins {
		if in.Kind == "DIR" {
			dirs[in.Dest] = true
			continue
		}
		if !dirs[filepath.Dir(in.Dest)] {
			t.Errorf("%s installed before $(INSTALL_DIR) %s", in.Dest, filepath.Dir(in.Dest))
		}
		if got := in.Kind + " " + in.Src; want[in.Dest] != got {
			t.Errorf("%s: installed as %q, want %q", in.Dest, got, want[in.Dest])
		}
		shipped = append(shipped, in.Dest)
		if strings.HasPrefix(in.Src, "./") {
			used[filepath.Base(in.Src)] = true
			if _, err := os.Stat(filepath.Join(feedDir(t), in.Src)); err != nil {
				t.Errorf("install source: %v", err)
			}
		}
	}
	if len(shipped) != len(want) {
		t.Errorf("installs %v, want %d files", shipped, len(want))
	}
	ents, err := os.ReadDir(filepath.Join(feedDir(t), "files"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !used[e.Name()] {
			t.Errorf("files/%s is not installed", e.Name())
		}
	}

	// conffiles: /etc/config/lispd and /etc/lispd/, and they cover exactly
	// the shipped files under /etc/config and /etc/lispd.
	var cf []string
	for _, l := range strings.Split(fd.Defines["Package/lispd/conffiles"], "\n") {
		if l = strings.TrimSpace(l); l != "" {
			cf = append(cf, l)
		}
	}
	sort.Strings(cf)
	if strings.Join(cf, " ") != "/etc/config/lispd /etc/lispd/" {
		t.Errorf("conffiles %v, want /etc/config/lispd /etc/lispd/", cf)
	}
	var data []Entry
	for _, p := range shipped {
		data = append(data, Entry{Path: p})
	}
	got := resolveConffiles(cf, data)
	var wantCF []string
	for _, p := range shipped {
		if strings.HasPrefix(p, "/etc/config/") || strings.HasPrefix(p, "/etc/lispd/") {
			wantCF = append(wantCF, p)
		}
	}
	sort.Strings(wantCF)
	if strings.Join(got, " ") != strings.Join(wantCF, " ") {
		t.Errorf("conffiles resolve to %v, want %v", got, wantCF)
	}
	if !strings.Contains(fd.Defines["Package/lispd/prerm"], "firewall.$s") {
		t.Error("prerm does not remove the firewall sections")
	}
}

// TestVersionVariables: GO_PKG_LDFLAGS_X and `make ipk` stamp main.version
// and main.commit; -X silently does nothing for a variable that does not
// exist, so check package main declares both as strings.
// TestFeedGOEXPERIMENT: the feed build keeps Go's previous garbage
// collector under Go 1.26, as `make ipk` does (openwrt/ipk.mk), with the
// same guard, so that the feed package is the size the ipk test measures.
func TestFeedGOEXPERIMENT(t *testing.T) {
	guard := "$(filter go1.26%,$(shell "
	for _, f := range []struct{ path, want string }{
		{filepath.Join(feedDir(t), "Makefile"), "export GOEXPERIMENT:=nogreenteagc"},
		{filepath.Join(repoRoot(t), "openwrt", "ipk.mk"), "GOEXPERIMENT=nogreenteagc"},
	} {
		raw, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if text := string(raw); !strings.Contains(text, f.want) || !strings.Contains(text, guard) {
			t.Errorf("%s: no %q under a Go 1.26 guard", f.path, f.want)
		}
	}
}

func TestVersionVariables(t *testing.T) {
	fset := token.NewFileSet()
	names, err := filepath.Glob(filepath.Join(repoRoot(t), "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if f.Name.Name == "main" {
			files = append(files, f)
		}
	}
	found := map[string]bool{}
	for _, f := range files {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.VAR {
				continue
			}
			for _, s := range g.Specs {
				for _, n := range s.(*ast.ValueSpec).Names {
					found[n.Name] = true
				}
			}
		}
	}
	for _, v := range []string{"version", "commit"} {
		if !found[v] {
			t.Errorf("package main declares no variable %q for -X main.%s", v, v)
		}
	}
}

// TestShippedConfigs: the TOML on flash validates; the UCI file parses and,
// as shipped (sections commented out), selects the flash TOML; with its
// example sections uncommented it renders a configuration that validates.
func TestShippedConfigs(t *testing.T) {
	files := filepath.Join(feedDir(t), "files")
	if _, err := conf.Load(filepath.Join(files, "lispd.toml")); err != nil {
		t.Errorf("files/lispd.toml: %v", err)
	}
	raw, err := os.ReadFile(filepath.Join(files, "lispd.config"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := uci.Parse(string(raw), uci.PackageName)
	if err != nil {
		t.Fatal(err)
	}
	res, err := uci.Render(p, uci.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Mode != uci.ModeFlash || res.Settings.Enabled || res.Settings.Config != conf.DefaultPath {
		t.Errorf("shipped UCI: mode %v enabled %v config %q; want flash, disabled, %s", res.Mode, res.Settings.Enabled, res.Settings.Config, conf.DefaultPath)
	}
	// Uncomment the example sections (lines "#config ..." and "#\t...").
	var b bytes.Buffer
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(l, "#config ") || strings.HasPrefix(l, "#\t") {
			l = l[1:]
		}
		b.WriteString(l + "\n")
	}
	out := filepath.Join(t.TempDir(), "lispd.toml")
	if _, err := uci.Run(b.String(), out, uci.Options{Devices: map[string]string{"wan": "eth1"}}, &bytes.Buffer{}); err != nil {
		t.Fatalf("the example sections of lispd.config do not render: %v", err)
	}
	c, err := conf.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if c.XTR == nil || len(c.XTR.RLOCs) != 1 || c.XTR.RLOCs[0].Interface != "eth1" || len(c.XTR.MapServers) != 1 {
		t.Errorf("rendered example: %+v", c.XTR)
	}
}

// TestInitScript checks what procd would do with the init script, statically
// (procd, ubus and uci do not run here): the procd parameters, the triggers,
// validation, and that reload checks before it signals and never restarts.
func TestInitScript(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(feedDir(t), "files", "lispd.init"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	if !strings.HasPrefix(s, "#!/bin/sh /etc/rc.common\n") {
		t.Error("not an rc.common script")
	}
	for _, want := range []string{
		"\nUSE_PROCD=1\n",
		"procd_set_param command \"$PROG\" run -c \"$RUN_CONF\"",
		"procd_set_param respawn\n",
		"procd_set_param stdout 1\n",
		"procd_set_param stderr 1\n",
		"procd_set_param file /etc/config/lispd \"$config\" \"$RUN_CONF\"",
		"procd_set_param reload_signal HUP",
		"procd_add_reload_trigger lispd",
		"procd_add_interface_trigger \"interface.*\" \"$iface\" /etc/init.d/lispd reload",
		"uci_load_validate lispd map_server",
		"'key_type:or(\"sha1\",\"sha256\"):sha256'",
		"procd_open_validate",
		"network_get_device dev \"$iface\"",
		"uci -q export lispd | \"$PROG\" uci-render -o \"$RUN_CONF\"",
		"\"$PROG\" check -c \"$check\"",
		"logger -t lispd",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("init script lacks %q", want)
		}
	}
	if RunConf := "RUN_CONF=" + conf.OpenWrtPath + "\n"; !strings.Contains(s, RunConf) {
		t.Errorf("init script does not render to %s", conf.OpenWrtPath)
	}
	body := func(fn string) string {
		i := strings.Index(s, "\n"+fn+"() {\n")
		if i < 0 {
			t.Fatalf("no %s()", fn)
		}
		j := strings.Index(s[i:], "\n}\n")
		return s[i : i+j]
	}
	// uci_load_validate keeps the options in its own locals: start and
	// reload do their work in its callback (TestInitScriptRun runs them
	// against a uci_load_validate that behaves so).
	if !strings.Contains(body("start_service"), "validate_lispd_section main start_main") {
		t.Error("start_service does not work in the validation callback start_main")
	}
	if !strings.Contains(body("reload_service"), "validate_lispd_section main reload_main") {
		t.Error("reload_service does not work in the validation callback reload_main")
	}
	r := body("reload_main")
	if strings.Contains(r+body("reload_service"), "restart") {
		t.Error("reload restarts")
	}
	iPrep, iSig := strings.Index(r, "prepare_config debug ||"), strings.Index(r, "procd_send_signal lispd '*' HUP")
	if iPrep < 0 || iSig < 0 || iSig < iPrep {
		t.Error("reload_main must render and check (prepare_config) before it sends SIGHUP")
	}
	if strings.Contains(body("service_triggers"), "restart") {
		t.Error("a trigger restarts")
	}
	p := body("prepare_config")
	if strings.Index(p, "uci-render") > strings.Index(p, "check -c") {
		t.Error("prepare_config checks before it renders")
	}
}
