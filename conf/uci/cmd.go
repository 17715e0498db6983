package uci

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/lispd/lispd/conf"
	flag "github.com/lispd/lispd/internal/flagx"
	"github.com/lispd/lispd/internal/sortx"
)

// Exit codes of the uci-render command.
const (
	ExitOK      = 0 // rendered (or flash mode decided); the path to check is on stdout
	ExitInvalid = 1 // invalid UCI values or an unusable flash TOML; every problem on stderr
	ExitUsage   = 2 // bad command line
)

// Usage is the help text of `lispd uci-render`, in the format of every
// lispd command's help; the flags and exit codes follow it.
const Usage = `Usage: lispd uci-render [-i FILE] [-o FILE] [--device IFACE=DEV]...

render OpenWrt's /etc/config/lispd (uci export lispd) into the daemon's TOML

Reads the lispd UCI package in the format of "uci export lispd" (from stdin
unless -i is given) and writes the effective configuration for the daemon to
-o (default ` + conf.OpenWrtPath + `, mode 0600, replaced atomically):

  - with any eid, rloc, map_server, map_resolver or petr section, the
    configuration is rendered from UCI alone;
  - without them the TOML on flash (option config, default ` + conf.DefaultPath + `)
    is used as is: -o becomes a symlink to it, or, when option log_level is
    set, a copy of it with that log level.

Prints the file "lispd check" should read: the rendered file, or the TOML on
flash (so its messages name the file the user edits). Invalid UCI values are
reported on stderr, each naming the option as "uci show" does, e.g.
lispd.@map_server[0].key_type: must be sha1 or sha256.
`

// exitCodes ends the help, as every lispd command's does.
const exitCodes = "Exit codes: 0 written (the file to check is on stdout); 1 invalid configuration; 2 usage error.\n"

// Command runs `lispd uci-render` with args (after the subcommand name).
// Help (-h) goes to stdout; usage errors to stderr, each prefixed with the
// command's name and followed by where to find the help.
func Command(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	const name = "lispd uci-render"
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr) // parse errors, after the name
	fs.Usage = func() {}
	in := fs.String("i", "-", "UCI export text to read, `FILE` (- for stdin)")
	out := fs.String("o", conf.OpenWrtPath, "effective configuration `FILE` to write")
	devs := deviceFlag{}
	fs.Var(devs, "device", "kernel device of a logical interface named by an rloc section's\n"+
		"option interface, `IFACE=DEV` (from network_get_device); may be repeated")
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stdout)
		fmt.Fprintf(stdout, "%s\nFlags:\n", Usage)
		fs.PrintDefaults()
		fmt.Fprintf(stdout, "\n%s", exitCodes)
		return ExitOK
	case err == nil && fs.NArg() != 0:
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", name, fs.Arg(0))
		err = flag.ErrHelp
	}
	if err != nil {
		fmt.Fprintf(stderr, "Run '%s -h' for usage.\n", name)
		return ExitUsage
	}
	var text []byte
	if *in == "-" {
		text, err = io.ReadAll(stdin)
	} else {
		text, err = os.ReadFile(*in)
	}
	if err != nil {
		fmt.Fprintf(stderr, "lispd uci-render: %v\n", err)
		return ExitInvalid
	}
	check, err := Run(string(text), *out, Options{Devices: devs}, stderr)
	if err != nil {
		fmt.Fprintln(stderr, prefixLines("lispd uci-render: ", err.Error()))
		return ExitInvalid
	}
	fmt.Fprintln(stdout, check)
	return ExitOK
}

// Run parses UCI text, renders it and writes the effective configuration to
// out. It returns the path `lispd check` should read. Notes (which mode was
// chosen) go to log.
func Run(text, out string, opt Options, log io.Writer) (check string, err error) {
	pkg, err := Parse(text, PackageName)
	if err != nil {
		return "", err
	}
	res, err := Render(pkg, opt)
	if err != nil {
		return "", err
	}
	switch res.Mode {
	case ModeUCI:
		data, err := Encode(out, res.Config)
		if err != nil {
			return "", res.from.uciProblems(err)
		}
		if err := WriteFileAtomic(out, data, 0o600); err != nil {
			return "", err
		}
		fmt.Fprintf(log, "lispd uci-render: rendered %s from /etc/config/lispd\n", out)
		return out, nil
	default:
		flash := res.Settings.Config
		if res.Settings.LogLevel == "" {
			if err := symlinkAtomic(flash, out); err != nil {
				return "", err
			}
			fmt.Fprintf(log, "lispd uci-render: no eid/rloc/map_server/map_resolver/petr sections in /etc/config/lispd: using the flash TOML %s\n", flash)
			return flash, nil
		}
		// The flash TOML with UCI's log_level: conf checks it first, so its
		// messages name the flash file and its lines.
		c, err := conf.Load(flash)
		if err != nil {
			return "", err
		}
		c.LogLevel = res.Settings.LogLevel
		data, err := Encode(out, c)
		if err != nil {
			return "", err
		}
		if err := WriteFileAtomic(out, data, 0o600); err != nil {
			return "", err
		}
		fmt.Fprintf(log, "lispd uci-render: no eid/rloc/map_server/map_resolver/petr sections in /etc/config/lispd: using the flash TOML %s with log_level %q from UCI\n", flash, c.LogLevel)
		return flash, nil
	}
}

// symlinkAtomic points link at target, replacing whatever link was.
func symlinkAtomic(target, link string) error {
	tmp := link + ".new-link"
	os.Remove(tmp)
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return fmt.Errorf("link %s: %w", link, err)
	}
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("link %s: %w", link, err)
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("link %s: %w", link, err)
	}
	return nil
}

func prefixLines(prefix, s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}

// deviceFlag collects --device IFACE=DEV.
type deviceFlag map[string]string

func (d deviceFlag) String() string {
	var s []string
	for k, v := range d {
		s = append(s, k+"="+v)
	}
	sortx.Sort(len(s), func(i, j int) bool { return s[i] < s[j] }, func(i, j int) { s[i], s[j] = s[j], s[i] }) // not sort.Strings: slices.Sort[string] is ~8 KB of MIPS code
	return strings.Join(s, ",")
}

func (d deviceFlag) Set(v string) error {
	iface, dev, ok := strings.Cut(v, "=")
	if !ok || iface == "" {
		return fmt.Errorf("want IFACE=DEV, got %q", v)
	}
	d[iface] = dev
	return nil
}
