//go:build nortr

package ctl

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/lispd/lispd/ctl/msg"
)

// Without the RTR role in the build, a node configured with it is refused
// with an error that says so and how to build it in, alone or beside
// another role; a node without it works and reports no RTR.
func TestNoRTRRole(t *testing.T) {
	rtrOpts := &RTROptions{Listen: []netip.Addr{netip.MustParseAddr("192.0.2.20")}, MapServers: []netip.Addr{netip.MustParseAddr("192.0.2.10")}}
	for name, o := range map[string]Options{
		"rtr only":           {RTR: rtrOpts},
		"rtr and map-server": {RTR: rtrOpts, MapServer: msOptions(0, siteOpt("a", "k", KeySHA256, 0, "10.1.0.0/16")).MapServer},
	} {
		t.Run(name, func(t *testing.T) {
			n, err := New(o, nil)
			if !errors.Is(err, errNoRTR) || n != nil {
				t.Fatalf("New = %v, %v; want errNoRTR", n, err)
			}
			for _, want := range []string{"RTR role is not in this build", "nortr", "LISPD_RTR"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}

	n := fuzzNode(t)
	if n.rtr != nil || n.RTRBindings() != nil || n.RTRStats() != (RTRStats{}) || n.Stats().RTR != nil {
		t.Errorf("a node without the role reports an RTR: %v %v %+v", n.RTRBindings(), n.RTRStats(), n.Stats().RTR)
	}
	// What an RTR would take is dropped as by any node without the role.
	before := n.Stats().Drops["unsupported"]
	reg := msg.ECM{RTR: true, Src: netip.MustParseAddrPort("10.0.0.2:4342"), Dst: netip.MustParseAddrPort("203.0.113.10:4342"),
		Message: (&msg.MapRegister{Nonce: 1, HasXTRID: true, Records: []msg.Record{{EID: msg.EIDOf(0, netip.MustParsePrefix("10.9.0.0/24"))}}}).Append(nil)}
	n.handle(reg.Append(nil), netip.MustParseAddrPort("198.51.100.7:4342"))
	if got := n.Stats().Drops["unsupported"]; got != before+1 {
		t.Errorf("unsupported drops %d, want %d", got, before+1)
	}
	if res := n.Adopt(&Carried{bindings: make([]rtrEntry, 2)}); res.BindingsDropped != 2 || res.BindingsKept != 0 {
		t.Errorf("Adopt %+v, want 2 bindings dropped", res)
	}
}
