package admin

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"syscall"
	"time"

	"github.com/lispd/lispd/internal/jsonx"
	"github.com/lispd/lispd/internal/sock"
)

// Client calls the daemon over its control socket.
type Client struct {
	// Path is the control socket.
	Path string
	// Timeout bounds one call, connect to response; 0 means DefaultTimeout
	// plus a little, so that the server's own deadline fires first.
	Timeout time.Duration
}

// Call sends cmd with args to the daemon at socketPath and decodes the
// result into out (skipped when out is nil). See Client.Call.
func Call(socketPath, cmd string, args, out any) error {
	return (&Client{Path: socketPath}).Call(cmd, args, out)
}

// Call sends cmd with args (nil for none; a jsonx.RawMessage is sent as is)
// and decodes the response's data into out (skipped when out is nil).
// Errors: ErrNotRunning (wrapped) when no daemon listens on the socket; a
// *RemoteError when the daemon answered with an error; otherwise an error
// naming the socket and what failed.
func (c *Client) Call(cmd string, args, out any) error {
	req := Request{V: Version, Cmd: cmd}
	if args != nil {
		switch a := args.(type) {
		case jsonx.RawMessage:
			req.Args = a
		default:
			b, err := jsonx.Marshal(args)
			if err != nil {
				return fmt.Errorf("%s: encoding arguments: %w", cmd, err)
			}
			req.Args = b
		}
	}
	b, err := jsonx.Marshal(req)
	if err != nil {
		return fmt.Errorf("%s: encoding request: %w", cmd, err)
	}
	resp, err := c.roundTrip(append(b, '\n'))
	if err != nil {
		return err
	}
	if resp.V != Version {
		return fmt.Errorf("%s: daemon speaks control protocol version %d, this lispd %d (use the daemon's own lispd binary)", cmd, resp.V, Version)
	}
	if !resp.OK {
		msg := resp.Error
		if msg == "" {
			msg = "failed (no reason given)"
		}
		return &RemoteError{Cmd: cmd, Msg: msg, Problems: resp.Problems}
	}
	if out != nil && len(resp.Data) > 0 {
		if err := jsonx.Unmarshal(resp.Data, out); err != nil {
			return fmt.Errorf("%s: decoding the daemon's answer: %w", cmd, err)
		}
	}
	return nil
}

// roundTrip sends one request and reads the response.
func (c *Client) roundTrip(req []byte) (*Response, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout + 2*time.Second
	}
	conn, err := sock.DialUnix(c.Path)
	if err != nil {
		return nil, dialError(c.Path, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	_, werr := conn.Write(req)
	if werr == nil {
		conn.CloseWrite()
	}
	// Read even when the write failed: the server may have answered early
	// (e.g. "request too large") and closed.
	data, rerr := io.ReadAll(io.LimitReader(conn, MaxResponseSize+1))
	if len(data) > MaxResponseSize {
		return nil, fmt.Errorf("control socket %s: response larger than %d bytes", c.Path, MaxResponseSize)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		switch {
		case werr != nil:
			return nil, fmt.Errorf("control socket %s: sending request: %w", c.Path, werr)
		case rerr != nil:
			return nil, fmt.Errorf("control socket %s: reading response: %w", c.Path, rerr)
		}
		return nil, fmt.Errorf("control socket %s: the daemon closed the connection without answering", c.Path)
	}
	var resp Response
	if err := jsonx.Unmarshal(data, &resp); err != nil {
		return nil, fmt.Errorf("control socket %s: bad response: %w", c.Path, err)
	}
	return &resp, nil
}

// dialError explains a failed connect in an operator's words.
func dialError(path string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w (no socket at %s)", ErrNotRunning, path)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w (nothing answers on %s: stale socket)", ErrNotRunning, path)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("control socket %s: permission denied (run as root)", path)
	}
	return fmt.Errorf("control socket %s: %w", path, err)
}
