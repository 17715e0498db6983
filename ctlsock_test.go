package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lispd/lispd/conf"
	"github.com/lispd/lispd/ctl/admin"
)

// systemPaths points the OpenWrt and default configuration paths at files
// in a temporary directory (not created) for the test's duration.
func systemPaths(t *testing.T) (openwrt, def string) {
	t.Helper()
	dir := t.TempDir()
	oldW, oldD := openWrtConfigPath, defaultConfigPath
	openWrtConfigPath = filepath.Join(dir, "var-etc-lispd.toml")
	defaultConfigPath = filepath.Join(dir, "etc-lispd-lispd.toml")
	t.Cleanup(func() { openWrtConfigPath, defaultConfigPath = oldW, oldD })
	return openWrtConfigPath, defaultConfigPath
}

// writeAt writes data to path and returns path.
func writeAt(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func socketConfig(sock string) string {
	return "control_socket = \"" + sock + "\"\n[xtr]\neid_space = [\"198.51.100.0/24\"]\nmap_resolvers = [\"192.0.2.10\"]\n"
}

func TestFindSocketPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfgC := writeAt(t, filepath.Join(dir, "c.toml"), []byte(socketConfig("/run/from-c.sock")))
	// Invalid (unknown log level, unknown key) but readable: its socket is still found.
	invalid := writeAt(t, filepath.Join(dir, "invalid.toml"), []byte("log_level = \"loud\"\ncontrol_socket = \"/run/invalid.sock\"\nbogus = 1\n"))
	// A syntax error further down: the top-level line is still read.
	broken := writeAt(t, filepath.Join(dir, "broken.toml"), []byte("# edited\ncontrol_socket = '/run/broken.sock' # ours\n[xtr\nmtu = = 3\n"))
	noKey := writeAt(t, filepath.Join(dir, "nokey.toml"), []byte("[xtr]\neid_space = [\"198.51.100.0/24\"]\n"))
	missing := filepath.Join(dir, "missing.toml")

	tests := []struct {
		name           string
		openwrt, def   string // contents of the system files; "" = absent
		sockFlag, cfg  string
		want, wantFrom string
	}{
		{"flag wins over everything", socketConfig("/run/w.sock"), socketConfig("/run/d.sock"), "/run/flag.sock", cfgC, "/run/flag.sock", "--socket"},
		{"-c wins over system files", socketConfig("/run/w.sock"), socketConfig("/run/d.sock"), "", cfgC, "/run/from-c.sock", cfgC},
		{"openwrt file when present", socketConfig("/run/w.sock"), socketConfig("/run/d.sock"), "", "", "/run/w.sock", "openwrt"},
		{"default file without openwrt", "", socketConfig("/run/d.sock"), "", "", "/run/d.sock", "default-file"},
		{"no file at all", "", "", "", "", conf.DefaultControlSocket, "default"},
		{"-c unreadable", socketConfig("/run/w.sock"), "", "", missing, conf.DefaultControlSocket, "default"},
		{"-c invalid but readable", "", "", "", invalid, "/run/invalid.sock", invalid},
		{"-c with a syntax error", "", "", "", broken, "/run/broken.sock", broken},
		{"-c without the key", "", "", "", noKey, conf.DefaultControlSocket, "default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, d := systemPaths(t)
			if tt.openwrt != "" {
				writeAt(t, w, []byte(tt.openwrt))
			}
			if tt.def != "" {
				writeAt(t, d, []byte(tt.def))
			}
			wantFrom := tt.wantFrom
			switch wantFrom {
			case "openwrt":
				wantFrom = w
			case "default-file":
				wantFrom = d
			}
			got, from := findSocket(tt.sockFlag, tt.cfg)
			if got != tt.want || from != wantFrom {
				t.Errorf("findSocket(%q, %q) = %q from %q; want %q from %q", tt.sockFlag, tt.cfg, got, from, tt.want, wantFrom)
			}
		})
	}
}

// TestSocketDiscoveryEndToEnd runs show against a daemon found each way.
func TestSocketDiscoveryEndToEnd(t *testing.T) {
	f := startFakeDaemon(t)
	w, d := systemPaths(t)
	decoy := filepath.Join(t.TempDir(), "decoy.sock")

	// Only the default file names the daemon's socket.
	writeAt(t, d, []byte(socketConfig(f.path)))
	if out, errOut, code := capture(t, runShow, "stats"); code != 0 || !strings.Contains(out, "encap-packets") {
		t.Fatalf("via %s: exit %d %s", d, code, errOut)
	}
	// The OpenWrt file, when present, is read instead.
	writeAt(t, w, []byte(socketConfig(decoy)))
	_, errOut, code := capture(t, runShow, "stats")
	if code != exitFail || !strings.Contains(errOut, "no socket at "+decoy) || !strings.Contains(errOut, "control_socket of "+w) {
		t.Errorf("via %s: exit %d, %q", w, code, errOut)
	}
	// -c beats it; --socket beats -c.
	cfg := writeAt(t, filepath.Join(t.TempDir(), "mine.toml"), []byte(socketConfig(f.path)))
	if _, errOut, code := capture(t, runShow, "stats", "-c", cfg); code != 0 {
		t.Errorf("via -c: exit %d %s", code, errOut)
	}
	if _, errOut, code := capture(t, runShow, "stats", "-c", cfg, "--socket", decoy); code != exitFail || !strings.Contains(errOut, "no socket at "+decoy) {
		t.Errorf("--socket over -c: exit %d %s", code, errOut)
	}
	if err := os.Remove(w); err != nil {
		t.Fatal(err)
	}
	var v admin.Stats
	path, _ := findSocket("", "")
	if err := admin.Call(path, admin.CmdShowStats, nil, &v); err != nil || len(v.Groups) == 0 {
		t.Errorf("back to the default file: %v", err)
	}
}
