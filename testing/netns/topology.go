package netns

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Logger receives diagnostics. testing.TB satisfies it.
type Logger interface {
	Logf(format string, args ...any)
}

// LoggerFunc adapts a printf-like function (such as log.Printf) to Logger.
type LoggerFunc func(format string, args ...any)

// Logf calls f.
func (f LoggerFunc) Logf(format string, args ...any) { f(format, args...) }

// Topology is a set of namespaces, links and processes that is removed as a
// whole by Close.
type Topology struct {
	prefix string
	log    Logger

	mu       sync.Mutex
	hosts    []*Host
	byName   map[string]*Host
	procs    []*Proc
	cleanups []func() error
	closed   bool

	closeOnce sync.Once
	closeErr  error
}

// Available reports why namespace topologies cannot be built here (not root,
// no ip command), or nil when they can.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (network namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("needs the ip command (iproute2)")
	}
	return nil
}

// New returns a Topology bound to a test: it skips the test with a message
// when namespaces are unavailable (fails instead when CI=true), and removes
// everything in tb.Cleanup, whether the test passed or not.
func New(tb testing.TB) *Topology {
	tb.Helper()
	if err := Available(); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("netns: %v (CI=true: not skipping)", err)
		}
		tb.Skipf("netns: %v", err)
	}
	t, err := Open(tb)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := t.Close(); err != nil {
			tb.Errorf("netns cleanup: %v", err)
		}
	})
	return t
}

// Open returns a Topology for a program (a benchmark or demo) rather than a
// test; the caller must call Close, also on interrupt. log may be nil.
func Open(log Logger) (*Topology, error) {
	if err := Available(); err != nil {
		return nil, fmt.Errorf("netns: %w", err)
	}
	if log == nil {
		log = LoggerFunc(func(string, ...any) {})
	}
	var r [2]byte
	if _, err := rand.Read(r[:]); err != nil {
		return nil, fmt.Errorf("netns: random prefix: %w", err)
	}
	t := &Topology{
		prefix: fmt.Sprintf("lt%dx%s", os.Getpid(), hex.EncodeToString(r[:])),
		log:    log,
		byName: map[string]*Host{},
	}
	sweepStale(log)
	return t, nil
}

// Prefix is the run-unique prefix of this topology's namespace names.
func (t *Topology) Prefix() string { return t.prefix }

// Logf logs through the topology's Logger.
func (t *Topology) Logf(format string, args ...any) { t.log.Logf(format, args...) }

// Hosts returns the hosts created so far, in creation order.
func (t *Topology) Hosts() []*Host {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]*Host(nil), t.hosts...)
}

// OnClose registers f to run during Close, before the namespaces are
// deleted; functions run in reverse order of registration.
func (t *Topology) OnClose(f func() error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

// Host creates the namespace "<prefix>-<name>" with loopback up, IPv6
// duplicate address detection off (addresses usable at once) and returns
// it.
func (t *Topology) Host(name string) (*Host, error) {
	if name == "" || strings.ContainsAny(name, "/ \t") {
		return nil, fmt.Errorf("netns: bad host name %q", name)
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, errors.New("netns: topology closed")
	}
	if t.byName[name] != nil {
		t.mu.Unlock()
		return nil, fmt.Errorf("netns: host %q exists", name)
	}
	h := &Host{topo: t, Name: name, NS: t.prefix + "-" + name}
	t.byName[name] = h
	t.mu.Unlock()

	if err := run(context.Background(), "ip", "netns", "add", h.NS); err != nil {
		return nil, fmt.Errorf("netns: host %s: %w", name, err)
	}
	t.mu.Lock()
	t.hosts = append(t.hosts, h)
	t.mu.Unlock()
	if err := h.IP("link", "set", "lo", "up"); err != nil {
		return nil, err
	}
	if err := h.Sysctl(
		"net.ipv6.conf.all.accept_dad=0",
		"net.ipv6.conf.default.accept_dad=0",
		"net.ipv6.conf.all.accept_ra=0",
		"net.ipv6.conf.default.accept_ra=0",
	); err != nil {
		return nil, err
	}
	return h, nil
}

// track registers a started process so that Close stops it.
func (t *Topology) track(p *Proc) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.procs = append(t.procs, p)
}

// Close stops every process (SIGTERM, then SIGKILL after a grace period),
// runs the OnClose functions and deletes every namespace. It is safe to call
// more than once and from several goroutines (a signal handler and the main
// flow): every call returns only when the first has finished.
func (t *Topology) Close() error {
	t.closeOnce.Do(func() { t.closeErr = t.close() })
	return t.closeErr
}

func (t *Topology) close() error {
	t.mu.Lock()
	t.closed = true
	procs := t.procs
	cleanups := t.cleanups
	hosts := t.hosts
	t.mu.Unlock()

	var errs []error
	var wg sync.WaitGroup
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Stop()
		}()
	}
	wg.Wait()
	for i := len(cleanups) - 1; i >= 0; i-- {
		if err := cleanups[i](); err != nil {
			errs = append(errs, err)
		}
	}
	for i := len(hosts) - 1; i >= 0; i-- {
		h := hosts[i]
		killNamespacePIDs(h.NS)
		if err := run(context.Background(), "ip", "netns", "del", h.NS); err != nil {
			errs = append(errs, fmt.Errorf("delete %s: %w", h.NS, err))
		}
	}
	// Verify: nothing of ours may remain.
	if left := namespacesWithPrefix(t.prefix + "-"); len(left) > 0 {
		errs = append(errs, fmt.Errorf("namespaces left behind: %v", left))
	}
	return errors.Join(errs...)
}

// killNamespacePIDs kills processes still inside a namespace (ones not
// started through this package, or their escaped children).
func killNamespacePIDs(ns string) {
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	time.Sleep(10 * time.Millisecond)
}

// Namespaces lists the names of all named network namespaces.
func Namespaces() []string {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return nil
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names
}

func namespacesWithPrefix(p string) []string {
	var left []string
	for _, n := range Namespaces() {
		if strings.HasPrefix(n, p) {
			left = append(left, n)
		}
	}
	return left
}

// bg is the context of configuration commands, which never hang.
var bg = context.Background()

var staleRE = regexp.MustCompile(`^lt([0-9]+)x[0-9a-f]{4}-`)

// sweepStale deletes namespaces created by earlier runs of this package
// whose process no longer exists (a run killed before it could clean up).
func sweepStale(log Logger) {
	for _, n := range Namespaces() {
		m := staleRE.FindStringSubmatch(n)
		if m == nil {
			continue
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			continue
		}
		killNamespacePIDs(n)
		if err := exec.Command("ip", "netns", "del", n).Run(); err == nil {
			log.Logf("netns: removed stale namespace %s (pid %d gone)", n, pid)
		}
	}
}

// run runs a command in the current namespace and returns an error holding
// its output when it fails.
func run(ctx context.Context, name string, args ...string) error {
	_, err := output(ctx, name, args...)
	return err
}

func output(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err,
			strings.TrimSpace(stderr.String()+" "+stdout.String()))
	}
	return stdout.String(), nil
}
