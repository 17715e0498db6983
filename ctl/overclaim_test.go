package ctl

import (
	"net/netip"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/msg"
)

// The ITR installs a positive Map-Reply record only when it claims no more
// than an answer may: not any of our own EID prefixes, not beyond the
// eid_space entry holding the EID asked for. Such records count as
// record-overclaim (the miss given up when nothing else answers it);
// negative records are installed however broad, and every legitimate
// answer as before.
func TestITRRefusesOverclaimingRecords(t *testing.T) {
	const eid = "10.2.2.9"
	tests := []struct {
		name      string
		space     []string // eid_space; our own EIDs are 10.1.1.0/24
		record    msg.Record
		install   string // prefix installed, "" for none
		overclaim bool   // counted as record-overclaim
	}{
		{"exact site prefix", []string{"10.0.0.0/8"}, record(0, "10.2.2.0/24", 60, "192.0.2.66"), "10.2.2.0/24", false},
		{"as wide as eid_space", []string{"10.2.0.0/16"}, record(0, "10.2.0.0/16", 60, "192.0.2.66"), "10.2.0.0/16", false},
		{"no eid_space: any width not ours", nil, record(0, "10.2.0.0/15", 60, "192.0.2.66"), "10.2.0.0/15", false},
		{"whole family, eid_space narrower", []string{"10.0.0.0/8"}, record(0, "0.0.0.0/0", 10080, "192.0.2.66"), "", true},
		{"broader than eid_space", []string{"10.2.0.0/16"}, record(0, "10.0.0.0/8", 60, "192.0.2.66"), "", true},
		{"broader than the widest entry holding the EID", []string{"10.2.0.0/16", "10.0.0.0/12"}, record(0, "10.0.0.0/11", 60, "192.0.2.66"), "", true},
		{"within eid_space but over our EIDs", []string{"10.2.2.0/24", "10.0.0.0/12"}, record(0, "10.0.0.0/12", 60, "192.0.2.66"), "", true}, // overlaps our 10.1.1.0/24
		{"covers our own EIDs", []string{"0.0.0.0/0"}, record(0, "10.0.0.0/8", 60, "192.0.2.66"), "", true},
		{"covers our own EIDs, no eid_space", nil, record(0, "0.0.0.0/0", 60, "192.0.2.66"), "", true},
		{"negative whole family", []string{"10.0.0.0/8"}, record(0, "0.0.0.0/0", 15), "0.0.0.0/0", false},
		{"negative over our EIDs", []string{"10.0.0.0/8"}, record(0, "10.0.0.0/8", 15), "10.0.0.0/8", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn := newTestNet(t)
			mr := tn.peer(tn.addr(20), tn.port)
			dp := newFakeDataPlane()
			x := itrWithResolvers(tn, dp, func(x *XTROptions) { x.EIDSpace = prefixes(tt.space...) }, tn.addr(20))
			x.Miss(0, netip.Addr{}, netip.MustParseAddr(eid))
			e, req, ok := mr.recvRequest(5 * time.Second)
			if !ok {
				t.Fatal("no Map-Request")
			}
			mr.reply(e, req.Nonce, tt.record)
			if tt.install != "" {
				eventually(t, "installed", func() bool { ins, _ := dp.snapshot(); return len(ins) == 1 })
				if ins, _ := dp.snapshot(); ins[0].Prefix != netip.MustParsePrefix(tt.install) {
					t.Errorf("installed %v, want %s", ins[0].Prefix, tt.install)
				}
			} else {
				eventually(t, "resolve failed", func() bool { _, f := dp.snapshot(); return len(f) == 1 })
				if ins, _ := dp.snapshot(); len(ins) != 0 {
					t.Errorf("installed %+v", ins)
				}
			}
			got := x.Stats().Drops["record-overclaim"]
			if (got == 1) != tt.overclaim || got > 1 {
				t.Errorf("record-overclaim %d, want %v", got, tt.overclaim)
			}
		})
	}
}
