// Package logx is lispd's logging: a Logger that writes one plain line per
// event, and a rate limiter for events that packets can trigger, so a flood
// of bad packets never becomes a flood of log lines. It replaces log/slog
// in the binary (slog and the encoding/json it reaches cost the router
// build a few hundred kilobytes) and keeps slog's calling convention:
// a message and alternating keys and values.
package logx

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/lispd/lispd/internal/nocmp"
)

// Level is the importance of an event; the values are log/slog's.
type Level int

// The levels.
const (
	LevelDebug Level = -4
	LevelInfo  Level = 0
	LevelWarn  Level = 4
	LevelError Level = 8
)

// Leveler gives the minimum level a Logger writes: a Level, or a *LevelVar
// to change it while running.
type Leveler interface {
	Level() Level
}

// Level returns l itself.
func (l Level) Level() Level { return l }

// String returns the level's name as log lines show it.
func (l Level) String() string {
	switch {
	case l < LevelInfo:
		return "DEBUG"
	case l < LevelWarn:
		return "INFO"
	case l < LevelError:
		return "WARN"
	}
	return "ERROR"
}

// ParseLevel maps a log_level value (debug, info, warn, error) to a Level.
func ParseLevel(s string) (Level, error) {
	switch s {
	case "debug":
		return LevelDebug, nil
	case "info":
		return LevelInfo, nil
	case "warn":
		return LevelWarn, nil
	case "error":
		return LevelError, nil
	}
	return 0, fmt.Errorf("unknown log level %q (debug, info, warn, error)", s)
}

// LevelVar is a Level that can change while loggers use it. The zero value
// is LevelInfo.
type LevelVar struct{ v atomic.Int64 }

// Level returns the current level.
func (v *LevelVar) Level() Level { return Level(v.v.Load()) }

// Set changes the level.
func (v *LevelVar) Set(l Level) { v.v.Store(int64(l)) }

// Options configure a Logger.
type Options struct {
	_ nocmp.DoNotCompare

	// Level is the minimum level written; nil means LevelInfo.
	Level Leveler
	// Time prefixes each line with an RFC 3339 timestamp. Leave it off when
	// the output goes to procd or syslog, which add their own.
	Time bool
}

// output is what a Logger and the loggers derived from it share.
type output struct {
	_ nocmp.DoNotCompare

	mu   sync.Mutex
	w    io.Writer
	opts Options
}

// Logger writes one line per event:
//
//	[TIME ]LEVEL message key=value key="value with spaces"
//
// Values are written as log/slog's text handler would show them (errors by
// their message, times in RFC 3339, Stringers by String). A nil *Logger
// discards everything. It is safe for concurrent use; loggers derived with
// With share the writer and its lock.
type Logger struct {
	_ nocmp.DoNotCompare

	out    *output
	prefix string // pre-formatted attributes from With
}

// New returns a Logger writing to w.
func New(w io.Writer, opts Options) *Logger {
	if opts.Level == nil {
		opts.Level = LevelInfo
	}
	return &Logger{out: &output{w: w, opts: opts}}
}

// Discard returns a Logger that writes nothing.
func Discard() *Logger { return nil }

var defaultLogger atomic.Pointer[Logger]

func init() { defaultLogger.Store(New(os.Stderr, Options{})) }

// Default returns the process-wide logger (stderr at info level until
// SetDefault).
func Default() *Logger { return defaultLogger.Load() }

// SetDefault makes l the process-wide logger.
func SetDefault(l *Logger) { defaultLogger.Store(l) }

// Enabled reports whether events at level are written.
func (l *Logger) Enabled(level Level) bool {
	return l != nil && level >= l.out.opts.Level.Level()
}

// With returns a logger that adds the key-value pairs args to every line.
func (l *Logger) With(args ...any) *Logger {
	if l == nil {
		return nil
	}
	return &Logger{out: l.out, prefix: string(appendArgs([]byte(l.prefix), args))}
}

// Debug logs at LevelDebug.
func (l *Logger) Debug(msg string, args ...any) { l.Log(LevelDebug, msg, args...) }

// Info logs at LevelInfo.
func (l *Logger) Info(msg string, args ...any) { l.Log(LevelInfo, msg, args...) }

// Warn logs at LevelWarn.
func (l *Logger) Warn(msg string, args ...any) { l.Log(LevelWarn, msg, args...) }

// Error logs at LevelError.
func (l *Logger) Error(msg string, args ...any) { l.Log(LevelError, msg, args...) }

// Log writes msg with the key-value pairs args at level, if enabled.
func (l *Logger) Log(level Level, msg string, args ...any) {
	if !l.Enabled(level) {
		return
	}
	buf := make([]byte, 0, 256)
	if l.out.opts.Time {
		buf = time.Now().AppendFormat(buf, "2006-01-02T15:04:05.000Z07:00")
		buf = append(buf, ' ')
	}
	buf = append(buf, level.String()...)
	buf = append(buf, ' ')
	buf = appendMessage(buf, msg)
	buf = append(buf, l.prefix...)
	buf = appendArgs(buf, args)
	buf = append(buf, '\n')
	l.out.mu.Lock()
	defer l.out.mu.Unlock()
	l.out.w.Write(buf)
}

// appendMessage writes the message, escaping line breaks so one event stays
// one line.
func appendMessage(b []byte, s string) []byte {
	for _, r := range s {
		switch {
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\r':
			b = append(b, `\r`...)
		case r < ' ' || r == utf8.RuneError:
			b = strconv.AppendQuoteRuneToASCII(b, r)
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return b
}

// badKey is the key of a value without one (an odd number of args), as
// log/slog writes it.
const badKey = "!BADKEY"

// appendArgs writes the key-value pairs args as " key=value" each.
func appendArgs(b []byte, args []any) []byte {
	for len(args) > 0 {
		key, ok := args[0].(string)
		if !ok || len(args) == 1 {
			b = appendAttr(b, badKey, args[0])
			args = args[1:]
			continue
		}
		b = appendAttr(b, key, args[1])
		args = args[2:]
	}
	return b
}

func appendAttr(b []byte, key string, v any) []byte {
	b = append(b, ' ')
	b = append(b, key...)
	b = append(b, '=')
	s := valueString(v)
	if needsQuote(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

// valueString formats v as log/slog's text handler does.
func valueString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case int32:
		return strconv.FormatInt(int64(v), 10)
	case int16:
		return strconv.FormatInt(int64(v), 10)
	case int8:
		return strconv.FormatInt(int64(v), 10)
	case uint:
		return strconv.FormatUint(uint64(v), 10)
	case uint64:
		return strconv.FormatUint(v, 10)
	case uint32:
		return strconv.FormatUint(uint64(v), 10)
	case uint16:
		return strconv.FormatUint(uint64(v), 10)
	case uint8:
		return strconv.FormatUint(uint64(v), 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(v), 'g', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case time.Duration:
		return v.String()
	case time.Time:
		return v.Format(time.RFC3339Nano)
	case error:
		return errorString(v)
	}
	return fmt.Sprint(v)
}

// errorString is err.Error(), or what fmt prints for a nil pointer error.
func errorString(err error) (s string) {
	defer func() {
		if recover() != nil {
			s = "<nil>"
		}
	}()
	return err.Error()
}

func needsQuote(s string) bool {
	if s == "" {
		return true
	}
	for _, r := range s {
		if r <= ' ' || r == '=' || r == '"' || r == '\\' || r == utf8.RuneError || r > '~' {
			return true
		}
	}
	return false
}
