package main

import (
	"os"

	flag "github.com/lispd/lispd/internal/flagx"
	"github.com/lispd/lispd/internal/logx"
)

// logLevel is the level of the process-wide logger; reloads change it.
var logLevel = new(logx.LevelVar)

// setupLogging makes the default logger write one line per event to
// stderr, with timestamps only when stderr is a terminal (procd and syslog
// add their own), and returns it.
func setupLogging() *logx.Logger {
	l := logx.New(stderr, logx.Options{Level: logLevel, Time: stderrIsTerminal()})
	logx.SetDefault(l)
	return l
}

func stderrIsTerminal() bool {
	f, ok := stderr.(*os.File)
	return ok && logx.IsTerminal(f)
}

// parseLevel maps a log_level value to a level.
func parseLevel(s string) (logx.Level, error) { return logx.ParseLevel(s) }

// logFlags are -v and -log-level, which override the config's log_level.
type logFlags struct {
	verbose bool
	level   string
}

func addLogFlags(fs *flag.FlagSet) *logFlags {
	f := &logFlags{}
	fs.BoolVar(&f.verbose, "v", false, "log at debug level (overrides log_level)")
	fs.StringVar(&f.level, "log-level", "", "log `LEVEL`: debug, info, warn or error (overrides log_level)")
	return f
}

// override returns the level the flags ask for, if any.
func (f *logFlags) override() (logx.Level, bool, error) {
	if f.verbose {
		return logx.LevelDebug, true, nil
	}
	if f.level == "" {
		return 0, false, nil
	}
	l, err := parseLevel(f.level)
	return l, err == nil, err
}

// applyLevel sets the logger's level from the flags, else from the config.
func (f *logFlags) applyLevel(configLevel string) {
	if l, ok, _ := f.override(); ok {
		logLevel.Set(l)
		return
	}
	if l, err := parseLevel(configLevel); err == nil {
		logLevel.Set(l)
	}
}
