package netns

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// StopGrace is how long Stop waits after the stop signal before SIGKILL.
const StopGrace = 3 * time.Second

// Proc is a process started inside a host's namespace.
type Proc struct {
	// Cmd is the underlying command; Cmd.Process.Pid is the program's own
	// PID (`ip netns exec` execs it).
	Cmd  *exec.Cmd
	host *Host

	out     lockedBuffer
	done    chan struct{}
	waitErr error
	stop    sync.Once
	stopErr error
	// stopSignal is sent first by Stop (SIGTERM unless set).
	stopSignal syscall.Signal
}

func newProc(h *Host, cmd *exec.Cmd) *Proc {
	p := &Proc{Cmd: cmd, host: h, done: make(chan struct{}), stopSignal: syscall.SIGTERM}
	if cmd.Stdout == nil {
		cmd.Stdout = &p.out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = &p.out
	}
	return p
}

func (p *Proc) start() error {
	if err := p.Cmd.Start(); err != nil {
		return err
	}
	go func() {
		p.waitErr = p.Cmd.Wait()
		close(p.done)
	}()
	return nil
}

// Pid returns the process ID.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits for the process to exit and returns its exit error.
func (p *Proc) Wait() error {
	<-p.done
	return p.waitErr
}

// Output returns what the process wrote so far (when Start collected it).
func (p *Proc) Output() string { return p.out.String() }

// Signal sends sig to the process group.
func (p *Proc) Signal(sig syscall.Signal) error {
	return syscall.Kill(-p.Cmd.Process.Pid, sig)
}

// Stop sends the stop signal (SIGTERM) to the process group, waits up to
// StopGrace, then kills it. It returns the process's exit error unless the
// process had to be killed or died of the stop signal. Calling it again
// returns the first result.
func (p *Proc) Stop() error {
	p.stop.Do(func() {
		if !p.Exited() {
			_ = p.Signal(p.stopSignal)
			select {
			case <-p.done:
			case <-time.After(StopGrace):
				_ = p.Signal(syscall.SIGKILL)
				<-p.done
				p.stopErr = errors.New(p.name() + ": did not stop within " + StopGrace.String() + ", killed")
				return
			}
		}
		var ee *exec.ExitError
		if errors.As(p.waitErr, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == p.stopSignal {
				return
			}
		}
		p.stopErr = p.waitErr
	})
	return p.stopErr
}

// CPUTime returns the user+system CPU time the process has used so far
// (from /proc/PID/stat), or an error once it has exited.
func (p *Proc) CPUTime() (time.Duration, error) {
	return ProcessCPUTime(p.Pid())
}

func (p *Proc) name() string {
	return p.host.Name + ": " + strings.Join(p.Cmd.Args[4:], " ")
}

// ProcessCPUTime returns the user+system CPU time of a process from
// /proc/PID/stat, in clock ticks of 1/100 s (USER_HZ on Linux).
func ProcessCPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: fields after ')' only.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc/PID/stat")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state): utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, errors.New("short /proc/PID/stat")
	}
	var ticks int64
	for _, v := range f[11:13] {
		var n int64
		for _, c := range v {
			if c < '0' || c > '9' {
				return 0, errors.New("malformed /proc/PID/stat")
			}
			n = n*10 + int64(c-'0')
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for a writer and concurrent readers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
