package ctl

import (
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/msg"
)

// recordTTLs are the Record TTLs (minutes) the TTL tests cover, with the
// duration each must become: 0 stays 0, huge values (0xffffffff: "the
// recipient decides") are capped at a week instead of overflowing.
var recordTTLs = []struct {
	minutes uint32
	want    time.Duration
}{
	{0, 0},
	{1, time.Minute},
	{1440, 24 * time.Hour},
	{0xfffffffe, maxRecordTTL},
	{0xffffffff, maxRecordTTL},
}

func TestTTLFromMinutes(t *testing.T) {
	for _, tt := range recordTTLs {
		if got := ttlFromMinutes(tt.minutes); got != tt.want {
			t.Errorf("ttlFromMinutes(%#x) = %v, want %v", tt.minutes, got, tt.want)
		}
	}
	if maxRecordTTL != 7*24*time.Hour {
		t.Errorf("cap %v", maxRecordTTL)
	}
}

// A Map-Reply record's TTL becomes the installed entry's TTL without
// overflow, with a renewal armed; a record with TTL 0 is installed for one
// second only (it answers this request, and must not stay cached) and
// never renewed: a renewal armed before is cancelled.
func TestITRRecordTTL(t *testing.T) {
	for _, tt := range recordTTLs {
		t.Run(strconv.FormatUint(uint64(tt.minutes), 10), func(t *testing.T) {
			tn := newTestNet(t)
			mr := tn.peer(tn.addr(20), tn.port)
			dp := newFakeDataPlane()
			prefix := netip.MustParsePrefix("10.2.2.0/24")
			x := itrWithResolvers(tn, dp, nil, tn.addr(20))
			// A renewal left from an earlier answer for the prefix.
			x.itr.installed(Mapping{Prefix: prefix, TTL: time.Hour})
			x.Miss(0, netip.Addr{}, netip.MustParseAddr("10.2.2.9"))
			e, req, ok := mr.recvRequest(5 * time.Second)
			if !ok {
				t.Fatal("no Map-Request")
			}
			mr.reply(e, req.Nonce, record(0, prefix.String(), tt.minutes, tn.addr(3).String()))
			eventually(t, "install", func() bool { ins, _ := dp.snapshot(); return len(ins) == 1 })
			ins, _ := dp.snapshot()
			want := tt.want
			if tt.minutes == 0 {
				want = time.Second
			}
			if ins[0].TTL != want {
				t.Errorf("installed TTL %v, want %v", ins[0].TTL, want)
			}
			x.itr.mu.Lock()
			armed := x.itr.renewals[regKey{0, prefix}] != nil
			x.itr.mu.Unlock()
			if armed != (tt.minutes != 0) {
				t.Errorf("renewal armed: %v, want %v", armed, tt.minutes != 0)
			}
		})
	}
}

// With the T bit the Map-Server keeps a registration for the record TTL,
// converted like the ITR's: 0 deregisters, huge TTLs are capped, never an
// overflow into the past.
func TestMapServerRecordTTL(t *testing.T) {
	vf := loadVectors(t)
	for _, tt := range recordTTLs {
		t.Run(strconv.FormatUint(uint64(tt.minutes), 10), func(t *testing.T) {
			tn := newTestNet(t)
			ms := tn.startAt(msOptions(time.Hour, siteOpt("s", vf.Key, KeySHA256, 0, "10.1.0.0/16")), tn.addr(10))
			etr := tn.peer(tn.addr(2), 0)
			etr.send(netip.AddrPortFrom(tn.addr(10), tn.port), buildRegister(t, vf.Key, msg.AlgHMACSHA256, func(r *msg.MapRegister) {
				r.UseTTL = true
				r.Records[0].TTL = tt.minutes
			}))
			eventually(t, "accepted", func() bool { return ms.Stats().RegistrationsAccepted == 1 })
			regs := ms.Registrations().Registrations
			if tt.want == 0 {
				if len(regs) != 0 {
					t.Errorf("TTL 0 registered: %+v", regs)
				}
				return
			}
			if len(regs) != 1 {
				t.Fatalf("registrations %+v", regs)
			}
			// The lifetime is also capped at useTTLFactor registration
			// timeouts (TestMapServerUseTTLCap).
			want := min(tt.want, useTTLFactor*time.Hour)
			d := time.Until(regs[0].Registrants[0].Expires)
			if d <= want-time.Minute || d > want {
				t.Errorf("expires in %v, want about %v", d, want)
			}
			if _, ok := ms.ms.reg.lookup(0, netip.MustParseAddr("10.1.0.1"), time.Now()); !ok {
				t.Error("registration does not resolve")
			}
		})
	}
}

// The Info-Reply's TTL is converted like a record's: a huge one is a week
// (it used to overflow into the default); 0 and 0xffffffff ("the recipient
// decides") are the default.
func TestNATInfoReplyTTL(t *testing.T) {
	for _, tt := range recordTTLs {
		t.Run(strconv.FormatUint(uint64(tt.minutes), 10), func(t *testing.T) {
			n := fuzzNode(t)
			n.opts.DataPort = portOnly(4341)
			x := *n.opts.XTR
			x.NATTraversal = NATAlways
			x.EIDSpace = prefixes("10.0.0.0/8")
			n.opts.XTR = &x
			n.nat = newNAT(n, &x)
			n.nat.sent[77] = infoSent{peer: n.etr.peers[0], local: netip.MustParseAddrPort("192.0.2.1:4341"), data: true}
			rep := msg.Info{Reply: true, Nonce: 77, Alg: msg.AlgHMACSHA256, TTL: tt.minutes, EID: msg.EIDOf(0, netip.MustParsePrefix("10.1.0.0/24")),
				NAT: msg.NATTraversal{MSPort: 4342, ETRPort: 4341, GlobalETR: netip.MustParseAddr("192.0.2.1"), MS: netip.MustParseAddr("203.0.113.10"), RTRs: []netip.Addr{netip.MustParseAddr("192.0.2.99")}}}
			b := rep.Append(nil)
			if err := msg.Sign(b, []byte("secret")); err != nil {
				t.Fatal(err)
			}
			n.HandleDataPort(b, netip.MustParseAddrPort("203.0.113.10:4342"))
			st, _ := n.NATStatus()
			want := tt.want
			if want == 0 || tt.minutes == 0xffffffff {
				want = DefaultInfoTTL
			}
			if !st.Discovered || st.Expires.Sub(st.LastReply) != want {
				t.Errorf("discovered %v, expires %v after the reply, want %v", st.Discovered, st.Expires.Sub(st.LastReply), want)
			}
		})
	}
}
