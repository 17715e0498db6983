package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lispd/lispd/conf"
	"github.com/lispd/lispd/ctl"
	"github.com/lispd/lispd/fwd"
	"github.com/lispd/lispd/internal/logx"
	"golang.org/x/sys/unix"

	"github.com/lispd/lispd/fwd/rtnl"
)

func TestResolveLocal(t *testing.T) {
	up := uint32(unix.IFF_UP | unix.IFF_RUNNING)
	a := netip.MustParseAddr
	p := netip.MustParsePrefix
	st := &rtnl.LinkState{
		Links: []rtnl.Link{{Index: 2, Name: "wan", Flags: up}, {Index: 3, Name: "wan2", Flags: unix.IFF_UP}, {Index: 4, Name: "lte", Flags: up}, {Index: 5, Name: "ppp0", Flags: up}, {Index: 1, Name: "lo", Flags: up | unix.IFF_LOOPBACK}},
		Addrs: []rtnl.IfAddr{
			{Index: 2, Prefix: p("2001:db8::2/64")},
			{Index: 2, Prefix: p("fe80::2/64")}, // link-local: never a locator
			{Index: 2, Prefix: p("192.0.2.1/24")},
			{Index: 3, Prefix: p("192.0.2.11/24")},
			{Index: 4, Prefix: p("2001:db8:4::1/64"), Flags: unix.IFA_F_TENTATIVE},
			{Index: 1, Prefix: p("198.51.100.250/32")},
		},
	}
	cfg := []conf.LocalRLOC{
		{Interface: "wan", Priority: 1, Weight: 50},
		{Address: a("192.0.2.11"), Priority: 2, Weight: 50},
		{Interface: "lte", Priority: 3, Weight: 100},
		{Interface: "ppp0", Priority: 3, Weight: 100},
		{Interface: "gone", Priority: 4, Weight: 100},
		{Address: a("203.0.113.9"), Priority: 5, Weight: 100},
		{Address: a("198.51.100.250"), Priority: 6, Weight: 100},
	}
	want := []localRLOC{
		{Interface: "wan", Addr: a("192.0.2.1"), Priority: 1, Weight: 50, IfIndex: 2, Up: true},
		{Interface: "wan", Addr: a("2001:db8::2"), Priority: 1, Weight: 50, IfIndex: 2, Up: true},
		{Addr: a("192.0.2.11"), Priority: 2, Weight: 50, IfIndex: 3, Reason: reasonIfDown}, // no carrier
		{Interface: "lte", Priority: 3, Weight: 100, IfIndex: 4, Reason: reasonNoAddr},     // DAD still running
		{Interface: "ppp0", Priority: 3, Weight: 100, IfIndex: 5, Reason: reasonNoAddr},
		{Interface: "gone", Priority: 4, Weight: 100, Reason: reasonNoIf},
		{Addr: a("203.0.113.9"), Priority: 5, Weight: 100, Reason: reasonAddrGone},
		{Addr: a("198.51.100.250"), Priority: 6, Weight: 100, Up: true}, // on lo: no interface forced
	}
	got := resolveLocal(cfg, st, nil)
	if !slices.Equal(got, want) {
		t.Fatalf("resolved\n%+v\nwant\n%+v", got, want)
	}
	// Registered: those with an address, in order, down ones flagged, with
	// their interfaces (control messages leave by them); the status bits
	// follow the same order.
	reg := registeredLocators(got)
	wantReg := []ctl.LocalLocator{
		{Addr: a("192.0.2.1"), Priority: 1, Weight: 50, IfIndex: 2},
		{Addr: a("2001:db8::2"), Priority: 1, Weight: 50, IfIndex: 2},
		{Addr: a("192.0.2.11"), Priority: 2, Weight: 50, Down: true, IfIndex: 3},
		{Addr: a("203.0.113.9"), Priority: 5, Weight: 100, Down: true},
		{Addr: a("198.51.100.250"), Priority: 6, Weight: 100},
	}
	if !slices.Equal(reg, wantReg) {
		t.Errorf("registered %+v, want %+v", reg, wantReg)
	}
	if lsb := statusBits(got); lsb != 0b10011 {
		t.Errorf("locator-status bits %05b, want 10011", lsb)
	}
	if pl := planeLocators(got); len(pl) != 5 || pl[2].Up || pl[0].IfIndex != 2 || !pl[1].Up {
		t.Errorf("plane locators %+v", pl)
	}

	// DHCP gives ppp0 an address and wan2 its carrier: both come up.
	st.Addrs = append(st.Addrs, rtnl.IfAddr{Index: 5, Prefix: p("198.51.100.77/32")})
	st.Links[1].Flags = up
	got = resolveLocal(cfg, st, got)
	if got[2].Reason != "" || !got[2].Up || got[4].Addr != a("198.51.100.77") || !got[4].Up {
		t.Errorf("after the change: %+v", got)
	}
	if lsb := statusBits(got); lsb != 0b101111 {
		t.Errorf("locator-status bits %06b, want 101111", lsb)
	}
	if statusBits(nil) != 1 {
		t.Error("no locator: bits should stay the plane's default 1")
	}
}

func TestFixedSource(t *testing.T) {
	a := netip.MustParseAddr
	tests := []struct {
		cfg    []conf.LocalRLOC
		v4, v6 bool
	}{
		{[]conf.LocalRLOC{{Address: a("192.0.2.1")}}, true, false},
		{[]conf.LocalRLOC{{Address: a("192.0.2.1")}, {Address: a("192.0.2.11")}}, false, false},
		{[]conf.LocalRLOC{{Address: a("192.0.2.1")}, {Address: a("2001:db8::1")}}, true, true},
		{[]conf.LocalRLOC{{Interface: "wan"}}, false, false},
	}
	for i, tt := range tests {
		if v4, v6 := fixedSource(tt.cfg, false), fixedSource(tt.cfg, true); v4 != tt.v4 || v6 != tt.v6 {
			t.Errorf("%d: fixed v4 %v v6 %v, want %v %v", i, v4, v6, tt.v4, tt.v6)
		}
	}
}

// An address locator is no source while IPv6 duplicate address detection
// runs or after it failed (sendmsg refuses such a source): it is
// registered with its R bit clear and carries no traffic until DAD passes.
func TestResolveLocalAddressDAD(t *testing.T) {
	up := uint32(unix.IFF_UP | unix.IFF_RUNNING)
	a := netip.MustParseAddr("2001:db8:1::1")
	tests := []struct {
		name   string
		flags  uint32
		link   uint32
		up     bool
		reason string
	}{
		{"dad passed", 0, up, true, ""},
		{"optimistic", unix.IFA_F_OPTIMISTIC | unix.IFA_F_TENTATIVE, up, true, ""}, // as the kernel flags it during DAD
		{"tentative", unix.IFA_F_TENTATIVE, up, false, reasonTentative},
		{"dad failed", unix.IFA_F_TENTATIVE | unix.IFA_F_DADFAILED, up, false, reasonDupAddr},
		{"tentative, no carrier", unix.IFA_F_TENTATIVE, unix.IFF_UP, false, reasonIfDown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &rtnl.LinkState{
				Links: []rtnl.Link{{Index: 2, Name: "wan6", Flags: tt.link}},
				Addrs: []rtnl.IfAddr{{Index: 2, Prefix: netip.PrefixFrom(a, 64), Flags: tt.flags}},
			}
			got := resolveLocal([]conf.LocalRLOC{{Address: a, Priority: 1, Weight: 100}}, st, nil)
			if len(got) != 1 || got[0].Up != tt.up || got[0].Reason != tt.reason || got[0].IfIndex != 2 {
				t.Fatalf("resolved %+v, want up %v reason %q on interface 2", got, tt.up, tt.reason)
			}
			if lsb := statusBits(got); (lsb == 1) != tt.up {
				t.Errorf("locator-status bits %b with the locator up %v", lsb, tt.up)
			}
			if pl := planeLocators(got); len(pl) != 1 || pl[0].Up != tt.up {
				t.Errorf("plane locators %+v", pl)
			}
		})
	}
}

// Two hand-overs to the node at once (main starting a node, the watcher
// seeing a change): the node must end with the newest locators, not with
// whichever hand-over happened to call it last.
func TestLocalWatchSyncNodeNewestWins(t *testing.T) {
	a := netip.MustParseAddr
	older := []localRLOC{{Addr: a("192.0.2.1"), Priority: 1, Weight: 100, Up: true}}
	newer := []localRLOC{{Addr: a("192.0.2.1"), Priority: 1, Weight: 100, Reason: reasonIfDown}}
	node := new(ctl.Node)
	lw := &localWatch{cur: older, node: func() *ctl.Node { return node }}
	var (
		mu    sync.Mutex
		calls int
		last  []ctl.LocalLocator
		wg    sync.WaitGroup
	)
	lw.setNode = func(_ *ctl.Node, ls []ctl.LocalLocator) {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			// The uplink goes down while this hand-over of the older
			// set is under way: the watcher applies and hands over.
			wg.Add(1)
			done := make(chan struct{})
			go func() {
				defer wg.Done()
				defer close(done)
				lw.mu.Lock()
				lw.cur = newer
				lw.mu.Unlock()
				lw.syncNode()
			}()
			select {
			case <-done:
			case <-time.After(100 * time.Millisecond): // it waits for this one
			}
		}
		mu.Lock()
		last = ls
		mu.Unlock()
	}
	lw.syncNode()
	wg.Wait()
	if want := registeredLocators(newer); !slices.Equal(last, want) || calls != 2 {
		t.Fatalf("node holds %+v after %d hand-overs, want the newest %+v", last, calls, want)
	}
}

// An interface that loses its addresses (OpenWrt's netifd tears the WAN
// down on loss of carrier, the kernel drops IPv6 addresses of a link set
// down, a PPPoE device disappears) keeps its locators, down, in their
// positions: the registered Locator-Set and the locator-status bits of the
// locators after it do not shift. A new address of the family replaces
// the old one.
func TestResolveLocalKeepsLostAddresses(t *testing.T) {
	up := uint32(unix.IFF_UP | unix.IFF_RUNNING)
	a := netip.MustParseAddr
	p := netip.MustParsePrefix
	cfg := []conf.LocalRLOC{
		{Interface: "wan", Priority: 1, Weight: 100},
		{Interface: "pppoe-wan2", Priority: 2, Weight: 100},
		{Interface: "lte", Priority: 3, Weight: 100},
	}
	st := &rtnl.LinkState{
		Links: []rtnl.Link{{Index: 2, Name: "wan", Flags: up}, {Index: 3, Name: "pppoe-wan2", Flags: up}, {Index: 4, Name: "lte", Flags: up}},
		Addrs: []rtnl.IfAddr{
			{Index: 2, Prefix: p("192.0.2.1/24")},
			{Index: 2, Prefix: p("2001:db8::1/64")},
			{Index: 3, Prefix: p("198.51.100.7/32")},
			{Index: 4, Prefix: p("203.0.113.9/24")},
		},
	}
	before := resolveLocal(cfg, st, nil)
	if lsb := statusBits(before); lsb != 0b1111 {
		t.Fatalf("all up: bits %04b", lsb)
	}
	// wan set down: its IPv6 address goes, its IPv4 one stays; the PPPoE
	// device of wan2 disappears.
	st.Links = []rtnl.Link{{Index: 2, Name: "wan", Flags: 0}, {Index: 4, Name: "lte", Flags: up}}
	st.Addrs = []rtnl.IfAddr{{Index: 2, Prefix: p("192.0.2.1/24")}, {Index: 4, Prefix: p("203.0.113.9/24")}}
	got := resolveLocal(cfg, st, before)
	want := []ctl.LocalLocator{
		{Addr: a("192.0.2.1"), Priority: 1, Weight: 100, Down: true, IfIndex: 2},
		{Addr: a("2001:db8::1"), Priority: 1, Weight: 100, Down: true, IfIndex: 2},
		{Addr: a("198.51.100.7"), Priority: 2, Weight: 100, Down: true},
		{Addr: a("203.0.113.9"), Priority: 3, Weight: 100, IfIndex: 4},
	}
	if reg := registeredLocators(got); !slices.Equal(reg, want) {
		t.Fatalf("registered after the losses\n%+v\nwant\n%+v", reg, want)
	}
	if lsb := statusBits(got); lsb != 0b1000 {
		t.Errorf("bits %04b, want 1000: lte keeps bit 3", lsb)
	}
	if got[1].Reason != reasonNoAddr || got[2].Reason != reasonNoIf {
		t.Errorf("reasons %q %q, want %q %q", got[1].Reason, got[2].Reason, reasonNoAddr, reasonNoIf)
	}
	for _, l := range planeLocators(got)[:3] {
		if l.Up {
			t.Errorf("lost locator %v is a source", l.Addr)
		}
	}
	// Still gone at the next notification: still there, down.
	if again := resolveLocal(cfg, st, got); !slices.Equal(again, got) {
		t.Errorf("second resolution %+v, want %+v", again, got)
	}
	// wan2's PPPoE session comes back with a new address: it replaces the
	// old one in its position.
	st.Links = append(st.Links, rtnl.Link{Index: 5, Name: "pppoe-wan2", Flags: up})
	st.Addrs = append(st.Addrs, rtnl.IfAddr{Index: 5, Prefix: p("198.51.100.99/32")})
	got = resolveLocal(cfg, st, got)
	if r := registeredLocators(got); len(r) != 4 || r[2] != (ctl.LocalLocator{Addr: a("198.51.100.99"), Priority: 2, Weight: 100, IfIndex: 5}) {
		t.Errorf("after the new PPPoE address: %+v", r)
	}
}

// fakeWaiter hands the watcher the Wait results of errs, then os.ErrClosed
// once closed.
type fakeWaiter struct {
	errs   chan error
	closed chan struct{}
}

func (f *fakeWaiter) Wait() ([]rtnl.LinkEvent, error) {
	select {
	case err := <-f.errs:
		return nil, err
	case <-f.closed:
		return nil, fmt.Errorf("rtnetlink watcher: %w", os.ErrClosed)
	}
}

func (f *fakeWaiter) Close() error { close(f.closed); return nil }

// A malformed notification (or a failed read) does not end the watcher:
// it re-reads the state and keeps following changes. Only close ends it.
func TestLocalWatchSurvivesWaitError(t *testing.T) {
	plane, err := fwd.New(fwd.Options{}, idleTUN{}, fwd.Sockets{Recv: []fwd.BatchConn{idleConn{}}, Send4: []fwd.BatchConn{idleConn{}}})
	if err != nil {
		t.Fatal(err)
	}
	w := &fakeWaiter{errs: make(chan error, 2), closed: make(chan struct{})}
	w.errs <- errors.New("rtnetlink notification: ifinfomsg: truncated")
	w.errs <- nil // the uplink's address arrives
	st := &rtnl.LinkState{
		Links: []rtnl.Link{{Index: 2, Name: "wan", Flags: unix.IFF_UP | unix.IFF_RUNNING}},
		Addrs: []rtnl.IfAddr{{Index: 2, Prefix: netip.MustParsePrefix("192.0.2.1/24")}},
	}
	lw := &localWatch{
		log: logx.Discard(), cfg: []conf.LocalRLOC{{Interface: "wan", Priority: 1, Weight: 100}}, plane: plane,
		w: w, dump: func() (*rtnl.LinkState, error) { return st, nil },
		quit: make(chan struct{}), done: make(chan struct{}),
	}
	go lw.run()
	deadline := time.Now().Add(10 * time.Second)
	for len(lw.current()) == 0 || !lw.current()[0].Up {
		select {
		case <-lw.done:
			t.Fatal("the watcher stopped at a malformed notification")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the watcher never re-read the state")
		}
		time.Sleep(10 * time.Millisecond)
	}
	lw.close()
	select {
	case <-lw.done:
	default:
		t.Error("close returned with the watcher running")
	}
}

// IPv6 privacy addresses (RFC 8981, IFA_F_TEMPORARY) are no locators: they
// rotate, and each would be a new Locator-Set to register and announce.
// The stable address is; an IPv4 secondary address (the same flag bit)
// still is one.
func TestResolveLocalSkipsTemporary(t *testing.T) {
	up := uint32(unix.IFF_UP | unix.IFF_RUNNING)
	p := netip.MustParsePrefix
	st := &rtnl.LinkState{
		Links: []rtnl.Link{{Index: 2, Name: "wan", Flags: up}},
		Addrs: []rtnl.IfAddr{
			{Index: 2, Prefix: p("192.0.2.1/24")},
			{Index: 2, Prefix: p("192.0.2.7/24"), Flags: unix.IFA_F_SECONDARY},
			{Index: 2, Prefix: p("2001:db8::5c1e:42ff:fe00:1/64"), Flags: unix.IFA_F_TEMPORARY},
			{Index: 2, Prefix: p("2001:db8::1/64"), Flags: unix.IFA_F_MANAGETEMPADDR},
		},
	}
	got := registeredLocators(resolveLocal([]conf.LocalRLOC{{Interface: "wan", Priority: 1, Weight: 100}}, st, nil))
	var addrs []netip.Addr
	for _, l := range got {
		addrs = append(addrs, l.Addr)
	}
	want := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("2001:db8::1")}
	if !slices.Equal(addrs, want) {
		t.Errorf("locators %v, want %v", addrs, want)
	}
}

// A reload compares the running node's xTR-ID with the one that will
// register afterwards, to withdraw what the old one registered: an
// uplink's address that changed since the node started (DHCP) must not
// make a reload that keeps the node withdraw every EID prefix of the site
// (the running node would then stay unregistered until its next periodic
// Map-Register). A restarted node takes the watcher's current locators.
func TestReloadNextXTRID(t *testing.T) {
	a := netip.MustParseAddr
	started, now := a("192.0.2.1"), a("192.0.2.99")
	adapter, _ := testAdapter(t)
	n, err := ctl.New(ctl.Options{Logger: logx.Discard(), XTR: &ctl.XTROptions{
		EIDPrefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/25")},
		RLOCs:       []ctl.LocalLocator{{Addr: started, Priority: 1, Weight: 100}},
	}}, adapter)
	if err != nil {
		t.Fatal(err)
	}
	cfg := func(interval time.Duration) *conf.Config {
		return &conf.Config{XTR: &conf.XTR{
			EIDPrefixes:      []netip.Prefix{netip.MustParsePrefix("198.51.100.0/25")},
			RLOCs:            []conf.LocalRLOC{{Interface: "lispd-nosuch0", Priority: 1, Weight: 100}},
			RegisterInterval: conf.Duration{Duration: interval},
		}}
	}
	d := &daemon{node: n, xtr: &xtrPlane{rlocs: []localRLOC{{Interface: "lispd-nosuch0", Addr: now, Priority: 1, Weight: 100}}}}
	if got := d.nextXTRID(cfg(time.Minute), cfg(time.Minute)); got != n.XTRID() {
		t.Error("unchanged configuration: the running node keeps its xTR-ID, nothing to withdraw")
	}
	want := ctl.DeriveXTRID(0, []ctl.LocalLocator{{Addr: now, Priority: 1, Weight: 100}})
	if got := d.nextXTRID(cfg(time.Minute), cfg(30*time.Second)); got != want {
		t.Error("control-plane keys changed: the new node's xTR-ID is derived from the locators of now")
	}
}

// The only locator of a family leaves by the route (its address may be on
// an interface packets do not leave by, a routed subnet on br-lan); with
// two or more, each is forced out of its own interface.
func TestPlaneLocatorsForcedInterface(t *testing.T) {
	a := netip.MustParseAddr
	ls := []localRLOC{
		{Addr: a("192.0.2.1"), IfIndex: 5, Priority: 1, Weight: 100, Up: true}, // on br-lan
		{Addr: a("2001:db8::1"), IfIndex: 2, Priority: 1, Weight: 50, Up: true},
		{Addr: a("2001:db8:2::1"), IfIndex: 3, Priority: 1, Weight: 50, Up: true},
	}
	pl := planeLocators(ls)
	if len(pl) != 3 || pl[0].IfIndex != 0 || pl[1].IfIndex != 2 || pl[2].IfIndex != 3 {
		t.Errorf("plane locators %+v: want the lone IPv4 one unforced, the two IPv6 ones on 2 and 3", pl)
	}
}
