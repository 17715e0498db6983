package ctl

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/msg"
)

// The Map-Server refuses a Map-Register whose non-zero nonce it already
// accepted for that xTR's registration before the last one (replayed: no
// Map-Notify, nothing refreshed); the last one again is a retransmission
// and accepted, nonce 0 is never refused, and the ring keeps only the last
// nonceRing nonces (the documented limit).
func TestMapServerReplay(t *testing.T) {
	type send struct {
		nonce uint64
		xtr   byte
		ttl   uint32 // record TTL; 0 withdraws
		ok    bool   // accepted, else replayed
	}
	ring := func(first uint64) []send { // nonceRing fresh registers after first
		var s []send
		for i := range uint64(nonceRing) {
			s = append(s, send{first + 1 + i, 1, 1440, true})
		}
		return s
	}
	tests := []struct {
		name  string
		sends []send
	}{
		{"the last one again (a retransmission)", []send{{7, 1, 1440, true}, {7, 1, 1440, true}, {7, 1, 1440, true}}},
		{"same nonce after a newer one", []send{{7, 1, 1440, true}, {8, 1, 1440, true}, {7, 1, 1440, false}, {8, 1, 1440, true}}},
		{"fresh nonces", []send{{7, 1, 1440, true}, {8, 1, 1440, true}, {9, 1, 1440, true}}},
		{"nonce 0 is not checked", []send{{0, 1, 1440, true}, {0, 1, 1440, true}}},
		{"an older nonce", []send{{7, 1, 1440, true}, {8, 1, 1440, true}, {7, 1, 1440, false}}},
		{"another xTR's registration", []send{{7, 1, 1440, true}, {7, 2, 1440, true}}},
		{"a withdrawal with an older nonce", []send{{7, 1, 1440, true}, {8, 1, 1440, true}, {7, 1, 0, false}}},
		{"beyond the ring", append(append([]send{{7, 1, 1440, true}}, ring(100)...), send{7, 1, 1440, true})},
		{"after a withdrawal the ring is gone", []send{{7, 1, 1440, true}, {8, 1, 0, true}, {7, 1, 1440, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vf := loadVectors(t)
			tn := newTestNet(t)
			ms := tn.startAt(msOptions(0, siteOpt("s", vf.Key, KeySHA256, 0, "10.1.0.0/16")), tn.addr(10))
			etr := tn.peer(tn.addr(2), 0)
			ok, replayed := 0, 0
			for i, sd := range tt.sends {
				etr.send(netip.AddrPortFrom(tn.addr(10), tn.port), buildRegister(t, vf.Key, msg.AlgHMACSHA256, func(r *msg.MapRegister) {
					r.Nonce, r.HasXTRID, r.XTRID[15], r.Records[0].TTL = sd.nonce, true, sd.xtr, sd.ttl
				}))
				if sd.ok {
					ok++
				} else {
					replayed++
				}
				eventually(t, fmt.Sprintf("send %d handled", i), func() bool {
					s := ms.Stats()
					return s.RegistrationsAccepted+s.Drops["replayed"] == uint64(ok+replayed)
				})
				if s := ms.Stats(); s.RegistrationsAccepted != uint64(ok) || s.Drops["replayed"] != uint64(replayed) {
					t.Fatalf("send %d: accepted %d replayed %d, want %d and %d", i, s.RegistrationsAccepted, s.Drops["replayed"], ok, replayed)
				}
			}
			notifies := 0
			for {
				b, _ := etr.recv(100 * time.Millisecond)
				if b == nil {
					break
				}
				notifies++
			}
			if notifies != ok {
				t.Errorf("%d Map-Notifies for %d accepted Map-Registers", notifies, ok)
			}
		})
	}
}

// A Map-Register an xTR behind a NAT sends through each of its RTRs
// reaches the Map-Server once per RTR with one nonce: each copy is
// accepted (and acknowledged through its RTR), and so is the same copy
// again (a retransmission). Once a newer one came, by whatever path, the
// old one is a replay by every path: a capture cannot be replayed through
// another RTR (or directly) to bring back older locators.
func TestMapServerReplayViaRTRs(t *testing.T) {
	vf := loadVectors(t)
	tn := newTestNet(t)
	o := msOptions(0, siteOpt("s", vf.Key, KeySHA256, 0, "10.1.0.0/16"))
	o.MapServer.RTRs = []netip.Addr{tn.addr(20), tn.addr(21)}
	ms := tn.startAt(o, tn.addr(10))
	ecmWith := func(nonce uint64) []byte {
		inner := buildRegister(t, vf.Key, msg.AlgHMACSHA256, func(r *msg.MapRegister) { r.Nonce, r.HasXTRID, r.XTRID[15] = nonce, true, 1 })
		ecm := msg.ECM{N: true, Src: netip.MustParseAddrPort("192.168.1.2:4342"), Dst: netip.AddrPortFrom(tn.addr(10), tn.port), Message: inner}
		return ecm.Append(nil)
	}
	to := netip.AddrPortFrom(tn.addr(10), tn.port)
	for i, st := range []struct {
		rtr      netip.Addr
		nonce    uint64
		accepted uint64
		replayed uint64
	}{
		{tn.addr(20), 7, 1, 0},
		{tn.addr(21), 7, 2, 0},
		{tn.addr(20), 7, 3, 0}, // the newest again through RTR 20
		{tn.addr(20), 8, 4, 0},
		{tn.addr(21), 8, 5, 0},
		{tn.addr(21), 7, 5, 1}, // older than the newest: a replay through RTR 21 too
		{tn.addr(20), 7, 5, 2},
		{tn.addr(20), 9, 6, 2},
		{tn.addr(20), 10, 7, 2},
		{tn.addr(21), 9, 7, 3}, // never through RTR 21, but older than 10: a replay
		{tn.addr(2), 9, 7, 3},  // not an RTR: not-from-rtr, before any replay check
	} {
		tn.peer(st.rtr, 0).send(to, ecmWith(st.nonce))
		eventually(t, fmt.Sprintf("copy %d handled", i), func() bool {
			s := ms.Stats()
			return s.RegistrationsAccepted+s.Drops["replayed"]+s.Drops["not-from-rtr"] == uint64(i+1)
		})
		if s := ms.Stats(); s.RegistrationsAccepted != st.accepted || s.Drops["replayed"] != st.replayed {
			t.Fatalf("copy %d: accepted %d replayed %d, want %d and %d", i, s.RegistrationsAccepted, s.Drops["replayed"], st.accepted, st.replayed)
		}
	}
}

// Map-Notifies and Info-Replies go through the reply rate limit: a flood
// of authentic Map-Registers (fresh nonces) or Info-Requests naming one
// source gets at most the burst (and what refills) answered, the rest
// counted as reply-rate-limited, while every Map-Register is still stored.
func TestMapServerAnswersRateLimited(t *testing.T) {
	const sent, burst = 30, 5
	tests := []struct {
		name string
		msg  func(t *testing.T, key string) []byte
	}{
		{"Map-Notify", func(t *testing.T, key string) []byte { return buildRegister(t, key, msg.AlgHMACSHA256, nil) }},
		{"Info-Reply", func(t *testing.T, key string) []byte {
			req := msg.Info{Nonce: randomNonce(), Alg: msg.AlgHMACSHA256, EID: msg.EIDOf(0, netip.MustParsePrefix("10.1.0.0/24"))}
			b := req.Append(nil)
			if err := msg.Sign(b, []byte(key)); err != nil {
				t.Fatal(err)
			}
			return b
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vf := loadVectors(t)
			tn := newTestNet(t)
			ms := tn.startAt(msOptions(0, siteOpt("s", vf.Key, KeySHA256, 0, "10.1.0.0/16")), tn.addr(10))
			ms.rep.mu.Lock()
			ms.rep.perDst, ms.rep.dstBurst = 1, burst
			ms.rep.mu.Unlock()
			flooded := tn.peer(tn.addr(2), 0)
			to := netip.AddrPortFrom(tn.addr(10), tn.port)
			for range sent {
				flooded.send(to, tt.msg(t, vf.Key))
			}
			eventually(t, "the flood handled", func() bool {
				s := ms.Stats()
				return s.Out["Map-Notify"]+s.Out["Info"]+s.Drops["reply-rate-limited"] == sent
			})
			answers := 0
			for {
				b, _ := flooded.recv(200 * time.Millisecond)
				if b == nil {
					break
				}
				answers++
			}
			s := ms.Stats()
			if answers < burst || answers > burst+2 || s.Drops["reply-rate-limited"] != uint64(sent-answers) {
				t.Errorf("%d requests: %d answers, %d reply-rate-limited; want %d-%d and the rest", sent, answers, s.Drops["reply-rate-limited"], burst, burst+2)
			}
			if tt.name == "Map-Notify" && s.RegistrationsAccepted != sent {
				t.Errorf("%d Map-Registers accepted, want all %d (only the answers are limited)", s.RegistrationsAccepted, sent)
			}
			if other := tn.peer(tn.addr(3), 0); true {
				other.send(to, tt.msg(t, vf.Key))
				if b, _ := other.recv(3 * time.Second); b == nil {
					t.Error("another source got no answer while the first was limited")
				}
			}
		})
	}
}

// The Map-Resolver forwards ECM Map-Requests to a registered ETR within a
// per-ETR rate limit: a flood for one site's EIDs reaches its ETR up to
// the burst (and what refills), the rest is counted as
// forward-rate-limited, and another site's ETR is still forwarded to.
func TestMapResolverForwardRateLimited(t *testing.T) {
	tests := []struct {
		sent, burst int
	}{
		{30, 5},
		{10, 20}, // within the burst: all forwarded
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.sent, "/", tt.burst), func(t *testing.T) {
			const key = "secret"
			tn := newTestNet(t)
			ms := tn.startAt(msOptions(0, siteOpt("a", key, KeySHA256, 0, "10.1.0.0/16"), siteOpt("b", key, KeySHA256, 0, "10.2.0.0/16")), tn.addr(10))
			msAddr := netip.AddrPortFrom(tn.addr(10), tn.port)
			etrA, etrB := tn.peer(tn.addr(3), tn.port), tn.peer(tn.addr(4), tn.port)
			for _, r := range []struct {
				etr    *peer
				prefix string
			}{{etrA, "10.1.1.0/24"}, {etrB, "10.2.1.0/24"}} {
				r.etr.send(msAddr, buildRegister(t, key, msg.AlgHMACSHA256, func(m *msg.MapRegister) {
					m.Records[0].EID = msg.EIDOf(0, netip.MustParsePrefix(r.prefix))
					m.Records[0].Locators[0].Addr = msg.AddrOf(r.etr.addr().Addr())
				}))
				if b, _ := r.etr.recv(5 * time.Second); b == nil {
					t.Fatalf("no Map-Notify for %s", r.prefix)
				}
			}
			ms.ms.fwd.mu.Lock()
			ms.ms.fwd.perDst, ms.ms.fwd.dstBurst = 1, tt.burst
			ms.ms.fwd.dsts = map[netip.Addr]*dstBucket{}
			ms.ms.fwd.mu.Unlock()
			itr := tn.peer(tn.addr(1), 0)
			for range tt.sent {
				itr.send(msAddr, ecmRequest(0, netip.MustParseAddr("10.1.1.5"), itr.addr(), randomNonce()))
			}
			eventually(t, "the flood handled", func() bool {
				s := ms.Stats()
				return s.ForwardedRequests+s.Drops["forward-rate-limited"] == uint64(tt.sent)
			})
			got := 0
			for {
				b, _ := etrA.recv(200 * time.Millisecond)
				if b == nil {
					break
				}
				got++
			}
			want := min(tt.sent, tt.burst)
			limited := ms.Stats().Drops["forward-rate-limited"]
			if got < want || got > want+2 || int(limited) != tt.sent-got {
				t.Errorf("%d requests: %d forwarded, %d forward-rate-limited; want %d-%d and the rest", tt.sent, got, limited, want, want+2)
			}
			req := ecmRequest(0, netip.MustParseAddr("10.2.1.5"), itr.addr(), randomNonce())
			itr.send(msAddr, req)
			if b, _ := etrB.recv(3 * time.Second); b == nil {
				t.Error("another ETR got nothing while the first was limited")
			}
		})
	}
}
