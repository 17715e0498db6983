package logx

import (
	"bytes"
	"errors"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestHandlerLines(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, Options{Level: LevelDebug})
	l.Debug("probe sent", "rloc", "192.0.2.1", "n", 3)
	l.Info("two\nlines", "err", errors.New("bad thing"), "empty", "")
	l.With("role", "xtr").With("ms", netip.MustParseAddr("192.0.2.10")).Warn("no reply", "k", "v w", "rtt", 1500*time.Microsecond)
	l.Error("x=y", "quote", `a"b`, "odd")
	l.Info("kinds", "u8", uint8(7), "i64", int64(-3), "f", 0.5, "ok", true, "nilerr", error(nil), "t", time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC))
	Discard().Error("never written")
	want := `DEBUG probe sent rloc=192.0.2.1 n=3
INFO two\nlines err="bad thing" empty=""
WARN no reply role=xtr ms=192.0.2.10 k="v w" rtt=1.5ms
ERROR x=y quote="a\"b" !BADKEY=odd
INFO kinds u8=7 i64=-3 f=0.5 ok=true nilerr=<nil> t=2026-01-02T03:04:05.000000006Z
`
	if buf.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestHandlerLevelAndTime(t *testing.T) {
	var buf bytes.Buffer
	lv := new(LevelVar)
	lv.Set(LevelWarn)
	l := New(&buf, Options{Level: lv, Time: true})
	l.Info("hidden")
	l.Warn("shown")
	lv.Set(LevelInfo)
	l.Info("now shown")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	re := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d) (WARN shown|INFO now shown)$`)
	if len(lines) != 2 || !re.MatchString(lines[0]) || !re.MatchString(lines[1]) {
		t.Fatalf("got %q", lines)
	}
}

func TestHandlerConcurrentLinesStayWhole(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, Options{})
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
