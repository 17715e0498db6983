package ctl

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/msg"
)

// ecmRequest builds an ECM Map-Request for eid from an ITR whose RLOC and
// reply port are itr.
func ecmRequest(iid uint32, eid netip.Addr, itr netip.AddrPort, nonce uint64) []byte {
	req := msg.MapRequest{Nonce: nonce, ITRRLOCs: []msg.Address{msg.AddrOf(itr.Addr())}, EIDs: []msg.EID{msg.EIDOf(iid, hostPrefix(eid))}}
	e := msg.ECM{Src: itr, Dst: netip.AddrPortFrom(eid, msg.ControlPort), Message: req.Append(nil)}
	return e.Append(nil)
}

func TestMapResolver(t *testing.T) {
	const key = "secret"
	tn := newTestNet(t)
	v6 := netip.MustParseAddr("::1")
	ms := tn.start(msOptions(0, siteOpt("a", key, KeySHA256, 0, "10.1.0.0/16", "2001:db8:1::/48")), nil, tn.addr(10), v6)
	etr := tn.peer(tn.addr(3), tn.port) // the registered ETR, on the control port
	msAddr := netip.AddrPortFrom(tn.addr(10), tn.port)
	backup := tn.peer(tn.addr(4), tn.port) // a priority-2 locator: never forwarded to
	register := func(prefix string, proxy bool, loc netip.Addr) {
		etr.send(msAddr, buildRegister(t, key, msg.AlgHMACSHA256, func(r *msg.MapRegister) {
			r.ProxyReply = proxy
			r.Records[0].EID = msg.EIDOf(0, netip.MustParsePrefix(prefix))
			r.Records[0].Locators[0].Addr = msg.AddrOf(loc)
			r.Records[0].Locators[0].Weight = 50
			if !proxy {
				second := r.Records[0].Locators[0]
				second.Priority, second.Addr = 2, msg.AddrOf(tn.addr(4))
				r.Records[0].Locators = append([]msg.Locator{second}, r.Records[0].Locators...)
			}
		}))
		if b, _ := etr.recv(5 * time.Second); b == nil {
			t.Fatalf("no Map-Notify for %s", prefix)
		}
	}
	register("10.1.1.0/24", false, tn.addr(3))
	register("10.1.4.0/24", true, netip.MustParseAddr("198.51.100.7"))
	register("2001:db8:1:1::/64", false, tn.addr(3))

	itr4 := tn.peer(tn.addr(1), 0)
	itr6 := tn.peer(v6, 0)

	tests := []struct {
		name    string
		iid     uint32
		eid     string
		itr     *peer
		forward bool   // the ETR must receive the ECM
		prefix  string // else the Map-Reply's record
		ttl     uint32
		action  msg.Action
		auth    bool
		locator string
	}{
		{name: "registered: forwarded to the ETR", eid: "10.1.1.5", itr: itr4, forward: true},
		{name: "registered v6: forwarded to the ETR", eid: "2001:db8:1:1::9", itr: itr6, forward: true},
		{name: "proxy reply", eid: "10.1.4.9", itr: itr4, prefix: "10.1.4.0/24", ttl: 1440, locator: "198.51.100.7"},
		{name: "site, not registered", eid: "10.1.2.5", itr: itr4, prefix: "10.1.2.0/23", ttl: 1, action: msg.ActNativelyFwd, auth: true},
		{name: "site, not registered, high half", eid: "10.1.200.5", itr: itr4, prefix: "10.1.128.0/17", ttl: 1, action: msg.ActNativelyFwd, auth: true},
		{name: "outside every site", eid: "192.0.2.1", itr: itr4, prefix: "128.0.0.0/1", ttl: 15, action: msg.ActNativelyFwd, auth: true},
		{name: "outside, just below the site", eid: "10.0.255.1", itr: itr4, prefix: "10.0.0.0/16", ttl: 15, action: msg.ActNativelyFwd, auth: true},
		{name: "v6 site, not registered", eid: "2001:db8:1:2::5", itr: itr6, prefix: "2001:db8:1:2::/63", ttl: 1, action: msg.ActNativelyFwd, auth: true},
		{name: "v6 outside", eid: "2001:db8:2::1", itr: itr6, prefix: "2001:db8:2::/47", ttl: 15, action: msg.ActNativelyFwd, auth: true},
		{name: "other instance-id: no site there", iid: 1000, eid: "10.1.1.5", itr: itr4, prefix: "0.0.0.0/0", ttl: 15, action: msg.ActNativelyFwd, auth: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nonce := randomNonce()
			req := ecmRequest(tt.iid, netip.MustParseAddr(tt.eid), tt.itr.addr(), nonce)
			tt.itr.send(netip.AddrPortFrom(map[bool]netip.Addr{true: v6, false: tn.addr(10)}[tt.itr == itr6], tn.port), req)
			if tt.forward {
				b, from := etr.recv(5 * time.Second)
				if !bytes.Equal(b, req) {
					t.Fatalf("ETR got %x from %v, want the ECM %x", b, from, req)
				}
				if got, _ := tt.itr.recv(50 * time.Millisecond); got != nil {
					t.Errorf("the ITR got a reply %x from the Map-Server too", got)
				}
				return
			}
			b, _ := tt.itr.recv(5 * time.Second)
			if b == nil {
				t.Fatalf("no Map-Reply; stats %+v", ms.Stats())
			}
			var rep msg.MapReply
			if err := rep.Decode(b); err != nil {
				t.Fatal(err)
			}
			if rep.Nonce != nonce || len(rep.Records) != 1 {
				t.Fatalf("Map-Reply nonce %x (want %x), %d records", rep.Nonce, nonce, len(rep.Records))
			}
			rec := rep.Records[0]
			if rec.EID.IID != tt.iid || rec.EID.Prefix.String() != tt.prefix || rec.TTL != tt.ttl ||
				rec.Action != tt.action || rec.Authoritative != tt.auth {
				t.Errorf("record %v ttl %d act %v A %v, want %s ttl %d act %v A %v",
					rec.EID, rec.TTL, rec.Action, rec.Authoritative, tt.prefix, tt.ttl, tt.action, tt.auth)
			}
			if tt.locator == "" && len(rec.Locators) != 0 {
				t.Errorf("negative reply with locators %+v", rec.Locators)
			}
			if tt.locator != "" && (len(rec.Locators) != 1 || rec.Locators[0].Addr.IP.String() != tt.locator || rec.Locators[0].Weight != 50) {
				t.Errorf("locators %+v, want %s", rec.Locators, tt.locator)
			}
		})
	}
	if b, _ := backup.recv(10 * time.Millisecond); b != nil {
		t.Error("a request went to the priority-2 locator")
	}
	s := ms.Stats()
	if s.ForwardedRequests != 2 || s.ProxyReplies != 1 || s.NegativeReplies != 7 {
		t.Errorf("stats %+v", s)
	}
}
