package ctl

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/msg"
)

// A site holds at most max_registrations live (EID-prefix, xTR-ID) pairs:
// a Map-Register that would add more is refused as a whole (site-full, no
// Map-Notify, nothing stored), while refreshes of live pairs and
// withdrawals always pass and a withdrawal frees its slot.
func TestMapServerSiteFull(t *testing.T) {
	type step struct {
		xtr      byte     // xTR-ID's last byte
		prefixes []string // one record each
		ttl      uint32   // record TTL; 0 withdraws
		ok       bool     // accepted, else refused as site-full
	}
	tests := []struct {
		name  string
		max   int
		steps []step
		live  int // registrants listed at the end
	}{
		{"third xTR of one prefix", 2, []step{
			{1, []string{"10.1.0.0/24"}, 1440, true},
			{2, []string{"10.1.0.0/24"}, 1440, true},
			{3, []string{"10.1.0.0/24"}, 1440, false},
		}, 2},
		{"refreshes pass when full", 2, []step{
			{1, []string{"10.1.0.0/24", "10.1.1.0/24"}, 1440, true},
			{1, []string{"10.1.0.0/24", "10.1.1.0/24"}, 1440, true},
			{1, []string{"10.1.1.0/24"}, 1440, true},
			{2, []string{"10.1.2.0/24"}, 1440, false},
		}, 2},
		{"sub-prefixes count", 3, []step{
			{1, []string{"10.1.0.0/16", "10.1.0.0/17", "10.1.0.0/18"}, 1440, true},
			{1, []string{"10.1.0.0/19"}, 1440, false},
		}, 3},
		{"one message over the bound stores nothing", 2, []step{
			{1, []string{"10.1.0.0/24", "10.1.1.0/24", "10.1.2.0/24"}, 1440, false},
		}, 0},
		{"a withdrawal frees its slot", 1, []step{
			{1, []string{"10.1.0.0/24"}, 1440, true},
			{2, []string{"10.1.0.0/24"}, 1440, false},
			{1, []string{"10.1.0.0/24"}, 0, true},
			{2, []string{"10.1.0.0/24"}, 1440, true},
		}, 1},
		{"default bound", 0, []step{
			{1, manyPrefixes(DefaultMaxRegistrations), 1440, true},
			{2, []string{"10.1.0.0/24"}, 1440, false},
		}, DefaultMaxRegistrations},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vf := loadVectors(t)
			tn := newTestNet(t)
			so := siteOpt("s", vf.Key, KeySHA256, 0, "10.1.0.0/16")
			so.MaxRegistrations = tt.max
			ms := tn.start(msOptions(0, so), nil, tn.addr(10))
			etr := tn.peer(tn.addr(2), 0)
			accepted, full := 0, 0
			for i, st := range tt.steps {
				etr.send(netip.AddrPortFrom(tn.addr(10), tn.port), buildRegister(t, vf.Key, msg.AlgHMACSHA256, func(r *msg.MapRegister) {
					r.HasXTRID, r.XTRID[15] = true, st.xtr
					rec := r.Records[0]
					r.Records = nil
					for _, p := range st.prefixes {
						rec.EID = msg.EIDOf(0, netip.MustParsePrefix(p))
						rec.TTL = st.ttl
						r.Records = append(r.Records, rec)
					}
				}))
				if st.ok {
					accepted++
				} else {
					full++
				}
				eventually(t, fmt.Sprintf("step %d handled", i), func() bool {
					s := ms.Stats()
					return s.RegistrationsAccepted+s.Drops["site-full"] == uint64(accepted+full)
				})
				if s := ms.Stats(); s.RegistrationsAccepted != uint64(accepted) || s.Drops["site-full"] != uint64(full) {
					t.Fatalf("step %d: accepted %d site-full %d, want %d and %d", i, s.RegistrationsAccepted, s.Drops["site-full"], accepted, full)
				}
			}
			live := 0
			for _, g := range ms.Registrations().Registrations {
				live += len(g.Registrants)
			}
			if live != tt.live {
				t.Errorf("%d live registrants, want %d", live, tt.live)
			}
		})
	}
}

// manyPrefixes returns n distinct /24s inside 10.1.0.0/16.
func manyPrefixes(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("10.1.%d.0/24", i))
	}
	return out
}

// The T bit's record TTL sets the registration lifetime up to
// useTTLFactor registration timeouts, never beyond.
func TestMapServerUseTTLCap(t *testing.T) {
	tests := []struct {
		timeout time.Duration
		minutes uint32
		want    time.Duration
	}{
		{3 * time.Minute, 3, 3 * time.Minute},           // lispers.net: as asked
		{3 * time.Minute, 60, time.Hour},                // at the cap
		{3 * time.Minute, 1440, time.Hour},              // a day: capped
		{3 * time.Minute, 0xffffffff, time.Hour},        // "the recipient decides"
		{time.Hour, 1440, 20 * time.Hour},               // the cap follows the timeout
		{time.Hour, 0xfffffffe, 20 * time.Hour},         // never a week
		{10 * 24 * time.Hour, 0xffffffff, maxRecordTTL}, // nor past the record TTL bound
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.timeout, tt.minutes), func(t *testing.T) {
			vf := loadVectors(t)
			tn := newTestNet(t)
			ms := tn.startAt(msOptions(tt.timeout, siteOpt("s", vf.Key, KeySHA256, 0, "10.1.0.0/16")), tn.addr(10))
			etr := tn.peer(tn.addr(2), 0)
			etr.send(netip.AddrPortFrom(tn.addr(10), tn.port), buildRegister(t, vf.Key, msg.AlgHMACSHA256, func(r *msg.MapRegister) {
				r.UseTTL = true
				r.Records[0].TTL = tt.minutes
			}))
			eventually(t, "registered", func() bool { return len(ms.Registrations().Registrations) == 1 })
			rr := ms.Registrations().Registrations[0].Registrants[0]
			if d := rr.Expires.Sub(rr.LastSeen); d != tt.want {
				t.Errorf("lifetime %v, want %v", d, tt.want)
			}
		})
	}
}

// candidateSites offers only the sites whose prefixes contain the record's
// (in its instance-id), so a Map-Register or Info-Request for anything
// else costs no HMAC.
func TestCandidateSites(t *testing.T) {
	r := newRegistry([]SiteOptions{
		siteOpt("a", "ka", KeySHA256, 0, "10.1.0.0/16", "2001:db8:1::/48"),
		siteOpt("b", "kb", KeySHA256, 0, "10.2.0.0/16"),
		siteOpt("c", "kc", KeySHA256, 7, "10.1.0.0/16"),
	})
	tests := []struct {
		iid    uint32
		prefix string
		want   string // site names, in order
	}{
		{0, "10.1.0.0/16", "a"},
		{0, "10.1.2.0/24", "a"},
		{0, "10.1.2.3/32", "a"},
		{0, "2001:db8:1:2::/64", "a"},
		{0, "10.2.0.0/24", "b"},
		{7, "10.1.0.0/24", "c"},
		{0, "10.0.0.0/8", ""},      // broader than any site
		{0, "10.3.0.0/24", ""},     // no site
		{7, "10.2.0.0/24", ""},     // other instance-id
		{0, "0.0.0.0/0", ""},       // everything
		{0, "2001:db8::/32", ""},   // broader, v6
		{9, "10.1.0.0/24", ""},     // unknown instance-id
		{0, "2001:db8:2::/48", ""}, // v6, no site
	}
	for _, tt := range tests {
		var names string
		for _, s := range r.candidateSites(tt.iid, netip.MustParsePrefix(tt.prefix)) {
			names += s.Name
		}
		if names != tt.want {
			t.Errorf("candidateSites(%d, %s) = %q, want %q", tt.iid, tt.prefix, names, tt.want)
		}
	}
}

// The Map-Server answers an Info-Request only for an EID inside a site,
// signed with that site's key; one for an EID outside every site is
// unknown-site before any HMAC is computed, one with a key of another site
// bad-auth (the old code tried every site's key and answered it).
func TestMapServerInfoRequestSites(t *testing.T) {
	tests := []struct {
		name   string
		eid    string
		key    string
		reason string // drop counted, "" for an Info-Reply
	}{
		{"own site", "10.1.1.0/24", "ka", ""},
		{"outside every site", "10.3.0.0/24", "ka", "unknown-site"},
		{"broader than the site", "10.0.0.0/8", "ka", "unknown-site"},
		{"other site's key", "10.1.1.0/24", "kb", "bad-auth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn := newTestNet(t)
			ms := tn.startAt(msOptions(0, siteOpt("a", "ka", KeySHA256, 0, "10.1.0.0/16"), siteOpt("b", "kb", KeySHA256, 0, "10.2.0.0/16")), tn.addr(10))
			etr := tn.peer(tn.addr(2), 0)
			req := msg.Info{Nonce: 9, Alg: msg.AlgHMACSHA256, EID: msg.EIDOf(0, netip.MustParsePrefix(tt.eid))}
			b := req.Append(nil)
			if err := msg.Sign(b, []byte(tt.key)); err != nil {
				t.Fatal(err)
			}
			etr.send(netip.AddrPortFrom(tn.addr(10), tn.port), b)
			if tt.reason == "" {
				if got, _ := etr.recv(5 * time.Second); got == nil {
					t.Fatalf("no Info-Reply; stats %+v", ms.Stats())
				}
				return
			}
			eventually(t, tt.reason, func() bool { return ms.Stats().Drops[tt.reason] == 1 })
			if got, _ := etr.recv(100 * time.Millisecond); got != nil {
				t.Errorf("answered: %x", got)
			}
			if s := ms.Stats(); len(s.Drops) != 1 {
				t.Errorf("drops %+v", s.Drops)
			}
		})
	}
}
