package lab

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"

	"github.com/lispd/lispd/testing/netns"
)

// Reload runs `lispd reload --socket SOCKET` (from the root namespace: the
// control socket is a file) and returns its standard output and standard
// error interleaved, and its error: an *exec.ExitError when lispd refused
// the new configuration.
func (d *Daemon) Reload(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, d.Bin, "reload", "--socket", d.Socket).CombinedOutput()
	return string(out), err
}

// Log returns what the daemon has written to standard output and standard
// error so far (its log: one line per event).
func (d *Daemon) Log() string { return d.Proc.Output() }

// UDPDrops returns the sum of the kernel's per-socket drop counters (the
// "drops" column of /proc/net/udp and /proc/net/udp6, as seen inside h) of
// the UDP sockets bound to local port port: datagrams the kernel discarded
// because a socket's receive queue was full, before the daemon saw them.
func UDPDrops(ctx context.Context, h *netns.Host, port uint16) (uint64, error) {
	var total uint64
	want := fmt.Sprintf(":%04X", port)
	for _, file := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		out, err := h.Output(ctx, "cat", file)
		if err != nil {
			return 0, err
		}
		sc := bufio.NewScanner(strings.NewReader(out))
		header := true
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if header {
				header = false
				continue
			}
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid
			// timeout inode ref pointer drops
			if len(f) < 13 || !strings.HasSuffix(f[1], want) {
				continue
			}
			n, err := strconv.ParseUint(f[12], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s in %s: drops %q: %w", file, h, f[12], err)
			}
			total += n
		}
	}
	return total, nil
}
