package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/admin"
	"github.com/lispd/lispd/testing/lab"
)

// opsIdleWait is how long TestOpsIdleCountsNoDrops leaves the xTRs alone:
// long enough for the kernel's first IPv6 multicast listener reports and
// router solicitations on a new interface (within about a second of it
// coming up, repeated within a few).
const opsIdleWait = 4 * time.Second

// TestOpsIdleCountsNoDrops starts both xTRs and sends nothing: after a few
// seconds, `show stats --json` must show no drop of any reason on either.
// A drop counter that rises without traffic (for example packets the
// kernel itself sends into the TUN, such as IPv6 multicast listener
// reports from the TUN's link-local address, counted as "not-eid-space")
// makes the counters useless to the operator watching them for trouble.
func TestOpsIdleCountsNoDrops(t *testing.T) {
	s := opsStart(t, lab.XTRConfig{Static: true}, lab.XTRConfig{Static: true}, nil)
	time.Sleep(opsIdleWait)
	for _, d := range []*lab.Daemon{s.X1, s.X2} {
		st := opsStats(t, d)
		var rose []string
		for _, g := range st.Groups {
			if g.Name != admin.GroupDataDrops && g.Name != admin.GroupControlDrops {
				continue
			}
			for _, c := range g.Counters {
				if c.Value != 0 {
					rose = append(rose, fmt.Sprintf("%s %s = %d", g.Name, c.Name, c.Value))
				}
			}
		}
		if len(rose) > 0 {
			addrs, _ := d.Host.Output(t.Context(), "ip", "-6", "addr", "show", "dev", "lisp0")
			t.Errorf("%s counted drops %v after %v without any traffic; lisp0 has:\n%s",
				d.Name, rose, opsIdleWait, strings.TrimSpace(addrs))
		}
	}
}
