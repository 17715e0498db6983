package netns

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"
)

// Capture is a running packet capture (tcpdump) writing a pcap file.
type Capture struct {
	// Path is the pcap file being written.
	Path string
	proc *Proc
}

// Capture starts tcpdump on iface inside the host, writing every packet
// (full length, packet-buffered) to path, optionally filtered by a pcap
// filter expression. It returns once tcpdump is listening. Stop it to flush
// the file; Close stops it too.
func (h *Host) Capture(iface, path string, filter ...string) (*Capture, error) {
	// -B: a 16 MB capture buffer, so a busy two-core machine does not
	// drop frames before tcpdump reads them (tests count frames).
	argv := append([]string{"tcpdump", "-i", iface, "-n", "-U", "--immediate-mode", "-B", "16384", "-s", "0", "-Z", "root", "-w", path}, filter...)
	p, err := h.Start(argv...)
	if err != nil {
		return nil, err
	}
	p.stopSignal = syscall.SIGINT
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.Output(), "listening on") {
		if p.Exited() || time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("%s: tcpdump on %s did not start: %s", h.Name, iface, p.Output())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return &Capture{Path: path, proc: p}, nil
}

// Stop stops tcpdump (SIGINT, so it flushes and closes the file) and waits
// for it. It returns tcpdump's summary lines ("N packets captured ...").
func (c *Capture) Stop() (string, error) {
	// Give packets in flight a moment to reach the capture.
	time.Sleep(50 * time.Millisecond)
	err := c.proc.Stop()
	var ee interface{ ExitCode() int }
	if errors.As(err, &ee) && ee.ExitCode() == 0 {
		err = nil
	}
	return c.proc.Output(), err
}
