package ctl

import (
	"encoding/hex"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/msg"
)

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// xtrOptions is an xTR whose only RLOC is rloc (priority 1, weight 100).
func xtrOptions(rloc netip.Addr, eids []netip.Prefix, edit func(*XTROptions)) Options {
	x := &XTROptions{
		EIDPrefixes:       eids,
		RLOCs:             []LocalLocator{{Addr: rloc, Priority: 1, Weight: 100}},
		RegisterInterval:  time.Second,
		RegisterRetry:     50 * time.Millisecond,
		MapRequestTimeout: 200 * time.Millisecond,
		RecordTTL:         7 * time.Minute,
	}
	if edit != nil {
		edit(x)
	}
	return Options{XTR: x}
}

// An ETR registers with a Map-Server over loopback, gets the Map-Notify
// (which acknowledges the Map-Register: no Map-Notify-Ack answers it, RFC
// 9301 section 5.7), and the Map-Server lists what it registered.
func TestETRRegistration(t *testing.T) {
	tests := []struct {
		name string
		kt   KeyType
		iid  uint32
	}{
		{"sha1", KeySHA1, 0},
		{"sha256", KeySHA256, 0},
		{"sha256 instance 7", KeySHA256, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn := newTestNet(t)
			ms := tn.startAt(msOptions(0, siteOpt("b1", "k3y", tt.kt, tt.iid, "10.1.0.0/16", "2001:db8:1::/48")), tn.addr(10))
			eids := prefixes("10.1.1.0/24", "2001:db8:1:1::/64")
			x := tn.start(xtrOptions(tn.addr(2), eids, func(x *XTROptions) {
				x.InstanceID = tt.iid
				x.MapServers = []MapServerPeer{{Addr: tn.addr(10), Key: "k3y", KeyType: tt.kt, WantMapNotify: true}}
			}), nil, tn.addr(2))

			eventually(t, "registered state", func() bool { return x.MapServerStatus()[0].State == RegStateRegistered })
			if n := ms.Stats().In["Map-Notify-Ack"]; n != 0 {
				t.Errorf("the Map-Server got %d Map-Notify-Acks for solicited Map-Notifies, want 0", n)
			}
			regs := ms.Registrations()
			if len(regs.Registrations) != 2 {
				t.Fatalf("registrations %+v", regs.Registrations)
			}
			id := x.XTRID()
			for i, r := range regs.Registrations {
				if r.Prefix != eids[i] || r.InstanceID != tt.iid || r.Site != "b1" || len(r.Registrants) != 1 {
					t.Errorf("registration %d: %+v", i, r)
					continue
				}
				rr := r.Registrants[0]
				if rr.XTRID != hex.EncodeToString(id[:]) || rr.SiteID == 0 || rr.RecordTTL != 7*time.Minute {
					t.Errorf("registrant xtr-id %s site-id %d ttl %v", rr.XTRID, rr.SiteID, rr.RecordTTL)
				}
				if len(rr.Locators) != 1 || !reflect.DeepEqual(rr.Locators[0], Locator{Addr: tn.addr(2), Priority: 1, Weight: 100, Reachable: true}) {
					t.Errorf("locators %+v", rr.Locators)
				}
			}
			if regs.Sites[0].Registered != 2 {
				t.Errorf("sites %+v", regs.Sites)
			}
			st := x.MapServerStatus()[0]
			if st.Registers < 1 || st.Notifies < 1 || st.Unanswered != 0 || st.LastNotify.IsZero() {
				t.Errorf("status %+v", st)
			}
			if s := x.Stats(); s.Out["Map-Register"] < 1 || s.In["Map-Notify"] < 1 || s.Out["Map-Notify-Ack"] != 0 || len(s.Drops) != 0 {
				t.Errorf("xTR stats %+v", s)
			}
		})
	}
}

// With a key the Map-Server does not know, the ETR sees no Map-Notify, says
// so, and keeps retrying; nothing is registered.
func TestETRWrongKey(t *testing.T) {
	tn := newTestNet(t)
	ms := tn.startAt(msOptions(0, siteOpt("b1", "right", KeySHA256, 0, "10.1.0.0/16")), tn.addr(10))
	x := tn.start(xtrOptions(tn.addr(2), prefixes("10.1.1.0/24"), func(x *XTROptions) {
		x.RegisterRetry = 10 * time.Millisecond
		x.MapServers = []MapServerPeer{{Addr: tn.addr(10), Key: "wrong", KeyType: KeySHA256, WantMapNotify: true}}
	}), nil, tn.addr(2))
	eventually(t, "failed state", func() bool { return x.MapServerStatus()[0].State == RegStateFailed })
	st := x.MapServerStatus()[0]
	if !strings.Contains(st.Reason, "wrong key") || st.Unanswered < silentAfter || st.Notifies != 0 {
		t.Errorf("status %+v", st)
	}
	eventually(t, "retries", func() bool { return ms.Stats().Drops["bad-auth"] >= silentAfter+1 })
	if regs := ms.Registrations(); len(regs.Registrations) != 0 {
		t.Errorf("registered with a wrong key: %+v", regs.Registrations)
	}
}

// When the Map-Server restarts, the ETR's registrations come back within
// about one interval.
func TestETRReregistersAfterMapServerRestart(t *testing.T) {
	tn := newTestNet(t)
	msOpts := msOptions(0, siteOpt("b1", "k", KeySHA1, 0, "10.1.0.0/16"))
	ms := tn.startAt(msOpts, tn.addr(10))
	x := tn.start(xtrOptions(tn.addr(2), prefixes("10.1.1.0/24"), func(x *XTROptions) {
		x.RegisterInterval = 300 * time.Millisecond
		x.MapServers = []MapServerPeer{{Addr: tn.addr(10), Key: "k", KeyType: KeySHA1, WantMapNotify: true}}
	}), nil, tn.addr(2))
	eventually(t, "registered", func() bool { return len(ms.Registrations().Registrations) == 1 })
	ms.Close()
	ms2 := tn.startAt(msOpts, tn.addr(10))
	eventually(t, "registered again", func() bool { return len(ms2.Registrations().Registrations) == 1 })
	eventually(t, "state registered", func() bool { return x.MapServerStatus()[0].State == RegStateRegistered })
}

// The ETR answers Map-Requests for its EIDs with an authoritative Map-Reply
// to the ITR-RLOC, echoing the nonce, and RLOC probes with probe replies;
// requests for other EIDs get nothing.
func TestETRAnswersMapRequests(t *testing.T) {
	tn := newTestNet(t)
	x := tn.start(xtrOptions(tn.addr(2), prefixes("10.1.1.0/24", "2001:db8:1:1::/64"), nil), nil, tn.addr(2))
	itr := tn.peer(tn.addr(1), 0)
	to := netip.AddrPortFrom(tn.addr(2), tn.port)
	tests := []struct {
		name   string
		eid    string
		probe  bool
		ecm    bool
		prefix string // "" = no answer
		nrec   int    // records expected (0 = 1)
	}{
		{"direct request", "10.1.1.7", false, false, "10.1.1.0/24", 0},
		{"ECM request (forwarded by a Map-Server)", "10.1.1.8", false, true, "10.1.1.0/24", 0},
		{"v6 EID", "2001:db8:1:1::1", false, true, "2001:db8:1:1::/64", 0},
		{"RLOC probe", "10.1.1.0", true, false, "10.1.1.0/24", 0},
		{"RLOC probe with the RLOC as EID: all our mappings", tn.addr(2).String(), true, false, "10.1.1.0/24", 2},
		{"not our EID", "10.9.9.9", false, true, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nonce := randomNonce()
			eid := netip.MustParseAddr(tt.eid)
			var b []byte
			if tt.ecm {
				b = ecmRequest(0, eid, itr.addr(), nonce)
			} else {
				req := msg.MapRequest{Probe: tt.probe, Nonce: nonce, ITRRLOCs: []msg.Address{msg.AddrOf(itr.addr().Addr())}, EIDs: []msg.EID{msg.EIDOf(0, hostPrefix(eid))}}
				b = req.Append(nil)
			}
			itr.send(to, b)
			got, _ := itr.recv(map[bool]time.Duration{true: 3 * time.Second, false: 100 * time.Millisecond}[tt.prefix != ""])
			if tt.prefix == "" {
				if got != nil {
					t.Fatalf("answered a request for another EID: %x", got)
				}
				return
			}
			var rep msg.MapReply
			if err := rep.Decode(got); err != nil {
				t.Fatalf("Map-Reply: %v (%x)", err, got)
			}
			if rep.Nonce != nonce || rep.Probe != tt.probe || len(rep.Records) != max(tt.nrec, 1) {
				t.Fatalf("reply nonce %x probe %v records %d", rep.Nonce, rep.Probe, len(rep.Records))
			}
			rec := rep.Records[0]
			if rec.EID.Prefix.String() != tt.prefix || !rec.Authoritative || rec.TTL != 7 || len(rec.Locators) != 1 {
				t.Fatalf("record %+v", rec)
			}
			l := rec.Locators[0]
			if l.Addr.IP != tn.addr(2) || l.Priority != 1 || l.Weight != 100 || !l.Reachable || !l.Local {
				t.Errorf("locator %+v", l)
			}
		})
	}
	if d := x.Stats().Drops["not-our-eid"]; d != 1 {
		t.Errorf("not-our-eid drops %d", d)
	}
}

func TestDeriveIDsStable(t *testing.T) {
	a := prefixes("10.1.1.0/24", "2001:db8::/48")
	b := prefixes("2001:db8::/48", "10.1.1.0/24")
	r1 := []LocalLocator{{Addr: netip.MustParseAddr("192.0.2.1")}}
	r2 := []LocalLocator{{Addr: netip.MustParseAddr("192.0.2.2")}}
	if id1, id2 := DeriveXTRID(0, r1), DeriveXTRID(0, r1); id1 != id2 {
		t.Error("xTR-ID not stable")
	}
	if DeriveXTRID(0, r1) == DeriveXTRID(0, r2) || DeriveXTRID(0, r1) == DeriveXTRID(1, r1) {
		t.Error("xTR-IDs of different xTRs collide")
	}
	if DeriveSiteID(0, a) != DeriveSiteID(0, b) || DeriveSiteID(0, a) == DeriveSiteID(0, a[:1]) {
		t.Error("site-ID not a function of the prefix set")
	}
}

// Deregister withdraws prefixes at the Map-Server at once (record TTL 0),
// leaving the others registered.
func TestETRDeregister(t *testing.T) {
	tn := newTestNet(t)
	ms := tn.startAt(msOptions(0, siteOpt("b1", "k3y", KeySHA256, 0, "10.1.0.0/16")), tn.addr(10))
	eids := prefixes("10.1.1.0/24", "10.1.2.0/24")
	x := tn.start(xtrOptions(tn.addr(2), eids, func(x *XTROptions) {
		x.MapServers = []MapServerPeer{{Addr: tn.addr(10), Key: "k3y", KeyType: KeySHA256, WantMapNotify: true}}
	}), nil, tn.addr(2))
	eventually(t, "both prefixes registered", func() bool { return len(ms.Registrations().Registrations) == 2 })

	x.Deregister(eids[:1])
	eventually(t, "first prefix withdrawn", func() bool {
		regs := ms.Registrations().Registrations
		return len(regs) == 1 && regs[0].Prefix == eids[1]
	})
}

// A flood of RLOC probes naming one ITR-RLOC gets at most the reply burst
// back, the rest counted as reply-rate-limited, while another ITR is still
// answered: the ETR is not a reflector.
func TestETRReplyRateLimit(t *testing.T) {
	tn := newTestNet(t)
	x := tn.start(xtrOptions(tn.addr(2), prefixes("10.1.1.0/24"), nil), nil, tn.addr(2))
	x.rep.mu.Lock()
	x.rep.perDst, x.rep.dstBurst = 1, 5 // one reply a second after a burst of 5
	x.rep.mu.Unlock()
	to := netip.AddrPortFrom(tn.addr(2), tn.port)
	probe := func(p *peer) []byte {
		req := msg.MapRequest{Probe: true, Nonce: randomNonce(), ITRRLOCs: []msg.Address{msg.AddrOf(p.addr().Addr())},
			EIDs: []msg.EID{msg.EIDOf(0, hostPrefix(netip.MustParseAddr("10.1.1.1")))}}
		return req.Append(nil)
	}
	flooded, other := tn.peer(tn.addr(1), 0), tn.peer(tn.addr(3), 0)
	const sent = 50
	for range sent {
		flooded.send(to, probe(flooded))
	}
	eventually(t, "the flood counted", func() bool {
		s := x.Stats()
		return s.In["Map-Request"] >= sent
	})
	replies := 0
	for {
		b, _ := flooded.recv(200 * time.Millisecond)
		if b == nil {
			break
		}
		replies++
	}
	limited := x.Stats().Drops["reply-rate-limited"]
	t.Logf("%d probes from one ITR: %d replies, %d reply-rate-limited", sent, replies, limited)
	if replies < 5 || replies > 7 || int(limited) != sent-replies {
		t.Errorf("%d probes: %d replies and %d rate-limited, want 5-7 (the burst and what refills) and the rest limited", sent, replies, limited)
	}
	other.send(to, probe(other))
	if b, _ := other.recv(3 * time.Second); b == nil {
		t.Error("another ITR got no reply while the first was limited")
	}
}
