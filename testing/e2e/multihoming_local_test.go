package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/admin"
	"github.com/lispd/lispd/testing/lab"
	"github.com/lispd/lispd/testing/netns"
)

// Multihoming end-to-end, local side (issue 7): xTR1's own uplinks change.
// xTR1 has two uplinks to the core bridge, wan2 with RLOC P1 (192.0.2.11)
// and wan with RLOC P2 (192.0.2.1). xTR1 sees its links over rtnetlink;
// on a change it re-registers at once and, once the Map-Server confirms,
// sends Solicit-Map-Requests to the ITRs that sent it traffic (xTR2), which
// re-resolve. Traffic is counted per uplink inside xTR1's namespace with
// nftables counters on the LISP data port.

// uplinkTable is the nftables table of the per-uplink counters in xTR1.
const uplinkTable = "lispd_uplinks"

// uplinkCounters counts LISP data packets per uplink of a host: rx_IF
// (received on IF, to port 4341) and tx_IF (sent out IF, to port 4341).
type uplinkCounters struct {
	h      *netns.Host
	ifaces []string
	// links counts every packet of the interfaces (ip -s link) instead:
	// with the kernel path, LISP packets bypass the nftables hooks (the
	// eBPF programs redirect them at the interfaces' TC hooks).
	links bool
}

// countUplinks installs the counters in h for the interfaces given.
func countUplinks(t *testing.T, h *netns.Host, ifaces ...string) *uplinkCounters {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmds := [][]string{
		{"nft", "add", "table", "inet", uplinkTable},
		{"nft", "add", "chain", "inet", uplinkTable, "in", "{ type filter hook input priority 0 ; policy accept ; }"},
		{"nft", "add", "chain", "inet", uplinkTable, "out", "{ type filter hook output priority 0 ; policy accept ; }"},
	}
	for _, i := range ifaces {
		cmds = append(cmds,
			[]string{"nft", "add", "counter", "inet", uplinkTable, "rx_" + i},
			[]string{"nft", "add", "counter", "inet", uplinkTable, "tx_" + i},
			[]string{"nft", "add", "rule", "inet", uplinkTable, "in", "iifname", i, "udp", "dport", strconv.Itoa(dataPort), "counter", "name", "rx_" + i},
			[]string{"nft", "add", "rule", "inet", uplinkTable, "out", "oifname", i, "udp", "dport", strconv.Itoa(dataPort), "counter", "name", "tx_" + i},
		)
	}
	for _, argv := range cmds {
		if err := h.Run(ctx, argv...); err != nil {
			t.Fatalf("uplink counters in %s: %v", h, err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h.Run(ctx, "nft", "delete", "table", "inet", uplinkTable)
	})
	return &uplinkCounters{h: h, ifaces: ifaces}
}

var nftPackets = regexp.MustCompile(`packets (\d+)`)

// get returns the packets of counter name (rx_IF or tx_IF).
func (u *uplinkCounters) get(t *testing.T, name string) uint64 {
	t.Helper()
	if u.links {
		return u.getLink(t, name)
	}
	return u.getIn(t, uplinkTable, name)
}

var linkPackets = regexp.MustCompile(`"(rx|tx)":\{"bytes":\d+,"packets":(\d+)`)

// getLink returns the packets the interface of counter name (rx_IF or
// tx_IF) received or sent, from its link statistics.
func (u *uplinkCounters) getLink(t *testing.T, name string) uint64 {
	t.Helper()
	dir, ifname, _ := strings.Cut(name, "_")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := u.h.Output(ctx, "ip", "-s", "-j", "link", "show", "dev", ifname)
	if err != nil {
		t.Fatalf("ip -s link show %s: %v", ifname, err)
	}
	for _, m := range linkPackets.FindAllStringSubmatch(out, -1) {
		if m[1] == dir {
			n, _ := strconv.ParseUint(m[2], 10, 64)
			return n
		}
	}
	t.Fatalf("ip -s link show %s: no %s packet count in %q", ifname, dir, out)
	return 0
}

// getIn returns the packets of counter name of the table given.
func (u *uplinkCounters) getIn(t *testing.T, table, name string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := u.h.Output(ctx, "nft", "list", "counter", "inet", table, name)
	if err != nil {
		t.Fatalf("nft list counter %s: %v", name, err)
	}
	m := nftPackets.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("nft list counter %s: no packet count in %q", name, out)
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

// snapshot returns every counter.
func (u *uplinkCounters) snapshot(t *testing.T) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for _, i := range u.ifaces {
		out["rx_"+i] = u.get(t, "rx_"+i)
		out["tx_"+i] = u.get(t, "tx_"+i)
	}
	return out
}

// delta returns b - a per counter.
func delta(a, b map[string]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for k, v := range b {
		out[k] = v - a[k]
	}
	return out
}

// carries checks one second of LISP data at the host: both directions on
// uplink want (at least 50 packets each way), at most maxOther packets
// each way on uplink other. phase names the moment in messages.
func (u *uplinkCounters) carries(t *testing.T, phase, want, other string, maxOther uint64) {
	t.Helper()
	c0 := u.snapshot(t)
	time.Sleep(time.Second)
	d := delta(c0, u.snapshot(t))
	t.Logf("%s, 1 s of LISP data at %s: %v", phase, u.h, d)
	if u.links {
		maxOther += 20 // probes, registrations, ARP: every packet counts
	}
	if d["tx_"+want] < 50 || d["rx_"+want] < 50 || d["tx_"+other] > maxOther || d["rx_"+other] > maxOther {
		t.Errorf("%s: both directions should use uplink %s, at most %d packets on %s: %v", phase, want, maxOther, other, d)
	}
}

// checkOutages measures the longest loss of flows ba and ab since their
// marks, logs it for event and fails when either is over outageBound.
func checkOutages(t *testing.T, event string, ba, ab *seqFlow, baMark, abMark int) {
	t.Helper()
	baOut, baLost := ba.outage(baMark)
	abOut, abLost := ab.outage(abMark)
	t.Logf("%s: B → A outage %v (%d lost), A → B outage %v (%d lost), interval %v", event, baOut, baLost, abOut, abLost, flowInterval)
	if baOut > outageBound || abOut > outageBound {
		t.Errorf("%s: outages B → A %v, A → B %v, want within %v (target ~1 s)", event, baOut, abOut, outageBound)
	}
}

// mhLab is a running multihomed lab: the Map-Server, xTR1 with its second
// uplink wan2, xTR2.
type mhLab struct {
	*ctlSetup
	wan2   *netns.Iface
	p1, p2 netip.Addr
}

// startMultihomed builds the lab with xTR1's IPv4 locators P1 (wan2) and
// P2 (wan) at the priorities and weights given, and xTR2's configuration
// text2 (nil: the lab's own), and waits for both registrations.
func startMultihomed(t *testing.T, prio1, weight1, prio2, weight2 int, before func(l *lab.Lab), text2 func(l *lab.Lab, c lab.XTRConfig) string) *mhLab {
	t.Helper()
	return startMultihomedWith(t, mhOptions{prio1: prio1, weight1: weight1, prio2: prio2, weight2: weight2, before: before, text2: text2})
}

// mhOptions shape a multihomed lab (startMultihomedWith).
type mhOptions struct {
	prio1, weight1 int // xTR1's locator P1, on wan2
	prio2, weight2 int // xTR1's locator P2, on wan
	// rloc6 makes both xTRs' locators their IPv6 addresses; the
	// Map-Server stays on IPv4.
	rloc6 bool
	// before runs after the lab is built, before any daemon starts.
	before func(l *lab.Lab)
	// text2 is xTR2's configuration (nil: the lab's own).
	text2 func(l *lab.Lab, c lab.XTRConfig) string
	// kernelPath is both xTRs' xtr.kernel_path (empty: the default).
	kernelPath string
}

// startMultihomedWith builds the lab shaped by o, starts the Map-Server
// and both xTRs, and waits for both registrations.
func startMultihomedWith(t *testing.T, o mhOptions) *mhLab {
	t.Helper()
	skipIfNotWired(t)
	topo := netns.New(t) // skips without root before building anything
	bin := lispdBinary(t)
	l, err := lab.Build(topo, lab.Options{Core: lab.CoreBridge})
	if err != nil {
		t.Fatal(err)
	}
	wan2, err := l.AddXTR1Uplink(11)
	if err != nil {
		t.Fatal(err)
	}
	if o.before != nil {
		o.before(l)
	}
	m := &mhLab{ctlSetup: &ctlSetup{Lab: l, Bin: bin}, wan2: wan2, p1: wan2.Addr4(), p2: l.RLOC1v4}
	if o.rloc6 {
		m.p1, m.p2 = wan2.Addr6(), l.RLOC1v6
	}
	s := m.ctlSetup
	s.MSConfig, err = l.WriteConfig("ms", l.MapServerTOMLWith(lab.MapServerConfig{RegistrationTimeout: registrationTimeout.String()}))
	if err != nil {
		t.Fatal(err)
	}
	s.MS = startMapServer(t, s)
	extra := fastXTR + fmt.Sprintf("\nidle_timeout = %q", mhIdleTimeout)
	s.C1 = lab.XTRConfig{Side: 1, MapServer: true, Extra: extra, RLOC6: o.rloc6, KernelPath: o.kernelPath}
	s.C2 = lab.XTRConfig{Side: 2, MapServer: true, Extra: extra, RLOC6: o.rloc6, KernelPath: o.kernelPath}
	text1, err := l.XTRTOMLWithRLOCs(s.C1, []lab.LocalLocator{{Addr: m.p1, Priority: o.prio1, Weight: o.weight1}, {Addr: m.p2, Priority: o.prio2, Weight: o.weight2}})
	if err != nil {
		t.Fatal(err)
	}
	t2 := l.XTRTOML(s.C2)
	if o.text2 != nil {
		t2 = o.text2(l, s.C2)
	}
	s.X1 = startXTRDaemon(t, l, l.XTR1, "xtr1", bin, text1)
	s.X2 = startXTRDaemon(t, l, l.XTR2, "xtr2", bin, t2)
	if o.kernelPath != "" {
		requireKernelPath(t, s.X1, s.X2)
	}
	waitRegistered(t, s.X1, s.X2)
	return m
}

// localRLOC returns xTR d's `show rlocs` line for address a.
func localRLOC(t *testing.T, d *lab.Daemon, a netip.Addr) (admin.LocalRLOC, error) {
	t.Helper()
	var v admin.RLOCs
	if err := tryShow(d, &v, "rlocs"); err != nil {
		return admin.LocalRLOC{}, err
	}
	for _, r := range v.RLOCs {
		if r.Address == a {
			return r, nil
		}
	}
	return admin.LocalRLOC{}, fmt.Errorf("%s: show rlocs has no %v: %+v", d.Name, a, v.RLOCs)
}

// outage measures a flow's longest loss after mark, as time.
func (f *seqFlow) outage(mark int) (time.Duration, int) {
	longest, total := f.lost(mark, int(f.sent.Load())-10)
	return time.Duration(longest) * flowInterval, total
}

// xtr2Locators returns xTR2's view of xTR1's locators P1 and P2, in its
// map-cache entry for site 1's EID eid.
func (m *mhLab) xtr2Locators(t *testing.T, eid netip.Addr) (r1, r2 admin.MapCacheRLOC, err error) {
	return locators(t, m.X2, eid, m.p1, m.p2)
}

// waitOnP1 waits until xTR2 has both of xTR1's locators up and sends all
// its traffic toward eid to P1 (priority 1).
func (m *mhLab) waitOnP1(t *testing.T, eid netip.Addr) {
	t.Helper()
	eventually(t, 10*time.Second, "xTR2 sends B → A to P1 (priority 1)", func() error {
		r1, r2, err := m.xtr2Locators(t, eid)
		if err != nil {
			return err
		}
		if !r1.Up || !r2.Up || r1.Packets == 0 || r2.Packets != 0 {
			return fmt.Errorf("P1 %+v, P2 %+v: want both up, all packets on P1", r1, r2)
		}
		return nil
	})
}

// waitBackOnP1 waits until xTR1 has P1 up again and xTR2 sees it up in its
// entry for eid, and returns how long that took.
func (m *mhLab) waitBackOnP1(t *testing.T, eid netip.Addr) time.Duration {
	t.Helper()
	return eventually(t, 10*time.Second, "xTR1 back on P1 both ways", func() error {
		r, err := localRLOC(t, m.X1, m.p1)
		if err != nil {
			return err
		}
		r1, _, err := m.xtr2Locators(t, eid)
		if err != nil {
			return err
		}
		if !r.Up || !r1.Up {
			return fmt.Errorf("xTR1 P1 %+v, xTR2's P1 %+v", r, r1)
		}
		return nil
	})
}

func TestMultihomingLocalFailover(t *testing.T) { localFailover(t, "") }

// localFailover is TestMultihomingLocalFailover with both xTRs'
// xtr.kernel_path set to kernelPath (when not empty); it returns xTR1 and
// xTR2.
func localFailover(t *testing.T, kernelPath string) (*lab.Daemon, *lab.Daemon) {
	m := startMultihomedWith(t, mhOptions{prio1: 1, weight1: 100, prio2: 2, weight2: 100, kernelPath: kernelPath})
	l := m.Lab
	wan := l.XTR1WAN.Name
	cnt := countUplinks(t, l.XTR1, "wan2", wan)
	cnt.links = kernelPath != ""

	// B → A (xTR2 chooses xTR1's locator) and A → B (xTR1 chooses its
	// uplink), both through the Map-Server.
	ba := startSeqFlow(t, l.B, l.A, lab.HostA4, 9000)
	ab := startSeqFlow(t, l.A, l.B, lab.HostB4, 9001)
	ba.flowing(t, 0, 15*time.Second, "B → A flow")
	ab.flowing(t, 0, 15*time.Second, "A → B flow")
	m.waitOnP1(t, lab.HostA4)
	cnt.carries(t, "before the failure (priority-1 uplink wan2, P1)", "wan2", wan, 5)
	smr1, smr2 := counter(t, m.X1, admin.GroupControl, "smrs-sent"), counter(t, m.X2, admin.GroupControl, "smrs-received")

	// Local failure: xTR1's priority-1 link goes down.
	baMark, abMark := int(ba.sent.Load()), int(ab.sent.Load())
	downAt := time.Now()
	if err := l.XTR1.IP("link", "set", "wan2", "down"); err != nil {
		t.Fatal(err)
	}
	seen := eventually(t, 5*time.Second, "xTR1 shows P1 down (netlink)", func() error {
		r, err := localRLOC(t, m.X1, m.p1)
		if err != nil {
			return err
		}
		if r.Up || r.Reason != "interface down" {
			return fmt.Errorf("P1 %+v", r)
		}
		return nil
	})
	ba.flowing(t, baMark, 10*time.Second, "B → A flow over P2")
	ab.flowing(t, abMark, 10*time.Second, "A → B flow over wan")
	checkOutages(t, fmt.Sprintf("local failure of P1 (wan2 down, seen by xTR1 after %v)", seen.Round(time.Millisecond)), ba, ab, baMark, abMark)
	// xTR1 sends SMRs to the ITR that sent it traffic, xTR2. With the
	// kernel path, the kernel decapsulated that traffic and recorded the
	// ITR for lispd (and lispd decapsulated next to nothing itself: see
	// kernelLearned).
	smrAt := eventually(t, 5*time.Second, "xTR1 sent SMRs and xTR2 received them", func() error {
		a, b := counter(t, m.X1, admin.GroupControl, "smrs-sent"), counter(t, m.X2, admin.GroupControl, "smrs-received")
		if a <= smr1 || b <= smr2 {
			return fmt.Errorf("smrs-sent %d → %d, smrs-received %d → %d", smr1, a, smr2, b)
		}
		return nil
	})
	r1, r2, err := m.xtr2Locators(t, lab.HostA4)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("xTR2's view after the failure: P1 up=%v (%s), P2 up=%v (%s); %v after the link went down, SMR after %v",
		r1.Up, r1.Reason, r2.Up, r2.Reason, time.Since(downAt).Round(time.Millisecond), smrAt.Round(time.Millisecond))
	if r1.Up || !r2.Up { // learned from the SMR's re-resolution
		t.Errorf("xTR2: P1 %+v, P2 %+v: want P1 down, P2 up", r1, r2)
	}
	// xTR1's data packets now carry locator-status bits 10: xTR2 probes P1
	// at once (a hint it checks, not proof). With the kernel path xTR2
	// learns the bits from its kernel's record, once a second.
	eventually(t, 5*time.Second, "xTR2 reacts to the locator-status bit of P1 going down", func() error {
		if !strings.Contains(m.X2.Log(), "locator-status bits cleared") {
			return errors.New("no \"locator-status bits cleared\" in xTR2's log")
		}
		return nil
	})
	t.Logf("xTR2 had reacted to the cleared locator-status bit within %v of the link going down", time.Since(downAt).Round(time.Millisecond))
	cnt.carries(t, "during the failure (the other uplink, P2)", wan, "wan2", 0)

	// Recovery: the link comes back, traffic returns to P1.
	baMark, abMark = int(ba.sent.Load()), int(ab.sent.Load())
	if err := l.XTR1.IP("link", "set", "wan2", "up"); err != nil {
		t.Fatal(err)
	}
	back := m.waitBackOnP1(t, lab.HostA4)
	time.Sleep(500 * time.Millisecond)
	cnt.carries(t, fmt.Sprintf("after recovery (%v), back on wan2 (P1)", back.Round(time.Millisecond)), "wan2", wan, 5)
	checkOutages(t, "recovery", ba, ab, baMark, abMark)
	return m.X1, m.X2
}

// TestMultihomingAddressChange changes the address of xTR2's RLOC
// interface (as DHCP or a PPPoE reconnect would): xTR2 sees it over
// netlink, re-registers at once and sends xTR1 an SMR; xTR1 re-resolves and
// the A → B flow resumes toward the new address.
func TestMultihomingAddressChange(t *testing.T) {
	var wan2Name string
	m := startMultihomed(t, 1, 100, 2, 100, func(l *lab.Lab) {
		// xTR2's RLOC is its WAN interface's IPv4 address only.
		wan2Name = l.XTR2WAN.Name
		if err := l.XTR2.IP("-6", "addr", "flush", "dev", wan2Name, "scope", "global"); err != nil {
			t.Fatal(err)
		}
	}, func(l *lab.Lab, c lab.XTRConfig) string {
		text := l.XTRTOML(c)
		old := fmt.Sprintf("address = %q\npriority = 1", l.RLOC2v4)
		if strings.Count(text, old) != 1 {
			t.Fatalf("xTR2 configuration has no single RLOC %v to replace:\n%s", l.RLOC2v4, text)
		}
		return strings.Replace(text, old, fmt.Sprintf("interface = %q\npriority = 1", wan2Name), 1)
	})
	l := m.Lab
	old, neu := l.RLOC2v4, netip.MustParseAddr("192.0.2.22")
	ab := startSeqFlow(t, l.A, l.B, lab.HostB4, 9002)
	ab.flowing(t, 0, 15*time.Second, "A → B flow")
	if r, err := localRLOC(t, m.X2, old); err != nil || !r.Up || r.Interface != wan2Name {
		t.Fatalf("xTR2 show rlocs: %+v, %v: want %v up on %s", r, err, old, wan2Name)
	}
	smrs := counter(t, m.X1, admin.GroupControl, "smrs-received")

	mark := int(ab.sent.Load())
	changed := time.Now()
	if err := l.XTR2.IP("addr", "del", old.String()+"/24", "dev", wan2Name); err != nil {
		t.Fatal(err)
	}
	if err := l.XTR2.IP("addr", "add", neu.String()+"/24", "dev", wan2Name); err != nil {
		t.Fatal(err)
	}
	ab.flowing(t, mark, 15*time.Second, "A → B flow to the new address")
	// flowing waits for 50 datagrams in a row: the first of them arrived
	// 50 intervals (plus the 10 in flight) before it returned.
	resumed := time.Since(changed) - 60*flowInterval
	out, lost := ab.outage(mark)
	e, ok := mapCacheEntry(t, m.X1, lab.HostB4)
	if !ok || !hasRLOC(e, neu) || hasRLOC(e, old) {
		t.Errorf("xTR1's map-cache for %v: %+v, want only the new RLOC %v", lab.HostB4, e, neu)
	}
	if got := counter(t, m.X1, admin.GroupControl, "smrs-received"); got <= smrs {
		t.Errorf("xTR1 received no SMR (smrs-received %d → %d)", smrs, got)
	}
	if r, err := localRLOC(t, m.X2, neu); err != nil || !r.Up {
		t.Errorf("xTR2 show rlocs: %+v, %v: want the new address up", r, err)
	}
	t.Logf("address change %v → %v on xTR2: traffic flowing again about %v after the change (outage %v, %d datagrams lost × %v)",
		old, neu, resumed.Round(10*time.Millisecond), out, lost, flowInterval)
	if out > outageBound {
		t.Errorf("outage %v after the address change, want within %v", out, outageBound)
	}
}

// TestMultihomingWeights: xTR1's two locators have priority 1 and weights
// 50/50. Many B → A flows (xTR2 chooses xTR1's locator per flow) and many
// A → B flows (xTR1 chooses its uplink per flow) each split about evenly
// over the two uplinks; a single flow stays on one.
func TestMultihomingWeights(t *testing.T) {
	m := startMultihomed(t, 1, 50, 1, 50, nil, nil)
	l := m.Lab
	wan := l.XTR1WAN.Name
	cnt := countUplinks(t, l.XTR1, "wan2", wan)
	// Resolve both ways first.
	reachable(t, l.B, lab.HostA4, 15*time.Second)
	reachable(t, l.A, lab.HostB4, 15*time.Second)

	const flows, perFlow = 1000, 4
	send := func(from *netns.Host, dst netip.Addr, port uint16, n, k int) {
		t.Helper()
		if err := from.Do(func() error {
			for i := 0; i < n; i++ {
				c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, port)))
				if err != nil {
					return err
				}
				for j := 0; j < k; j++ {
					c.Write([]byte("lispd multihoming weights"))
					time.Sleep(100 * time.Microsecond)
				}
				c.Close()
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	share := func(what, a, b string, d map[string]uint64) {
		t.Helper()
		total := d[a] + d[b]
		half := float64(total) / 2
		t.Logf("%s: %s %d, %s %d of %d", what, a, d[a], b, d[b], total)
		if total < flows*perFlow*9/10 {
			t.Errorf("%s: only %d of %d packets counted", what, total, flows*perFlow)
		}
		for _, k := range []string{a, b} {
			if f := float64(d[k]); f < half*0.85 || f > half*1.15 {
				t.Errorf("%s: %s carried %d of %d, want within ±15%% of half", what, k, d[k], total)
			}
		}
	}
	c0 := cnt.snapshot(t)
	send(l.B, lab.HostA4, 9100, flows, perFlow)
	time.Sleep(500 * time.Millisecond)
	c1 := cnt.snapshot(t)
	share("B → A (xTR2's choice of xTR1's locator)", "rx_wan2", "rx_"+wan, delta(c0, c1))
	send(l.A, lab.HostB4, 9101, flows, perFlow)
	time.Sleep(500 * time.Millisecond)
	c2 := cnt.snapshot(t)
	share("A → B (xTR1's choice of uplink)", "tx_wan2", "tx_"+wan, delta(c1, c2))

	// One flow, one locator: a single flow's packets all take one uplink.
	for i := 0; i < 4; i++ {
		for _, dir := range []struct {
			from *netns.Host
			dst  netip.Addr
			a, b string
			what string
		}{{l.B, lab.HostA4, "rx_wan2", "rx_" + wan, "B → A"}, {l.A, lab.HostB4, "tx_wan2", "tx_" + wan, "A → B"}} {
			s0 := cnt.snapshot(t)
			send(dir.from, dir.dst, 9200, 1, 100)
			time.Sleep(300 * time.Millisecond)
			d := delta(s0, cnt.snapshot(t))
			// A loaded machine may drop some; none may take the other
			// uplink.
			lo, hi := min(d[dir.a], d[dir.b]), max(d[dir.a], d[dir.b])
			if hi < 50 || lo != 0 {
				t.Errorf("single %s flow %d: %s %d, %s %d: want all on one uplink", dir.what, i, dir.a, d[dir.a], dir.b, d[dir.b])
			}
		}
	}
}

// ctlUplinkTable is the nftables table of xTR1's control-message counters.
const ctlUplinkTable = "lispd_ctl_uplinks"

// TestMultihomingControlUplink: xTR1's two uplinks are on one subnet with
// no policy routing (the kernel's route to the Map-Server goes by wan), yet
// each control message sourced from a locator (Map-Registers, sent from
// the first locator that is up) leaves by that locator's own uplink, with
// that source, as an ISP filtering sources requires; when that uplink goes
// down, they come from the other locator, by its uplink.
func TestMultihomingControlUplink(t *testing.T) {
	m := startMultihomed(t, 1, 100, 2, 100, nil, nil)
	l := m.Lab
	wan := l.XTR1WAN.Name
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmds := [][]string{
		{"nft", "add", "table", "inet", ctlUplinkTable},
		{"nft", "add", "chain", "inet", ctlUplinkTable, "out", "{ type filter hook output priority 0 ; policy accept ; }"},
	}
	type rule struct {
		name string
		src  netip.Addr
		op   string
		dev  string
	}
	rules := []rule{{"p1_own", m.p1, "==", "wan2"}, {"p1_other", m.p1, "!=", "wan2"}, {"p2_own", m.p2, "==", wan}, {"p2_other", m.p2, "!=", wan}}
	for _, r := range rules {
		cmds = append(cmds,
			[]string{"nft", "add", "counter", "inet", ctlUplinkTable, r.name},
			[]string{"nft", "add", "rule", "inet", ctlUplinkTable, "out", "ip", "saddr", r.src.String(), "udp", "dport", "4342",
				"oifname", r.op, r.dev, "counter", "name", r.name})
	}
	for _, argv := range cmds {
		if err := l.XTR1.Run(ctx, argv...); err != nil {
			t.Fatalf("control counters in xTR1: %v", err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		l.XTR1.Run(ctx, "nft", "delete", "table", "inet", ctlUplinkTable)
	})
	cnt := &uplinkCounters{h: l.XTR1}
	get := func() map[string]uint64 {
		out := map[string]uint64{}
		for _, r := range rules {
			out[r.name] = cnt.getIn(t, ctlUplinkTable, r.name)
		}
		return out
	}
	// The route to the Map-Server goes by wan, not wan2: without the
	// interface per message, P1's messages would take wan.
	if out, err := l.XTR1.Output(ctx, "ip", "route", "get", l.MSv4.String()); err != nil || !strings.Contains(out, "dev "+wan+" ") {
		t.Fatalf("the lab's route to the Map-Server should go by %s (else this test proves nothing): %q (%v)", wan, out, err)
	}

	c0 := get()
	time.Sleep(2*registerInterval + time.Second)
	d := delta(c0, get())
	t.Logf("both uplinks up, control messages out of xTR1 over %v: %v", 2*registerInterval+time.Second, d)
	if d["p1_own"] == 0 || d["p1_other"] != 0 || d["p2_other"] != 0 {
		t.Errorf("control messages from P1 must leave by wan2 (and some must: Map-Registers), none by the other uplink: %v", d)
	}

	if err := l.XTR1.IP("link", "set", "wan2", "down"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "xTR1 shows P1 down (netlink)", func() error {
		r, err := localRLOC(t, m.X1, m.p1)
		if err != nil {
			return err
		}
		if r.Up {
			return fmt.Errorf("P1 %+v", r)
		}
		return nil
	})
	c1 := get()
	time.Sleep(2*registerInterval + time.Second)
	d = delta(c1, get())
	t.Logf("wan2 down, control messages out of xTR1: %v", d)
	if d["p2_own"] == 0 || d["p2_other"] != 0 || d["p1_own"] != 0 || d["p1_other"] != 0 {
		t.Errorf("with wan2 down, control messages must come from P2 by %s only: %v", wan, d)
	}
}
