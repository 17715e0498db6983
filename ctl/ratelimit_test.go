package ctl

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/msg"
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

// The reply limiter gives each destination its own burst and rate, caps
// the total, and keeps a flooded destination from using up what others
// need.
func TestReplyLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	count := func(l *replyLimiter, dst netip.Addr, at time.Time, n int) int {
		got := 0
		for range n {
			if l.allow(dst, at) {
				got++
			}
		}
		return got
	}
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"burst per destination, then its rate", func(t *testing.T) {
			l := newReplyLimiter(10, 5, 1000, 1000)
			if got := count(l, a, now, 20); got != 5 {
				t.Errorf("burst to a: %d allowed, want 5", got)
			}
			if got := count(l, a, now.Add(300*time.Millisecond), 20); got != 3 {
				t.Errorf("after 300 ms at 10/s: %d allowed, want 3", got)
			}
			if got := count(l, b, now, 20); got != 5 {
				t.Errorf("burst to b while a is limited: %d allowed, want 5", got)
			}
		}},
		{"a flooded destination does not drain the global budget", func(t *testing.T) {
			l := newReplyLimiter(10, 5, 10, 10)
			count(l, a, now, 1000)
			if got := count(l, b, now, 20); got != 5 {
				t.Errorf("b after a's flood: %d allowed, want 5", got)
			}
		}},
		{"the global budget holds across destinations", func(t *testing.T) {
			l := newReplyLimiter(10, 5, 10, 10)
			got := 0
			for i := range 100 {
				got += count(l, netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), now, 1)
			}
			if got != 10 {
				t.Errorf("100 destinations at once: %d allowed, want the global burst 10", got)
			}
		}},
		{"memory is bounded under a flood of fresh destinations", func(t *testing.T) {
			l := newReplyLimiter(10, 5, 1e6, 1e6)
			for i := range 3 * replyMaxDsts {
				l.allow(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), now)
			}
			if n := len(l.dsts); n > replyMaxDsts {
				t.Errorf("%d destinations tracked, want at most %d", n, replyMaxDsts)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}

// TestTraceAtDebug: at debug level every control message in and out is one
// line naming its type, peer and size; at info level there is none.
func TestTraceAtDebug(t *testing.T) {
	for _, level := range []logx.Level{logx.LevelDebug, logx.LevelInfo} {
		var buf bytes.Buffer
		n := fuzzNode(t)
		n.log = logx.New(&buf, logx.Options{Level: level})
		from := netip.MustParseAddrPort("203.0.113.9:4342")
		req := msg.MapRequest{Nonce: 7, ITRRLOCs: []msg.Address{msg.AddrOf(from.Addr())}, EIDs: []msg.EID{msg.EIDOf(0, netip.MustParsePrefix("10.1.0.5/32"))}}
		b := req.Append(nil)
		n.receive(b, from, netip.Addr{})
		n.send(netip.Addr{}, from, b)
		in := fmt.Sprintf("control message in type=Map-Request peer=%v bytes=%d", from, len(b))
		out := fmt.Sprintf("control message out type=Map-Request peer=%v bytes=%d", from, len(b))
		got := buf.String()
		if level == logx.LevelDebug && (!strings.Contains(got, in) || !strings.Contains(got, out)) {
			t.Errorf("debug log lacks %q or %q:\n%s", in, out, got)
		}
		if level == logx.LevelInfo && strings.Contains(got, "control message") {
			t.Errorf("info log traces messages:\n%s", got)
		}
		if level != logx.LevelDebug {
			continue
		}
		// A flood: at most a burst of traceRate lines, then one that says
		// how many it left out.
		buf.Reset()
		for range 200 {
			n.receive(b, from, netip.Addr{})
		}
		if lines := strings.Count(buf.String(), "control message in"); lines > traceRate+1 {
			t.Errorf("%d trace lines for 200 messages, want at most %d", lines, traceRate+1)
		}
		n.traces = newTokenBucket(traceRate, traceRate) // full again
		n.receive(b, from, netip.Addr{})
		if !strings.Contains(buf.String(), "untraced_before=") {
			t.Errorf("no line says how many messages went untraced:\n%s", buf.String())
		}
	}
}
