package logx

import (
	"bytes"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
)

func TestHandlerLines(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(NewHandler(&buf, Options{Level: slog.LevelDebug}))
	l.Debug("probe sent", "rloc", "192.0.2.1", "n", 3)
	l.Info("two\nlines", "err", errors.New("bad thing"), "empty", "")
	l.With("role", "xtr").WithGroup("ms").Warn("no reply", "addr", "192.0.2.10", slog.Group("g", "k", "v w"))
	l.Error("x=y", "quote", `a"b`)
	want := `DEBUG probe sent rloc=192.0.2.1 n=3
INFO two\nlines err="bad thing" empty=""
WARN no reply role=xtr ms.addr=192.0.2.10 ms.g.k="v w"
ERROR x=y quote="a\"b"
`
	if buf.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestHandlerLevelAndTime(t *testing.T) {
	var buf bytes.Buffer
	lv := new(slog.LevelVar)
	lv.Set(slog.LevelWarn)
	l := slog.New(NewHandler(&buf, Options{Level: lv, Time: true}))
	l.Info("hidden")
	l.Warn("shown")
	lv.Set(slog.LevelInfo)
	l.Info("now shown")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	re := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d) (WARN shown|INFO now shown)$`)
	if len(lines) != 2 || !re.MatchString(lines[0]) || !re.MatchString(lines[1]) {
		t.Fatalf("got %q", lines)
	}
}

func TestHandlerConcurrentLinesStayWhole(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(NewHandler(&buf, Options{}))
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				l.Info("event", "g", g, "i", i)
			}
		}()
	}
	wg.Wait()
	re := regexp.MustCompile(`^INFO event g=\d i=\d+$`)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 800 {
		t.Fatalf("%d lines", len(lines))
	}
	for _, ln := range lines {
		if !re.MatchString(ln) {
			t.Fatalf("torn line %q", ln)
		}
	}
}
