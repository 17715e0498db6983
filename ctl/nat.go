package ctl

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/lispd/lispd/ctl/msg"
	"github.com/lispd/lispd/internal/nocmp"
)

// NAT traversal, xTR side (draft-ermagan-lisp-nat-traversal-19, now
// draft-ietf-lisp-nat-traversal): discover a NAT with Info-Requests sent
// from the data and control ports, then register through an RTR with an
// Encapsulated Control Message sent from the data port, and keep that NAT
// binding open.

// NATMode is xtr.nat_traversal.
type NATMode string

// NAT traversal modes.
const (
	// NATAuto: ask the Map-Server with Info-Requests and go through an RTR
	// when the address or port it saw differs from the one we sent from.
	NATAuto NATMode = "auto"
	// NATAlways: always register through the RTRs the Map-Server offers.
	NATAlways NATMode = "always"
	// NATOff: never send Info-Requests; register directly.
	NATOff NATMode = "off"
)

// DataPort is the data plane's UDP socket of port 4341 as NAT traversal
// uses it: the NAT binding that matters is the data port's, so the
// Info-Request that discovers it and the encapsulated Map-Register that opens
// it toward the RTR leave from that socket. Messages arriving on it for the
// control plane (Info-Replies, Data-Map-Notifies) come back through
// Node.HandleDataPort.
type DataPort interface {
	// SendFromDataPort sends b to dst from the data socket of dst's family,
	// with source address src when it is valid.
	SendFromDataPort(src netip.Addr, dst netip.AddrPort, b []byte) error
	// Port returns the data socket's port (4341).
	Port() uint16
}

// natRetry is the first retry of an unanswered Info-Request; it doubles up
// to natRetryMax.
const (
	natRetry    = time.Second
	natRetryMax = 30 * time.Second
	// natGiveUp unanswered rounds of Info-Requests in auto mode let the ETR
	// register directly rather than not at all.
	natGiveUp = 3
)

// NATStatus is the xTR's NAT-traversal state, for `show rlocs`.
type NATStatus struct {
	Mode       NATMode
	Discovered bool // an Info-Reply arrived
	BehindNAT  bool // registering through the RTRs
	// Unanswered says the last natGiveUp rounds of Info-Requests got no
	// Info-Reply (until one arrives): discovery failed, for now.
	Unanswered bool
	// Local is the address and data port the Info-Request left from, Public
	// what the Map-Server saw of it (PublicControl: the same for the
	// control port).
	Local, Public, PublicControl netip.AddrPort
	MapServer                    netip.Addr
	RTRs                         []netip.Addr // offered in the last Info-Reply
	// RTR is the RTR whose Data-Map-Notify last confirmed the registration.
	RTR       netip.Addr
	LastReply time.Time
	Expires   time.Time // Info-Reply TTL: discovery is redone then
}

// infoSent is an outstanding Info-Request.
type infoSent struct {
	_ nocmp.DoNotCompare

	peer  *msPeer
	local netip.AddrPort
	data  bool
}

// natState is the xTR's NAT-traversal state machine.
type natState struct {
	n       *Node
	x       *XTROptions
	kick    chan struct{} // rediscover now (capacity 1)
	replied chan struct{} // an Info-Reply was taken (capacity 1)
	ready   chan struct{} // closed once registration may start
	once    sync.Once

	mu         sync.Mutex
	sent       map[uint64]infoSent
	st         NATStatus
	behindData bool
	behindCtl  bool
}

func newNAT(n *Node, x *XTROptions) *natState {
	s := &natState{
		n: n, x: x,
		kick: make(chan struct{}, 1), replied: make(chan struct{}, 1), ready: make(chan struct{}),
		sent: map[uint64]infoSent{},
	}
	s.st.Mode = x.NATTraversal
	return s
}

// status returns a copy of the state.
func (s *natState) status() NATStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.RTRs = slices.Clone(s.st.RTRs)
	return st
}

// via returns the RTRs to register through when behind a NAT.
func (s *natState) via() ([]netip.Addr, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.st.BehindNAT || len(s.st.RTRs) == 0 {
		return nil, false
	}
	return slices.Clone(s.st.RTRs), true
}

// rediscover makes the discovery loop send Info-Requests now (a local
// address changed).
func (s *natState) rediscover() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *natState) setReady() { s.once.Do(func() { close(s.ready) }) }

// run sends Info-Requests to every Map-Server until one answers, retrying
// with backoff, and again when the Info-Reply's TTL runs out or a local
// address changes.
func (s *natState) run(ctx context.Context) {
	attempt := 0
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-s.replied:
		default:
		}
		s.sendInfo()
		timer.Reset(min(natRetry<<min(attempt, 6), natRetryMax))
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
			timer.Stop()
			attempt = 0
			continue
		case <-s.replied:
			timer.Stop()
			attempt = 0
			s.mu.Lock()
			ttl := time.Until(s.st.Expires)
			s.mu.Unlock()
			timer.Reset(max(ttl, natRetry))
			select {
			case <-ctx.Done():
				return
			case <-s.kick:
				timer.Stop()
			case <-timer.C:
			}
		case <-timer.C:
			attempt++
			if attempt == natGiveUp {
				s.noReply()
			}
		}
	}
}

// noReply lets registration start when no Map-Server answers Info-Requests:
// directly in auto mode (there may be no NAT and an old Map-Server).
func (s *natState) noReply() {
	s.n.logs.warn("info-silent", netip.Addr{}, "no Info-Reply from any Map-Server: NAT traversal cannot tell whether there is a NAT",
		"mode", string(s.x.NATTraversal))
	s.mu.Lock()
	s.st.Unanswered = true
	s.mu.Unlock()
	s.setReady()
}

// sendInfo sends one signed Info-Request to every Map-Server from the data
// port (when the data plane lends it) and from the control port.
func (s *natState) sendInfo() {
	n := s.n
	var eid msg.EID
	if len(s.x.EIDPrefixes) > 0 {
		eid = msg.EIDOf(s.x.InstanceID, s.x.EIDPrefixes[0])
	}
	for _, p := range n.etr.peers {
		local := n.localRLOC(p.Addr)
		for _, data := range []bool{true, false} {
			if data && n.opts.DataPort == nil {
				continue
			}
			nonce := randomNonce()
			req := msg.Info{Nonce: nonce, Alg: p.KeyType.alg(), EID: eid}
			b := req.Append(nil)
			if err := msg.Sign(b, []byte(p.Key)); err != nil {
				n.logs.warn("sign", p.Addr, "cannot sign Info-Request", "err", err)
				return
			}
			port := n.opts.Port
			if data {
				port = n.opts.DataPort.Port()
			}
			s.mu.Lock()
			if len(s.sent) > 64 {
				clear(s.sent) // unanswered rounds: forget them
			}
			s.sent[nonce] = infoSent{peer: p, local: netip.AddrPortFrom(local, port), data: data}
			s.mu.Unlock()
			dst := netip.AddrPortFrom(p.Addr.Unmap(), n.opts.Port)
			var err error
			if data {
				err = n.sendData(local, dst, b)
			} else {
				err = n.send(local, dst, b)
			}
			if err != nil {
				n.ctr.drop(DropSendError)
				n.logs.warn("send-info", p.Addr, "cannot send Info-Request", "err", err)
			}
		}
	}
}

// sendData sends a control message from the data port, counted like any.
func (n *Node) sendData(src netip.Addr, dst netip.AddrPort, b []byte) error {
	if n.opts.DataPort == nil {
		return n.send(src, dst, b)
	}
	out := &n.ctr.out[b[0]>>4]
	out.Add(1)
	if err := n.opts.DataPort.SendFromDataPort(src, dst, b); err != nil {
		out.Add(^uint64(0))
		return err
	}
	return nil
}

// handleInfoReply takes an Info-Reply to one of our Info-Requests: it
// compares the global RLOC and port the Map-Server saw with the ones we
// sent from.
func (s *natState) handleInfoReply(b []byte, rep *msg.Info, from netip.AddrPort) {
	n := s.n
	s.mu.Lock()
	sent, ok := s.sent[rep.Nonce]
	s.mu.Unlock()
	if !ok {
		n.ctr.drop(DropBadNonce)
		n.logs.warn("info-nonce", from.Addr(), "Info-Reply with a nonce matching none of our Info-Requests dropped")
		return
	}
	// The HMAC first: a forged reply carrying a seen nonce must not use it
	// up before the Map-Server's genuine one arrives.
	p := sent.peer
	if p.KeyType.alg() != rep.Alg || msg.Verify(b, []byte(p.Key)) != nil {
		n.ctr.drop(DropBadAuth)
		n.logs.warn("info-auth", from.Addr(), "Info-Reply failed authentication")
		return
	}
	s.mu.Lock()
	_, ok = s.sent[rep.Nonce]
	delete(s.sent, rep.Nonce)
	s.mu.Unlock()
	if !ok {
		// Its twin was taken meanwhile (a duplicate).
		n.ctr.drop(DropBadNonce)
		return
	}
	global := netip.AddrPortFrom(rep.NAT.GlobalETR.Unmap(), rep.NAT.ETRPort)
	translated := global != netip.AddrPortFrom(sent.local.Addr().Unmap(), sent.local.Port())
	now := time.Now()
	s.mu.Lock()
	was, wasRTRs := s.st.BehindNAT, s.st.RTRs
	if sent.data {
		s.behindData = translated
		s.st.Local, s.st.Public = sent.local, global
	} else {
		s.behindCtl = translated
		s.st.PublicControl = global
		if !s.st.Local.IsValid() || n.opts.DataPort == nil {
			s.st.Local = sent.local
		}
	}
	behind := s.behindData || s.behindCtl || s.x.NATTraversal == NATAlways
	s.st.Discovered, s.st.Unanswered = true, false
	s.st.BehindNAT = behind
	s.st.MapServer = p.Addr
	s.st.RTRs = slices.Clone(rep.NAT.RTRs)
	s.st.LastReply = now
	// Converted without overflow and capped like a record TTL; 0 and
	// 0xffffffff ("the recipient decides") get our default.
	ttl := ttlFromMinutes(rep.TTL)
	if ttl <= 0 || rep.TTL == 0xffffffff {
		ttl = DefaultInfoTTL
	}
	s.st.Expires = now.Add(ttl)
	changed := was != behind || !slices.Equal(wasRTRs, s.st.RTRs)
	rtrs := slices.Clone(s.st.RTRs)
	s.mu.Unlock()

	if behind && len(rtrs) == 0 {
		n.logs.warn("nat-no-rtr", from.Addr(), "behind a NAT but the Map-Server offers no RTR: EIDs will not be reachable", "public", global)
	}
	if behind && len(rtrs) > 0 {
		// Refresh the RTR mappings at every reply (their TTL follows the
		// Info-Reply's).
		s.installRTRs(rtrs, ttl)
	}
	if changed {
		if behind {
			n.log.Info("behind a NAT: registering through RTRs", "local", sent.local, "public", global, "rtrs", rtrs)
		} else {
			n.log.Info("no NAT on the path to the Map-Server", "local", sent.local)
		}
		if was != behind {
			n.etr.reregister()
		}
	}
	s.setReady()
	// The round is done when the data port's binding is known (the one
	// that matters); a control-port reply alone keeps the retries going.
	if sent.data || n.opts.DataPort == nil {
		select {
		case s.replied <- struct{}{}:
		default:
		}
	}
}

// installRTRs points eid_space (everything when it is empty) at the RTRs:
// from behind a NAT, traffic to remote EIDs goes to an RTR, which resolves
// the destination and re-encapsulates.
func (s *natState) installRTRs(rtrs []netip.Addr, ttl time.Duration) {
	space := s.x.EIDSpace
	if len(space) == 0 {
		space = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
	}
	locs := rtrLocators(rtrs)
	for _, p := range space {
		m := Mapping{InstanceID: s.x.InstanceID, Prefix: p, TTL: ttl + time.Minute, Locators: locs}
		if err := s.n.dp.Install(m); err != nil {
			s.n.ctr.drop(DropInstallError)
			s.n.logs.warn("install-rtr", netip.Addr{}, "data plane refused the RTR mapping", "eid", p, "err", err)
			continue
		}
		if s.n.prb != nil {
			s.n.prb.installed(m)
		}
	}
}

// adjust rewrites a learned positive mapping to go through the RTRs while
// behind a NAT (an entry resolved before the NAT was found, or a more
// specific one).
func (s *natState) adjust(m *Mapping) {
	rtrs, ok := s.via()
	if !ok || m.Negative {
		return
	}
	m.Locators = rtrLocators(rtrs)
}

func rtrLocators(rtrs []netip.Addr) []Locator {
	locs := make([]Locator, len(rtrs))
	for i, a := range rtrs {
		locs[i] = Locator{Addr: a.Unmap(), Priority: 1, Weight: uint8(100 / len(rtrs)), Reachable: true}
	}
	return locs
}

// interval is the registration period: behind a NAT the encapsulated
// Map-Register is also the keepalive of the NAT binding to the RTRs.
func (s *natState) interval(def time.Duration) time.Duration {
	if _, ok := s.via(); ok {
		return min(def, s.x.NATKeepalive)
	}
	return def
}

// sendECMRegister sends the Map-Register for p through every RTR: an
// Encapsulated Control Message with the R bit from our data port to
// RTR:4342, inner private RLOC:4342 → Map-Server:4342, the inner
// Map-Register with the P, M and I bits whose locators are the RTRs.
func (n *Node) sendECMRegister(p *msPeer, nonce uint64, rtrs []netip.Addr) error {
	recs := make([]msg.Record, 0, len(n.opts.XTR.EIDPrefixes))
	for _, pfx := range n.opts.XTR.EIDPrefixes {
		rec := n.etr.record(pfx)
		rec.Locators = rec.Locators[:0]
		for _, l := range rtrLocators(rtrs) {
			rec.Locators = append(rec.Locators, msg.Locator{
				Priority: l.Priority, Weight: l.Weight, MPriority: 255, Reachable: true, Addr: msg.AddrOf(l.Addr),
			})
		}
		recs = append(recs, rec)
	}
	inner, err := n.signedMapRegister(p, nonce, recs, true)
	if err != nil {
		return err
	}
	ms := p.Addr.Unmap()
	local := n.localRLOC(ms)
	ecm := msg.ECM{
		RTR:     true,
		Src:     netip.AddrPortFrom(local, msg.ControlPort),
		Dst:     netip.AddrPortFrom(ms, msg.ControlPort),
		Message: inner,
	}
	b := ecm.Append(nil)
	var first error
	for _, r := range rtrs {
		if err := n.sendData(n.localRLOC(r), netip.AddrPortFrom(r.Unmap(), n.opts.Port), b); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// HandleDataPort takes a datagram that arrived on the data plane's port
// 4341 and is for the control plane: an Info-Reply to an Info-Request sent
// from that port, or a Data-Map-Notify (LISP data header with instance-id
// 0xFFFFFF) from an RTR. It reports whether it took b; b is only valid
// during the call.
func (n *Node) HandleDataPort(b []byte, from netip.AddrPort) bool {
	if len(b) == 0 {
		return false
	}
	if b[0]>>4 == uint8(msg.TypeInfo) {
		n.handle(b, from)
		return true
	}
	if isDataMapNotify(b) {
		n.ctr.in[msg.TypeMapNotify].Add(1)
		if n.etr == nil || n.nat == nil {
			n.ctr.drop(DropUnsupported)
			return true
		}
		n.handleDataMapNotify(b, from)
		return true
	}
	return false
}

// handleDataMapNotify checks the Map-Notify an RTR relayed inside a LISP
// data header: its HMAC with the Map-Server's key, our xTR-ID and the nonce
// of one of our Map-Registers.
func (n *Node) handleDataMapNotify(b []byte, from netip.AddrPort) {
	src, _, payload, err := decodeInnerUDP(b[DataHeaderLen:])
	if err != nil {
		n.malformed(from, "Data-Map-Notify", err)
		return
	}
	var notify msg.MapNotify
	p, solicited := n.authenticNotify(payload, &notify, from, "Data-Map-Notify", "inner_source", src)
	if p == nil {
		return
	}
	if !notify.HasXTRID || notify.XTRID != n.opts.XTR.XTRID {
		n.ctr.drop(DropBadAuth)
		n.logs.warn("notify-xtrid", from.Addr(), "Data-Map-Notify for another xTR-ID dropped")
		return
	}
	if !solicited || !n.etr.notify(p, notify.Nonce) {
		n.ctr.drop(DropBadNonce)
		n.logs.warn("notify-nonce", from.Addr(), "Data-Map-Notify with a nonce matching none of our Map-Registers dropped")
		return
	}
	n.nat.mu.Lock()
	n.nat.st.RTR = from.Addr()
	n.nat.mu.Unlock()
}

// NATStatus returns the xTR's NAT-traversal state; ok is false when NAT
// traversal is off or the xTR role is not configured.
func (n *Node) NATStatus() (st NATStatus, ok bool) {
	if n.nat == nil {
		return NATStatus{}, false
	}
	return n.nat.status(), true
}
