package e2e

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/admin"
	"github.com/lispd/lispd/testing/lab"
)

// Record TTLs the xTRs register and reply with in TestControlResolution:
// distinctive, and different per site, so that a map-cache entry shows
// which TTL it got.
const (
	recordTTL1 = 11 * time.Minute
	recordTTL2 = 7 * time.Minute
)

// TestControlResolution runs host A — xTR1 — core(ms) — xTR2 — host B with
// no static mappings: the xTRs register their sites with the Map-Server
// and resolve each other through the Map-Resolver.
//
//   - FirstPing: on a fresh map-cache, the very first echo request (ping -c
//     1 -W 3) is answered, over IPv4 and over IPv6 EIDs. Both directions
//     need a resolution (xTR1 resolves site 2, xTR2 resolves site 1 for the
//     reply), so both ITRs must hold the packet while they resolve.
//     xTR2's ETR, with the default decap_filter = "known", holds the
//     request too (site 1's RLOC is not known to it before it resolves
//     site 1), so the first ping also proves the ETR does not lose it.
//   - MapServerListsSites: the Map-Server lists both sites' four prefixes,
//     each registered by its xTR's RLOC with an xTR-ID.
//   - MapCacheTTL: xTR1's map-cache holds site 2's prefixes, learned with
//     the TTL xTR2 sends (7 min), and xTR2's holds site 1's with 11 min.
func TestControlResolution(t *testing.T) {
	s := startControl(t, ctlOptions{
		x1: lab.XTRConfig{Extra: fmt.Sprintf("record_ttl = %q", recordTTL1)},
		x2: lab.XTRConfig{Extra: fmt.Sprintf("record_ttl = %q", recordTTL2)},
	})
	took := waitRegistered(t, s.X1, s.X2)
	t.Logf("both xTRs registered %v after they came up", took.Round(time.Millisecond))

	t.Run("FirstPing", func(t *testing.T) {
		for _, c := range []struct {
			name      string
			dst, back netip.Addr
		}{{"IPv4", lab.HostB4, lab.HostA4}, {"IPv6", lab.HostB6, lab.HostA6}} {
			t.Run(c.name, func(t *testing.T) {
				// Fresh: neither ITR has a mapping for the other side yet
				// (checked when the control socket answers).
				var mc admin.MapCache
				if err := tryShow(s.X1, &mc, "map-cache", c.dst.String()); err == nil && len(mc.Entries) > 0 {
					t.Fatalf("premise: xTR1's map-cache already covers %s: %+v", c.dst, mc.Entries[0])
				}
				start := time.Now()
				out, _, recv := ping(t, s.A, c.dst, "-c", "1", "-W", "3")
				if recv != 1 {
					t.Errorf("the first echo request to %s on a fresh map-cache got no reply (first-packet loss: "+
						"the ITRs must hold packets while they resolve):\n%s", c.dst, out)
				} else {
					t.Logf("first ping to %s answered in %v (two resolutions included)", c.dst, time.Since(start).Round(time.Millisecond))
				}
				// Whatever happened to the first packet, resolution itself
				// must work, both ways.
				d := reachable(t, s.A, c.dst, 10*time.Second)
				t.Logf("%s reachable %v after the first ping's end", c.dst, d.Round(time.Millisecond))
				reachable(t, s.B, c.back, 10*time.Second)
			})
		}
	})

	t.Run("MapServerListsSites", func(t *testing.T) {
		var r admin.Registrations
		show(t, s.MS, &r, "registrations")
		if r.XTR != nil {
			t.Errorf("the Map-Server (no xTR role) lists Map-Servers of its own: %+v", r.XTR)
		}
		xtrIDs := map[string]string{}
		for _, c := range []struct {
			site     string
			prefixes []netip.Prefix
			rloc     netip.Addr
		}{
			{"site1", []netip.Prefix{lab.Site1v4, lab.Site1v6}, s.RLOC1v4},
			{"site2", []netip.Prefix{lab.Site2v4, lab.Site2v6}, s.RLOC2v4},
		} {
			st := site(t, &r, c.site)
			for _, p := range c.prefixes {
				i := slices.IndexFunc(st.Registrations, func(g admin.Registration) bool { return g.EID == p })
				if i < 0 {
					t.Errorf("%s: %s not registered (registrations: %+v)", c.site, p, st.Registrations)
					continue
				}
				g := st.Registrations[i]
				if g.Source.Addr() != c.rloc {
					t.Errorf("%s %s: registered from %s, want %s", c.site, p, g.Source, c.rloc)
				}
				if len(g.RLOCs) != 1 || g.RLOCs[0].Address != c.rloc || !g.RLOCs[0].Reachable {
					t.Errorf("%s %s: RLOCs %+v, want exactly %s, reachable", c.site, p, g.RLOCs, c.rloc)
				}
				if g.XTRID == "" {
					t.Errorf("%s %s: no xTR-ID", c.site, p)
				}
				if g.ExpiresIn <= 0 || g.ExpiresIn > int64(registrationTimeout/time.Second) {
					t.Errorf("%s %s: expires in %d s, want within registration_timeout (%s)", c.site, p, g.ExpiresIn, registrationTimeout)
				}
				xtrIDs[c.site] = g.XTRID
			}
			if len(st.Registrations) != len(c.prefixes) {
				t.Errorf("%s: %d registrations, want %d: %+v", c.site, len(st.Registrations), len(c.prefixes), st.Registrations)
			}
		}
		if xtrIDs["site1"] != "" && xtrIDs["site1"] == xtrIDs["site2"] {
			t.Errorf("both xTRs registered with the same xTR-ID %s", xtrIDs["site1"])
		}
	})

	t.Run("MapCacheTTL", func(t *testing.T) {
		for _, c := range []struct {
			xtr    string
			eid    netip.Addr
			prefix netip.Prefix
			rloc   netip.Addr
			ttl    time.Duration
		}{
			{"xtr1", lab.HostB4, lab.Site2v4, s.RLOC2v4, recordTTL2},
			{"xtr1", lab.HostB6, lab.Site2v6, s.RLOC2v4, recordTTL2},
			{"xtr2", lab.HostA4, lab.Site1v4, s.RLOC1v4, recordTTL1},
		} {
			d := s.X1
			if c.xtr == "xtr2" {
				d = s.X2
			}
			e, ok := mapCacheEntry(t, d, c.eid)
			if !ok {
				t.Errorf("%s: no map-cache entry covers %s", c.xtr, c.eid)
				continue
			}
			want := int64(c.ttl / time.Second)
			switch {
			case e.EIDPrefix != c.prefix:
				t.Errorf("%s: entry for %s is %s, want the registered prefix %s", c.xtr, c.eid, e.EIDPrefix, c.prefix)
			case e.State != admin.StateComplete || e.Origin != admin.OriginLearned:
				t.Errorf("%s %s: state %q origin %q, want complete/learned", c.xtr, c.prefix, e.State, e.Origin)
			case e.TTL != want:
				t.Errorf("%s %s: TTL %d s, want the %d s the ETR sent", c.xtr, c.prefix, e.TTL, want)
			case e.ExpiresIn == nil || *e.ExpiresIn > want || *e.ExpiresIn < want-60:
				t.Errorf("%s %s: expires in %v s, want about %d s", c.xtr, c.prefix, e.ExpiresIn, want)
			case !hasRLOC(e, c.rloc) || len(e.RLOCs) != 1:
				t.Errorf("%s %s: RLOCs %+v, want exactly %s", c.xtr, c.prefix, e.RLOCs, c.rloc)
			}
		}
	})
}
