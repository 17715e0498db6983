package ctl

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/lispd/lispd/internal/logx"
)

func TestTokenBucket(t *testing.T) {
	b := newTokenBucket(10, 3)
	now := time.Unix(1000, 0)
	got := 0
	for range 10 {
		if b.allow(now) {
			got++
		}
	}
	if got != 3 {
		t.Fatalf("burst: %d allowed, want 3", got)
	}
	if b.allow(now.Add(50 * time.Millisecond)) {
		t.Error("allowed before a token accrued")
	}
	if !b.allow(now.Add(150 * time.Millisecond)) {
		t.Error("refused after a token accrued")
	}
	// A long pause refills only up to the burst.
	later := now.Add(time.Hour)
	got = 0
	for range 10 {
		if b.allow(later) {
			got++
		}
	}
	if got != 3 {
		t.Errorf("after a pause: %d allowed, want 3", got)
	}
}

// A flood of bad packets from one source logs one line per interval; from
// many sources, the global budget caps the lines.
func TestLogLimiter(t *testing.T) {
	var buf bytes.Buffer
	l := newLogLimiter(logx.New(&buf, logx.Options{}), time.Minute)
	src := netip.MustParseAddr("192.0.2.1")
	for range 1000 {
		l.warn("bad-auth", src, "refused")
	}
	if n := strings.Count(buf.String(), "\n"); n != 1 {
		t.Fatalf("one source: %d lines, want 1", n)
	}
	l.warn("malformed", src, "malformed")
	if n := strings.Count(buf.String(), "\n"); n != 2 {
		t.Fatalf("another kind of problem: %d lines, want 2", n)
	}
	buf.Reset()
	for i := range 5000 {
		l.warn("bad-auth", netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), "refused")
	}
	if n := strings.Count(buf.String(), "\n"); n > logBurst+5 {
		t.Errorf("5000 sources: %d lines, want at most about %d", n, logBurst)
	}
	if len(l.last) > logLimiterMaxKeys {
		t.Errorf("limiter holds %d keys", len(l.last))
	}
}
