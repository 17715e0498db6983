package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lispd/lispd/conf"
	"github.com/lispd/lispd/internal/jsonx"
)

// startServer listens in a temporary directory, registers an "echo"
// handler and serves until the test ends.
func startServer(t *testing.T) *Server { return startServerTimeout(t, 2*time.Second) }

func startServerTimeout(t *testing.T, timeout time.Duration) *Server {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lispd.sock")
	srv, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	srv.Timeout = timeout
	srv.Handle("echo", func(args jsonx.RawMessage) (any, error) {
		var v map[string]any
		if len(args) > 0 {
			if err := json.Unmarshal(args, &v); err != nil {
				return nil, fmt.Errorf("bad args: %w", err)
			}
		}
		return map[string]any{"args": v, "had_args": args != nil}, nil
	})
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv
}

// rawCall sends raw bytes and returns the raw response line.
func rawCall(t *testing.T, path string, req []byte) Response {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write(req) // may fail for an oversized request; the answer still comes
	c.(*net.UnixConn).CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil && len(b) == 0 {
		t.Fatalf("reading response: %v", err)
	}
	var resp Response
	if err := json.Unmarshal(b, &resp); err != nil {
		t.Fatalf("response %q: %v", b, err)
	}
	return resp
}

func TestRoundTrip(t *testing.T) {
	srv := startServer(t)
	var out struct {
		Args    map[string]any `json:"args"`
		HadArgs bool           `json:"had_args"`
	}
	if err := Call(srv.Path(), "echo", map[string]any{"eid": "198.51.100.10"}, &out); err != nil {
		t.Fatal(err)
	}
	if out.Args["eid"] != "198.51.100.10" || !out.HadArgs {
		t.Errorf("echo = %+v", out)
	}
	out = struct {
		Args    map[string]any `json:"args"`
		HadArgs bool           `json:"had_args"`
	}{}
	if err := Call(srv.Path(), "echo", nil, &out); err != nil {
		t.Fatal(err)
	}
	if out.HadArgs || out.Args != nil {
		t.Errorf("echo without args = %+v", out)
	}
}

func TestErrors(t *testing.T) {
	srv := startServer(t)
	srv.Handle("fail", func(jsonx.RawMessage) (any, error) { return nil, errors.New("it broke") })
	srv.Handle("panic", func(jsonx.RawMessage) (any, error) { panic("boom") })
	srv.Handle("reload", func(jsonx.RawMessage) (any, error) {
		return nil, conf.Errors{
			{File: "/etc/lispd/lispd.toml", Line: 3, Col: 1, Key: "xtr.mtu", Msg: "not a number"},
			{File: "/etc/lispd/lispd.toml", Line: 9, Col: 5, Key: "xtr.rloc[0].weight", Msg: "300 is out of range 0..100"},
		}
	})
	srv.Handle("wrapped", func(jsonx.RawMessage) (any, error) {
		return nil, fmt.Errorf("reload refused: %w", &ProblemError{Msg: "configuration invalid", Problems: []string{"f:1:1: x: y"}})
	})

	tests := []struct {
		name, cmd    string
		wantMsg      string
		wantProblems []string
	}{
		{"unknown command", "show nothing", `unknown command "show nothing"`, nil},
		{"handler error", "fail", "it broke", nil},
		{"handler panic", "panic", "internal error: boom", nil},
		{"conf errors", "reload", "configuration invalid", []string{
			"/etc/lispd/lispd.toml:3:1: xtr.mtu: not a number",
			"/etc/lispd/lispd.toml:9:5: xtr.rloc[0].weight: 300 is out of range 0..100"}},
		{"wrapped problems", "wrapped", "reload refused: configuration invalid", []string{"f:1:1: x: y"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Call(srv.Path(), tt.cmd, nil, nil)
			var re *RemoteError
			if !errors.As(err, &re) {
				t.Fatalf("error %v (%T), want a *RemoteError", err, err)
			}
			if !strings.Contains(re.Msg, tt.wantMsg) {
				t.Errorf("message %q, want it to contain %q", re.Msg, tt.wantMsg)
			}
			if strings.Join(re.Problems, "\n") != strings.Join(tt.wantProblems, "\n") {
				t.Errorf("problems %q, want %q", re.Problems, tt.wantProblems)
			}
		})
	}
	// The unknown-command error lists what is known.
	err := Call(srv.Path(), "nope", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "echo, fail, panic") {
		t.Errorf("unknown command error %v does not list the commands", err)
	}
}

func TestProtocolViolations(t *testing.T) {
	srv := startServer(t)
	big := `{"v":1,"cmd":"echo","args":{"x":"` + strings.Repeat("a", MaxRequestSize) + `"}}` + "\n"
	tests := []struct {
		name, req, want string
	}{
		{"bad JSON", "{not json\n", "bad request"},
		{"empty", "", "empty"},
		{"two values", `{"v":1,"cmd":"echo"} {"v":1}` + "\n", "more than one"},
		{"version 2", `{"v":2,"cmd":"echo"}` + "\n", "protocol version 2 not supported"},
		{"no version", `{"cmd":"echo"}`, "protocol version 0 not supported"},
		{"oversized", big, "request too large"},
		{"bad args for the handler", `{"v":1,"cmd":"echo","args":[1,2]}`, "bad args"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := rawCall(t, srv.Path(), []byte(tt.req))
			if resp.OK || !strings.Contains(resp.Error, tt.want) || resp.V != Version {
				t.Errorf("response %+v, want v %d, not ok, error containing %q", resp, Version, tt.want)
			}
		})
	}
	// Without a newline, the end of the stream ends the request.
	resp := rawCall(t, srv.Path(), []byte(`{"v":1,"cmd":"echo","args":{"a":1}}`))
	if !resp.OK || !strings.Contains(string(resp.Data), `"a":1`) {
		t.Errorf("request ended by EOF: %+v", resp)
	}
}

func TestIdleClientTimesOut(t *testing.T) {
	srv := startServerTimeout(t, 200*time.Millisecond)
	c, err := net.Dial("unix", srv.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	b, _ := io.ReadAll(c) // send nothing: the server gives up
	if time.Since(start) > 5*time.Second {
		t.Fatalf("server held an idle connection for %v", time.Since(start))
	}
	var resp Response
	if json.Unmarshal(b, &resp) == nil && resp.OK {
		t.Errorf("idle connection got an OK response: %s", b)
	}
}

func TestSocketFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "lispd.sock")
	srv, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a socket with 0600", fi.Mode())
	}
	go srv.Serve()

	// A second daemon on the same socket is refused while the first answers.
	if _, err := Listen(path); err == nil || !strings.Contains(err.Error(), "another lispd is running") {
		t.Errorf("second Listen: %v, want refusal", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket still there after Close: %v", err)
	}
	// Nothing listening: a clear error.
	err = Call(path, "echo", nil, nil)
	if !errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), "lispd is not running (no socket at "+path+")") {
		t.Errorf("Call with no daemon: %v", err)
	}
}

func TestStaleSocketReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lispd.sock")
	// A socket file nobody listens on, as a killed daemon leaves it.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	err = Call(path, "echo", nil, nil)
	if !errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), "stale socket") {
		t.Errorf("Call on a stale socket: %v", err)
	}
	srv, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	srv.Close()

	// A regular file is not a socket: refuse rather than delete it.
	if err := os.WriteFile(path, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(path); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("Listen over a regular file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "keep me" {
		t.Error("Listen clobbered a regular file")
	}
}

func TestConcurrentCalls(t *testing.T) {
	srv := startServer(t)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out struct {
				Args map[string]float64 `json:"args"`
			}
			if err := Call(srv.Path(), "echo", map[string]int{"i": i}, &out); err != nil {
				errs <- err
				return
			}
			if out.Args["i"] != float64(i) {
				errs <- fmt.Errorf("call %d got %v", i, out.Args)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestCloseWaitsForHandlers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lispd.sock")
	srv, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}), make(chan struct{})
	srv.Handle("slow", func(jsonx.RawMessage) (any, error) {
		close(started)
		<-release
		return "done", nil
	})
	go srv.Serve()
	result := make(chan error, 1)
	var got string
	go func() { result <- Call(path, "slow", nil, &got) }()
	<-started
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while a handler was running")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-closed
	if err := <-result; err != nil || got != "done" {
		t.Errorf("in-flight call: %q, %v", got, err)
	}
}
