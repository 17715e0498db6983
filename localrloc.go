package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lispd/lispd/conf"
	"github.com/lispd/lispd/ctl"
	"github.com/lispd/lispd/ctl/admin"
	"github.com/lispd/lispd/fwd"
	"github.com/lispd/lispd/internal/logx"
	"golang.org/x/sys/unix"

	"github.com/lispd/lispd/fwd/rtnl"
)

// Local locators over rtnetlink (issue 7). The [[xtr.rloc]] entries name an
// address or an interface; localWatch resolves them against the kernel's
// links and addresses, and re-resolves them whenever rtnetlink reports a
// change (no polling): an interface going down, or losing its address,
// makes its locator down; a new address on an interface (DHCP, PPPoE)
// replaces the old one. Each change goes at once to
//   - the data plane: the locator-status bits of encapsulated packets (bit
//     i = the i-th registered locator is up) and the source address and
//     interface per local locator;
//   - the control plane: the registered Locator-Set (re-registration with
//     every Map-Server now, then Solicit-Map-Requests, see ctl).

// Reasons a local locator is down, as `show rlocs` prints them.
const (
	reasonIfDown   = "interface down"
	reasonNoAddr   = "no address"
	reasonNoIf     = "no such interface"
	reasonAddrGone = "address not on any interface"
)

// Reasons an address locator on an interface that is up is down: IPv6
// duplicate address detection has not passed.
const (
	reasonTentative = "address tentative (duplicate address detection)"
	reasonDupAddr   = "duplicate address (DAD failed)"
)

const (
	// watchDebounce lets a burst of notifications (an address removed
	// and another added) settle into one change.
	watchDebounce = 20 * time.Millisecond
	// localLSBLimit is the number of locator-status bits of a header
	// without the I bit (with it, only the low 8 reach the wire).
	localLSBLimit = 32
)

// resolveLocal resolves the configured locators against st, in
// configuration order: an address entry is one locator, up when the
// address is on an interface that is up and has passed duplicate address
// detection (IPv6: not tentative, not failed); an interface entry is one
// locator per global unicast address (IPv4 first; not IPv6 temporary
// addresses). An interface that lost the addresses of a family (link down,
// netifd's teardown, a PPPoE device gone) keeps those of prev, the previous
// resolution, as down locators: they stay registered with the R bit clear,
// in their positions, until a new address of the family replaces them. An
// interface entry without any address, now or before, is a single
// address-less entry that is down and not registered.
func resolveLocal(cfg []conf.LocalRLOC, st *rtnl.LinkState, prev []localRLOC) []localRLOC {
	var out []localRLOC
	for _, r := range cfg {
		lr := localRLOC{Interface: r.Interface, Priority: uint8(r.Priority), Weight: uint8(r.Weight)}
		if r.Interface == "" {
			lr.Addr = r.Address.Unmap()
			lr.Reason = reasonAddrGone
			for _, a := range st.Addrs {
				if a.Prefix.Addr().Unmap() != lr.Addr {
					continue
				}
				lr.IfIndex = a.Index
				lr.Reason = reasonIfDown
				l, ok := st.LinkByIndex(a.Index)
				switch {
				case !ok || !l.Up():
				case a.Flags&unix.IFA_F_DADFAILED != 0:
					lr.Reason = reasonDupAddr
				case a.Flags&unix.IFA_F_TENTATIVE != 0 && a.Flags&unix.IFA_F_OPTIMISTIC == 0:
					// Not a source yet: sendmsg refuses it until
					// DAD ends (the watcher sees the flag clear).
					lr.Reason = reasonTentative
				default:
					lr.Up, lr.Reason = true, ""
				}
				if ok && l.Flags&unix.IFF_LOOPBACK != 0 {
					// An address on the loopback (reachable over any
					// uplink): the route picks the interface.
					lr.IfIndex = 0
				}
				break
			}
			out = append(out, lr)
			continue
		}
		l, ok := st.LinkByName(r.Interface)
		var v4, v6 []netip.Addr
		if ok {
			lr.IfIndex = l.Index
			for _, a := range st.AddrsOf(l.Index) {
				ip := a.Prefix.Addr().Unmap()
				if !ip.IsGlobalUnicast() || !a.Usable() {
					continue
				}
				if ip.Is6() && a.Flags&unix.IFA_F_TEMPORARY != 0 {
					// A privacy address (RFC 8981): it rotates,
					// each time a new Locator-Set; the stable
					// address beside it is the locator.
					continue
				}
				if ip.Is4() {
					v4 = append(v4, ip)
				} else {
					v6 = append(v6, ip)
				}
			}
		}
		gone := reasonNoAddr
		if !ok {
			gone = reasonNoIf
		}
		n := len(out)
		for i, fam := range [][]netip.Addr{v4, v6} {
			if len(fam) > 0 {
				for _, a := range fam {
					lr.Addr, lr.Up, lr.Reason = a, l.Up(), ""
					if !lr.Up {
						lr.Reason = reasonIfDown
					}
					out = append(out, lr)
				}
				continue
			}
			// None of this family now: the previous ones, down.
			for _, p := range prev {
				if p.Interface == r.Interface && p.Addr.IsValid() && p.Addr.Is6() == (i == 1) {
					lr.Addr, lr.Up, lr.Reason = p.Addr, false, gone
					out = append(out, lr)
				}
			}
		}
		if len(out) == n {
			lr.Addr, lr.Up, lr.Reason = netip.Addr{}, false, gone
			out = append(out, lr)
		}
	}
	return out
}

// registeredLocators returns the locators with an address, in order: the
// Locator-Set registered (down ones with the R bit clear).
func registeredLocators(ls []localRLOC) []ctl.LocalLocator {
	var out []ctl.LocalLocator
	for _, r := range ls {
		if r.Addr.IsValid() {
			out = append(out, ctl.LocalLocator{Addr: r.Addr, Priority: r.Priority, Weight: r.Weight, Down: !r.Up, IfIndex: r.IfIndex})
		}
	}
	return out
}

// statusBits returns the locator-status bits for ls: bit i (from the least
// significant) set when the i-th registered locator is up. 1 when nothing
// is registered (the plane's default).
func statusBits(ls []localRLOC) uint32 {
	var lsb uint32
	i := 0
	for _, r := range ls {
		if !r.Addr.IsValid() {
			continue
		}
		if r.Up && i < localLSBLimit {
			lsb |= 1 << i
		}
		i++
	}
	if i == 0 {
		return 1
	}
	return lsb
}

// setPlaneLocals hands the local locators to the data plane: the status
// bits it sends and the sources it picks among.
func setPlaneLocals(plane *fwd.Plane, ls []localRLOC) {
	plane.SetLocatorStatusBits(statusBits(ls))
	plane.SetLocalLocators(planeLocators(ls))
}

// planeLocators converts ls for the data plane's source selection. The
// only locator of its address family gets no forced interface: there is no
// uplink to choose, and its address may live on an interface packets do
// not leave by (a routed public subnet on br-lan, a dummy device), where a
// forced interface would send them nowhere; the route decides, as without
// multihoming.
func planeLocators(ls []localRLOC) []fwd.LocalLocator {
	var n4, n6 int
	for _, r := range ls {
		if r.Addr.Is4() {
			n4++
		} else if r.Addr.Is6() {
			n6++
		}
	}
	var out []fwd.LocalLocator
	for _, r := range ls {
		if r.Addr.IsValid() {
			l := fwd.LocalLocator{Addr: r.Addr, IfIndex: r.IfIndex, Priority: r.Priority, Weight: r.Weight, Up: r.Up, Link: r.IfIndex}
			if (r.Addr.Is4() && n4 == 1) || (r.Addr.Is6() && n6 == 1) {
				l.IfIndex = 0
			}
			out = append(out, l)
		}
	}
	return out
}

// localWatch keeps the local locators current from rtnetlink.
type localWatch struct {
	log   *logx.Logger
	cfg   []conf.LocalRLOC
	plane *fwd.Plane
	node  func() *ctl.Node // nil until the control plane runs

	// applyMu serializes apply: the watcher's and a reload's
	// (reconfigure), so that a resolution with the old configuration
	// never lands after one with the new.
	applyMu sync.Mutex

	mu   sync.Mutex // guards cur and cfg
	cur  []localRLOC
	w    linkWaiter
	dump func() (*rtnl.LinkState, error) // rtnl.DumpLinks
	quit chan struct{}                   // closed by close

	// syncMu serializes the hand-overs to the node: the watcher's and
	// main's (a node starting) each read cur and pass it on, and without
	// it the older reading could land last and stay until the next change.
	syncMu  sync.Mutex
	setNode func(*ctl.Node, []ctl.LocalLocator) // (*ctl.Node).SetLocalLocators; tests watch it

	done chan struct{}
}

// newLocalWatch reads the current state, applies it to plane and starts
// watching. Without rtnetlink (it fails), it returns nil and the locators
// stay as resolved at start.
func newLocalWatch(log *logx.Logger, cfg []conf.LocalRLOC, plane *fwd.Plane, node func() *ctl.Node) *localWatch {
	w, err := rtnl.WatchLinks()
	if err != nil {
		log.Warn("cannot watch links over rtnetlink: local locators will not follow changes", "err", err)
		return nil
	}
	st, err := rtnl.DumpLinks()
	if err != nil {
		w.Close()
		log.Warn("cannot read links over rtnetlink: local locators will not follow changes", "err", err)
		return nil
	}
	lw := &localWatch{log: log, cfg: cfg, plane: plane, node: node, w: w, dump: rtnl.DumpLinks,
		setNode: (*ctl.Node).SetLocalLocators, quit: make(chan struct{}), done: make(chan struct{})}
	lw.apply(st)
	go lw.run()
	return lw
}

// linkWaiter is what localWatch needs of a rtnl.LinkWatcher.
type linkWaiter interface {
	Wait() ([]rtnl.LinkEvent, error)
	Close() error
}

// watchErrorPause is the pause after a failed Wait (a malformed
// notification, a failed read) before the state is re-read: the watcher
// goes on, without spinning on an error that repeats.
const watchErrorPause = time.Second

// run re-reads the state after each notification until the watcher closes.
func (lw *localWatch) run() {
	defer close(lw.done)
	for {
		if _, err := lw.w.Wait(); err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			lw.log.Warn("rtnetlink notification", "err", err)
			select {
			case <-lw.quit:
				return
			case <-time.After(watchErrorPause):
			}
		}
		time.Sleep(watchDebounce)
		st, err := lw.dump()
		if err != nil {
			lw.log.Warn("reading links over rtnetlink", "err", err)
			continue
		}
		lw.apply(st)
	}
}

// apply makes st the current state; a change goes to the data and control
// planes.
func (lw *localWatch) apply(st *rtnl.LinkState) {
	lw.applyMu.Lock()
	defer lw.applyMu.Unlock()
	lw.mu.Lock()
	prev, cfg := lw.cur, lw.cfg
	lw.mu.Unlock()
	cur := resolveLocal(cfg, st, prev)
	lw.mu.Lock()
	if slices.Equal(cur, lw.cur) {
		lw.mu.Unlock()
		return
	}
	old := lw.cur
	lw.cur = cur
	setPlaneLocals(lw.plane, cur)
	lw.mu.Unlock()
	if old != nil {
		lw.log.Info("local locators changed", "rlocs", describeLocal(cur), "was", describeLocal(old))
	}
	lw.syncNode()
}

// reconfigure applies new [[xtr.rloc]] entries (a reload that changed only
// priorities or weights): the locators are resolved again at once, and a
// change goes to the data and control planes as an interface event's does.
func (lw *localWatch) reconfigure(cfg []conf.LocalRLOC) {
	lw.mu.Lock()
	lw.cfg = cfg
	lw.mu.Unlock()
	st, err := lw.dump()
	if err != nil {
		lw.log.Warn("reading links over rtnetlink: new RLOC priorities apply at the next link change", "err", err)
		return
	}
	lw.apply(st)
}

// setRLOCConfig applies new [[xtr.rloc]] entries that differ from the
// running ones in priorities and weights only: the data plane's local
// locator selection and the Locator-Set the ETR registers change in place
// (the ETR re-registers at once), the TUN, sockets and map-cache stay.
func (p *xtrPlane) setRLOCConfig(cfg []conf.LocalRLOC) {
	if p.locals != nil {
		p.locals.reconfigure(cfg)
		return
	}
	// Without a watcher (no rtnetlink) the locators are resolved once, as
	// at start, and go to both planes here.
	p.rlocs = resolveRLOCs(p.log, cfg)
	setPlaneLocals(p.plane, p.rlocs)
	if n := p.miss.to.Load(); n != nil {
		n.SetLocalLocators(locators(p.rlocs))
	}
}

// syncNode hands the current locators to the control plane, if it runs
// (it ignores a set equal to its own). Concurrent calls hand over in the
// order they read the locators, so the node ends with the newest set.
func (lw *localWatch) syncNode() {
	if lw == nil || lw.node == nil {
		return
	}
	lw.syncMu.Lock()
	defer lw.syncMu.Unlock()
	n := lw.node()
	if n == nil {
		return
	}
	lw.setNode(n, registeredLocators(lw.current()))
}

// current returns the locators as last resolved.
func (lw *localWatch) current() []localRLOC {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return slices.Clone(lw.cur)
}

// close stops watching.
func (lw *localWatch) close() {
	if lw == nil {
		return
	}
	close(lw.quit)
	lw.w.Close()
	<-lw.done
}

// describeLocal is ls for a log line: address (or interface) and state.
func describeLocal(ls []localRLOC) string {
	parts := make([]string, len(ls))
	for i, r := range ls {
		s := r.Interface
		if r.Addr.IsValid() {
			s = r.Addr.String()
		}
		s += fmt.Sprintf("/%d/%d", r.Priority, r.Weight)
		if r.Up {
			s += " up"
		} else {
			s += " down (" + r.Reason + ")"
		}
		parts[i] = s
	}
	return strings.Join(parts, ", ")
}

// view is the current state for `show rlocs`.
func (lw *localWatch) view() admin.RLOCs {
	var out admin.RLOCs
	for _, r := range lw.current() {
		out.RLOCs = append(out.RLOCs, admin.LocalRLOC{
			Interface: r.Interface, Address: r.Addr, Priority: r.Priority, Weight: r.Weight, Up: r.Up, Reason: r.Reason,
		})
	}
	return out
}
