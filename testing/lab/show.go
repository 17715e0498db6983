package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// ErrShowNotRunning is wrapped by ShowJSON's error when `lispd show` finds
// no daemon on the control socket ("lispd is not running"): the daemon has
// not opened its socket (yet), or is gone.
var ErrShowNotRunning = errors.New("lispd show: daemon not answering on its control socket")

// ShowJSON runs `lispd show --socket SOCKET --json args...` (from the root
// namespace: the control socket is a file) and decodes its standard output
// into v, typically a view of package ctl/admin (admin.Registrations,
// admin.MapCache, admin.Stats).
func (d *Daemon) ShowJSON(ctx context.Context, v any, args ...string) error {
	cmd := exec.CommandContext(ctx, d.Bin, append([]string{"show", "--socket", d.Socket, "--json"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if strings.Contains(msg, "is not running") {
			return fmt.Errorf("%w: %s: %s", ErrShowNotRunning, d.Name, msg)
		}
		return fmt.Errorf("lispd show %s on %s: %w: %s", strings.Join(args, " "), d.Name, err, lastLines(msg, 3))
	}
	if err := json.Unmarshal(stdout.Bytes(), v); err != nil {
		return fmt.Errorf("lispd show %s --json on %s: %w: %s", strings.Join(args, " "), d.Name, err, lastLines(stdout.String(), 3))
	}
	return nil
}
