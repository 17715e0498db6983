package ctl

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/lispd/lispd/ctl/msg"
	"github.com/lispd/lispd/internal/logx"
	"github.com/lispd/lispd/internal/nocmp"
)

// RegState is the ETR's registration state with one Map-Server.
type RegState string

// Registration states.
const (
	// RegStateRegistering: Map-Registers sent, no Map-Notify yet.
	RegStateRegistering RegState = "registering"
	// RegStateRegistered: the last Map-Notify confirmed the registration.
	RegStateRegistered RegState = "registered"
	// RegStateSent: Map-Registers sent without the M bit (no confirmation
	// asked for).
	RegStateSent RegState = "sent"
	// RegStateFailed: the Map-Server stayed silent or sending failed; Reason
	// says which. Registration goes on, with backoff.
	RegStateFailed RegState = "failed"
)

// silentAfter is the number of unanswered Map-Registers after which the
// Map-Server is declared silent.
const silentAfter = 3

// noncesKept is how many recent Map-Register nonces a Map-Notify may echo.
const noncesKept = 4

// MapServerStatus is the ETR's view of one Map-Server, for
// `show registrations`.
type MapServerStatus struct {
	_ nocmp.DoNotCompare

	Addr          netip.Addr
	KeyType       KeyType
	WantMapNotify bool
	State         RegState
	Reason        string // why State is failed
	Registers     uint64 // Map-Registers sent
	Notifies      uint64 // valid Map-Notifies received
	Unsolicited   uint64 // unsolicited Map-Notifies acknowledged (RFC 9301 section 5.7)
	Unanswered    int    // Map-Registers since the last valid Map-Notify
	LastRegister  time.Time
	LastNotify    time.Time
}

// msPeer is the ETR's state with one Map-Server.
type msPeer struct {
	_ nocmp.DoNotCompare

	MapServerPeer
	notified chan struct{} // a valid Map-Notify arrived (capacity 1)
	kick     chan struct{} // re-register now (capacity 1)

	mu           sync.Mutex
	state        RegState
	reason       string
	registers    uint64
	notifies     uint64
	unsolicited  uint64
	unanswered   int
	lastRegister time.Time
	lastNotify   time.Time
	nonces       [noncesKept]uint64
	gens         [noncesKept]uint64 // local-locator generation of each nonce's Map-Register
	nextNonce    int
}

// etr is the ETR role: periodic registration and answering Map-Requests for
// our EID prefixes.
type etr struct {
	n     *Node
	x     *XTROptions
	peers []*msPeer

	// regMu is held while a Map-Register is built and sent; withdrawn,
	// set under it by Withdraw, stops the register loops for good, so
	// that no Map-Register can follow the withdrawal.
	regMu     sync.Mutex
	withdrawn bool
}

func newETR(n *Node, x *XTROptions) *etr {
	e := &etr{n: n, x: x}
	for _, ms := range x.MapServers {
		st := RegStateRegistering
		if !ms.WantMapNotify {
			st = RegStateSent
		}
		e.peers = append(e.peers, &msPeer{
			MapServerPeer: ms, state: st,
			notified: make(chan struct{}, 1), kick: make(chan struct{}, 1),
		})
	}
	return e
}

// start runs one registration loop per Map-Server.
func (e *etr) start(ctx context.Context, spawn func(func())) {
	// With no locator yet (an uplink waiting for DHCP), the loops run and
	// register once SetLocalLocators brings one.
	if len(e.x.EIDPrefixes) == 0 || (len(e.x.RLOCs) == 0 && !e.x.DynamicRLOCs) {
		if len(e.peers) > 0 {
			e.n.log.Warn("ETR has nothing to register (no EID prefixes or no RLOCs)")
		}
		return
	}
	for _, p := range e.peers {
		spawn(func() {
			if nat := e.n.nat; nat != nil {
				// Register only once NAT discovery says how: never
				// directly from behind a NAT.
				select {
				case <-ctx.Done():
					return
				case <-nat.ready:
				}
			}
			e.registerLoop(ctx, p)
		})
	}
}

// interval is the registration period (shorter behind a NAT, where the
// encapsulated Map-Register keeps the NAT binding open).
func (e *etr) interval() time.Duration {
	if e.n.nat != nil {
		return e.n.nat.interval(e.x.RegisterInterval)
	}
	return e.x.RegisterInterval
}

// reregister makes every Map-Server loop send a Map-Register now.
func (e *etr) reregister() {
	for _, p := range e.peers {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
}

// registerLoop registers with p every RegisterInterval, the first time at
// once. When a Map-Notify is wanted and does not come, it retries after
// RegisterRetry, doubling up to RegisterInterval.
func (e *etr) registerLoop(ctx context.Context, p *msPeer) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	wait := func(d time.Duration) bool {
		timer.Reset(d)
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
		case <-p.kick:
			timer.Stop() // Go 1.23+ timers: no stale tick survives Stop
		}
		return true
	}
	for {
		// Drop a stale notification from a previous round.
		select {
		case <-p.notified:
		default:
		}
		sent := time.Now()
		e.regMu.Lock()
		if !e.withdrawn {
			e.register(p)
		}
		e.regMu.Unlock()
		if !p.WantMapNotify {
			if !wait(e.interval()) {
				return
			}
			continue
		}
		p.mu.Lock()
		backoff := e.x.RegisterRetry << min(max(p.unanswered-1, 0), 16)
		p.mu.Unlock()
		backoff = min(backoff, e.interval())
		timer.Reset(backoff)
		select {
		case <-ctx.Done():
			return
		case <-p.kick:
			timer.Stop() // Go 1.23+ timers: no stale tick survives Stop
			continue
		case <-p.notified:
			timer.Stop() // Go 1.23+ timers: no stale tick survives Stop
			if !wait(max(e.interval()-time.Since(sent), 0)) {
				return
			}
		case <-timer.C:
			e.silent(p)
		}
	}
}

// register sends one Map-Register to p.
func (e *etr) register(p *msPeer) {
	if len(e.n.localLocators()) == 0 {
		return // nothing to register until an uplink has an address
	}
	send := e.n.sendMapRegister
	var rtrs []netip.Addr
	viaRTR := false
	if e.n.nat != nil {
		rtrs, viaRTR = e.n.nat.via()
	}
	// RFC 9301 section 5.6: the nonce is 0 when no Map-Notify is expected
	// to acknowledge the Map-Register (a relayed one always asks for it).
	var nonce uint64
	if p.WantMapNotify || viaRTR {
		nonce = randomNonce()
	}
	p.mu.Lock()
	p.nonces[p.nextNonce] = nonce
	p.gens[p.nextNonce] = e.n.local.gen.Load()
	p.nextNonce = (p.nextNonce + 1) % noncesKept
	p.registers++
	p.unanswered++
	p.lastRegister = time.Now()
	p.mu.Unlock()
	if viaRTR {
		send = func(p *msPeer, nonce uint64) error { return e.n.sendECMRegister(p, nonce, rtrs) }
	}
	if err := send(p, nonce); err != nil {
		e.n.ctr.drop(DropSendError)
		p.mu.Lock()
		p.state, p.reason = RegStateFailed, "send: "+err.Error()
		p.mu.Unlock()
		e.n.logs.warn("register-send", p.Addr, "cannot send Map-Register", "err", err)
	}
}

// silent records an unanswered Map-Register and says so once the
// Map-Server has ignored silentAfter of them.
func (e *etr) silent(p *msPeer) {
	p.mu.Lock()
	n := p.unanswered
	if n >= silentAfter {
		p.state = RegStateFailed
		p.reason = "no Map-Notify for " + strconv.Itoa(n) + " Map-Registers (wrong key or prefix not allowed, or Map-Server down?)"
	}
	p.mu.Unlock()
	if n >= silentAfter {
		e.n.logs.warn("map-server-silent", p.Addr,
			"no Map-Notify from "+p.Addr.String()+" for "+strconv.Itoa(n)+" Map-Registers — wrong key, EID prefix not allowed there, or Map-Server down?",
			"key_type", string(p.KeyType), "eid_prefixes", e.x.EIDPrefixes)
	}
}

// notify records a Map-Notify that verified with p's key; it reports
// whether the nonce matched one of our recent Map-Registers to p.
func (e *etr) notify(p *msPeer, nonce uint64) bool {
	p.mu.Lock()
	i := slices.Index(p.nonces[:], nonce)
	if nonce == 0 || i < 0 {
		p.mu.Unlock()
		return false
	}
	gen := p.gens[i]
	wasState := p.state
	p.state, p.reason = RegStateRegistered, ""
	p.notifies++
	p.unanswered = 0
	p.lastNotify = time.Now()
	p.mu.Unlock()
	if wasState != RegStateRegistered {
		e.n.log.Info("registered with Map-Server", "map_server", p.Addr, "eid_prefixes", e.x.EIDPrefixes)
	}
	e.n.registered(gen)
	select {
	case p.notified <- struct{}{}:
	default:
	}
	return true
}

// peerByNonce returns the Map-Server we sent a recent Map-Register with
// nonce to, or nil. The zero nonce (Map-Registers asking for no
// Map-Notify) matches none.
func (e *etr) peerByNonce(nonce uint64) *msPeer {
	if nonce == 0 {
		return nil
	}
	for _, p := range e.peers {
		p.mu.Lock()
		ok := slices.Contains(p.nonces[:], nonce)
		p.mu.Unlock()
		if ok {
			return p
		}
	}
	return nil
}

// verifies reports whether the Map-Notify b, whose algorithm is alg, is
// signed with p's key.
func (p *msPeer) verifies(b []byte, alg msg.Alg) bool {
	return p.KeyType.alg() == alg && msg.Verify(b, []byte(p.Key)) == nil
}

func (e *etr) status() []MapServerStatus {
	out := make([]MapServerStatus, 0, len(e.peers))
	for _, p := range e.peers {
		p.mu.Lock()
		out = append(out, MapServerStatus{
			Addr: p.Addr, KeyType: p.KeyType, WantMapNotify: p.WantMapNotify,
			State: p.state, Reason: p.reason, Registers: p.registers, Notifies: p.notifies, Unsolicited: p.unsolicited,
			Unanswered: p.unanswered, LastRegister: p.lastRegister, LastNotify: p.lastNotify,
		})
		p.mu.Unlock()
	}
	return out
}

// ownPrefix returns our EID prefix covering eid in iid.
func (e *etr) ownPrefix(iid uint32, eid netip.Addr) (netip.Prefix, bool) {
	if iid != e.x.InstanceID {
		return netip.Prefix{}, false
	}
	var best netip.Prefix
	for _, p := range e.x.EIDPrefixes {
		if p.Contains(eid.Unmap()) && (!best.IsValid() || p.Bits() > best.Bits()) {
			best = p
		}
	}
	return best, best.IsValid()
}

// answer sends the authoritative Map-Reply (or RLOC-probe reply) to a
// Map-Request for our EIDs that came to our address to: to the first
// ITR-RLOC of a usable family, at the request's source port, echoing the
// nonce. A probe reply marks the locator probed (p bit) whose address the
// probe was sent to, and leaves from that address (RFC 9301 section 5.4),
// so the prober learns which of our RLOCs answered; a probe sent to none
// of our locators (one behind a NAT, say) has none marked.
func (e *etr) answer(req *msg.MapRequest, port uint16, from netip.AddrPort, to netip.Addr) {
	n := e.n
	var like netip.Addr
	if req.Probe {
		like = to
	}
	dst, ok := n.pickITRRLOCLike(req.ITRRLOCs, like)
	if !ok {
		n.ctr.drop(DropNoUsableRLOC)
		n.logs.warn("no-itr-rloc", from.Addr(), "Map-Request without an ITR-RLOC we can reach", "itr_rlocs", len(req.ITRRLOCs))
		return
	}
	if !n.replyAllowed(dst) {
		return
	}
	rep := msg.MapReply{Probe: req.Probe, Nonce: req.Nonce}
	seen := map[netip.Prefix]bool{}
	for _, eid := range req.EIDs {
		if !eid.Prefix.IsValid() {
			continue
		}
		if p, ok := e.ownPrefix(eid.IID, eid.Prefix.Addr()); ok && !seen[p] {
			seen[p] = true
			rep.Records = append(rep.Records, e.record(p))
		}
	}
	if len(rep.Records) == 0 {
		if !req.Probe {
			n.ctr.drop(DropNotOurEID)
			return
		}
		// A probe for an address that is none of our EIDs (some
		// implementations probe with the RLOC as EID): answer with all
		// our mappings so the prober learns we are alive.
		for _, p := range e.x.EIDPrefixes {
			rep.Records = append(rep.Records, e.record(p))
		}
	}
	var src netip.Addr
	if req.Probe && markProbed(rep.Records, to) && to.Unmap().Is4() == dst.Is4() {
		src = to
	}
	if err := n.send(src, netip.AddrPortFrom(dst, port), rep.Append(nil)); err != nil {
		n.ctr.drop(DropSendError)
		n.logs.warn("send-map-reply", dst, "cannot send Map-Reply", "err", err)
	}
}

// markProbed sets the p bit of the locators at address probed in recs
// (the locator being RLOC-probed, RFC 9301 section 5.4) and reports whether
// there was one.
func markProbed(recs []msg.Record, probed netip.Addr) bool {
	probed = probed.Unmap()
	if !probed.IsValid() || probed.IsUnspecified() {
		return false
	}
	found := false
	for i := range recs {
		for j := range recs[i].Locators {
			if l := &recs[i].Locators[j]; l.Addr.IP.Unmap() == probed {
				l.Probed, found = true, true
			}
		}
	}
	return found
}

// record is our mapping for prefix p: the record we register and reply.
func (e *etr) record(p netip.Prefix) msg.Record {
	rec := msg.Record{
		TTL:           ttlMinutes(e.x.RecordTTL),
		Authoritative: true,
		EID:           msg.EIDOf(e.x.InstanceID, p),
	}
	for _, l := range e.n.localLocators() {
		rec.Locators = append(rec.Locators, msg.Locator{
			Priority: l.Priority, Weight: l.Weight, MPriority: 255, MWeight: 0,
			Local: true, Reachable: !l.Down, Addr: msg.AddrOf(l.Addr.Unmap()),
		})
	}
	return rec
}

// sendMapRegister sends one signed Map-Register of all our EID prefixes to
// the Map-Server p, with our xTR-ID and site-ID (I bit) and the M bit when
// a Map-Notify is wanted.
func (n *Node) sendMapRegister(p *msPeer, nonce uint64) error {
	recs := make([]msg.Record, 0, len(n.opts.XTR.EIDPrefixes))
	for _, pfx := range n.opts.XTR.EIDPrefixes {
		recs = append(recs, n.etr.record(pfx))
	}
	b, err := n.signedMapRegister(p, nonce, recs, false)
	if err != nil {
		return err
	}
	return n.send(n.localRLOC(p.Addr), netip.AddrPortFrom(p.Addr.Unmap(), n.opts.Port), b)
}

// signedMapRegister encodes the Map-Register of recs to the Map-Server p,
// with our xTR-ID and site-ID (I bit), and signs it with p's key. viaRTR
// marks a registration relayed by an RTR for a site behind a NAT: the P
// bit (the Map-Server answers for us) and the M bit (the Map-Notify is how
// the RTR verifies the binding) whatever p asks for.
func (n *Node) signedMapRegister(p *msPeer, nonce uint64, recs []msg.Record, viaRTR bool) ([]byte, error) {
	x := n.opts.XTR
	reg := msg.MapRegister{
		ProxyReply:    viaRTR,
		WantMapNotify: p.WantMapNotify || viaRTR,
		Nonce:         nonce,
		Alg:           p.KeyType.alg(),
		HasXTRID:      true,
		XTRID:         x.XTRID,
		SiteID:        x.SiteID,
		Records:       recs,
	}
	b := reg.Append(nil)
	if err := msg.Sign(b, []byte(p.Key)); err != nil {
		return nil, fmt.Errorf("sign Map-Register: %w", err)
	}
	return b, nil
}

// sendDeregister sends one signed Map-Register withdrawing prefixes (record
// TTL 0) to the Map-Server p. No Map-Notify is asked for: the withdrawal is
// best effort, and registrations expire on their own anyway.
func (n *Node) sendDeregister(p *msPeer, prefixes []netip.Prefix) error {
	x := n.opts.XTR
	// Nonce 0: no Map-Notify is asked for (RFC 9301 section 5.6).
	reg := msg.MapRegister{Alg: p.KeyType.alg(), HasXTRID: true, XTRID: x.XTRID, SiteID: x.SiteID}
	for _, pfx := range prefixes {
		rec := n.etr.record(pfx)
		rec.TTL = 0
		reg.Records = append(reg.Records, rec)
	}
	b := reg.Append(nil)
	if err := msg.Sign(b, []byte(p.Key)); err != nil {
		return fmt.Errorf("sign Map-Register: %w", err)
	}
	return n.send(n.localRLOC(p.Addr), netip.AddrPortFrom(p.Addr.Unmap(), n.opts.Port), b)
}

// authenticNotify decodes the Map-Notify b into notify and finds the
// Map-Server it is from by its HMAC, not by the source address (RFC 9301
// authenticates Map-Notifies by key and nonce; a Map-Server with several
// addresses, or an anycast one, may answer from another): when the nonce is
// that of a Map-Register we sent to a Map-Server, that Map-Server's key must
// verify it (solicited is then true); otherwise the key of any configured
// Map-Server with the same algorithm. It returns nil after counting and
// logging (as what, received from from) why not.
func (n *Node) authenticNotify(b []byte, notify *msg.MapNotify, from netip.AddrPort, what string, logArgs ...any) (p *msPeer, solicited bool) {
	if err := notify.Decode(b); err != nil {
		n.malformed(from, what, err)
		return nil, false
	}
	if p := n.etr.peerByNonce(notify.Nonce); p != nil {
		if p.verifies(b, notify.Alg) {
			return p, true
		}
	} else {
		for _, p := range n.etr.peers {
			if p.verifies(b, notify.Alg) {
				return p, false
			}
		}
	}
	n.ctr.drop(DropBadAuth)
	n.logs.warn("notify-auth", from.Addr(), what+" failed authentication with the configured Map-Servers' keys", logArgs...)
	return nil, false
}

// handleMapNotify takes a Map-Notify authenticated by a configured
// Map-Server's key (from whatever address). One echoing the nonce of our
// Map-Register acknowledges it: the registration is confirmed and nothing
// is sent back. Any other is unsolicited (RFC 9301 section 5.7: a
// Map-Server retransmits it until acknowledged) and, when it is about our
// EID prefixes, gets a Map-Notify-Ack; it changes no registration state.
func (n *Node) handleMapNotify(b []byte, from netip.AddrPort) {
	var notify msg.MapNotify
	p, solicited := n.authenticNotify(b, &notify, from, "Map-Notify")
	if p == nil {
		return
	}
	if solicited {
		n.etr.notify(p, notify.Nonce)
		return
	}
	var eids []string
	ours := false
	for _, r := range notify.Records {
		eids = append(eids, r.EID.String())
		ours = ours || n.etr.overlapsOwn(r.EID)
	}
	if !ours {
		n.ctr.drop(DropNotOurEID)
		n.logs.warn("notify-not-ours", from.Addr(), "unsolicited Map-Notify for none of our EID prefixes dropped", "eid_prefixes", eids)
		return
	}
	ack := notify
	ack.Ack = true
	ack.AuthData = nil
	out := ack.Append(nil)
	if err := msg.Sign(out, []byte(p.Key)); err != nil {
		n.logs.warn("sign", from.Addr(), "cannot sign Map-Notify-Ack", "err", err)
		return
	}
	p.mu.Lock()
	p.unsolicited++
	p.mu.Unlock()
	// Rate-limited per source: a replayed Map-Notify must not flood the log.
	n.logs.logAt(logx.LevelInfo, "notify-unsolicited", from.Addr(), "unsolicited Map-Notify acknowledged", "map_server", p.Addr, "from", from, "eid_prefixes", eids)
	if err := n.send(netip.Addr{}, from, out); err != nil {
		n.ctr.drop(DropSendError)
		n.logs.warn("send-ack", from.Addr(), "cannot send Map-Notify-Ack", "err", err)
	}
}

// overlapsOwn reports whether eid (a record's EID-prefix) overlaps one of
// our EID prefixes in our instance: a Map-Notify about our mappings (a
// Map-Server's merged locator set of a multi-ETR site covers or equals
// them).
func (e *etr) overlapsOwn(eid msg.EID) bool {
	if eid.IID != e.x.InstanceID || !eid.Prefix.IsValid() {
		return false
	}
	p := eid.Prefix
	p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-unmapBits(p)).Masked() // as the ITR reads records
	for _, own := range e.x.EIDPrefixes {
		if own.Overlaps(p) {
			return true
		}
	}
	return false
}
