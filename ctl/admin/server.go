package admin

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/lispd/lispd/conf"
	"github.com/lispd/lispd/internal/jsonx"
	"github.com/lispd/lispd/internal/logx"
	"github.com/lispd/lispd/internal/sock"
	"github.com/lispd/lispd/internal/sortx"
)

// HandlerFunc serves one command: it decodes args (nil or empty when the
// request had none), and returns the value to send as "data" (marshalled
// with internal/jsonx, which follows encoding/json's rules) or an error to
// send as "error". A conf.Errors or *ProblemError (also wrapped) is sent
// with its problems listed.
type HandlerFunc func(args jsonx.RawMessage) (any, error)

// DefaultTimeout bounds a connection from accept to the response written:
// reading the request, running the handler, writing the response.
const DefaultTimeout = 10 * time.Second

// Server is the daemon side of the control socket. Create it with Listen,
// register handlers with Handle, then run Serve (usually in a goroutine);
// Close stops it and removes the socket file.
type Server struct {
	// Timeout bounds each connection; 0 means DefaultTimeout. Set it before
	// Serve.
	Timeout time.Duration
	// Log receives errors serving connections (at debug level: a client
	// going away is not the daemon's problem); nil means logx.Default().
	Log *logx.Logger

	path string
	ln   *sock.UnixListener

	mu       sync.RWMutex
	handlers map[string]HandlerFunc
	closed   bool
	conns    sync.WaitGroup
}

// Listen creates the control socket at path with mode 0600. A socket file
// left behind by a daemon that died is removed; if another daemon answers on
// it, or path is something other than a socket, Listen refuses. The parent
// directory is created (0755) when missing.
func Listen(path string) (*Server, error) {
	if path == "" {
		return nil, errors.New("control socket: empty path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ln, err := sock.ListenUnix(path)
	if err != nil {
		return nil, fmt.Errorf("control socket: listen on %s: %w", path, err)
	}
	// Until the chmod, the socket has the umask's mode; connections accepted
	// then are still checked by peer credentials (see serveConn).
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: chmod %s: %w", path, err)
	}
	return &Server{path: path, ln: ln, handlers: map[string]HandlerFunc{}}, nil
}

// removeStale removes a socket file nobody answers on, and refuses when a
// daemon answers or path is not a socket.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("control socket %s: exists and is not a socket (%v); not removing it", path, fi.Mode().Type())
	}
	c, err := sock.DialUnix(path)
	if err == nil {
		c.Close()
		return fmt.Errorf("control socket %s: another lispd is running (it answers on the socket)", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("control socket: removing stale %s: %w", path, err)
	}
	return nil
}

// Path returns the socket's path.
func (s *Server) Path() string { return s.path }

// Handle registers fn for the command cmd, replacing any earlier handler.
// It may be called while serving.
func (s *Server) Handle(cmd string, fn HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[cmd] = fn
}

// Serve accepts connections until Close, serving each in its own goroutine.
// It returns nil after Close, or the accept error that stopped it.
func (s *Server) Serve() error {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			s.mu.RLock()
			closed := s.closed
			s.mu.RUnlock()
			if closed || errors.Is(err, os.ErrClosed) {
				return nil
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			return fmt.Errorf("control socket %s: accept: %w", s.path, err)
		}
		s.mu.RLock()
		if s.closed {
			s.mu.RUnlock()
			c.Close()
			return nil
		}
		s.conns.Add(1)
		s.mu.RUnlock()
		go func() {
			defer s.conns.Done()
			s.serveConn(c)
		}()
	}
}

// Close stops accepting, waits for the connections being served (each is
// bounded by Timeout) and removes the socket file.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	err := s.ln.Close()
	s.conns.Wait()
	if err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("control socket %s: close: %w", s.path, err)
	}
	return nil
}

func (s *Server) logger() *logx.Logger {
	if s.Log != nil {
		return s.Log
	}
	return logx.Default()
}

// serveConn reads one request, runs its handler and writes the response.
func (s *Server) serveConn(c *sock.UnixConn) {
	defer c.Close()
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	c.SetDeadline(time.Now().Add(timeout))
	if err := checkPeer(c); err != nil {
		s.logger().Warn("control socket: connection refused", "err", err)
		s.reply(c, fail(err.Error()))
		return
	}
	s.reply(c, s.respond(c))
}

// respond reads and serves the request on r.
func (s *Server) respond(r io.Reader) Response {
	data, err := readRequest(r)
	if err != nil {
		return fail(err.Error())
	}
	var req Request
	if err := jsonx.Unmarshal(data, &req); err != nil {
		return fail("bad request: " + err.Error())
	}
	if req.V != Version {
		return fail(fmt.Sprintf("protocol version %d not supported (this lispd speaks version %d; use the lispd binary of the running daemon)", req.V, Version))
	}
	s.mu.RLock()
	fn := s.handlers[req.Cmd]
	s.mu.RUnlock()
	if fn == nil {
		return fail(fmt.Sprintf("unknown command %q (known: %s)", req.Cmd, strings.Join(s.commands(), ", ")))
	}
	if bytes.Equal(bytes.TrimSpace(req.Args), []byte("null")) {
		req.Args = nil
	}
	v, err := call(fn, req.Args)
	if err != nil {
		return failErr(err)
	}
	if v == nil {
		return Response{V: Version, OK: true}
	}
	b, err := jsonx.Marshal(v)
	if err != nil {
		return fail(fmt.Sprintf("%s: encoding the result: %v", req.Cmd, err))
	}
	return Response{V: Version, OK: true, Data: b}
}

// call runs fn, turning a panic into an error: a bug in one view must not
// take the router down.
func call(fn HandlerFunc, args jsonx.RawMessage) (v any, err error) {
	defer func() {
		if p := recover(); p != nil {
			v, err = nil, fmt.Errorf("internal error: %v", p)
		}
	}()
	return fn(args)
}

// commands returns the registered command names, sorted.
func (s *Server) commands() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := make([]string, 0, len(s.handlers))
	for n := range s.handlers {
		names = append(names, n)
	}
	sortx.Sort(len(names), func(i, j int) bool { return names[i] < names[j] }, func(i, j int) { names[i], names[j] = names[j], names[i] }) // not sort.Strings: slices.Sort[string] is ~8 KB of MIPS code
	return names
}

// readRequest reads one request: up to a newline or the end of the stream,
// at most MaxRequestSize bytes.
func readRequest(r io.Reader) ([]byte, error) {
	buf := make([]byte, 0, 512)
	var chunk [4096]byte
	for {
		n, err := r.Read(chunk[:])
		if i := bytes.IndexByte(chunk[:n], '\n'); i >= 0 {
			n = i
			err = io.EOF
		}
		if len(buf)+n > MaxRequestSize {
			return nil, fmt.Errorf("request too large (more than %d bytes)", MaxRequestSize)
		}
		buf = append(buf, chunk[:n]...)
		switch {
		case errors.Is(err, io.EOF):
			if len(bytes.TrimSpace(buf)) == 0 {
				return nil, errors.New("bad request: empty")
			}
			return buf, nil
		case err != nil:
			return nil, fmt.Errorf("reading request: %w", err)
		}
	}
}

func fail(msg string) Response { return Response{V: Version, Error: msg} }

// failErr builds the error response for err, listing configuration problems
// when err carries them.
func failErr(err error) Response {
	var ce conf.Errors
	var pe *ProblemError
	switch {
	case errors.As(err, &ce):
		ps := make([]string, len(ce))
		for i, p := range ce {
			ps[i] = p.Error()
		}
		msg := "configuration invalid"
		if s := err.Error(); !strings.HasPrefix(s, ce.Error()) {
			msg, _, _ = strings.Cut(s, ":\n")
			msg, _, _ = strings.Cut(msg, "\n")
		}
		return Response{V: Version, Error: msg, Problems: ps}
	case errors.As(err, &pe):
		msg, _, _ := strings.Cut(err.Error(), "\n")
		msg = strings.TrimSuffix(msg, ":")
		return Response{V: Version, Error: msg, Problems: pe.Problems}
	}
	return fail(err.Error())
}

// reply writes resp as one JSON line.
func (s *Server) reply(w io.Writer, resp Response) {
	b, err := jsonx.Marshal(resp)
	if err != nil {
		b, _ = jsonx.Marshal(fail("encoding the response: " + err.Error()))
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		s.logger().Debug("control socket: writing response", "err", err)
	}
}
