//go:build !nortr

package ctl

import (
	"net/netip"
	"testing"

	"github.com/lispd/lispd/ctl/msg"
)

// The RTR marks the RLOC a probe was sent to, among its RLOCs, and answers
// from it; a probe to none of them is answered as before.
func TestRTRProbeReplyMarksProbedLocator(t *testing.T) {
	n, rt := rtrNode(t)
	r1, r2 := n.rtr.o.Listen[0], netip.MustParseAddr("198.51.100.9")
	n.rtr.o.Listen = append(n.rtr.o.Listen, r2)
	from := netip.MustParseAddrPort("192.0.2.66:4342")
	for _, tt := range []struct {
		to, want, src netip.Addr
	}{
		{r2, r2, r2},
		{r1, r1, r1},
		{netip.MustParseAddr("10.0.0.9"), netip.Addr{}, r1},
	} {
		req := msg.MapRequest{Probe: true, Nonce: 7, ITRRLOCs: []msg.Address{msg.AddrOf(from.Addr())},
			EIDs: []msg.EID{msg.EIDOf(0, netip.MustParsePrefix("10.2.0.0/24"))}}
		n.rtr.answerProbe(&req, from, tt.to)
		sent := rt.take()
		if len(sent) != 1 {
			t.Fatalf("probe to %v: sent %d messages, want 1", tt.to, len(sent))
		}
		_, probed := probedLocators(t, sent[0].b)
		if (tt.want.IsValid() && (len(probed) != 1 || probed[0] != tt.want)) || (!tt.want.IsValid() && len(probed) != 0) {
			t.Errorf("probe to %v: probed locators %v, want %v", tt.to, probed, tt.want)
		}
		if sent[0].src != tt.src {
			t.Errorf("probe to %v: reply from %v, want %v", tt.to, sent[0].src, tt.src)
		}
	}
}
