package ctl

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lispd/lispd/internal/logx"
)

// fakeDataPlane is a DataPlane test double: it records installs and failed
// resolutions and answers Lookup from what was installed (plus entries a
// test adds).
type fakeDataPlane struct {
	mu       sync.Mutex
	installs []Mapping
	failed   []eidKey
	entries  map[regKey]CacheEntry
	hot      map[netip.Prefix]bool // Lookup reports these as used just now
	changed  chan struct{}
	// states records SetLocatorState calls, in order.
	states []locatorUpdate
}

// locatorUpdate is one SetLocatorState call.
type locatorUpdate struct {
	key  regKey
	rloc netip.Addr
	st   LocatorState
}

func newFakeDataPlane() *fakeDataPlane {
	return &fakeDataPlane{entries: map[regKey]CacheEntry{}, hot: map[netip.Prefix]bool{}, changed: make(chan struct{}, 1)}
}

func (f *fakeDataPlane) signal() {
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

func (f *fakeDataPlane) Install(m Mapping) error {
	f.mu.Lock()
	f.installs = append(f.installs, m)
	f.entries[regKey{m.InstanceID, m.Prefix}] = CacheEntry{InstanceID: m.InstanceID, Prefix: m.Prefix, Negative: m.Negative, LastUsed: time.Now()}
	f.mu.Unlock()
	f.signal()
	return nil
}

func (f *fakeDataPlane) ResolveFailed(iid uint32, dst netip.Addr) {
	f.mu.Lock()
	f.failed = append(f.failed, eidKey{iid, dst})
	f.mu.Unlock()
	f.signal()
}

func (f *fakeDataPlane) Lookup(iid uint32, eid netip.Addr) (CacheEntry, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var best CacheEntry
	found := false
	for k, e := range f.entries {
		if k.iid == iid && k.prefix.Contains(eid) && (!found || k.prefix.Bits() > best.Prefix.Bits()) {
			best, found = e, true
		}
	}
	if found && f.hot[best.Prefix] {
		best.LastUsed = time.Now()
	}
	return best, found
}

// InUse returns the entries with locators (those a test added with add,
// or installed with locators by a test that set them) used since since.
func (f *fakeDataPlane) InUse(since time.Time) []CacheEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []CacheEntry
	for _, e := range f.entries {
		if e.Negative || e.Static || len(e.Locators) == 0 {
			continue
		}
		if f.hot[e.Prefix] {
			e.LastUsed = time.Now()
		}
		if !e.LastUsed.Before(since) {
			e.Locators = append([]Locator(nil), e.Locators...)
			out = append(out, e)
		}
	}
	return out
}

// SetLocatorState records the call and applies it to the entry's locator.
func (f *fakeDataPlane) SetLocatorState(iid uint32, prefix netip.Prefix, rloc netip.Addr, st LocatorState) {
	f.mu.Lock()
	k := regKey{iid, prefix}
	f.states = append(f.states, locatorUpdate{k, rloc, st})
	if e, ok := f.entries[k]; ok {
		for i := range e.Locators {
			if e.Locators[i].Addr == rloc {
				e.Locators[i].Reachable = st.Up
			}
		}
	}
	f.mu.Unlock()
	f.signal()
}

// locatorStates returns the SetLocatorState calls so far.
func (f *fakeDataPlane) locatorStates() []locatorUpdate {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]locatorUpdate(nil), f.states...)
}

// setHot makes InUse and Lookup report prefix as used just now (or not).
func (f *fakeDataPlane) setHot(p netip.Prefix, hot bool) {
	f.mu.Lock()
	f.hot[p] = hot
	f.mu.Unlock()
}

func (f *fakeDataPlane) add(e CacheEntry) {
	f.mu.Lock()
	f.entries[regKey{e.InstanceID, e.Prefix}] = e
	f.mu.Unlock()
}

func (f *fakeDataPlane) snapshot() ([]Mapping, []eidKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Mapping(nil), f.installs...), append([]eidKey(nil), f.failed...)
}

// eventually polls cond until it holds or the generous deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testLogger discards logs unless -v.
func testLogger(t *testing.T) *logx.Logger {
	if testing.Verbose() {
		return logx.New(os.Stderr, logx.Options{Level: logx.LevelDebug})
	}
	return logx.Discard()
}

// portSeq spreads tests over loopback networks so concurrent tests (and
// other packages' tests) do not collide: each test gets 127.<n>.0.0/16.
var portSeq atomic.Uint32

// testNet is a per-test loopback network: distinct 127.a.b.c addresses that
// all use one control port, found free on the first address.
type testNet struct {
	t    *testing.T
	net  byte
	port uint16
}

func newTestNet(t *testing.T) *testNet {
	t.Helper()
	n := byte(10 + portSeq.Add(1)%200)
	tn := &testNet{t: t, net: n}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, n, 0, 1)})
	if err != nil {
		t.Fatalf("probe port: %v", err)
	}
	tn.port = uint16(c.LocalAddr().(*net.UDPAddr).Port)
	c.Close()
	return tn
}

// addr returns 127.<net>.0.<host>.
func (tn *testNet) addr(host byte) netip.Addr { return netip.AddrFrom4([4]byte{127, tn.net, 0, host}) }

// start builds and starts a node listening on addrs; it is closed at cleanup.
func (tn *testNet) start(opts Options, dp DataPlane, addrs ...netip.Addr) *Node {
	tn.t.Helper()
	opts.Port = tn.port
	opts.Listen = addrs
	opts.Logger = testLogger(tn.t)
	if dp == nil && opts.XTR != nil {
		dp = newFakeDataPlane()
	}
	n, err := New(opts, dp)
	if err != nil {
		tn.t.Fatalf("New: %v", err)
	}
	if err := n.Start(context.Background()); err != nil {
		tn.t.Fatalf("Start: %v", err)
	}
	tn.t.Cleanup(func() { n.Close() })
	return n
}

// peer is a raw UDP socket a test speaks LISP through.
type peer struct {
	t *testing.T
	c *net.UDPConn
}

func (tn *testNet) peer(a netip.Addr, port uint16) *peer {
	tn.t.Helper()
	network := "udp4"
	if a.Is6() {
		network = "udp6"
	}
	c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, port)))
	if err != nil {
		tn.t.Fatalf("peer listen %v:%d: %v", a, port, err)
	}
	tn.t.Cleanup(func() { c.Close() })
	return &peer{t: tn.t, c: c}
}

func (p *peer) addr() netip.AddrPort { return p.c.LocalAddr().(*net.UDPAddr).AddrPort() }

func (p *peer) send(to netip.AddrPort, b []byte) {
	p.t.Helper()
	if _, err := p.c.WriteToUDPAddrPort(b, to); err != nil {
		p.t.Fatalf("send to %v: %v", to, err)
	}
}

// recv returns the next datagram, or nil after d.
func (p *peer) recv(d time.Duration) ([]byte, netip.AddrPort) {
	p.t.Helper()
	buf := make([]byte, 65535)
	p.c.SetReadDeadline(time.Now().Add(d))
	n, from, err := p.c.ReadFromUDPAddrPort(buf)
	if err != nil {
		return nil, netip.AddrPort{}
	}
	return buf[:n], from
}

// vector is a control-plane test vector from testdata/vectors.json (copied
// from the project's shared vectors).
type vector struct {
	Name    string `json:"name"`
	Payload string `json:"udp_payload_hex"`
	HMAC    string `json:"hmac_hex"`
	Notes   string `json:"notes"`
}

type vectorFile struct {
	Key      string   `json:"key"`
	Positive []vector `json:"positive"`
	Negative []vector `json:"negative"`
}

func loadVectors(t testing.TB) vectorFile {
	t.Helper()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatalf("read vectors: %v", err)
	}
	var vf vectorFile
	if err := json.Unmarshal(b, &vf); err != nil {
		t.Fatalf("parse vectors: %v", err)
	}
	return vf
}

func (vf vectorFile) bytes(t testing.TB, name string) []byte {
	t.Helper()
	for _, v := range append(vf.Positive, vf.Negative...) {
		if v.Name == name {
			b, err := hex.DecodeString(v.Payload)
			if err != nil {
				t.Fatalf("vector %s: %v", name, err)
			}
			return b
		}
	}
	t.Fatalf("no vector %s", name)
	return nil
}
