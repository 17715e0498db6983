package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/lispd/lispd/testing/lab"
	"github.com/lispd/lispd/testing/netns"
)

var receivedRE = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

// ping runs ping from h to dst and returns its output and the numbers of
// echo requests sent and replies received.
func ping(t *testing.T, h *netns.Host, dst netip.Addr, args ...string) (out string, sent, recv int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	argv := append([]string{"ping", "-n"}, args...)
	argv = append(argv, dst.String())
	out, _ = h.CombinedOutput(ctx, argv...)
	m := receivedRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("%s: unexpected ping output:\n%s", h, out)
	}
	sent, _ = strconv.Atoi(m[1])
	recv, _ = strconv.Atoi(m[2])
	return out, sent, recv
}

// pingWorks waits for the path to answer once (static mappings need no
// resolution, but neighbours must be discovered), then requires every one
// of five echo requests to be answered.
func pingWorks(t *testing.T, h *netns.Host, dst netip.Addr) {
	t.Helper()
	if _, _, recv := ping(t, h, dst, "-c", "3", "-i", "0.2", "-W", "2"); recv == 0 {
		t.Fatalf("%s → %s: no reply at all", h, dst)
	}
	out, sent, recv := ping(t, h, dst, "-c", "5", "-i", "0.1", "-W", "2")
	if recv != sent {
		t.Errorf("%s → %s: %d of %d replies:\n%s", h, dst, recv, sent, out)
	}
}

// TestPing pings host B from host A through the two xTRs for each mix of
// EID and RLOC families. The core router knows no EID routes, so a reply
// can only come through the tunnel.
func TestPing(t *testing.T) {
	for _, c := range []struct {
		name  string
		rloc6 bool
		dst   netip.Addr
	}{
		{"IPv4EIDsOverIPv4RLOCs", false, lab.HostB4},
		{"IPv6EIDsOverIPv4RLOCs", false, lab.HostB6},
		{"IPv4EIDsOverIPv6RLOCs", true, lab.HostB4},
		{"IPv6EIDsOverIPv6RLOCs", true, lab.HostB6},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := start(t, lab.Options{Core: lab.CoreRouter}, c.rloc6)
			pingWorks(t, s.A, c.dst)
			// And back: B reaches A too.
			back := lab.HostA4
			if c.dst.Is6() {
				back = lab.HostA6
			}
			pingWorks(t, s.B, back)
		})
	}
}

// TestNoPathWithoutLispd is the control of TestPing: the same lab without
// lispd does not carry EID traffic, so TestPing's replies prove the tunnel.
func TestNoPathWithoutLispd(t *testing.T) {
	l, err := lab.Build(netns.New(t), lab.Options{Core: lab.CoreRouter})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, recv := ping(t, l.A, lab.HostB4, "-c", "2", "-i", "0.2", "-W", "1"); recv != 0 {
		t.Fatalf("host B answered without a tunnel: the lab leaks EID routes")
	}
	// With the xTRs as plain routers it works, so the lab itself is sound.
	if _, err := l.RoutePlain(); err != nil {
		t.Fatal(err)
	}
	for _, dst := range []netip.Addr{lab.HostB4, lab.HostB6} {
		t.Run(fmt.Sprint(dst), func(t *testing.T) { pingWorks(t, l.A, dst) })
	}
}
