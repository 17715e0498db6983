package ctl

import (
	"net/netip"
	"sync"
	"time"

	"github.com/lispd/lispd/internal/logx"
	"github.com/lispd/lispd/internal/nocmp"
)

// tokenBucket is a token bucket holding at most burst tokens, refilled at
// rate tokens per second. Safe for concurrent use.
type tokenBucket struct {
	_ nocmp.DoNotCompare

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

// replyLimiter bounds the Map-Replies the node sends (ETR answers and
// RLOC-probe replies, Map-Server proxy replies, Map-Resolver negative
// replies, RTR probe replies). A Map-Reply goes to the ITR-RLOC a
// Map-Request names, which nothing authenticates, and can be several times
// the request's size (a probe for a non-EID is answered with every
// mapping): unbounded, every xTR is a reflector and amplifier toward any
// address. Each destination gets its own bucket, so one flood (or one
// victim) cannot use up what other ITRs' probes need, and a global bucket
// bounds the total when a flood names a new destination each time.
type replyLimiter struct {
	perDst, dstBurst int
	global           *tokenBucket
	mu               sync.Mutex
	dsts             map[netip.Addr]*dstBucket
}

// dstBucket is one destination's token bucket (guarded by replyLimiter.mu).
type dstBucket struct {
	_ nocmp.DoNotCompare

	tokens float64
	last   time.Time
}

const (
	// replyPerDst and replyDstBurst bound the Map-Replies to one address:
	// far above what ITRs need (RFC 9301 has them send at most one
	// Map-Request per EID prefix a second and probe each locator once a
	// probe interval), far below a reflected flood.
	replyPerDst   = 100
	replyDstBurst = 200
	// replyGlobal and replyGlobalBurst bound all Map-Replies together.
	replyGlobal      = 1000
	replyGlobalBurst = 1000
	// replyMaxDsts bounds the destinations tracked at once.
	replyMaxDsts = 4096
)

// replyAllowed reports whether a Map-Reply (or a Map-Notify or Info-Reply
// answering a Map-Register or Info-Request) to dst may go out now; when
// not, it counts the drop and logs (rate-limited).
func (n *Node) replyAllowed(dst netip.Addr) bool {
	if n.rep.allow(dst.Unmap(), time.Now()) {
		return true
	}
	n.ctr.drop(DropReplyRateLimited)
	n.logs.warn("reply-rate-limited", netip.Addr{}, "reply not sent: over the reply rate limit", "to", dst)
	return false
}

func newReplyLimiter(perDst, dstBurst, global, globalBurst int) *replyLimiter {
	return &replyLimiter{
		perDst: perDst, dstBurst: max(dstBurst, 1),
		global: newTokenBucket(global, globalBurst),
		dsts:   map[netip.Addr]*dstBucket{},
	}
}

// allow takes a token for a Map-Reply to dst at time now from dst's bucket
// and the global one, reporting whether both had one.
func (l *replyLimiter) allow(dst netip.Addr, now time.Time) bool {
	l.mu.Lock()
	b := l.dsts[dst]
	if b == nil {
		if len(l.dsts) >= replyMaxDsts {
			l.prune(now)
		}
		b = &dstBucket{tokens: float64(l.dstBurst), last: now}
		l.dsts[dst] = b
	}
	b.tokens = min(float64(l.dstBurst), b.tokens+now.Sub(b.last).Seconds()*float64(l.perDst))
	b.last = now
	ok := b.tokens >= 1
	if ok {
		b.tokens--
	}
	l.mu.Unlock()
	// The global bucket is charged only for replies the destination's own
	// bucket allows, so a single flooded destination cannot drain it.
	return ok && l.global.allow(now)
}

// prune forgets destinations whose buckets have refilled (they would start
// full anyway); if none has, it forgets them all (bounded memory beats
// exact limits under a flood of fresh addresses; the global bucket still
// holds).
func (l *replyLimiter) prune(now time.Time) {
	full := time.Duration(float64(l.dstBurst) / float64(max(l.perDst, 1)) * float64(time.Second))
	for a, b := range l.dsts {
		if now.Sub(b.last) >= full {
			delete(l.dsts, a)
		}
	}
	if len(l.dsts) >= replyMaxDsts {
		clear(l.dsts)
	}
}
