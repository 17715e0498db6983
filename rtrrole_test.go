package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lispd/lispd/conf"
	"github.com/lispd/lispd/ctl/admin"
	"github.com/lispd/lispd/internal/logx"
)

// `show rtr` of a daemon running no RTR says why: the role is off, or, in
// a build without it, not in the binary.
func TestShowRTRNotRunning(t *testing.T) {
	var b bytes.Buffer
	if err := writeView(&b, &admin.RTR{}, nil, false); err != nil {
		t.Fatal(err)
	}
	want, not := "the RTR role is not configured ([rtr] enabled = true enables it)", "built without the RTR role"
	if !conf.RTRBuilt {
		want, not = not, want
	}
	if out := b.String(); !strings.Contains(out, want) || strings.Contains(out, not) {
		t.Errorf("show rtr says %q, want %q", out, want)
	}
}

// rtrConfig enables the RTR role alone.
const rtrConfig = "control_socket = \"@SOCK@\"\n[rtr]\nenabled = true\nlisten = [\"203.0.113.30\"]\nmap_servers = [\"192.0.2.10\"]\n"

// `lispd check` accepts an enabled [rtr] only in a build with the role;
// without it, check and run refuse it naming rtr.enabled, and a reload to
// it is refused with the running configuration kept.
func TestRTRNotBuiltRefused(t *testing.T) {
	path := writeFile(t, "rtr.toml", []byte(strings.Replace(rtrConfig, "@SOCK@", filepath.Join(t.TempDir(), "s"), 1)))
	out, errOut, code := lispd(t, "check", path)
	if conf.RTRBuilt {
		if code != 0 || !strings.Contains(out, path+": OK") {
			t.Fatalf("check: exit %d\n%s%s", code, out, errOut)
		}
		return
	}
	want := path + ":3:1: rtr.enabled: this lispd is built without the RTR role"
	if code != 1 || !strings.Contains(errOut, want) {
		t.Errorf("check: exit %d, want 1 and %q in\n%s", code, want, errOut)
	}
	_, errOut, code = lispd(t, "run", "-c", path)
	if code != 1 || !strings.Contains(errOut, want) || !strings.Contains(errOut, "configuration invalid, not starting") {
		t.Errorf("run: exit %d, want 1 and %q in\n%s", code, want, errOut)
	}

	old := &conf.Config{Path: "old.toml"}
	d := &daemon{log: logx.Discard(), cfg: old}
	if _, err := d.ReloadFile(path); err == nil || !strings.Contains(err.Error(), "rtr.enabled") || d.cfg != old {
		t.Errorf("reload: %v, config %v; want refused naming rtr.enabled, old config kept", err, d.cfg.Path)
	}
}
