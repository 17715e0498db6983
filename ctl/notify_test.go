package ctl

import (
	"net/netip"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/msg"
)

// fakeMapServer is an xTR whose Map-Server is played by raw sockets: ms at
// the configured address and alt, another address of the same Map-Server.
type fakeMapServer struct {
	tn      *testNet
	x       *Node
	ms, alt *peer
	xtr     netip.AddrPort
}

func newFakeMapServer(t *testing.T, want bool) *fakeMapServer {
	tn := newTestNet(t)
	f := &fakeMapServer{tn: tn, ms: tn.peer(tn.addr(10), tn.port), alt: tn.peer(tn.addr(9), tn.port)}
	f.x = tn.start(xtrOptions(tn.addr(2), prefixes("10.1.1.0/24"), func(x *XTROptions) {
		x.NATTraversal = NATOff
		x.RegisterInterval = time.Hour // one Map-Register, then quiet
		x.RegisterRetry = time.Hour
		x.MapServers = []MapServerPeer{{Addr: tn.addr(10), Key: "k3y", KeyType: KeySHA256, WantMapNotify: want}}
	}), nil, tn.addr(2))
	f.xtr = netip.AddrPortFrom(tn.addr(2), tn.port)
	return f
}

// register returns the xTR's first Map-Register, as the Map-Server gets it.
func (f *fakeMapServer) register(t *testing.T) msg.MapRegister {
	t.Helper()
	b, _ := f.ms.recv(5 * time.Second)
	var reg msg.MapRegister
	if err := reg.Decode(b); err != nil {
		t.Fatalf("Map-Register: %v (%x)", err, b)
	}
	if err := msg.Verify(b, []byte("k3y")); err != nil {
		t.Fatalf("Map-Register signature: %v", err)
	}
	return reg
}

// notify is a Map-Notify of recs with nonce, signed with key.
func notify(t *testing.T, nonce uint64, key string, recs []msg.Record) []byte {
	t.Helper()
	n := msg.MapNotify{Nonce: nonce, Alg: msg.AlgHMACSHA256, Records: recs}
	b := n.Append(nil)
	if err := msg.Sign(b, []byte(key)); err != nil {
		t.Fatal(err)
	}
	return b
}

// A Map-Notify echoing our Map-Register's nonce and signed with the
// Map-Server's key confirms the registration whatever address it comes
// from (a Map-Server with several addresses, or anycast, RFC 9301
// authenticates by HMAC and nonce), and as the Map-Register's
// acknowledgement it gets no Map-Notify-Ack. Signed with another key, it
// is dropped as bad-auth and confirms nothing.
func TestETRMapNotifyFromOtherMapServerAddress(t *testing.T) {
	for _, tt := range []struct {
		name       string
		key        string
		registered bool
	}{
		{"signed with the Map-Server's key", "k3y", true},
		{"signed with another key", "wrong", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeMapServer(t, true)
			reg := f.register(t)
			f.alt.send(f.xtr, notify(t, reg.Nonce, tt.key, reg.Records))
			if tt.registered {
				eventually(t, "registered", func() bool { return f.x.MapServerStatus()[0].State == RegStateRegistered })
			} else {
				eventually(t, "bad-auth drop", func() bool { return f.x.Stats().Drops["bad-auth"] == 1 })
				if st := f.x.MapServerStatus()[0]; st.State == RegStateRegistered || st.Notifies != 0 {
					t.Errorf("status %+v after a Map-Notify with a wrong key", st)
				}
			}
			if b, from := f.alt.recv(300 * time.Millisecond); b != nil {
				t.Errorf("answered the Map-Notify with %x from %v, want nothing", b, from)
			}
			if b, _ := f.ms.recv(10 * time.Millisecond); b != nil {
				t.Errorf("sent %x to the Map-Server's configured address, want nothing", b)
			}
			if s := f.x.Stats(); s.Out["Map-Notify-Ack"] != 0 || (tt.registered && len(s.Drops) != 0) {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

// An unsolicited Map-Notify (another nonce: the Map-Server's own, e.g. a
// merged locator set of a multi-ETR site) signed with the Map-Server's key
// and about our EID prefixes gets a Map-Notify-Ack echoing its nonce,
// signed with that key, sent back to where it came from (RFC 9301 section
// 5.7); it is counted and changes no registration state. Unsigned, wrongly
// signed or about other EIDs, it gets nothing.
func TestETRUnsolicitedMapNotify(t *testing.T) {
	merged := func(eid string) []msg.Record {
		return []msg.Record{{TTL: 1440, Authoritative: true, EID: msg.EIDOf(0, netip.MustParsePrefix(eid)), Locators: []msg.Locator{
			{Priority: 1, Weight: 50, MPriority: 255, Reachable: true, Addr: msg.AddrOf(netip.MustParseAddr("192.0.2.1"))},
			{Priority: 1, Weight: 50, MPriority: 255, Reachable: true, Addr: msg.AddrOf(netip.MustParseAddr("192.0.2.2"))},
		}}}
	}
	tests := []struct {
		name  string
		key   string
		eid   string
		acked bool
		drop  string
	}{
		{"signed, our prefix", "k3y", "10.1.1.0/24", true, ""},
		{"signed, covering our prefix", "k3y", "10.1.0.0/16", true, ""},
		{"signed, another prefix", "k3y", "10.9.0.0/16", false, "not-our-eid"},
		{"wrong key", "wrong", "10.1.1.0/24", false, "bad-auth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeMapServer(t, true)
			f.register(t)
			before := f.x.MapServerStatus()[0]
			const nonce = 0x5eed5eed5eed5eed
			for _, from := range []*peer{f.ms, f.alt} {
				from.send(f.xtr, notify(t, nonce, tt.key, merged(tt.eid)))
				b, src := from.recv(map[bool]time.Duration{true: 5 * time.Second, false: 300 * time.Millisecond}[tt.acked])
				if !tt.acked {
					if b != nil {
						t.Fatalf("answered with %x, want nothing", b)
					}
					continue
				}
				var ack msg.MapNotify
				if err := ack.Decode(b); err != nil || !ack.Ack {
					t.Fatalf("reply %x: %v, want a Map-Notify-Ack", b, err)
				}
				if err := msg.Verify(b, []byte("k3y")); err != nil || ack.Alg != msg.AlgHMACSHA256 {
					t.Errorf("Map-Notify-Ack authentication: %v (alg %v)", err, ack.Alg)
				}
				if ack.Nonce != nonce || len(ack.Records) != 1 || ack.Records[0].EID.Prefix.String() != tt.eid {
					t.Errorf("Map-Notify-Ack nonce %#x records %+v", ack.Nonce, ack.Records)
				}
				if src != f.xtr {
					t.Errorf("Map-Notify-Ack from %v, want %v", src, f.xtr)
				}
			}
			st := f.x.MapServerStatus()[0]
			want := uint64(0)
			if tt.acked {
				want = 2
			}
			if st.Unsolicited != want || st.State != before.State || st.Notifies != 0 || st.Unanswered != before.Unanswered {
				t.Errorf("status %+v, want %d unsolicited and the state unchanged from %+v", st, want, before)
			}
			s := f.x.Stats()
			if s.Out["Map-Notify-Ack"] != want || (tt.drop != "" && s.Drops[tt.drop] != 2) || (tt.drop == "" && len(s.Drops) != 0) {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

// RFC 9301 section 5.6: without want-map-notify the Map-Register's nonce is
// 0 (and so is a deregistration's); with it, a random one. A Map-Notify
// with nonce 0 confirms nothing.
func TestETRMapRegisterNonce(t *testing.T) {
	for _, want := range []bool{false, true} {
		f := newFakeMapServer(t, want)
		reg := f.register(t)
		if reg.WantMapNotify != want || (reg.Nonce == 0) == want {
			t.Errorf("want-map-notify %v: Map-Register M %v nonce %#x", want, reg.WantMapNotify, reg.Nonce)
		}
		f.x.Deregister(prefixes("10.1.1.0/24"))
		b, _ := f.ms.recv(5 * time.Second)
		var dereg msg.MapRegister
		if err := dereg.Decode(b); err != nil || dereg.Nonce != 0 || dereg.WantMapNotify || len(dereg.Records) != 1 || dereg.Records[0].TTL != 0 {
			t.Errorf("want-map-notify %v: deregistration %+v, %v", want, dereg, err)
		}
		f.ms.send(f.xtr, notify(t, 0, "k3y", reg.Records))
		f.ms.recv(300 * time.Millisecond) // an unsolicited one's Map-Notify-Ack
		if st := f.x.MapServerStatus()[0]; st.Notifies != 0 || st.State == RegStateRegistered {
			t.Errorf("want-map-notify %v: a Map-Notify with nonce 0 confirmed the registration: %+v", want, st)
		}
	}
}

// TestETRWithdrawStopsRegistering: after Withdraw (a node about to stop)
// the deregistration is the last Map-Register: a kick of the register loop
// sends none.
func TestETRWithdrawStopsRegistering(t *testing.T) {
	f := newFakeMapServer(t, false)
	f.register(t)
	f.x.Withdraw(prefixes("10.1.1.0/24"))
	b, _ := f.ms.recv(5 * time.Second)
	var dereg msg.MapRegister
	if err := dereg.Decode(b); err != nil || len(dereg.Records) != 1 || dereg.Records[0].TTL != 0 {
		t.Fatalf("deregistration %+v, %v", dereg, err)
	}
	for _, p := range f.x.etr.peers {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
	if b, _ := f.ms.recv(500 * time.Millisecond); b != nil {
		var reg msg.MapRegister
		reg.Decode(b)
		t.Fatalf("a Map-Register after the withdrawal: %+v", reg)
	}
}
