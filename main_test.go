package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lispd/lispd/conf"
	flag "github.com/lispd/lispd/internal/flagx"
)

// lispdBin is the binary built once for the tests that run it.
var lispdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lispd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	lispdBin = filepath.Join(dir, "lispd")
	build := exec.Command("go", "build", "-tags", testBuildTags(), "-ldflags", "-X main.version=v9.9.9-test -X main.commit=c0ffee", "-o", lispdBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building lispd:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testBuildTags are the build tags of the test binary (go test -tags),
// for the lispd it builds: a run with -tags nortr tests a lispd without
// the RTR role.
func testBuildTags() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-tags" {
				return s.Value
			}
		}
	}
	return ""
}

// lispd runs the binary and returns stdout, stderr and the exit code.
func lispd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(lispdBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), errb.String(), 0
	case errors.As(err, &ee):
		return out.String(), errb.String(), ee.ExitCode()
	}
	t.Fatalf("running lispd %v: %v", args, err)
	return "", "", -1
}

// writeExample writes conf.Example where the tests can point -c at it.
func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckExample(t *testing.T) {
	for _, args := range [][]string{
		{"check", "-c", "conf/lispd.example.toml"},
		{"check", "conf/lispd.example.toml"},
		{"check", "--config=conf/lispd.example.toml"},
	} {
		out, errOut, code := lispd(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
		for _, want := range []string{"conf/lispd.example.toml: OK", "roles", "xTR", "lisp0", "198.51.100.0/25", "map-resolvers"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v: summary lacks %q:\n%s", args, want, out)
			}
		}
		if strings.Contains(out, "secret") {
			t.Errorf("summary shows a key:\n%s", out)
		}
	}
}

func TestCheckThreeMistakes(t *testing.T) {
	path := "testdata/three-mistakes.toml"
	out, errOut, code := lispd(t, "check", "-c", path)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	want := []string{
		path + ":5:17: xtr.eid_prefixes[0]: 198.51.100.1/25 has host bits set: did you mean 198.51.100.0/25?",
		path + ":13:1: xtr.rloc[1].priority: 300 is out of range 0..255 (255 = never used for unicast)",
		path + ":18:1: xtr.map_server[0].key_type: \"md5\" is not one of sha1, sha256",
		path + ": 3 problems",
	}
	if got := strings.TrimSpace(errOut); got != strings.Join(want, "\n") {
		t.Fatalf("stderr:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	if out != "" {
		t.Errorf("stdout not empty on failure: %q", out)
	}
}

func TestCheckSyntaxErrorAndMissingFile(t *testing.T) {
	p := writeFile(t, "bad.toml", []byte("[xtr]\ntun = \"lisp0\n"))
	_, errOut, code := lispd(t, "check", p)
	if code != 1 || !strings.HasPrefix(errOut, p+":2:") {
		t.Fatalf("syntax error: exit %d, stderr %q", code, errOut)
	}
	_, errOut, code = lispd(t, "check", "-c", "/nonexistent/lispd.toml")
	if code != 1 || !strings.Contains(errOut, "/nonexistent/lispd.toml: cannot read") {
		t.Fatalf("missing file: exit %d, stderr %q", code, errOut)
	}
}

// TestCheckMissingInterface: an RLOC interface the host lacks now is a
// warning on stderr (it may come up later, as pppoe-wan does), and the
// configuration still checks OK.
func TestCheckMissingInterface(t *testing.T) {
	p := writeFile(t, "if.toml", []byte("[xtr]\neid_prefixes = [\"198.51.100.0/25\"]\n"+
		"[[xtr.rloc]]\ninterface = \"lo\"\n[[xtr.rloc]]\ninterface = \"nosuchif0\"\n"))
	out, errOut, code := capture(t, runCheck, p)
	want := p + `: warning: xtr.rloc[1].interface: no interface "nosuchif0" here now (its RLOCs stay down until it appears)` + "\n"
	if code != exitOK || errOut != want || !strings.Contains(out, p+": OK") {
		t.Errorf("exit %d, stderr %q, stdout:\n%s\nwant exit 0 and stderr %q", code, errOut, out, want)
	}
}

func TestVersion(t *testing.T) {
	out, _, code := lispd(t, "version")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"lispd v9.9.9-test", "commit:   c0ffee", runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH} {
		if !strings.Contains(out, want) {
			t.Errorf("version output lacks %q:\n%s", want, out)
		}
	}
}

func TestHelp(t *testing.T) {
	out, _, code := lispd(t, "-h")
	if code != 0 {
		t.Fatalf("lispd -h: exit %d", code)
	}
	if !strings.Contains(out, "Exit codes:") {
		t.Errorf("lispd -h does not document exit codes:\n%s", out)
	}
	mine := map[string]bool{"run": true, "check": true, "version": true, "uci-render": true}
	for name := range mine {
		if commands[name] == nil {
			t.Errorf("command %q not registered", name)
		}
	}
	for name := range commands {
		if !strings.Contains(out, "\n  "+name+" ") {
			t.Errorf("lispd -h does not list %q:\n%s", name, out)
		}
		for _, args := range [][]string{{name, "-h"}, {name, "--help"}, {"help", name}} {
			sub, subErr, code := lispd(t, args...)
			all := strings.ToLower(sub + subErr)
			// Every command: exit 0, a usage line, and its exit codes.
			if code != 0 || !strings.Contains(all, "usage: lispd "+name) || !strings.Contains(all, "exit") {
				t.Errorf("lispd %v: exit %d\n%s%s", args, code, sub, subErr)
			}
			// The commands of cli.go's helpers print help on stdout.
			if mine[name] && (!strings.Contains(sub, "Usage: lispd "+name) || !strings.Contains(sub, "Exit codes:")) {
				t.Errorf("lispd %v: help not on stdout in the common format:\n%s", args, sub)
			}
		}
	}
}

func TestUsageErrors(t *testing.T) {
	cases := [][]string{
		{},
		{"no-such-command"},
		{"check", "-no-such-flag"},
		{"check", "a.toml", "b.toml"},
		{"version", "extra"},
		{"run", "-log-level", "loud"},
		{"help", "no-such-command"},
	}
	for _, args := range cases {
		if _, errOut, code := lispd(t, args...); code != 2 || errOut == "" {
			t.Errorf("lispd %v: exit %d (want 2), stderr %q", args, code, errOut)
		}
	}
}

// TestCLIConsistency: the spellings of version and help operators try, and
// every usage error in the same form: "lispd COMMAND: what", then the hint.
func TestCLIConsistency(t *testing.T) {
	tests := []struct {
		args       []string
		code       int
		out, inErr string // substrings of stdout and stderr
	}{
		{[]string{"--version"}, exitOK, "commit:", ""},
		{[]string{"-v"}, exitOK, "commit:", ""},
		{[]string{"help", "frob"}, exitUsage, "", `lispd: unknown command "frob" (see lispd -h)`},
		{[]string{"frob"}, exitUsage, "", `lispd: unknown command "frob" (see lispd -h)`},
		{[]string{"check", "-c"}, exitUsage, "", "lispd check: flag needs an argument: -c\nRun 'lispd check -h' for usage.\n"},
		{[]string{"show", "-x"}, exitUsage, "", "lispd show: flag provided but not defined: -x\n"},
		{[]string{"uci-render", "-x"}, exitUsage, "", "lispd uci-render: flag provided but not defined: -x\nRun 'lispd uci-render -h' for usage.\n"},
		{[]string{"uci-render", "extra"}, exitUsage, "", `lispd uci-render: unexpected argument "extra"`},
		{[]string{"uci-render", "-h"}, exitOK, "Usage: lispd uci-render [-i FILE]", ""},
	}
	for _, tt := range tests {
		out, errOut, code := capture(t, dispatch, tt.args...)
		if code != tt.code || !strings.Contains(out, tt.out) || !strings.Contains(errOut, tt.inErr) {
			t.Errorf("lispd %q: exit %d, stdout %q, stderr %q; want exit %d, %q and %q", tt.args, code, out, errOut, tt.code, tt.out, tt.inErr)
		}
		if tt.code == exitUsage && strings.Count(errOut, "\n") > 2 {
			t.Errorf("lispd %q: a usage error prints more than the error and a hint:\n%s", tt.args, errOut)
		}
	}
	out, _, _ := capture(t, dispatch, "uci-render", "-h")
	for _, bad := range []string{"usage:", "Exit status"} {
		if strings.Contains(out, bad) {
			t.Errorf("uci-render -h says %q, unlike every other command's help:\n%s", bad, out)
		}
	}
}

// startRun starts `lispd run` and returns the command and its stderr.
// startRunHost starts `lispd run ARGS` in the test's own network namespace:
// for configurations that bind loopback addresses only (a Map-Server on
// 127.x), which other commands of the test must reach.
func startRunHost(t *testing.T, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	return startCmd(t, exec.Command(lispdBin, append([]string{"run"}, args...)...))
}

// runScript runs its arguments in a fresh network namespace of their own
// (unshare -n: gone when the process exits) in which the RLOC addresses of
// testdata/valid.toml exist, so the daemon touches no interface of the host.
const runScript = `ip link set lo up && ip addr add 192.0.2.1/24 dev lo && ip addr add 192.0.2.7/24 dev lo && exec "$0" "$@"`

// startRun starts `lispd run ARGS` in a network namespace of its own.
func startRun(t *testing.T, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("lispd run needs root (a network namespace and a TUN device)")
		}
		t.Skip("lispd run needs root (a network namespace and a TUN device)")
	}
	return startCmd(t, exec.Command("unshare", append([]string{"--net", "sh", "-c", runScript, lispdBin, "run"}, args...)...))
}

// startCmd starts cmd with its stderr collected, killed at cleanup.
func startCmd(t *testing.T, cmd *exec.Cmd) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	errb := &syncBuffer{}
	cmd.Stderr = errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, errb
}

// waitFor polls stderr until it contains s.
func waitFor(t *testing.T, b *syncBuffer, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(b.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %q in:\n%s", s, b.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitExit waits for cmd to exit within limit and returns its exit code.
func waitExit(t *testing.T, cmd *exec.Cmd, limit time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(limit):
		t.Fatalf("did not exit within %v", limit)
		return -1
	}
}

func TestRunStopsOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd, errb := startRun(t, "-c", writeFile(t, "lispd.toml", runConfig(t)))
			waitFor(t, errb, "INFO xtr tun=lisp0")
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if code := waitExit(t, cmd, 2*time.Second); code != 0 {
				t.Fatalf("exit %d after %v, want 0\n%s", code, sig, errb.String())
			}
			log := errb.String()
			for _, want := range []string{"roles=xTR", "eid_prefixes=198.51.100.0/25", "rlocs=192.0.2.1/1/100", "INFO stopping", "INFO stopped"} {
				if !strings.Contains(log, want) {
					t.Errorf("log lacks %q:\n%s", want, log)
				}
			}
			// stderr is not a terminal here: lines carry no timestamp.
			if !strings.HasPrefix(log, "INFO starting") {
				t.Errorf("log line has a prefix before the level:\n%s", log)
			}
		})
	}
}

// runConfig returns testdata/valid.toml with its control socket in a
// temporary directory.
func runConfig(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/valid.toml")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Replace(b, []byte("@SOCK@"), []byte(filepath.Join(t.TempDir(), "lispd.sock")), 1)
}

func TestRunInvalidConfig(t *testing.T) {
	cmd, errb := startRun(t, "-c", "testdata/three-mistakes.toml")
	if code := waitExit(t, cmd, 5*time.Second); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "testdata/three-mistakes.toml:13:1: xtr.rloc[1].priority") {
		t.Fatalf("problems not reported:\n%s", errb.String())
	}
}

func TestRunReload(t *testing.T) {
	valid := runConfig(t)
	path := writeFile(t, "lispd.toml", valid)
	cmd, errb := startRun(t, "-c", path, "-log-level", "info")
	waitFor(t, errb, "INFO xtr tun=lisp0")

	// An invalid file is refused with its problems; the old config stays.
	if err := os.WriteFile(path, bytes.Replace(valid, []byte(`key = "secret"`), []byte(`key = ""`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, errb, "reload refused")
	if !strings.Contains(errb.String(), path+":15:1: xtr.map_server[0].key: must not be empty") {
		t.Errorf("reload problem not logged with its position:\n%s", errb.String())
	}

	// A valid new file is applied.
	if err := os.WriteFile(path, bytes.Replace(valid, []byte(`"192.0.2.1"`), []byte(`"192.0.2.7"`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, errb, "INFO reloaded")
	if !strings.Contains(errb.String(), "rlocs=192.0.2.7/1/100") {
		t.Errorf("new config not applied:\n%s", errb.String())
	}
	// -log-level info overrides the file's log_level = "debug".
	if strings.Contains(errb.String(), "DEBUG") {
		t.Errorf("debug lines despite -log-level info")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if code := waitExit(t, cmd, 2*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func TestParseInterspersed(t *testing.T) {
	cases := []struct {
		args []string
		n    int
		m    string
		pos  []string
	}{
		{[]string{"-n", "3", "192.0.2.1"}, 3, "", []string{"192.0.2.1"}},
		{[]string{"192.0.2.1", "-n", "3"}, 3, "", []string{"192.0.2.1"}},
		{[]string{"a", "-m", "x", "b", "-n=2", "c"}, 2, "x", []string{"a", "b", "c"}},
		{[]string{"-n", "1", "--", "-m", "y"}, 1, "", []string{"-m", "y"}},
		{[]string{"-"}, 0, "", []string{"-"}},
		{nil, 0, "", nil},
	}
	for _, c := range cases {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		n := fs.Int("n", 0, "")
		m := fs.String("m", "", "")
		pos, err := parseInterspersed(fs, c.args)
		if err != nil || *n != c.n || *m != c.m || fmt.Sprint(pos) != fmt.Sprint(c.pos) {
			t.Errorf("%q: n=%d m=%q pos=%q err=%v; want n=%d m=%q pos=%q", c.args, *n, *m, pos, err, c.n, c.m, c.pos)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(&bytes.Buffer{})
	if _, err := parseInterspersed(fs, []string{"a", "-x"}); err == nil {
		t.Error("unknown flag after an argument accepted")
	}
}

func TestDefaultConfigPath(t *testing.T) {
	// With no -c, check reads conf.DefaultPath.
	if _, err := os.Stat(conf.DefaultPath); err == nil {
		t.Skip(conf.DefaultPath + " exists on this machine")
	}
	_, errOut, code := lispd(t, "check")
	if code != 1 || !strings.Contains(errOut, conf.DefaultPath) {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}
