package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunMissingConfig: a configuration file that is not there is reported
// as missing, not as invalid.
func TestRunMissingConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.toml")
	_, errOut, code := lispd(t, "run", "-c", path)
	if code != exitFail {
		t.Fatalf("exit %d, want %d\n%s", code, exitFail, errOut)
	}
	if !strings.Contains(errOut, "configuration file missing") || !strings.Contains(errOut, path) {
		t.Errorf("log does not say the file %s is missing:\n%s", path, errOut)
	}
	if strings.Contains(errOut, "configuration invalid") {
		t.Errorf("a missing file reported as an invalid configuration:\n%s", errOut)
	}
}

// TestRunRelativeConfigAndReloadOtherFile starts the daemon with a relative
// -c path: it must keep and report the absolute path (a client in another
// directory reads it). `lispd reload -c` naming another file must be
// refused, saying which file the daemon uses; naming the daemon's own file
// by a relative path from its directory is accepted.
func TestRunRelativeConfigAndReloadOtherFile(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("lispd run needs root (a network namespace and a TUN device)")
		}
		t.Skip("lispd run needs root (a network namespace and a TUN device)")
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "lispd.sock")
	b, err := os.ReadFile("testdata/valid.toml")
	if err != nil {
		t.Fatal(err)
	}
	text := bytes.Replace(b, []byte("@SOCK@"), []byte(sock), 1)
	own := filepath.Join(dir, "x1.toml")
	other := filepath.Join(dir, "other.toml")
	for _, p := range []string{own, other} {
		if err := os.WriteFile(p, text, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run := exec.Command("unshare", "--net", "sh", "-c", runScript, lispdBin, "run", "-c", "x1.toml")
	run.Dir = dir
	cmd, errb := startCmd(t, run)
	waitFor(t, errb, "INFO xtr tun=lisp0")
	if !strings.Contains(errb.String(), "config="+own) {
		t.Errorf("the daemon does not log the absolute path %s:\n%s", own, errb.String())
	}

	reload := func(wd string, args ...string) (string, string, int) {
		t.Helper()
		c := exec.Command(lispdBin, append([]string{"reload"}, args...)...)
		c.Dir = wd
		var out, eb bytes.Buffer
		c.Stdout, c.Stderr = &out, &eb
		err := c.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return out.String(), eb.String(), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), eb.String(), 0
	}
	// From elsewhere, by socket: the absolute path is reported.
	out, eb, code := reload(t.TempDir(), "--socket", sock)
	if code != 0 || strings.TrimSpace(out) != "reloaded "+own {
		t.Errorf("lispd reload --socket: exit %d, stdout %q, want \"reloaded %s\"\n%s", code, out, own, eb)
	}
	// Another file: refused, naming the daemon's.
	out, eb, code = reload(dir, "-c", "other.toml")
	if code != exitFail || !strings.Contains(eb, own) || !strings.Contains(eb, other) {
		t.Errorf("lispd reload -c other.toml: exit %d, stdout %q, stderr %q; want exit 1 naming %s and %s", code, out, eb, own, other)
	}
	// The daemon's own file, relative to its directory: applied.
	if out, eb, code = reload(dir, "-c", "x1.toml"); code != 0 {
		t.Errorf("lispd reload -c x1.toml (the daemon's own file): exit %d\n%s%s", code, out, eb)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if code := waitExit(t, cmd, 2*time.Second); code != 0 {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
}
