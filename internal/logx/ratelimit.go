package logx

import (
	"sync"
	"sync/atomic"
	"time"
)

// Limiter lets at most N events through per period and counts the rest, so
// an error that packets can trigger costs a few log lines a minute however
// many packets arrive. Allow takes no lock and allocates nothing: hold one
// Limiter per kind of event on a packet path. Under contention a window may
// let a line or two more through; it never lets a flood through.
type Limiter struct {
	n, period  int64 // events per window, window length in nanoseconds
	now        func() int64
	start      atomic.Int64  // start of the current window (ns)
	count      atomic.Int64  // events seen in the current window
	suppressed atomic.Uint64 // events held back since the last one let through
}

// NewLimiter returns a Limiter letting n events (at least 1) through per
// period.
func NewLimiter(n int, period time.Duration) *Limiter {
	return &Limiter{n: int64(max(n, 1)), period: int64(period), now: monotonicNow}
}

var epoch = time.Now()

// monotonicNow is nanoseconds on the monotonic clock since process start
// (plus one, so that zero means "no window yet").
func monotonicNow() int64 { return int64(time.Since(epoch)) + 1 }

// Allow reports whether an event may be logged now, and if so how many were
// suppressed since the last one allowed.
func (l *Limiter) Allow() (ok bool, suppressed uint64) {
	now := l.now()
	if st := l.start.Load(); st == 0 || now-st >= l.period {
		if l.start.CompareAndSwap(st, now) {
			l.count.Store(0)
		}
	}
	if l.count.Add(1) > l.n {
		l.suppressed.Add(1)
		return false, 0
	}
	return true, l.suppressed.Swap(0)
}

// expired reports whether the limiter's window is over and nothing is
// waiting to be reported, so forgetting it loses nothing.
func (l *Limiter) expired(now int64) bool {
	return now-l.start.Load() >= l.period && l.suppressed.Load() == 0
}

// Log writes msg at level through lg when the limiter allows it, adding
// suppressed=N when events were held back since the last line.
func (l *Limiter) Log(lg *Logger, level Level, msg string, args ...any) {
	if !lg.Enabled(level) {
		return
	}
	ok, n := l.Allow()
	if !ok {
		return
	}
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	lg.Log(level, msg, args...)
}

// RateLimit is a set of Limiters by key, for callers that name the kind of
// event as they go ("bad lisp header", "map-request rate"). Keys name kinds
// of events, never something taken from a packet; at most maxKeys are
// tracked, beyond which new keys share one overflow Limiter. The lookup takes
// a lock: on a packet path prefer a Limiter per kind.
type RateLimit struct {
	n      int
	period time.Duration
	now    func() int64

	mu       sync.Mutex
	keys     map[string]*Limiter
	overflow *Limiter
}

// maxKeys bounds the memory of a RateLimit.
const maxKeys = 256

// NewRateLimit returns a RateLimit letting n events per key through per
// period.
func NewRateLimit(n int, period time.Duration) *RateLimit {
	return &RateLimit{n: n, period: period, now: monotonicNow, keys: make(map[string]*Limiter)}
}

// limiter returns the Limiter of key, creating it if needed.
func (r *RateLimit) limiter(key string) *Limiter {
	r.mu.Lock()
	defer r.mu.Unlock()
	if l := r.keys[key]; l != nil {
		return l
	}
	if len(r.keys) >= maxKeys {
		now := r.now()
		for k, l := range r.keys {
			if l.expired(now) {
				delete(r.keys, k)
			}
		}
	}
	if len(r.keys) >= maxKeys {
		if r.overflow == nil {
			r.overflow = r.newLimiter()
		}
		return r.overflow
	}
	l := r.newLimiter()
	r.keys[key] = l
	return l
}

func (r *RateLimit) newLimiter() *Limiter {
	l := NewLimiter(r.n, r.period)
	l.now = r.now
	return l
}

// Allow reports whether an event of kind key may be logged now, and if so
// how many events of that kind were suppressed since the last one allowed.
func (r *RateLimit) Allow(key string) (ok bool, suppressed uint64) {
	return r.limiter(key).Allow()
}

// Log writes msg at level through lg when key is allowed, adding
// suppressed=N when events were held back since the last line.
func (r *RateLimit) Log(lg *Logger, level Level, key, msg string, args ...any) {
	if !lg.Enabled(level) {
		return
	}
	r.limiter(key).Log(lg, level, msg, args...)
}
