package main

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl"
	"github.com/lispd/lispd/fwd"
	"github.com/lispd/lispd/fwd/netio"
)

// idleTUN and idleConn let a fwd.Plane be built without running it: the
// adapter only touches its map-cache.
type idleTUN struct{}

func (idleTUN) Read([][]byte, []int, int) (int, error) { return 0, errors.New("idle") }
func (idleTUN) Write([][]byte, int) (int, error)       { return 0, errors.New("idle") }
func (idleTUN) MTU() int                               { return 1500 }
func (idleTUN) Close() error                           { return nil }

type idleConn struct{}

func (idleConn) ReadBatch([]netio.Message) (int, error)  { return 0, errors.New("idle") }
func (idleConn) WriteBatch([]netio.Message) (int, error) { return 0, errors.New("idle") }
func (idleConn) Close() error                            { return nil }

func testAdapter(t *testing.T) (cacheAdapter, *fwd.MapCache) {
	t.Helper()
	p, err := fwd.New(fwd.Options{}, idleTUN{}, fwd.Sockets{Recv: []fwd.BatchConn{idleConn{}}, Send4: []fwd.BatchConn{idleConn{}}})
	if err != nil {
		t.Fatal(err)
	}
	return cacheAdapter{p}, p.MapCache()
}

// The adapter carries what RLOC probing finds into fwd's map-cache: up or
// down (with the reason), the RTT, and only for learned entries in use.
func TestAdapterLocatorState(t *testing.T) {
	a, cache := testAdapter(t)
	pfx := netip.MustParsePrefix("198.51.100.128/25")
	r1, r2 := netip.MustParseAddr("192.0.2.11"), netip.MustParseAddr("192.0.2.1")
	m := ctl.Mapping{Prefix: pfx, TTL: time.Hour, Locators: []ctl.Locator{
		{Addr: r1, Priority: 1, Weight: 100, Reachable: true},
		{Addr: r2, Priority: 2, Weight: 100, Reachable: false}, // R bit clear
	}}
	if err := a.Install(m); err != nil {
		t.Fatal(err)
	}
	fm, _ := cache.Get(0, pfx)
	if fm.RLOCs[1].Up() || fm.RLOCs[1].Reason() != ctl.ReasonRBitClear {
		t.Fatalf("R-bit-clear locator: up %v reason %q", fm.RLOCs[1].Up(), fm.RLOCs[1].Reason())
	}
	// A static entry is never probed; a learned one installed now is in use.
	if _, err := cache.Insert(fwd.MappingSpec{Prefix: netip.MustParsePrefix("203.0.113.0/24"), Static: true,
		RLOCs: []fwd.RLOCSpec{{Addr: r1, Priority: 1, Weight: 100}}}); err != nil {
		t.Fatal(err)
	}
	in := a.InUse(time.Now().Add(-time.Minute))
	if len(in) != 1 || in[0].Prefix != pfx || len(in[0].Locators) != 2 || !in[0].Locators[0].Reachable || in[0].Locators[1].Reachable {
		t.Fatalf("InUse = %+v", in)
	}
	if got := a.InUse(time.Now().Add(time.Hour)); len(got) != 0 {
		t.Fatalf("InUse(future) = %+v, want none", got)
	}

	a.SetLocatorState(0, pfx, r1, ctl.LocatorState{Up: false, Reason: ctl.ReasonProbeTimeout})
	a.SetLocatorState(0, pfx, r2, ctl.LocatorState{Up: true, Reason: ctl.ReasonProbeReply, RTT: 3 * time.Millisecond})
	if fm.RLOCs[0].Up() || fm.RLOCs[0].Reason() != ctl.ReasonProbeTimeout {
		t.Errorf("P1: up %v reason %q", fm.RLOCs[0].Up(), fm.RLOCs[0].Reason())
	}
	if r := fm.RLOC(0); r == nil || r.Addr.Addr() != r2 {
		t.Errorf("traffic goes to %v, want the priority-2 locator %v", r, r2)
	}
	if fm.RLOCs[1].RTT() != 3*time.Millisecond || fm.RLOCs[1].Reason() != ctl.ReasonProbeReply {
		t.Errorf("P2: rtt %v reason %q", fm.RLOCs[1].RTT(), fm.RLOCs[1].Reason())
	}
	a.SetLocatorState(0, netip.MustParsePrefix("192.0.2.0/24"), r1, ctl.LocatorState{Up: true}) // no such entry: ignored

	// A renewal keeps the round trip learned; the prober passes down a
	// locator it knows down, with its reason.
	m.Locators[1].Reachable = true
	m.Locators[0].Reachable, m.Locators[0].Reason = false, ctl.ReasonProbeTimeout
	if err := a.Install(m); err != nil {
		t.Fatal(err)
	}
	nm, _ := cache.Get(0, pfx)
	if nm == fm || nm.RLOCs[1].RTT() != 3*time.Millisecond || nm.RLOCs[0].Up() || nm.RLOCs[0].Reason() != ctl.ReasonProbeTimeout {
		t.Errorf("after renewal: P1 up %v reason %q, P2 rtt %v", nm.RLOCs[0].Up(), nm.RLOCs[0].Reason(), nm.RLOCs[1].RTT())
	}
}

// Received locator-status bits name locators by their position in the
// record the ETR sent (RFC 9300 section 10), not by their index in the
// map-cache entry: with the record's first locator left out (an encoding
// the control plane cannot use), bit 2 going down is the entry's second
// locator, and the probe goes to it, not to another one.
func TestLSBClearedNamesRecordPosition(t *testing.T) {
	a, cache := testAdapter(t)
	pfx := netip.MustParsePrefix("198.51.100.128/25")
	r2, r3 := netip.MustParseAddr("192.0.2.12"), netip.MustParseAddr("192.0.2.13")
	m := ctl.Mapping{Prefix: pfx, TTL: time.Hour, Locators: []ctl.Locator{
		{Addr: r2, Priority: 1, Weight: 50, Reachable: true, Position: 2},
		{Addr: r3, Priority: 1, Weight: 50, Reachable: true, Position: 3},
	}}
	if err := a.Install(m); err != nil {
		t.Fatal(err)
	}
	fm, _ := cache.Get(0, pfx)
	tests := []struct {
		name     string
		old, new uint32
		want     []netip.Addr
	}{
		{"third of the record down", 0b111, 0b011, []netip.Addr{r3}},
		{"second of the record down", 0b111, 0b101, []netip.Addr{r2}},
		{"unusable first down", 0b111, 0b110, nil},
		{"both down", 0b111, 0b001, []netip.Addr{r2, r3}},
		{"nothing cleared", 0b011, 0b111, nil},
	}
	for _, tt := range tests {
		if got := clearedLocators(fm, tt.old, tt.new); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %03b → %03b probes %v, want %v", tt.name, tt.old, tt.new, got, tt.want)
		}
	}
	// Locators not from a record (static): their index.
	st, err := cache.Insert(fwd.MappingSpec{Prefix: netip.MustParsePrefix("203.0.113.0/24"), Static: true,
		RLOCs: []fwd.RLOCSpec{{Addr: r2, Priority: 1, Weight: 50}, {Addr: r3, Priority: 1, Weight: 50}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := clearedLocators(st, 0b11, 0b01); !slices.Equal(got, []netip.Addr{r3}) {
		t.Errorf("static entry: bit 1 down probes %v, want [%v]", got, r3)
	}
}
