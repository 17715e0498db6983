package ctl

import (
	"net/netip"
	"sync"
	"time"

	"github.com/lispd/lispd/internal/logx"
)

// tokenBucket is a token bucket holding at most burst tokens, refilled at
// rate tokens per second. Safe for concurrent use.
type tokenBucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newTokenBucket(rate, burst int) *tokenBucket {
	if burst < 1 {
		burst = 1
	}
	return &tokenBucket{rate: float64(rate), burst: float64(burst), tokens: float64(burst)}
}

// allow takes one token at time now, reporting whether one was available.
func (b *tokenBucket) allow(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() {
		b.tokens += now.Sub(b.last).Seconds() * b.rate
		if b.tokens > b.burst {
			b.tokens = b.burst
		}
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// logKey identifies a class of logged packet problems.
type logKey struct {
	what string
	src  netip.Addr
}

// logLimiter logs a packet-level problem at most once per interval per
// (what, source), so a flood of bad packets never becomes a flood of lines.
// Suppressed events are counted and reported with the next line.
//
// A global budget (logBurst lines, refilled at logPerMinute a minute) bounds
// the total even when every bad packet claims another source address: a
// flood leaves a few lines a minute, each saying how many were suppressed,
// while the drop counters stay exact.
type logLimiter struct {
	log      *logx.Logger
	interval time.Duration
	budget   *tokenBucket
	mu       sync.Mutex
	last     map[logKey]*logState
	dropped  int // lines suppressed by the global budget
}

type logState struct {
	at         time.Time
	suppressed int
}

const (
	logLimiterMaxKeys = 4096
	logPerMinute      = 6 // lines a minute, sustained, across all keys
	logBurst          = 6 // lines at once
)

func newLogLimiter(log *logx.Logger, interval time.Duration) *logLimiter {
	return &logLimiter{log: log, interval: interval, budget: &tokenBucket{rate: logPerMinute / 60.0, burst: logBurst, tokens: logBurst}, last: map[logKey]*logState{}}
}

// warn logs msg for (what, src) unless it was logged less than the interval ago.
func (l *logLimiter) warn(what string, src netip.Addr, msg string, args ...any) {
	l.logAt(logx.LevelWarn, what, src, msg, args...)
}

func (l *logLimiter) logAt(level logx.Level, what string, src netip.Addr, msg string, args ...any) {
	now := time.Now()
	k := logKey{what, src}
	l.mu.Lock()
	st := l.last[k]
	if st != nil && now.Sub(st.at) < l.interval {
		st.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := 0
	if st == nil {
		if len(l.last) >= logLimiterMaxKeys {
			l.prune(now)
		}
		st = &logState{}
		l.last[k] = st
	} else {
		suppressed = st.suppressed
	}
	st.at, st.suppressed = now, 0
	if !l.budget.allow(now) {
		l.dropped++
		l.mu.Unlock()
		return
	}
	dropped := l.dropped
	l.dropped = 0
	l.mu.Unlock()
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	if dropped > 0 {
		args = append(args, "other_lines_suppressed", dropped)
	}
	if src.IsValid() {
		args = append(args, "source", src)
	}
	l.log.Log(level, msg, args...)
}

// prune forgets entries older than the interval; if every entry is recent it
// forgets all of them (bounded memory beats perfect suppression).
func (l *logLimiter) prune(now time.Time) {
	for k, st := range l.last {
		if now.Sub(st.at) >= l.interval {
			delete(l.last, k)
		}
	}
	if len(l.last) >= logLimiterMaxKeys {
		clear(l.last)
	}
}
