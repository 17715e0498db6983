package logx

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable time source in nanoseconds.
type fakeClock struct{ t int64 }

func (c *fakeClock) now() int64          { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t += int64(d) }

func newTestLimiter(n int, period time.Duration) (*Limiter, *fakeClock) {
	clk := &fakeClock{t: int64(time.Hour)}
	l := NewLimiter(n, period)
	l.now = clk.now
	return l, clk
}

func TestLimiterWindows(t *testing.T) {
	l, clk := newTestLimiter(3, time.Minute)
	allowed := 0
	for i := 0; i < 1000; i++ {
		if ok, _ := l.Allow(); ok {
			allowed++
		}
	}
	if allowed != 3 {
		t.Fatalf("allowed %d in one window, want 3", allowed)
	}
	clk.add(59 * time.Second)
	if ok, _ := l.Allow(); ok {
		t.Fatal("allowed before the window ended")
	}
	clk.add(time.Second)
	ok, n := l.Allow()
	if !ok || n != 998 {
		t.Fatalf("new window: ok=%v suppressed=%d, want true 998", ok, n)
	}
	if ok, n := l.Allow(); !ok || n != 0 {
		t.Fatalf("suppressed count reported twice: %v %d", ok, n)
	}
}

func TestLimiterConcurrent(t *testing.T) {
	l, _ := newTestLimiter(5, time.Hour)
	l.Allow() // open the window, so no reset races with the goroutines
	var mu sync.Mutex
	allowed, reported := 1, uint64(0)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				if ok, n := l.Allow(); ok {
					mu.Lock()
					allowed++
					reported += n
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	// One window (the clock does not move): exactly n let through, and
	// every other event counted as suppressed.
	if allowed != 5 || reported+l.suppressed.Load() != 8001-5 {
		t.Fatalf("allowed %d, suppressed %d+%d", allowed, reported, l.suppressed.Load())
	}
}

func TestLimiterAllocs(t *testing.T) {
	l, _ := newTestLimiter(1, time.Minute)
	if n := testing.AllocsPerRun(1000, func() { l.Allow() }); n != 0 {
		t.Fatalf("Allow allocates %v times", n)
	}
}

func TestRateLimitKeys(t *testing.T) {
	clk := &fakeClock{t: int64(time.Hour)}
	r := NewRateLimit(1, time.Minute)
	r.now = clk.now
	if ok, _ := r.Allow("a"); !ok {
		t.Fatal("first a refused")
	}
	if ok, _ := r.Allow("a"); ok {
		t.Fatal("second a allowed")
	}
	if ok, _ := r.Allow("b"); !ok {
		t.Fatal("b shares a's budget")
	}
	for i := 0; i < 10*maxKeys; i++ {
		r.Allow(fmt.Sprint("k", i))
	}
	if len(r.keys) > maxKeys {
		t.Fatalf("%d keys tracked, bound is %d", len(r.keys), maxKeys)
	}
	// Expired windows make room again.
	clk.add(2 * time.Minute)
	if ok, _ := r.Allow("fresh"); !ok {
		t.Fatal("new key refused after expiry")
	}
	if _, ok := r.keys["fresh"]; !ok {
		t.Fatal("new key not tracked after pruning")
	}
}

func TestRateLimitLog(t *testing.T) {
	clk := &fakeClock{t: int64(time.Hour)}
	r := NewRateLimit(2, time.Minute)
	r.now = clk.now
	var buf bytes.Buffer
	l := New(&buf, Options{})
	for i := 0; i < 50; i++ {
		r.Log(l, LevelWarn, "decap", "dropped malformed packet", "from", "192.0.2.1")
	}
	clk.add(61 * time.Second)
	r.Log(l, LevelWarn, "decap", "dropped malformed packet", "from", "192.0.2.1")
	r.Log(l, LevelDebug, "decap", "not enabled")
	want := "WARN dropped malformed packet from=192.0.2.1\n" +
		"WARN dropped malformed packet from=192.0.2.1\n" +
		"WARN dropped malformed packet from=192.0.2.1 suppressed=48\n"
	if buf.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

func BenchmarkLimiterAllow(b *testing.B) {
	l := NewLimiter(5, time.Minute)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		l.Allow()
	}
}

func BenchmarkRateLimitAllow(b *testing.B) {
	r := NewRateLimit(5, time.Minute)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		r.Allow("bad header")
	}
}
