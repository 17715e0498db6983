package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/lispd/lispd/testing/netns"
)

// ErrNotWired reports that lispd did not bring its data plane up: the
// daemon exited or its TUN did not appear in time.
var ErrNotWired = errors.New("lispd data plane not wired")

// Module is lispd's Go module path.
const Module = "github.com/lispd/lispd"

// BuildGo builds the Go package pkg (an import path) into dir/name with the
// go command of this machine and returns the binary's path.
func BuildGo(dir, name, pkg string) (string, error) {
	out := filepath.Join(dir, name)
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	cmd := exec.Command(goBin, "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w: %s", pkg, err, lastLines(string(b), 3))
	}
	return out, nil
}

// BuildLispd builds the lispd binary into dir.
func BuildLispd(dir string) (string, error) { return BuildGo(dir, "lispd", Module) }

// Daemon is lispd running inside a lab host.
type Daemon struct {
	Name   string // "xtr1", "xtr2", "ms"
	Host   *netns.Host
	Bin    string
	Config string
	Socket string
	Proc   *netns.Proc
	up     bool
}

// StartLispd starts `lispd run -c config` inside h. When the topology
// closes, the daemon gets SIGTERM; its output is logged then, and an exit
// other than the clean one on SIGTERM is reported as an error (once the
// daemon had come up, see WaitTUN).
func (l *Lab) StartLispd(h *netns.Host, name, bin, config string) (*Daemon, error) {
	p, err := h.Start(bin, "run", "-c", config)
	if err != nil {
		return nil, err
	}
	d := &Daemon{Name: name, Host: h, Bin: bin, Config: config, Socket: l.Socket(name), Proc: p}
	l.Topo.OnClose(func() error {
		stopErr := p.Stop()
		l.Topo.Logf("lispd %s output:\n%s", name, indent(p.Output()))
		if d.up && stopErr != nil {
			return fmt.Errorf("lispd %s: did not exit cleanly on SIGTERM: %w", name, stopErr)
		}
		return nil
	})
	return d, nil
}

// WaitTUN waits until the daemon's TUN device exists in its host. It
// returns an error wrapping ErrNotWired if the daemon exits first or the
// device does not appear within timeout.
func (d *Daemon) WaitTUN(tun string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if d.Proc.Exited() {
			return fmt.Errorf("%w: lispd %s exited (%v) before creating %s: %s",
				ErrNotWired, d.Name, d.Proc.Wait(), tun, lastLines(d.Proc.Output(), 5))
		}
		if d.Host.HasLink(tun) {
			d.up = true
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: lispd %s running but no %s after %v: %s",
				ErrNotWired, d.Name, tun, timeout, lastLines(d.Proc.Output(), 5))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitRunning waits until the daemon has been running for d (for roles
// without a TUN, such as the Map-Server), returning ErrNotWired if it
// exits first.
func (d *Daemon) WaitRunning(dur time.Duration) error {
	select {
	case <-d.Proc.Done():
		return fmt.Errorf("%w: lispd %s exited (%v): %s", ErrNotWired, d.Name, d.Proc.Wait(), lastLines(d.Proc.Output(), 5))
	case <-time.After(dur):
		d.up = true
		return nil
	}
}

// Show runs `lispd show --socket SOCKET args...` (from the root namespace:
// the control socket is a file) and returns its output.
func (d *Daemon) Show(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, d.Bin, append([]string{"show", "--socket", d.Socket}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("lispd show %s: %w: %s", strings.Join(args, " "), err, lastLines(string(out), 3))
	}
	return string(out), nil
}

// CPUTime returns the CPU time (user+system) the daemon has used.
func (d *Daemon) CPUTime() (time.Duration, error) { return d.Proc.CPUTime() }

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "\t(no output)"
	}
	return "\t" + strings.ReplaceAll(s, "\n", "\n\t")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
