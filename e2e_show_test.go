package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/admin"
)

// End-to-end tests of the operator commands against a running `lispd run`
// (the binary built by TestMain). They need the daemon to serve its control
// socket; until that is wired they skip, unless LISPD_E2E_REQUIRE=1 makes
// them required. They run unprivileged: a Map-Server/Map-Resolver on a
// loopback address of its own (127.0.0.0/8 is all local on Linux).

// e2eConfig is a Map-Server-only configuration on listen with its control
// socket at sock and one site named site.
func e2eConfig(sock, listen, site string) string {
	return fmt.Sprintf(`log_level = "debug"
control_socket = %q

[map_server]
enabled = true
listen = [%q]

[[map_server.site]]
name = %q
key = "e2e-secret-key"
key_type = "sha1"
eid_prefixes = ["198.51.100.0/24"]
`, sock, listen, site)
}

// startDaemonSocket starts `lispd run -c cfg` and waits until it answers on
// sock.
func startDaemonSocket(t *testing.T, cfg, sock string) (*syncBuffer, func() int) {
	t.Helper()
	cmd, errb := startRunHost(t, "-c", cfg)
	deadline := time.Now().Add(5 * time.Second)
	for {
		var v admin.Stats
		err := admin.Call(sock, admin.CmdShowStats, nil, &v)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			msg := fmt.Sprintf("the daemon does not answer on its control socket %s (%v); log:\n%s", sock, err, errb.String())
			if os.Getenv("LISPD_E2E_REQUIRE") == "1" {
				t.Fatal(msg)
			}
			t.Skip("control socket not wired into `lispd run` yet (LISPD_E2E_REQUIRE=1 makes this fail): " + msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop := func() int {
		cmd.Process.Signal(syscall.SIGTERM)
		return waitExit(t, cmd, 3*time.Second)
	}
	return errb, stop
}

// runCLI runs the binary's client commands.
func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return lispd(t, args...)
}

func TestE2EOperatorCommands(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "lispd.sock")
	listen := fmt.Sprintf("127.77.%d.%d", rand.IntN(250)+1, rand.IntN(250)+1)
	cfg := writeAt(t, filepath.Join(dir, "lispd.toml"), []byte(e2eConfig(sock, listen, "branch1")))
	errb, stop := startDaemonSocket(t, cfg, sock)

	t.Run("socket mode", func(t *testing.T) {
		fi, err := os.Stat(sock)
		if err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
			t.Errorf("socket %v, %v: want a socket with mode 0600", fi, err)
		}
	})

	t.Run("show config", func(t *testing.T) {
		out, errOut, code := runCLI(t, "show", "config", "-c", cfg)
		if code != 0 || !strings.Contains(out, "<redacted>") || strings.Contains(out, "e2e-secret-key") || !strings.Contains(out, listen) {
			t.Errorf("exit %d %s, output:\n%s", code, errOut, out)
		}
		out, _, _ = runCLI(t, "show", "config", "--json", "--socket", sock)
		var v admin.Config
		if err := json.Unmarshal([]byte(out), &v); err != nil || v.Path != cfg || !strings.Contains(v.Text, `name = "branch1"`) {
			t.Errorf("--json %+v (%v)", v, err)
		}
	})

	t.Run("show registrations", func(t *testing.T) {
		out, _, code := runCLI(t, "show", "registrations", "--socket", sock)
		if code != 0 || !strings.Contains(out, "Site branch1, iid 0, key sha1, prefixes 198.51.100.0/24: 0 registrations") {
			t.Errorf("exit %d, output:\n%s", code, out)
		}
		out, _, _ = runCLI(t, "show", "registrations", "--json", "--socket", sock)
		var v admin.Registrations
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if v.XTR != nil || len(v.MapServer) != 1 || v.MapServer[0].Site != "branch1" || v.MapServer[0].KeyType != "sha1" ||
			len(v.MapServer[0].Prefixes) != 1 || v.MapServer[0].Prefixes[0].String() != "198.51.100.0/24" ||
			len(v.MapServer[0].Registrations) != 0 || v.Time.IsZero() {
			t.Errorf("registrations %+v", v)
		}
	})

	t.Run("lig against the built-in map-resolver, then stats", func(t *testing.T) {
		out, errOut, code := runCLI(t, "lig", "-m", listen, "-t", "3", "198.51.100.10")
		if code != 0 || !strings.Contains(out, "Received map-reply from "+listen) ||
			!strings.Contains(out, "198.51.100.0/24, record ttl: 1, auth") || !strings.Contains(out, "Negative cache entry, action: Natively-Forward") {
			t.Fatalf("lig: exit %d %s\n%s", code, errOut, out)
		}
		out, _, _ = runCLI(t, "show", "stats", "--json", "--socket", sock)
		var v admin.Stats
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if n, ok := v.Get(admin.GroupControlIn, "Encapsulated-Control-Message"); !ok || n != 1 {
			t.Errorf("ECMs in = %d (%v), want 1", n, ok)
		}
		if n, ok := v.Get(admin.GroupControlOut, "Map-Reply"); !ok || n != 1 {
			t.Errorf("Map-Replies out = %d (%v), want 1", n, ok)
		}
		if n, ok := v.Get(admin.GroupControl, "negative-replies"); !ok || n != 1 {
			t.Errorf("negative-replies = %d (%v), want 1", n, ok)
		}
		table, _, _ := runCLI(t, "show", "stats", "--socket", sock)
		if got := row(t, table, "Encapsulated-Control-Message"); len(got) != 2 || got[1] != "1" {
			t.Errorf("stats table row %q", got)
		}
	})

	t.Run("show map-cache without an xTR", func(t *testing.T) {
		out, errOut, code := runCLI(t, "show", "map-cache", "--json", "--socket", sock)
		var v admin.MapCache
		switch {
		case code == 0:
			if err := json.Unmarshal([]byte(out), &v); err != nil || v.Total != 0 || len(v.Entries) != 0 {
				t.Errorf("map-cache of a Map-Server-only daemon: %+v (%v)", v, err)
			}
		case code == 1:
			if !strings.Contains(errOut, "xTR") {
				t.Errorf("refusal does not say the xTR role is off: %s", errOut)
			}
		default:
			t.Errorf("exit %d: %s", code, errOut)
		}
	})

	t.Run("reload refused then applied", func(t *testing.T) {
		broken := strings.Replace(e2eConfig(sock, listen, "branch1"), `key_type = "sha1"`, `key_type = "md5"`, 1)
		writeAt(t, cfg, []byte(broken))
		line := 1 + strings.Count(broken[:strings.Index(broken, `key_type = "md5"`)], "\n")
		_, errOut, code := runCLI(t, "reload", "-c", cfg)
		if code != 1 || !strings.Contains(errOut, fmt.Sprintf("%s:%d:1: map_server.site[0].key_type:", cfg, line)) {
			t.Errorf("reload of a bad config: exit %d, stderr:\n%s", code, errOut)
		}
		out, _, _ := runCLI(t, "show", "config", "--socket", sock)
		if !strings.Contains(out, `key_type = "sha1"`) {
			t.Errorf("the old configuration is not running after a refused reload:\n%s", out)
		}
		writeAt(t, cfg, []byte(e2eConfig(sock, listen, "branch9")))
		out, errOut, code = runCLI(t, "reload", "--socket", sock)
		if code != 0 || !strings.Contains(out, "reloaded "+cfg) {
			t.Errorf("reload: exit %d %s %s", code, out, errOut)
		}
		out, _, _ = runCLI(t, "show", "registrations", "--socket", sock)
		if !strings.Contains(out, "Site branch9") {
			t.Errorf("reloaded site not shown:\n%s", out)
		}
	})

	t.Run("a second daemon on the same socket is refused", func(t *testing.T) {
		other := fmt.Sprintf("127.78.%d.%d", rand.IntN(250)+1, rand.IntN(250)+1)
		cfg2 := writeAt(t, filepath.Join(dir, "second.toml"), []byte(e2eConfig(sock, other, "x")))
		cmd, errb2 := startRun(t, "-c", cfg2)
		if code := waitExit(t, cmd, 5*time.Second); code == 0 {
			t.Errorf("second daemon exited 0:\n%s", errb2.String())
		}
		if !strings.Contains(errb2.String(), "another lispd is running") {
			t.Errorf("second daemon's log does not say why:\n%s", errb2.String())
		}
		if _, _, code := runCLI(t, "show", "stats", "--socket", sock); code != 0 {
			t.Error("the first daemon stopped answering")
		}
	})

	if code := stop(); code != 0 {
		t.Errorf("daemon exit %d:\n%s", code, errb.String())
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left behind after SIGTERM: %v", err)
	}
	_, errOut, code := runCLI(t, "show", "stats", "--socket", sock)
	if code != 1 || !strings.Contains(errOut, "lispd is not running (no socket at "+sock+")") {
		t.Errorf("show after stop: exit %d, %q", code, errOut)
	}
}
