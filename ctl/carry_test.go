//go:build !nortr

package ctl

import (
	"net/netip"
	"testing"
	"time"
)

// TestCarryAdopt carries a Map-Server's registrations and an RTR's NAT
// bindings into a node with another configuration: a registration stays
// when its site keeps its name, key and a prefix containing it, with its
// expiry unchanged; a binding stays when its Map-Server is still relayed
// to. Everything else is dropped and counted.
func TestCarryAdopt(t *testing.T) {
	p := netip.MustParsePrefix
	site := func(name, key string, prefixes ...string) SiteOptions {
		s := SiteOptions{Name: name, Key: key, KeyType: KeySHA256}
		for _, x := range prefixes {
			s.EIDPrefixes = append(s.EIDPrefixes, p(x))
		}
		return s
	}
	ms1, ms2 := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.11")
	rtrOpts := func(ms ...netip.Addr) *RTROptions {
		return &RTROptions{Listen: []netip.Addr{netip.MustParseAddr("192.0.2.20")}, MapServers: ms}
	}
	oldOpts := Options{
		MapServer: &MapServerOptions{Sites: []SiteOptions{
			site("a", "ka", "10.1.0.0/16"),
			site("b", "kb", "10.2.0.0/16"),
			site("c", "kc", "10.3.0.0/16"),
		}},
		RTR: rtrOpts(ms1, ms2),
	}
	old, err := New(oldOpts, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	expires := now.Add(time.Hour).Truncate(time.Second)
	regs := map[string]string{ // prefix → site
		"10.1.1.0/24": "a", "10.1.2.0/24": "a", // a narrows to 10.1.1.0/24: one stays
		"10.2.0.0/24": "b", // b's key changes
		"10.3.0.0/24": "c", // c is removed
	}
	for pfx, name := range regs {
		s := old.ms.reg.siteNamed(name)
		registerRecord(old.ms.reg, s, regKey{0, p(pfx)}, registrant{
			source: netip.MustParseAddrPort("192.0.2.1:4342"), hasXTRID: true, xtrID: [16]byte{1},
			lastSeen: now, expires: expires, locators: []Locator{{Addr: netip.MustParseAddr("192.0.2.1"), Priority: 1, Weight: 100}},
		})
	}
	// An expired one is not carried at all.
	registerRecord(old.ms.reg, old.ms.reg.siteNamed("a"), regKey{0, p("10.1.1.128/25")}, registrant{
		source: netip.MustParseAddrPort("192.0.2.9:4342"), lastSeen: now.Add(-time.Hour), expires: now.Add(-time.Minute),
	})
	for i, ms := range []netip.Addr{ms1, ms2} {
		k := rtrKey{regKey{0, p([]string{"10.1.1.0/24", "10.2.0.0/24"}[i])}, [16]byte{byte(i + 1)}}
		old.rtr.bindings[k] = &rtrEntry{RTRBinding: RTRBinding{
			InstanceID: 0, Prefix: k.key.prefix, XTRID: k.xtrID, MapServer: ms, Verified: true, LastSeen: now,
			Public: netip.MustParseAddrPort("203.0.113.1:4341"),
		}}
	}
	c := old.Carry()
	if c == nil {
		t.Fatal("Carry: nil from a node with registrations and bindings")
	}

	newOpts := Options{
		MapServer: &MapServerOptions{RegistrationTimeout: time.Minute, Sites: []SiteOptions{
			site("a", "ka", "10.1.1.0/24"),
			site("b", "kb-new", "10.2.0.0/16"),
			site("d", "kc", "10.3.0.0/16"),
		}},
		RTR: rtrOpts(ms1),
	}
	n, err := New(newOpts, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := n.Adopt(c)
	want := CarryResult{RegistrationsKept: 1, RegistrationsDropped: 3, BindingsKept: 1, BindingsDropped: 1}
	if got != want {
		t.Errorf("Adopt = %+v, want %+v", got, want)
	}
	r := n.Registrations()
	if len(r.Registrations) != 1 {
		t.Fatalf("registrations after Adopt: %+v", r.Registrations)
	}
	reg := r.Registrations[0]
	if reg.Site != "a" || reg.Prefix != p("10.1.1.0/24") || len(reg.Registrants) != 1 ||
		!reg.Registrants[0].Expires.Equal(expires) || len(reg.Registrants[0].Locators) != 1 {
		t.Errorf("kept registration %+v, want site a 10.1.1.0/24 expiring %v", reg, expires)
	}
	if m, ok := n.ms.reg.lookup(0, netip.MustParseAddr("10.1.1.5"), now); !ok || m.key.prefix != p("10.1.1.0/24") {
		t.Errorf("lookup of a kept registration: %+v %v", m, ok)
	}
	bs := n.RTRBindings()
	if len(bs) != 1 || bs[0].MapServer != ms1 || bs[0].Prefix != p("10.1.1.0/24") {
		t.Errorf("bindings after Adopt: %+v", bs)
	}
	if b, ok := n.rtr.bindingFor(0, netip.MustParseAddr("10.1.1.5")); !ok || b.Public != netip.MustParseAddrPort("203.0.113.1:4341") {
		t.Errorf("the kept verified binding is not indexed: %+v %v", b, ok)
	}
	// Adopt leaves c as it was: a second node (a failed start's fallback)
	// gets the same.
	n2, err := New(newOpts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := n2.Adopt(c); got != want {
		t.Errorf("second Adopt = %+v, want %+v", got, want)
	}
	// Nothing to carry: nil, and Adopt(nil) is a no-op.
	empty, err := New(newOpts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := empty.Carry(); c != nil {
		t.Errorf("Carry of an empty node: %+v", c)
	}
	if got := empty.Adopt(nil); got != (CarryResult{}) {
		t.Errorf("Adopt(nil) = %+v", got)
	}
}

// registerRecord stores one registrant under key in site s, as an accepted
// Map-Register's record would.
func registerRecord(r *registry, s *site, key regKey, rr registrant) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.registerLocked(s, key, &rr)
}
