package e2e

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/admin"
	"github.com/lispd/lispd/testing/lab"
	"github.com/lispd/lispd/testing/netns"
)

// Multihoming end-to-end (issue 7, remote reachability): xTR1 has two
// uplinks to the core bridge, RLOC P1 (192.0.2.11, priority 1) and RLOC P2
// (192.0.2.1, priority 2), registered through the Map-Server. A continuous
// UDP flow goes from host B to host A, so xTR2 is the ITR choosing between
// xTR1's two RLOCs. The path to P1 is cut inside the core (an nftables
// bridge rule; every link stays up), so only xTR2's RLOC probing can see
// it. The probing timers are the defaults (probe_interval 1 s, 2 retries).

const (
	// flowInterval is the send interval of the B → A flow.
	flowInterval = 10 * time.Millisecond
	// mhIdleTimeout is xtr.idle_timeout in this test.
	mhIdleTimeout = 3 * time.Second
	// outageBound is the generous bound on each outage (target ~1 s).
	outageBound = 6 * time.Second
)

// seqFlow is a UDP flow of numbered datagrams, one every flowInterval,
// from a host to another; it records which numbers arrived.
type seqFlow struct {
	send, recv *net.UDPConn
	sent       atomic.Int64
	stop       chan struct{}
	done       sync.WaitGroup

	mu  sync.Mutex
	got []bool
}

// startSeqFlow opens a receiver on dst (in host to) and starts sending from
// host from; it stops at cleanup or on halt.
func startSeqFlow(t *testing.T, from, to *netns.Host, dst netip.Addr, port uint16) *seqFlow {
	t.Helper()
	f := &seqFlow{stop: make(chan struct{})}
	if err := to.Do(func() (err error) {
		f.recv, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, port)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := from.Do(func() (err error) {
		f.send, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, port)))
		return err
	}); err != nil {
		f.recv.Close()
		t.Fatal(err)
	}
	f.done.Add(2)
	go func() {
		defer f.done.Done()
		buf := make([]byte, 64)
		for {
			n, err := f.recv.Read(buf)
			if err != nil {
				return
			}
			if n < 8 {
				continue
			}
			seq := int(binary.BigEndian.Uint64(buf))
			f.mu.Lock()
			for len(f.got) <= seq {
				f.got = append(f.got, false)
			}
			f.got[seq] = true
			f.mu.Unlock()
		}
	}()
	go func() {
		defer f.done.Done()
		tick := time.NewTicker(flowInterval)
		defer tick.Stop()
		var b [8]byte
		for {
			select {
			case <-f.stop:
				return
			case <-tick.C:
			}
			binary.BigEndian.PutUint64(b[:], uint64(f.sent.Load()))
			f.send.Write(b[:]) // an ICMP error on the socket is just a loss
			f.sent.Add(1)
		}
	}()
	t.Cleanup(f.halt)
	return f
}

// halt stops sending and receiving (idempotent).
func (f *seqFlow) halt() {
	select {
	case <-f.stop:
		return
	default:
	}
	close(f.stop)
	f.send.Close()
	f.recv.Close()
	f.done.Wait()
}

// received counts the datagrams numbered from..to-1 that arrived.
func (f *seqFlow) received(from, to int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for i := from; i < to && i < len(f.got); i++ {
		if f.got[i] {
			n++
		}
	}
	return n
}

// lost returns the longest run of datagrams numbered from..to-1 that did
// not arrive, and how many did not arrive in all.
func (f *seqFlow) lost(from, to int) (longest, total int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	run := 0
	for i := from; i < to; i++ {
		if i < len(f.got) && f.got[i] {
			run = 0
			continue
		}
		run++
		total++
		longest = max(longest, run)
	}
	return longest, total
}

// flowing waits until the datagrams sent after mark arrive again: the last
// 50 sent (ending 10 before the newest, which may be in flight) all came.
func (f *seqFlow) flowing(t *testing.T, mark int, within time.Duration, what string) {
	t.Helper()
	eventually(t, within, what, func() error {
		end := int(f.sent.Load()) - 10
		if end-50 < mark {
			return errors.New("not enough sent yet")
		}
		if got := f.received(end-50, end); got < 50 {
			return fmt.Errorf("%d of the last 50 datagrams arrived", got)
		}
		return nil
	})
}

// rlocView returns the locator a of a map-cache entry.
func rlocView(e admin.MapCacheEntry, a netip.Addr) (admin.MapCacheRLOC, bool) {
	for _, r := range e.RLOCs {
		if r.Address == a {
			return r, true
		}
	}
	return admin.MapCacheRLOC{}, false
}

// locators returns xTR d's view of locators p1 and p2 for eid.
func locators(t *testing.T, d *lab.Daemon, eid, p1, p2 netip.Addr) (r1, r2 admin.MapCacheRLOC, err error) {
	e, ok := mapCacheEntry(t, d, eid)
	if !ok {
		return r1, r2, fmt.Errorf("%s: no map-cache entry for %v", d.Name, eid)
	}
	r1, ok1 := rlocView(e, p1)
	r2, ok2 := rlocView(e, p2)
	if !ok1 || !ok2 {
		return r1, r2, fmt.Errorf("%s: entry %v lacks %v or %v: %+v", d.Name, e.EIDPrefix, p1, p2, e.RLOCs)
	}
	return r1, r2, nil
}

func TestMultihomingRemoteFailover(t *testing.T) { remoteFailover(t, "") }

// remoteFailover is TestMultihomingRemoteFailover with both xTRs'
// xtr.kernel_path set to kernelPath (when not empty). It returns the
// daemons and how many datagrams the flow sent.
func remoteFailover(t *testing.T, kernelPath string) (x1, x2 *lab.Daemon, sent int) {
	m := startMultihomedWith(t, mhOptions{prio1: 1, weight1: 100, prio2: 2, weight2: 100, kernelPath: kernelPath})
	l, s, p1, p2 := m.Lab, m.ctlSetup, m.p1, m.p2

	// B → A, resolved through the Map-Server; xTR2 uses P1 only.
	f := startSeqFlow(t, l.B, l.A, lab.HostA4, 9000)
	f.flowing(t, 0, 15*time.Second, "B → A flow")
	eventually(t, 10*time.Second, "xTR2 probes both RLOCs of site 1", func() error {
		r1, r2, err := locators(t, s.X2, lab.HostA4, p1, p2)
		if err != nil {
			return err
		}
		if !r1.Up || !r2.Up || r1.RTT == nil || r2.RTT == nil || r1.Reason != "probe reply" {
			return fmt.Errorf("P1 %+v, P2 %+v: want both up with an RTT from probe replies", r1, r2)
		}
		if r1.Packets == 0 || r2.Packets != 0 {
			return fmt.Errorf("packets P1 %d, P2 %d: want all on P1 (priority 1)", r1.Packets, r2.Packets)
		}
		return nil
	})

	// Remote failure: the core drops everything to P1.
	cutAt := int(f.sent.Load())
	cut := time.Now()
	undo, err := l.CutCorePath(p1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { undo() })
	var before2 uint64
	eventually(t, 10*time.Second, "xTR2 marks P1 down (probe timeout) and sends to P2", func() error {
		r1, r2, err := locators(t, s.X2, lab.HostA4, p1, p2)
		if err != nil {
			return err
		}
		if r1.Up || r1.Reason != "probe timeout" || !r2.Up || r2.Packets == 0 {
			return fmt.Errorf("P1 %+v, P2 %+v", r1, r2)
		}
		before2 = r2.Packets
		return nil
	})
	detected := time.Since(cut)
	f.flowing(t, cutAt, 10*time.Second, "B → A flow over P2")
	longest, total := f.lost(cutAt, int(f.sent.Load())-10)
	outage := time.Duration(longest) * flowInterval
	t.Logf("remote failure of P1: outage %v (%d datagrams lost × %v, %d lost in all); down shown after %v",
		outage, longest, flowInterval, total, detected.Round(10*time.Millisecond))
	if outage > outageBound {
		t.Errorf("outage %v after the remote failure, want within %v (target ~1 s)", outage, outageBound)
	}

	// Recovery: traffic returns to P1.
	if err := undo(); err != nil {
		t.Fatal(err)
	}
	undo = func() error { return nil }
	backAt := int(f.sent.Load())
	var p1Back, p2Back uint64
	back := eventually(t, 10*time.Second, "xTR2 marks P1 up again (probe reply)", func() error {
		r1, r2, err := locators(t, s.X2, lab.HostA4, p1, p2)
		if err != nil {
			return err
		}
		if !r1.Up || r1.Reason != "probe reply" {
			return fmt.Errorf("P1 %+v", r1)
		}
		p1Back, p2Back = r1.Packets, r2.Packets
		return nil
	})
	time.Sleep(time.Second)
	r1, r2, err := locators(t, s.X2, lab.HostA4, p1, p2)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Packets <= p1Back || r2.Packets > p2Back+5 {
		t.Errorf("after recovery: P1 packets %d → %d, P2 %d → %d: want the flow back on P1", p1Back, r1.Packets, p2Back, r2.Packets)
	}
	if p2Back <= before2 {
		t.Errorf("P2 carried no traffic while P1 was cut (%d → %d)", before2, p2Back)
	}
	longest, total = f.lost(backAt, int(f.sent.Load())-10)
	t.Logf("recovery: P1 up again %v after the cut was undone; loss on the way back %v (%d lost in all)",
		back.Round(10*time.Millisecond), time.Duration(longest)*flowInterval, total)
	if time.Duration(longest)*flowInterval > outageBound {
		t.Errorf("outage %v on recovery, want within %v", time.Duration(longest)*flowInterval, outageBound)
	}

	// Idle: once nothing uses the entry, probing stops after idle_timeout.
	probes := func() uint64 { return counter(t, s.X2, admin.GroupControl, "rloc-probes-sent") }
	busy := probes()
	f.halt()
	time.Sleep(mhIdleTimeout + 3*time.Second)
	idle := probes()
	if idle <= busy {
		t.Errorf("rloc-probes-sent did not grow while the entry was in use (%d → %d)", busy, idle)
	}
	time.Sleep(4 * time.Second)
	if after := probes(); after != idle {
		t.Errorf("xTR2 sent %d probes for an entry idle for longer than idle_timeout (%v)", after-idle, mhIdleTimeout)
	}
	if out := s.X2.Log(); !strings.Contains(out, "remote locator down") {
		t.Errorf("xTR2 did not log the locator going down")
	}
	return s.X1, s.X2, int(f.sent.Load())
}

// startXTRDaemon writes the configuration text as name's, starts lispd with
// it on h and waits for its TUN (skipping the test where lispd is not wired).
func startXTRDaemon(t *testing.T, l *lab.Lab, h *netns.Host, name, bin, text string) *lab.Daemon {
	t.Helper()
	path, err := l.WriteConfig(name, text)
	if err != nil {
		t.Fatal(err)
	}
	d, err := l.StartLispd(h, name, bin, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WaitTUN("lisp0", upTimeout); err != nil {
		if errors.Is(err, lab.ErrNotWired) {
			notWired(t, err)
		}
		t.Fatal(err)
	}
	return d
}
