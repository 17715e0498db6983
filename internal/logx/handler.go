// Package logx holds lispd's logging pieces: a slog handler that writes one
// plain line per event, and a rate limiter for events that packets can
// trigger, so a flood of bad packets never becomes a flood of log lines.
package logx

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Options configure a Handler.
type Options struct {
	// Level is the minimum level written; nil means slog.LevelInfo. Pass a
	// *slog.LevelVar to change it while running.
	Level slog.Leveler
	// Time prefixes each line with an RFC 3339 timestamp. Leave it off when
	// the output goes to procd or syslog, which add their own.
	Time bool
}

// Handler is a slog.Handler writing one line per record:
//
//	[TIME ]LEVEL message key=value key="value with spaces" group.key=value
//
// It is safe for concurrent use; handlers derived with WithAttrs and
// WithGroup share the writer and its lock.
type Handler struct {
	opts   Options
	mu     *sync.Mutex
	w      io.Writer
	prefix string // pre-formatted attributes from WithAttrs
	group  string // dotted group prefix from WithGroup, with trailing "."
}

// NewHandler returns a Handler writing to w.
func NewHandler(w io.Writer, opts Options) *Handler {
	if opts.Level == nil {
		opts.Level = slog.LevelInfo
	}
	return &Handler{opts: opts, mu: new(sync.Mutex), w: w}
}

// Enabled reports whether records at level are written.
func (h *Handler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= h.opts.Level.Level()
}

// Handle writes the record as one line.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	buf := make([]byte, 0, 256)
	if h.opts.Time && !r.Time.IsZero() {
		buf = r.Time.AppendFormat(buf, "2006-01-02T15:04:05.000Z07:00")
		buf = append(buf, ' ')
	}
	buf = append(buf, levelName(r.Level)...)
	buf = append(buf, ' ')
	buf = appendMessage(buf, r.Message)
	buf = append(buf, h.prefix...)
	r.Attrs(func(a slog.Attr) bool {
		buf = appendAttr(buf, h.group, a)
		return true
	})
	buf = append(buf, '\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.w.Write(buf)
	return err
}

// WithAttrs returns a handler that adds attrs to every line.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	b := []byte(h.prefix)
	for _, a := range attrs {
		b = appendAttr(b, h.group, a)
	}
	n.prefix = string(b)
	return &n
}

// WithGroup returns a handler that qualifies later keys with name.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	n.group = h.group + name + "."
	return &n
}

func levelName(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "DEBUG"
	case l < slog.LevelWarn:
		return "INFO"
	case l < slog.LevelError:
		return "WARN"
	}
	return "ERROR"
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

func appendAttr(b []byte, group string, a slog.Attr) []byte {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return b
	}
	if a.Value.Kind() == slog.KindGroup {
		g := group
		if a.Key != "" {
			g += a.Key + "."
		}
		for _, ga := range a.Value.Group() {
			b = appendAttr(b, g, ga)
		}
		return b
	}
	b = append(b, ' ')
	b = append(b, group...)
	b = append(b, a.Key...)
	b = append(b, '=')
	var s string
	switch a.Value.Kind() {
	case slog.KindTime:
		s = a.Value.Time().Format(time.RFC3339Nano)
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok {
			s = err.Error()
		} else {
			s = a.Value.String()
		}
	default:
		s = a.Value.String()
	}
	if needsQuote(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
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
