package ctl

import (
	"encoding/hex"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/lispd/lispd/internal/logx"
)

// discardTransport swallows what the node sends (fuzzed messages must not
// make a test send to addresses taken from random bytes).
type discardTransport struct{ sent atomic.Uint64 }

func (d *discardTransport) send(netip.Addr, netip.AddrPort, []byte) error {
	d.sent.Add(1)
	return nil
}
func (d *discardTransport) families() (bool, bool) { return true, true }

// fuzzNode is a node with every role configured, not bound to any socket.
func fuzzNode(tb testing.TB) *Node {
	tb.Helper()
	opts := Options{
		Logger: logx.Discard(),
		XTR: &XTROptions{
			EIDPrefixes:  prefixes("10.1.0.0/24", "2001:db8:1::/48"),
			RLOCs:        []LocalLocator{{Addr: netip.MustParseAddr("192.0.2.1"), Priority: 1, Weight: 100}},
			MapResolvers: []netip.Addr{netip.MustParseAddr("203.0.113.10")},
			MapServers:   []MapServerPeer{{Addr: netip.MustParseAddr("203.0.113.10"), Key: "secret", KeyType: KeySHA256, WantMapNotify: true}},
		},
		MapServer: &MapServerOptions{Sites: []SiteOptions{
			{Name: "a", Key: "secret", KeyType: KeySHA256, EIDPrefixes: prefixes("10.1.0.0/16")},
			{Name: "b", Key: "secret", KeyType: KeySHA1, InstanceID: 1000, EIDPrefixes: prefixes("10.1.0.0/16")},
		}},
	}
	n, err := New(opts, newFakeDataPlane())
	if err != nil {
		tb.Fatal(err)
	}
	n.tx = &discardTransport{}
	return n
}

// FuzzHandle feeds random datagrams to the dispatcher: whatever arrives,
// the node never panics (and, under -race, never races).
func FuzzHandle(f *testing.F) {
	vf := loadVectors(f)
	for _, v := range append(vf.Positive, vf.Negative...) {
		b, err := hex.DecodeString(v.Payload)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x80})
	f.Add([]byte{0x10, 0, 0, 0})
	n := fuzzNode(f)
	from := netip.MustParseAddrPort("198.51.100.1:4342")
	f.Fuzz(func(t *testing.T, b []byte) {
		n.handle(b, from)
	})
}

// The dispatcher handles every vector and counts what it drops.
func TestHandleVectors(t *testing.T) {
	vf := loadVectors(t)
	n := fuzzNode(t)
	from := netip.MustParseAddrPort("198.51.100.1:4342")
	for _, v := range append(vf.Positive, vf.Negative...) {
		b, _ := hex.DecodeString(v.Payload)
		n.handle(b, from)
	}
	s := n.Stats()
	// The ECM for 10.1.0.5 (our EID) was answered, the SHA-256 Map-Registers
	// accepted (site a), the SHA-1 one refused (site b is in instance 1000),
	// the truncated Map-Reply is malformed.
	if s.RegistrationsAccepted == 0 || s.Drops["bad-auth"] == 0 || s.Drops["malformed"] == 0 || s.In["Encapsulated-Control-Message"] != 1 {
		t.Errorf("stats %+v", s)
	}
	if got := n.tx.(*discardTransport).sent.Load(); got == 0 {
		t.Error("nothing answered")
	}
	if regs := n.Registrations(); len(regs.Registrations) != 1 || regs.Registrations[0].Prefix != netip.MustParsePrefix("10.1.0.0/24") {
		t.Errorf("registrations %+v", regs.Registrations)
	}
}
