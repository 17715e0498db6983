package ctl

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/msg"
)

// msOptions is a Map-Server with one site per entry of sites.
func msOptions(timeout time.Duration, sites ...SiteOptions) Options {
	return Options{MapServer: &MapServerOptions{RegistrationTimeout: timeout, Sites: sites}}
}

func siteOpt(name, key string, kt KeyType, iid uint32, prefixes ...string) SiteOptions {
	s := SiteOptions{Name: name, Key: key, KeyType: kt, InstanceID: iid}
	for _, p := range prefixes {
		s.EIDPrefixes = append(s.EIDPrefixes, netip.MustParsePrefix(p))
	}
	return s
}

// The Map-Server accepts the Map-Registers of the shared vectors (other
// implementations' bytes, key "secret"), answers each with a Map-Notify
// that verifies, and lists the registration.
func TestMapServerAcceptsVectors(t *testing.T) {
	vf := loadVectors(t)
	tests := []struct {
		vector  string
		kt      KeyType
		iid     uint32
		xtrID   string // hex, empty without the I bit
		notify  string // vector the Map-Notify must equal byte for byte, if any
		siteID  uint64
		wantAlg msg.Alg
	}{
		{vector: "map_register_sha1_20", kt: KeySHA1, wantAlg: msg.AlgHMACSHA1},
		{vector: "map_register_sha256_32", kt: KeySHA256, wantAlg: msg.AlgHMACSHA256, notify: "map_notify"},
		{vector: "map_register_lcaf_iid", kt: KeySHA256, iid: 1000, wantAlg: msg.AlgHMACSHA256},
		{vector: "map_register_xtrid", kt: KeySHA256, xtrID: "000102030405060708090a0b0c0d0e0f", siteID: 7, wantAlg: msg.AlgHMACSHA256},
	}
	for _, tt := range tests {
		t.Run(tt.vector, func(t *testing.T) {
			tn := newTestNet(t)
			ms := tn.start(msOptions(0, siteOpt("branch1", vf.Key, tt.kt, tt.iid, "10.1.0.0/16")), nil, tn.addr(10))
			etr := tn.peer(tn.addr(2), 0)
			reg := vf.bytes(t, tt.vector)
			etr.send(netip.AddrPortFrom(tn.addr(10), tn.port), reg)

			b, from := etr.recv(5 * time.Second)
			if b == nil {
				t.Fatalf("no Map-Notify; stats %+v", ms.Stats())
			}
			if from.Addr() != tn.addr(10) {
				t.Errorf("Map-Notify from %v", from)
			}
			var n msg.MapNotify
			if err := n.Decode(b); err != nil {
				t.Fatalf("decode Map-Notify: %v", err)
			}
			var r msg.MapRegister
			if err := r.Decode(reg); err != nil {
				t.Fatal(err)
			}
			if n.Ack || n.Nonce != r.Nonce || n.Alg != tt.wantAlg || len(n.Records) != 1 {
				t.Errorf("Map-Notify ack=%v nonce=%x alg=%v records=%d, want nonce %x alg %v 1 record",
					n.Ack, n.Nonce, n.Alg, len(n.Records), r.Nonce, tt.wantAlg)
			}
			if err := msg.Verify(b, []byte(vf.Key)); err != nil {
				t.Errorf("Map-Notify does not verify with the site key: %v", err)
			}
			if msg.Verify(b, []byte("not-the-key")) == nil {
				t.Errorf("Map-Notify verifies with a wrong key")
			}
			if tt.notify != "" && !bytes.Equal(b, vf.bytes(t, tt.notify)) {
				t.Errorf("Map-Notify\n got %x\nwant %x", b, vf.bytes(t, tt.notify))
			}

			regs := ms.Registrations()
			if len(regs.Registrations) != 1 {
				t.Fatalf("registrations: %+v", regs.Registrations)
			}
			got := regs.Registrations[0]
			if got.Site != "branch1" || got.InstanceID != tt.iid || got.Prefix != netip.MustParsePrefix("10.1.0.0/24") {
				t.Errorf("registration %s iid %d %v", got.Site, got.InstanceID, got.Prefix)
			}
			if len(got.Registrants) != 1 {
				t.Fatalf("registrants: %+v", got.Registrants)
			}
			rr := got.Registrants[0]
			if len(rr.Locators) != 1 || rr.Locators[0].Addr != netip.MustParseAddr("198.51.100.1") ||
				rr.Locators[0].Priority != 1 || rr.Locators[0].Weight != 100 || !rr.Locators[0].Reachable {
				t.Errorf("locators %+v", rr.Locators)
			}
			if rr.XTRID != tt.xtrID || rr.SiteID != tt.siteID {
				t.Errorf("xTR-ID %q site-ID %d, want %q %d", rr.XTRID, rr.SiteID, tt.xtrID, tt.siteID)
			}
			if rr.Source.Addr() != tn.addr(2) || rr.RecordTTL != 1440*time.Minute {
				t.Errorf("source %v record TTL %v", rr.Source, rr.RecordTTL)
			}
			if d := time.Until(rr.Expires); d < 2*time.Minute || d > 3*time.Minute {
				t.Errorf("expires in %v, want the 3-minute default", d)
			}
			if s := ms.Stats(); s.RegistrationsAccepted != 1 || s.In["Map-Register"] != 1 || s.Out["Map-Notify"] != 1 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

// Map-Registers that must be refused: counted under the right reason, no
// Map-Notify, nothing listed.
func TestMapServerRefuses(t *testing.T) {
	vf := loadVectors(t)
	tests := []struct {
		name   string
		site   SiteOptions
		vector string
		reason DropReason
	}{
		{"wrong key", siteOpt("s", "wrong", KeySHA256, 0, "10.1.0.0/16"), "map_register_sha256_32", DropBadAuth},
		{"corrupted HMAC", siteOpt("s", vf.Key, KeySHA256, 0, "10.1.0.0/16"), "neg_map_register_bad_hmac", DropBadAuth},
		{"truncated 16-byte HMAC", siteOpt("s", vf.Key, KeySHA256, 0, "10.1.0.0/16"), "map_register_sha256_128_trunc16", DropBadAuth},
		{"algorithm differs from the site's", siteOpt("s", vf.Key, KeySHA256, 0, "10.1.0.0/16"), "map_register_sha1_20", DropBadAuth},
		{"record outside the site", siteOpt("s", vf.Key, KeySHA256, 0, "10.2.0.0/16"), "map_register_sha256_32", DropUnknownSite},
		{"site prefix narrower than the record", siteOpt("s", vf.Key, KeySHA256, 0, "10.1.0.0/25"), "map_register_sha256_32", DropUnknownSite},
		{"other instance-id", siteOpt("s", vf.Key, KeySHA256, 0, "10.1.0.0/16"), "map_register_lcaf_iid", DropUnknownSite},
		{"truncated message", siteOpt("s", vf.Key, KeySHA256, 0, "10.1.0.0/16"), "neg_map_reply_truncated", DropMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn := newTestNet(t)
			ms := tn.start(msOptions(0, tt.site), nil, tn.addr(10))
			etr := tn.peer(tn.addr(2), 0)
			b := vf.bytes(t, tt.vector)
			if tt.reason == DropMalformed {
				b = append([]byte{0x30}, b[1:len(b)-3]...) // a Map-Register cut short
			}
			for range 3 {
				etr.send(netip.AddrPortFrom(tn.addr(10), tn.port), b)
			}
			eventually(t, "drops counted", func() bool { return ms.Stats().Drops[tt.reason.String()] == 3 })
			if got, _ := etr.recv(100 * time.Millisecond); got != nil {
				t.Errorf("got a reply %x to a refused Map-Register", got)
			}
			if regs := ms.Registrations(); len(regs.Registrations) != 0 {
				t.Errorf("refused registration listed: %+v", regs.Registrations)
			}
			if s := ms.Stats(); s.RegistrationsAccepted != 0 || len(s.Drops) != 1 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

// Registrations expire after registration_timeout; with the T bit after the
// record TTL (here 0 minutes: at once, a deregistration).
func TestMapServerExpiry(t *testing.T) {
	vf := loadVectors(t)
	tn := newTestNet(t)
	ms := tn.start(msOptions(300*time.Millisecond, siteOpt("s", vf.Key, KeySHA256, 0, "10.1.0.0/16")), nil, tn.addr(10))
	etr := tn.peer(tn.addr(2), 0)
	to := netip.AddrPortFrom(tn.addr(10), tn.port)
	etr.send(to, vf.bytes(t, "map_register_sha256_32"))
	eventually(t, "registration", func() bool { return len(ms.Registrations().Registrations) == 1 })
	eventually(t, "expiry", func() bool { return len(ms.Registrations().Registrations) == 0 })
	if _, ok := ms.ms.reg.lookup(0, netip.MustParseAddr("10.1.0.1"), time.Now()); ok {
		t.Error("expired registration still resolves")
	}
	eventually(t, "sweep", func() bool {
		ms.ms.reg.mu.RLock()
		defer ms.ms.reg.mu.RUnlock()
		return len(ms.ms.reg.regs) == 0
	})

	// T bit with a long registration timeout: the record TTL rules.
	ms2 := tn.startAt(msOptions(time.Hour, siteOpt("s", vf.Key, KeySHA256, 0, "10.1.0.0/16")), tn.addr(11))
	reg := buildRegister(t, vf.Key, msg.AlgHMACSHA256, func(r *msg.MapRegister) {
		r.UseTTL = true
		r.Records[0].TTL = 0
	})
	etr.send(netip.AddrPortFrom(tn.addr(11), tn.port), reg)
	eventually(t, "accepted", func() bool { return ms2.Stats().RegistrationsAccepted == 1 })
	if regs := ms2.Registrations(); len(regs.Registrations) != 0 {
		t.Errorf("T bit with TTL 0 still registered: %+v", regs.Registrations)
	}
	reg = buildRegister(t, vf.Key, msg.AlgHMACSHA256, func(r *msg.MapRegister) {
		r.UseTTL = true
		r.Records[0].TTL = 5
	})
	etr.send(netip.AddrPortFrom(tn.addr(11), tn.port), reg)
	eventually(t, "registered", func() bool { return len(ms2.Registrations().Registrations) == 1 })
	if d := time.Until(ms2.Registrations().Registrations[0].Registrants[0].Expires); d < 4*time.Minute || d > 5*time.Minute {
		t.Errorf("T bit, TTL 5 min: expires in %v", d)
	}
}

// startAt starts a node without the xTR role on one address.
func (tn *testNet) startAt(opts Options, a netip.Addr) *Node { return tn.start(opts, nil, a) }

// buildRegister builds and signs a Map-Register for 10.1.0.0/24 with one
// locator 198.51.100.1, modified by edit before signing.
func buildRegister(t *testing.T, key string, alg msg.Alg, edit func(*msg.MapRegister)) []byte {
	t.Helper()
	r := msg.MapRegister{
		WantMapNotify: true, Nonce: randomNonce(), Alg: alg,
		Records: []msg.Record{{
			TTL: 1440, Authoritative: true, EID: msg.EIDOf(0, netip.MustParsePrefix("10.1.0.0/24")),
			Locators: []msg.Locator{{Priority: 1, Weight: 100, MPriority: 255, Reachable: true, Addr: msg.AddrOf(netip.MustParseAddr("198.51.100.1"))}},
		}},
	}
	if edit != nil {
		edit(&r)
	}
	b := r.Append(nil)
	if err := msg.Sign(b, []byte(key)); err != nil {
		t.Fatal(err)
	}
	return b
}
