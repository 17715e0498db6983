package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/lispd/lispd/conf"
	"github.com/lispd/lispd/ctl/admin"
	flag "github.com/lispd/lispd/internal/flagx"
)

// The configuration files a client command reads when -c is not given: the
// one the OpenWrt init script renders when present, else the default. Tests
// point them at temporary files.
var (
	openWrtConfigPath = conf.OpenWrtPath
	defaultConfigPath = conf.DefaultPath
)

// clientFlags are the flags every command that talks to the daemon takes:
// --socket PATH, and -c FILE to find the socket in a configuration.
type clientFlags struct {
	fs     *flag.FlagSet
	socket string
	config *string
}

// addClientFlags adds --socket and -c/-config to fs.
func addClientFlags(fs *flag.FlagSet) *clientFlags {
	f := &clientFlags{fs: fs}
	fs.StringVar(&f.socket, "socket", "", "control socket `PATH` (default: control_socket of the configuration)")
	f.config = configFlag(fs)
	return f
}

// configGiven reports whether -c or -config was on the command line.
func configGiven(fs *flag.FlagSet) bool { return flagGiven(fs, "c") || flagGiven(fs, "config") }

// socketPath returns the control socket to use and where it came from.
func (f *clientFlags) socketPath() (path, from string) {
	cfg := ""
	if configGiven(f.fs) {
		cfg = *f.config
	}
	return findSocket(f.socket, cfg)
}

// findSocket applies the discovery order: the --socket flag; else
// control_socket of the configuration named by -c (cfgFlag); else of
// /var/etc/lispd.toml when it exists; else of /etc/lispd/lispd.toml; and
// conf.DefaultControlSocket when that file cannot be read or does not set
// the key. from says which, for messages.
func findSocket(sockFlag, cfgFlag string) (path, from string) {
	if sockFlag != "" {
		return sockFlag, "--socket"
	}
	cfg := cfgFlag
	if cfg == "" {
		cfg = systemConfigPath()
	}
	sock, err := readControlSocket(cfg)
	if err != nil || sock == "" {
		return conf.DefaultControlSocket, "default"
	}
	return sock, cfg
}

// systemConfigPath is the configuration a command reads without -c.
func systemConfigPath() string {
	if _, err := os.Stat(openWrtConfigPath); err == nil {
		return openWrtConfigPath
	}
	return defaultConfigPath
}

// readControlSocket returns control_socket from the configuration file at
// path. An invalid configuration (one being edited, say, before a reload)
// still gives its control_socket when the key can be read: the file is
// decoded leniently, and if even its syntax is broken, the top-level
// control_socket line is looked for. An empty result means the default.
func readControlSocket(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	if cfg, err := conf.Parse(path, data); err == nil {
		return cfg.ControlSocket, nil
	}
	var top struct {
		ControlSocket string `toml:"control_socket"`
	}
	if _, err := toml.Decode(string(data), &top); err == nil {
		return top.ControlSocket, nil
	}
	return scanControlSocket(data), nil
}

// maxScanLine is the length of the first line bufio.Scanner could not hold.
const maxScanLine = 1 << 16

// scanControlSocket finds `control_socket = "..."` before the first table
// header of a file that does not parse. Lines are cut as bufio.Scanner's
// ScanLines cut them (not linked for this one loop: ~4 KB of MIPS code).
func scanControlSocket(data []byte) string {
	for rest := string(data); rest != ""; {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		if len(line) >= maxScanLine {
			return "" // where bufio.Scanner, which this loop replaces, gave up
		}
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			return ""
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(key) != "control_socket" {
			continue
		}
		val = strings.TrimSpace(val)
		if i := strings.Index(val, "#"); i >= 0 && (strings.HasPrefix(val, "'") || !strings.HasPrefix(val, `"`)) {
			val = strings.TrimSpace(val[:i])
		}
		if strings.HasPrefix(val, "'") && strings.Count(val, "'") >= 2 {
			return val[1 : 1+strings.Index(val[1:], "'")]
		}
		if s, err := strconv.QuotedPrefix(val); err == nil {
			if u, err := strconv.Unquote(s); err == nil {
				return u
			}
		}
		return ""
	}
	return ""
}

// call sends cmd to the daemon found by f and decodes the result into out.
// When no daemon listens, the error also says where the socket path came
// from.
func (f *clientFlags) call(cmd string, args, out any) error {
	path, from := f.socketPath()
	err := admin.Call(path, cmd, args, out)
	if err != nil && errors.Is(err, admin.ErrNotRunning) && from != "--socket" {
		src := "the default"
		if from != "default" {
			src = "control_socket of " + from
		}
		return fmt.Errorf("%w; that path is %s (--socket PATH or -c FILE names another)", err, src)
	}
	return err
}
