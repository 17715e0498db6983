package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/lispd/lispd/conf"
	flag "github.com/lispd/lispd/internal/flagx"
	"github.com/lispd/lispd/internal/sortx"
)

// Output of the commands; tests may replace them.
var (
	stdout io.Writer = os.Stdout
	stderr io.Writer = os.Stderr
)

// command is one lispd subcommand. Each cmd_*.go file registers its own from
// an init function:
//
//	func init() {
//		register(&command{name: "lig", args: "[-m RESOLVER] EID", summary: "...", run: runLig})
//	}
type command struct {
	name    string                  // as typed after "lispd"
	args    string                  // synopsis of flags and arguments, e.g. "[-c FILE]"
	summary string                  // one line for `lispd -h`
	help    string                  // optional paragraphs for `lispd NAME -h`
	run     func(args []string) int // runs the command; returns the exit code
}

// commands holds every registered subcommand by name.
var commands = map[string]*command{}

// register adds a subcommand; a duplicate name is a programming error.
func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("lispd: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

const exitCodesHelp = `Exit codes: 0 success; 1 invalid configuration or failed operation; 2 usage error.`

// dispatch runs the subcommand named by args[0] and returns the exit code.
func dispatch(args []string) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "-h", "-help", "--help", "help":
		if len(args) == 1 || name != "help" {
			usage(stdout)
			return exitOK
		}
		name, rest = args[1], []string{"-h"}
	case "-v", "-version", "--version":
		name = "version"
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "lispd: unknown command %q (see lispd -h)\n", name)
		return exitUsage
	}
	return c.run(rest)
}

// usage lists the subcommands.
func usage(w io.Writer) {
	fmt.Fprintf(w, "lispd %s — LISP tunnel router (RFC 9300/9301)\n\nUsage: lispd COMMAND [flags] [args]\n\nCommands:\n", version)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sortx.Sort(len(names), func(i, j int) bool { return names[i] < names[j] }, func(i, j int) { names[i], names[j] = names[j], names[i] }) // not sort.Strings: slices.Sort[string] is ~8 KB of MIPS code
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nRun 'lispd COMMAND -h' for a command's flags. Default config: %s\n%s\n", conf.DefaultPath, exitCodesHelp)
}

// newFlagSet returns a flag set for c whose usage text shows the synopsis,
// help, flags and exit codes. Parse errors are returned, not fatal.
func newFlagSet(c *command) *flag.FlagSet {
	fs := flag.NewFlagSet("lispd "+c.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: lispd %s %s\n\n%s\n", c.name, c.args, c.summary)
		if c.help != "" {
			fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.help))
		}
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintf(w, "\nFlags (before or after arguments):\n")
			fs.PrintDefaults()
		}
		fmt.Fprintf(w, "\n%s\n", exitCodesHelp)
	}
	return fs
}

// parseFlags parses args with fs, accepting flags before and after
// positional arguments ("lig 192.0.2.1 -n 3" as well as "lig -n 3 192.0.2.1");
// everything after "--" is positional. It returns the positional arguments
// and, when parsing should stop the command, its exit code: exitOK for -h,
// exitUsage for a bad flag (flagx has printed why, after the command's name).
func parseFlags(fs *flag.FlagSet, args []string) (pos []string, exit int, stop bool) {
	full := fs.Usage
	fs.Usage = func() {} // on a bad flag, print the error and a hint, not the whole help
	pos, err := parseInterspersed(fs, args)
	fs.Usage = full
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stdout)
		fs.Usage()
		return nil, exitOK, true
	case err != nil:
		fmt.Fprintf(stderr, "Run '%s -h' for usage.\n", fs.Name())
		return nil, exitUsage, true
	}
	return pos, exitOK, false
}

// parseInterspersed is fs.Parse that does not stop at the first positional
// argument.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// usageError prints a usage problem and the command's synopsis, and returns
// exitUsage.
func usageError(fs *flag.FlagSet, format string, args ...any) int {
	fmt.Fprintf(stderr, "%s: %s\n", fs.Name(), fmt.Sprintf(format, args...))
	fmt.Fprintf(stderr, "Run '%s -h' for usage.\n", fs.Name())
	return exitUsage
}

// configFlag adds -c/-config FILE to fs, defaulting to conf.DefaultPath.
func configFlag(fs *flag.FlagSet) *string {
	p := new(string)
	fs.StringVar(p, "c", conf.DefaultPath, "configuration `FILE`")
	fs.StringVar(p, "config", conf.DefaultPath, "configuration `FILE` (same as -c)")
	return p
}

// printProblems writes a configuration error to w, one problem per line.
func printProblems(w io.Writer, err error) {
	fmt.Fprintln(w, err)
}

// absPath makes p absolute against the working directory, leaving it as it
// is when that cannot be read. Not filepath.Abs: its os.Getwd falls back to
// walking the directory tree, 8 KB of the binary for a case getcwd(2)
// covers.
func absPath(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	wd, err := syscall.Getwd()
	if err != nil {
		return p
	}
	return filepath.Join(wd, p)
}
