package main

import (
	"net/netip"
	"testing"

	"github.com/lispd/lispd/conf"
	"github.com/lispd/lispd/fwd"
	"github.com/lispd/lispd/fwd/netio"
	"github.com/lispd/lispd/internal/logx"
)

// nullTUN is a TUN that never delivers a packet and discards writes.
type nullTUN struct{}

func (nullTUN) Read([][]byte, []int, int) (int, error) { select {} }
func (nullTUN) Write(b [][]byte, _ int) (int, error)   { return len(b), nil }
func (nullTUN) MTU() int                               { return 1400 }
func (nullTUN) Close() error                           { return nil }

// nullConn is a socket that sends nothing anywhere.
type nullConn struct{}

func (nullConn) ReadBatch([]netio.Message) (int, error)    { select {} }
func (nullConn) WriteBatch(m []netio.Message) (int, error) { return len(m), nil }
func (nullConn) Close() error                              { return nil }

// A static configuration the map-cache cannot take (more static entries
// than its limit) is refused, and the entries inserted before the failure
// are taken out again: the rollback to the old configuration, which knows
// only the old static set, leaves the map-cache as it was.
func TestApplyStaticFailureLeavesNoOrphans(t *testing.T) {
	p, err := fwd.New(fwd.Options{MapCacheLimit: 2}, nullTUN{}, fwd.Sockets{Recv: []fwd.BatchConn{nullConn{}}, Send4: []fwd.BatchConn{nullConn{}}})
	if err != nil {
		t.Fatal(err)
	}
	x := &xtrPlane{log: logx.Discard(), plane: p}
	static := func(prefixes ...string) *conf.XTR {
		c := &conf.XTR{}
		for _, s := range prefixes {
			c.MapCache = append(c.MapCache, conf.StaticMapping{EIDPrefix: netip.MustParsePrefix(s),
				RLOCs: []conf.Locator{{Address: netip.MustParseAddr("192.0.2.7"), Priority: 1, Weight: 100}}})
		}
		return c
	}
	old := static("198.51.100.0/28")
	if err := x.applyStatic(old); err != nil {
		t.Fatal(err)
	}
	if err := x.applyStatic(static("198.51.100.0/28", "198.51.100.16/28", "198.51.100.32/28")); err == nil {
		t.Fatal("three static entries in a cache of two were taken")
	}
	if err := x.applyStatic(old); err != nil {
		t.Fatal(err)
	}
	var got []netip.Prefix
	p.MapCache().Walk(func(m *fwd.Mapping) bool { got = append(got, m.Prefix); return true })
	if len(got) != 1 || got[0] != netip.MustParsePrefix("198.51.100.0/28") {
		t.Errorf("map-cache after the failed reload and the rollback: %v, want only 198.51.100.0/28", got)
	}
}
