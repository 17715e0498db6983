package fwd

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lispd/lispd/fwd/netio"
	"golang.org/x/sys/unix"
)

// DefaultBatchSize is how many packets one read or write system call moves
// at most.
const DefaultBatchSize = 64

// TUN is the tunnel device as the plane uses it; netio.TUN satisfies it.
// Write may be called from several goroutines at once (decapsulation, ICMP
// errors, the flush of queued packets).
type TUN interface {
	Read(bufs [][]byte, sizes []int, offset int) (n int, err error)
	Write(bufs [][]byte, offset int) (int, error)
	MTU() int
	Close() error
}

// BatchConn is a UDP socket moving batches of datagrams; *netio.UDPConn
// satisfies it. ReadBatch blocks until at least one datagram is there and
// returns what is available; WriteBatch sends what it is given. The plane
// never calls WriteBatch on one socket from two goroutines at once.
type BatchConn interface {
	ReadBatch(msgs []netio.Message) (int, error)
	WriteBatch(msgs []netio.Message) (int, error)
	Close() error
}

// Sockets are the plane's UDP sockets.
type Sockets struct {
	// Recv are the sockets bound to port 4341 (one per address family);
	// each gets its own decapsulating goroutine.
	Recv []BatchConn
	// Send4 and Send6 are pools of sockets bound to distinct source ports:
	// the flow hash picks one, so one flow keeps one outer source port while
	// flows spread over the pool (RFC 9300 entropy). A Linux UDP socket
	// has a single source port; a pool keeps UDP sockets (and later their
	// GSO) rather than a raw socket. A Recv socket may be reused here.
	Send4, Send6 []BatchConn
}

// NativeForwarder sends a packet natively, outside the tunnel: the data
// plane's way out for negative mappings that say Natively-Forward (or
// No-Action) when no proxy ETR is configured. The kernel routes eid_space
// into the TUN, so an implementation must bypass those routes (RawForwarder:
// a raw socket whose packets carry a firewall mark that policy routing
// sends past the TUN). Forward gets the inner IPv4 or IPv6 packet as read
// from the TUN; it must not block, must not keep pkt, and must be safe for
// concurrent use (the encapsulating goroutine and the control plane's
// flush of queued packets call it).
type NativeForwarder interface {
	Forward(pkt []byte) error
}

// MissFunc adapts a function to MissHandler.
type MissFunc func(iid uint32, src, dst netip.Addr)

// Miss calls f(iid, src, dst).
func (f MissFunc) Miss(iid uint32, src, dst netip.Addr) { f(iid, src, dst) }

// Options configure a Plane. They are plain values: main fills them from
// the configuration.
type Options struct {
	// InstanceID is this xTR's instance-id (0..0xFFFFFE); non-zero sets the
	// I bit of every encapsulated packet.
	InstanceID uint32
	// LocalEIDs are this site's EID prefixes (eid_prefixes): decapsulated
	// packets must be addressed inside them.
	LocalEIDs []netip.Prefix
	// EIDSpace are the destinations sent through LISP (eid_space); a packet
	// from the TUN outside them is dropped, and misses are reported only
	// inside them. Empty: everything the TUN hands over.
	EIDSpace []netip.Prefix
	// LocalRLOCs are this router's own locator addresses: New refuses an
	// RLOC inside EIDSpace (it would loop).
	LocalRLOCs []netip.Addr
	// ProxyETRs receive packets whose negative mapping says native-forward.
	ProxyETRs []RLOCSpec
	// LocatorStatusBits go into the L field of encapsulated packets (one
	// bit per local RLOC, up = 1); 0 means 1 (one locator, up). The control
	// plane may change them with SetLocatorStatusBits.
	LocatorStatusBits uint32
	// PathMTU is the path MTU assumed toward an RLOC until one is learned;
	// 0 = DefaultPathMTU.
	PathMTU int
	// PathMTUFunc, when set, returns the kernel's current path MTU toward an
	// RLOC (netio's IP_MTU query on a connected socket; 0 if unknown). The
	// plane polls it once a second for RLOCs used in the last seconds.
	PathMTUFunc func(dst netip.Addr) int
	// ICMPSource4/6 are the source addresses of ICMP errors sent back into
	// the TUN; unset = the destination of the packet that caused the error
	// (see BuildICMPError).
	ICMPSource4, ICMPSource6 netip.Addr
	// ICMPRate and ICMPBurst limit ICMP errors (per second, bucket size);
	// 0 = 100 per second, burst 100.
	ICMPRate, ICMPBurst int
	// MissHandler is told about map-cache misses; nil = count and drop.
	// With a MissHandler, packets to a destination being resolved are
	// queued (PendingPackets) and the handler is told once per destination.
	MissHandler MissHandler
	// PendingPackets bounds the packets queued per destination while its
	// mapping is resolved; 0 = DefaultPendingPackets, negative = no queue
	// (misses are reported and dropped).
	PendingPackets int
	// PendingTotal bounds the packets queued for all destinations (and the
	// number of destinations); 0 = DefaultPendingTotal.
	PendingTotal int
	// PendingTimeout is how long queued packets wait for a mapping before
	// they are dropped (counted as pending-timeout) when the control plane
	// neither installs one nor calls ResolveFailed; 0 =
	// DefaultPendingTimeout. Main sets it to the control plane's whole
	// Map-Request schedule.
	PendingTimeout time.Duration
	// NativeForwarder, when set, forwards natively (outside the tunnel)
	// packets whose negative mapping says Natively-Forward when there is no
	// proxy ETR, and No-Action packets. nil = they get ICMP unreachable.
	NativeForwarder NativeForwarder
	// MapCache is the cache to use; nil = a new one of MapCacheLimit entries.
	MapCache *MapCache
	// MapCacheLimit bounds a new cache; 0 = DefaultMapCacheLimit.
	MapCacheLimit int
	// BatchSize is the most packets per system call; 0 = DefaultBatchSize.
	BatchSize int
	// ErrorLog, when set, receives I/O errors that the plane survives.
	ErrorLog func(format string, args ...any)
	// LSBChanged, when set, is told when a remote ITR clears
	// locator-status bits in the packets it sends us (see LSBFunc).
	LSBChanged LSBFunc
	// Divert, when set, is offered the datagrams received on port 4341 that
	// are for the control plane rather than the TUN (see IsControlDatagram:
	// NAT traversal's Info-Replies and Data-Map-Notifies); it must not keep
	// b after returning.
	Divert func(b []byte, from netip.AddrPort)
	// KernelPath asks for the in-kernel data path (fwd/kpath; see
	// kernel.go): eBPF programs encapsulate and decapsulate the traffic of
	// the mappings they can handle. When the kernel refuses, the plane runs
	// on the userspace path alone and KernelPath (the method) says why.
	KernelPath bool
	// TUNIndex is the TUN device's ifindex, for KernelPath.
	TUNIndex int
	// DecapFilter accepts encapsulated packets only from known outer
	// sources (see decapfilter.go): RLOCs of map-cache entries, the proxy
	// ETRs, and DecapAllow. Off: from anyone.
	DecapFilter bool
	// DecapAllow are outer sources accepted whatever the map-cache holds,
	// with DecapFilter (decap_allow, the Map-Servers); SetDecapAllow
	// replaces them.
	DecapAllow []netip.Prefix
	// TUNPlainReason says why the TUN reads one packet at a time (offloads
	// not asked for, or refused by the kernel) when it does: `show stats`
	// prints it next to the path.
	TUNPlainReason string
}

// Plane is the data plane: it moves packets between the TUN and the UDP
// sockets, encapsulating and decapsulating on the way.
type Plane struct {
	opts  Options
	tun   TUN
	socks Sockets
	cache *MapCache
	stats Stats
	lsb   atomic.Uint32
	local localPtr   // source per local locator; nil = the kernel's choice
	itrs  recentITRs // ITRs that sent us packets lately
	petr  *Mapping
	seed  uint64
	mtu   int  // TUN MTU, for buffer sizes
	gro   bool // receive sockets coalesce datagrams (UDP_GRO): 64 KB receive buffers

	groMsgs, groSegs atomic.Uint64 // coalesced messages received and the datagrams in them

	pend    *pendingQueue // nil without a MissHandler
	sendMu  []*sync.Mutex // per send socket (Send4 then Send6), shared by duplicates
	flushMu sync.Mutex    // one flush at a time; guards flusher
	flusher *encapWorker

	kern      *kernelPath // the in-kernel path, nil when off or refused
	kernErr   error       // why the kernel refused it
	localMu   sync.Mutex  // guards localLocs
	localLocs []LocalLocator

	srcs     atomic.Pointer[decapSources] // known outer sources; nil = no filter
	srcWake  chan struct{}                // map-cache changed (DecapFilter)
	srcMu    sync.Mutex                   // serializes rebuilds; guards srcAllow
	srcAllow []netip.Prefix
	held     *heldPackets // packets from unknown sources awaiting a mapping; nil = none

	closeOnce sync.Once
	closeErr  error
}

// TUNMTU returns the TUN MTU that fits a path MTU after encapsulation: 36
// bytes less with IPv4 RLOCs, 56 with IPv6 RLOCs.
func TUNMTU(pathMTU int, ipv6Outer bool) int {
	if ipv6Outer {
		return pathMTU - Overhead6
	}
	return pathMTU - Overhead4
}

// New builds a plane over an opened TUN and sockets. It does not start
// moving packets: Run does.
func New(opts Options, tun TUN, socks Sockets) (*Plane, error) {
	if opts.InstanceID > 0xfffffe {
		return nil, fmt.Errorf("fwd: instance-id %d out of range 0..16777214", opts.InstanceID)
	}
	if tun == nil {
		return nil, errors.New("fwd: no TUN device")
	}
	if len(socks.Recv) == 0 || len(socks.Send4)+len(socks.Send6) == 0 {
		return nil, errors.New("fwd: need at least one receive and one send socket")
	}
	for _, r := range opts.LocalRLOCs {
		for _, p := range opts.EIDSpace {
			if p.Contains(r.Unmap()) {
				return nil, fmt.Errorf("fwd: RLOC %v is inside eid_space %v: packets to it would loop into the tunnel", r, p)
			}
		}
	}
	for _, r := range opts.ProxyETRs {
		for _, p := range opts.EIDSpace {
			if p.Contains(r.Addr.Unmap()) {
				return nil, fmt.Errorf("fwd: proxy ETR %v is inside eid_space %v", r.Addr, p)
			}
		}
	}
	if opts.PathMTU <= 0 {
		opts.PathMTU = DefaultPathMTU
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	p := &Plane{opts: opts, tun: tun, socks: socks, cache: opts.MapCache, seed: rand.Uint64(), mtu: tun.MTU()}
	if p.cache == nil {
		p.cache = NewMapCache(opts.MapCacheLimit)
	}
	if p.mtu <= 0 || p.mtu > 65535 {
		p.mtu = 65535
	}
	lsb := opts.LocatorStatusBits
	if lsb == 0 {
		lsb = 1
	}
	p.lsb.Store(lsb)
	if len(opts.ProxyETRs) > 0 {
		m, err := NewMapping(MappingSpec{InstanceID: opts.InstanceID, Prefix: netip.MustParsePrefix("0.0.0.0/0"), RLOCs: opts.ProxyETRs})
		if err != nil {
			return nil, fmt.Errorf("fwd: proxy ETRs: %w", err)
		}
		p.petr = m
	}
	conns := append(append([]BatchConn(nil), socks.Send4...), socks.Send6...)
	p.sendMu = make([]*sync.Mutex, len(conns))
	for i, c := range conns {
		for j := 0; j < i; j++ {
			if conns[j] == c {
				p.sendMu[i] = p.sendMu[j]
				break
			}
		}
		if p.sendMu[i] == nil {
			p.sendMu[i] = new(sync.Mutex)
		}
	}
	if opts.MissHandler != nil && opts.PendingPackets >= 0 {
		p.pend = newPendingQueue(p.mtu)
		p.SetPending(opts.PendingPackets, opts.PendingTotal, opts.PendingTimeout)
		hook := p.flushPending
		p.cache.onInstall.Store(&hook)
	}
	p.setupKernel()
	p.setupOffload()
	if opts.DecapFilter {
		p.srcWake = make(chan struct{}, 1)
		p.cache.sources.Store(&p.srcWake)
		if p.pend != nil {
			p.held = p.newHeldPackets(HeaderLen + max(p.mtu, p.opts.PathMTU))
		}
		p.SetDecapAllow(opts.DecapAllow)
	}
	return p, nil
}

// SetPending changes the bounds and the wait of the pending queues in
// place, zero values meaning the defaults as in Options.PendingPackets,
// PendingTotal and PendingTimeout, and returns how many queued packets it
// dropped to fit the new bounds (counted as queue-full; see
// pendingQueue.setLimits for which). A plane without queues (no
// MissHandler, or a negative PendingPackets at New) keeps having none.
func (p *Plane) SetPending(perDst, total int, timeout time.Duration) (dropped int) {
	if p.pend == nil {
		return 0
	}
	if perDst <= 0 {
		perDst = DefaultPendingPackets
	}
	if total <= 0 {
		total = DefaultPendingTotal
	}
	if timeout <= 0 {
		timeout = DefaultPendingTimeout
	}
	dropped = p.pend.setLimits(min(perDst, total), total, timeout)
	p.stats.addDrops(DropQueueFull, dropped)
	return dropped
}

// ResolveFailed drops the packets queued for dst in instance iid (counted
// as no-mapping) and removes its pending entry: the control plane gave up
// resolving it. Safe for concurrent use; a destination without a queue is
// ignored.
func (p *Plane) ResolveFailed(iid uint32, dst netip.Addr) {
	if p.pend == nil {
		return
	}
	p.stats.addDrops(DropNoMapping, p.pend.drop(p.cache, pendKey{iid, dst.Unmap()}))
}

// Pending returns how many destinations have packets queued while their
// mapping is resolved, and how many packets are queued.
func (p *Plane) Pending() (dsts, pkts int) {
	if p.pend == nil {
		return 0, 0
	}
	return p.pend.counts()
}

// expirePending drops the queues whose time is up.
func (p *Plane) expirePending() {
	if p.pend != nil {
		p.stats.addDrops(DropPendingTimeout, p.pend.expire(p.cache, p.cache.now.Load()))
	}
}

// flushPending sends the packets queued for destinations that m (just
// installed) covers, through the normal send path, from the installing
// goroutine: its own Encapsulator and batches (p.flusher), the send sockets
// under their locks, one WriteBatch per socket per BatchSize packets.
func (p *Plane) flushPending(m *Mapping) {
	if p.pend.n.Load() == 0 {
		return
	}
	p.flushMu.Lock()
	defer p.flushMu.Unlock()
	if p.flusher == nil {
		p.flusher = p.newEncapWorker(true)
	}
	w := p.flusher
	w.pds = p.pend.take(p.cache, m.InstanceID, m.Prefix, w.pds[:0])
	if len(w.pds) == 0 {
		return
	}
	n, total := 0, 0
	for _, pd := range w.pds {
		for _, b := range pd.pkts {
			w.bufs[n], w.sizes[n] = b, len(b)-HeaderLen
			n++
			if n == len(w.bufs) {
				w.process(n)
				total += n
				n = 0
			}
		}
	}
	if n > 0 {
		w.process(n)
		total += n
	}
	clear(w.bufs)
	p.stats.Flushed.Add(uint64(total))
	p.pend.release(w.pds)
	clear(w.pds)
}

// MapCache returns the plane's map-cache, for the control plane to fill.
func (p *Plane) MapCache() *MapCache { return p.cache }

// Stats returns the plane's counters.
func (p *Plane) Stats() *Stats { return &p.stats }

// SetLocatorStatusBits changes the L field of packets encapsulated from the
// next batch on.
func (p *Plane) SetLocatorStatusBits(lsb uint32) {
	p.lsb.Store(lsb)
	if p.kern != nil {
		p.kern.signal()
	}
}

// Close closes the TUN and the sockets, which ends Run. It is safe to call
// more than once.
func (p *Plane) Close() error {
	p.closeOnce.Do(func() {
		errs := []error{p.tun.Close()}
		if p.kern != nil {
			errs = append(errs, p.kern.close())
		}
		seen := map[BatchConn]bool{}
		for _, set := range [][]BatchConn{p.socks.Recv, p.socks.Send4, p.socks.Send6} {
			for _, c := range set {
				if !seen[c] {
					seen[c] = true
					errs = append(errs, c.Close())
				}
			}
		}
		p.closeErr = errors.Join(errs...)
	})
	return p.closeErr
}

// Run moves packets until ctx is done or the TUN fails: one goroutine
// encapsulates (TUN → UDP), one per receive socket decapsulates
// (UDP → TUN), and one ticks the map-cache's coarse clock once a second.
// When ctx is done Run closes the plane and returns nil after all
// goroutines have ended.
func (p *Plane) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 1+len(p.socks.Recv))
	fail := func(err error) {
		select {
		case errc <- err:
		default:
		}
		cancel()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := p.encapLoop(ctx); err != nil {
			fail(err)
		}
	}()
	for _, c := range p.socks.Recv {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.decapLoop(ctx, c); err != nil {
				fail(err)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.clockLoop(ctx)
	}()
	if p.kern != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.kernelLoop(ctx.Done())
		}()
	}
	if p.srcWake != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.sourcesLoop(ctx)
		}()
	}

	<-ctx.Done()
	p.Close()
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

func (p *Plane) logf(format string, args ...any) {
	if p.opts.ErrorLog != nil {
		p.opts.ErrorLog(format, args...)
	}
}

// logGate is one goroutine's state for logEvery.
type logGate struct {
	last    uint32 // coarse clock of the last line
	skipped uint32 // lines not logged since
}

// logEvery logs at most once per second of the coarse clock per caller (g
// is the caller's own), so a persistent error on the packet path does not
// log per batch; a line says how many it stands for. The drop counters
// count every packet.
func (p *Plane) logEvery(g *logGate, format string, args ...any) {
	if p.logDue(g) {
		p.logGated(g, format, args...)
	}
}

// logDue reports whether g may log now, counting the line it stands for
// when not: callers whose arguments cost work check it first.
func (p *Plane) logDue(g *logGate) bool {
	now := p.cache.now.Load()
	if now == g.last {
		g.skipped++
		return false
	}
	g.last = now
	return true
}

// logGated logs a line logDue allowed, with the count of those it stands
// for.
func (p *Plane) logGated(g *logGate, format string, args ...any) {
	if g.skipped > 0 {
		format += " (and %d more since the last such line)"
		args = append(args, g.skipped)
		g.skipped = 0
	}
	p.logf(format, args...)
}

// clockLoop ticks the coarse clock and refreshes learned path MTUs.
func (p *Plane) clockLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			p.cache.Tick(now)
			p.expirePending()
			p.releaseHeld(p.cache.now.Load(), heldWait)
			if p.opts.PathMTUFunc != nil {
				p.refreshPathMTU()
			}
		}
	}
}

// refreshPathMTU asks the kernel for the path MTU toward every RLOC of the
// entries used in the last two seconds (one query per distinct address).
func (p *Plane) refreshPathMTU() {
	now := p.cache.now.Load()
	known := map[netip.Addr]int{}
	p.cache.snap.Load().each(func(m *Mapping) {
		if now-m.lastUsed.Load() > 2 {
			return
		}
		for _, r := range m.RLOCs {
			a := r.Addr.Addr()
			mtu, ok := known[a]
			if !ok {
				mtu = p.opts.PathMTUFunc(a)
				known[a] = mtu
			}
			if mtu > 0 && mtu != r.PathMTU() {
				r.SetPathMTU(mtu)
			}
		}
	})
}

// encapWorker is the state of the encapsulating goroutine, allocated once.
type encapWorker struct {
	p       *Plane
	enc     *Encapsulator
	bufs    [][]byte
	sizes   []int
	replies [][]byte // ICMP reply buffers
	out     [][]byte // replies to write this batch
	conns   []BatchConn
	batches [][]netio.Message // per conn (Send4 then Send6)
	touched []int             // conns with messages this batch
	res     EncapResult
	lastLog logGate
	pds     []*pendingDst // the flusher's queues being sent
}

// newEncapWorker builds the encapsulating goroutine's state or, with flush,
// the state of the control plane's flushes of queued packets (no buffers
// of its own: it works on the queue's).
func (p *Plane) newEncapWorker(flush bool) *encapWorker {
	n := p.opts.BatchSize
	w := &encapWorker{
		p: p,
		enc: newEncapsulator(encapConfig{
			iid:      p.opts.InstanceID,
			eidSpace: p.opts.EIDSpace,
			petr:     p.petr,
			pathMTU:  p.opts.PathMTU,
			icmpSrc4: p.opts.ICMPSource4,
			icmpSrc6: p.opts.ICMPSource6,
			miss:     p.opts.MissHandler,
			seed:     p.seed,
			pend:     p.pend,
			native:   p.opts.NativeForwarder != nil,
			flush:    flush,
		}, p.cache, &p.stats, &p.lsb, newRateLimit(p.opts.ICMPRate, p.opts.ICMPBurst)).withLocal(&p.local),
		bufs:    make([][]byte, n),
		sizes:   make([]int, n),
		replies: make([][]byte, n),
		out:     make([][]byte, 0, n),
		touched: make([]int, 0, len(p.socks.Send4)+len(p.socks.Send6)),
	}
	for i := range w.bufs {
		if !flush {
			w.bufs[i] = make([]byte, HeaderLen+p.mtu)
		}
		w.replies[i] = make([]byte, ICMPBufLen)
	}
	w.conns = append(append(w.conns, p.socks.Send4...), p.socks.Send6...)
	w.batches = make([][]netio.Message, len(w.conns))
	for i := range w.batches {
		w.batches[i] = make([]netio.Message, 0, n)
	}
	return w
}

// maxIOErrors is how many I/O errors in a row a loop survives (logging
// them) before it gives up and ends Run.
const maxIOErrors = 100

// ioFailed decides what a loop does after an I/O error: stop quietly when
// the plane is closing, stop with the error when the device is closed or
// keeps failing, else go on.
func (p *Plane) ioFailed(ctx context.Context, what string, err error, streak *int) (stop bool, _ error) {
	if ctx.Err() != nil {
		return true, nil
	}
	*streak++
	if errors.Is(err, os.ErrClosed) || *streak >= maxIOErrors {
		return true, fmt.Errorf("fwd: %s: %w", what, err)
	}
	p.logf("fwd: %s: %v", what, err)
	return false, nil
}

func (p *Plane) encapLoop(ctx context.Context) error {
	w := p.newEncapWorker(false)
	streak := 0
	for {
		n, err := p.tun.Read(w.bufs, w.sizes, HeaderLen)
		if err != nil {
			if stop, err := p.ioFailed(ctx, "read TUN", err, &streak); stop {
				return err
			}
			continue
		}
		streak = 0
		w.process(n)
	}
}

// process encapsulates the n packets read into w.bufs and sends them: one
// WriteBatch per socket that has packets, and the ICMP errors back into the
// TUN. It is the whole per-batch work of the encapsulating goroutine and
// allocates nothing.
func (w *encapWorker) process(n int) {
	e := w.enc
	e.Begin()
	for i := 0; i < n; i++ {
		switch e.Encap(w.bufs[i], HeaderLen, w.sizes[i], w.replies[len(w.out)], &w.res) {
		case VerdictSend:
			ci := w.connFor(&w.res)
			if ci < 0 {
				e.Dropped(DropSendError)
				continue
			}
			if len(w.batches[ci]) == 0 {
				w.touched = append(w.touched, ci)
			}
			w.batches[ci] = append(w.batches[ci], netio.Message{Buf: w.res.Pkt, Addr: w.res.Dst, TOS: w.res.TOS, TTL: w.res.TTL, Src: w.res.Src, IfIndex: w.res.IfIndex})
		case VerdictReply:
			w.out = append(w.out, w.replies[len(w.out)][:w.res.ReplyLen])
		case VerdictNative:
			if err := w.p.opts.NativeForwarder.Forward(w.res.Pkt); err != nil {
				if errors.Is(err, unix.ENETUNREACH) || errors.Is(err, unix.EHOSTUNREACH) {
					if e.NoRoute(w.replies[len(w.out)], &w.res) == VerdictReply {
						w.out = append(w.out, w.replies[len(w.out)][:w.res.ReplyLen])
					}
				} else {
					e.Dropped(DropNativeError)
				}
				if w.p.logDue(&w.lastLog) { // boxing the address allocates: only for a line logged
					w.p.logGated(&w.lastLog, "fwd: native forwarding to %v: %v", e.pkt.Dst, err)
				}
			}
		}
	}
	for _, ci := range w.touched {
		w.send(ci)
	}
	w.touched = w.touched[:0]
	if len(w.out) > 0 {
		if _, err := w.p.tun.Write(w.out, 0); err != nil {
			w.p.logEvery(&w.lastLog, "fwd: write ICMP errors to TUN: %v", err)
		}
		w.out = w.out[:0]
	}
	e.End()
}

// connFor picks the send socket for a packet: the RLOC's family, the flow
// hash within the pool.
func (w *encapWorker) connFor(r *EncapResult) int {
	n4, n6 := len(w.p.socks.Send4), len(w.p.socks.Send6)
	if r.Dst.Addr().Is4() {
		if n4 == 0 {
			return -1
		}
		return int(r.Hash % uint32(n4))
	}
	if n6 == 0 {
		return -1
	}
	return n4 + int(r.Hash%uint32(n6))
}

// send writes conn ci's batch and counts what was not sent. WriteBatch
// sends every message it can (netio semantics): a message the kernel
// refused carries its Err, and after a socket error the unsent ones have
// N == 0.
func (w *encapWorker) send(ci int) {
	msgs := w.batches[ci]
	mu := w.p.sendMu[ci]
	mu.Lock()
	_, err := w.conns[ci].WriteBatch(msgs)
	mu.Unlock()
	if err != nil {
		for i := range msgs {
			if msgs[i].Err != nil || msgs[i].N == 0 {
				w.enc.Dropped(DropSendError)
			}
		}
		w.p.logEvery(&w.lastLog, "fwd: sendmmsg: %v", err)
	}
	clear(msgs) // drop references to packet buffers
	w.batches[ci] = msgs[:0]
}

// decapWorker is the state of one decapsulating goroutine.
type decapWorker struct {
	p       *Plane
	dec     *Decapsulator
	conn    BatchConn
	bufs    [][]byte
	msgs    []netio.Message
	out     [][]byte
	lastLog logGate
	itrs    itrMemo
	src     srcMemo
}

func (p *Plane) newDecapWorker(c BatchConn) *decapWorker {
	n := p.opts.BatchSize
	w := &decapWorker{
		p:    p,
		dec:  newDecapsulator(decapConfig{iid: p.opts.InstanceID, local: p.opts.LocalEIDs}, &p.stats),
		conn: c,
		bufs: make([][]byte, n),
		msgs: make([]netio.Message, n),
		out:  make([][]byte, 0, n),
	}
	size := HeaderLen + max(p.mtu, p.opts.PathMTU)
	if p.gro {
		size = groBufSize
		w.out = make([][]byte, 0, n*groMaxSegments)
	}
	for i := range w.bufs {
		w.bufs[i] = make([]byte, size)
	}
	return w
}

func (p *Plane) decapLoop(ctx context.Context, c BatchConn) error {
	w := p.newDecapWorker(c)
	streak := 0
	for {
		for i := range w.msgs {
			w.msgs[i] = netio.Message{Buf: w.bufs[i]}
		}
		n, err := c.ReadBatch(w.msgs)
		if err != nil {
			if stop, err := p.ioFailed(ctx, "recvmmsg", err, &streak); stop {
				return err
			}
			continue
		}
		streak = 0
		w.process(n)
	}
}

// process decapsulates the n datagrams in w.msgs and writes the inner
// packets to the TUN in one batch. Allocation-free.
func (w *decapWorker) process(n int) {
	d := w.dec
	var groMsgs, groSegs uint64
	if set := w.p.srcs.Load(); set != w.src.set {
		w.src.set, w.src.ok = set, netip.Addr{}
	}
	for i := 0; i < n; i++ {
		m := &w.msgs[i]
		if m.Err != nil {
			d.Dropped(DropMalformed)
			continue
		}
		from := m.Addr.Addr().Unmap() // once per message, not per GRO segment
		known := w.src.known(from)
		// A coalesced message (UDP_GRO) holds datagrams of GSOSize bytes
		// each but the last; each is one LISP packet.
		seg := m.N
		if m.GSOSize > 0 {
			seg = m.GSOSize
			if m.N > seg {
				groMsgs++
				groSegs += uint64((m.N + seg - 1) / seg)
			}
		}
		for off := 0; ; off += seg {
			b := w.bufs[i][off:min(off+seg, m.N)]
			if w.p.opts.Divert != nil && IsControlDatagram(b) {
				w.p.opts.Divert(b, m.Addr)
			} else if !known {
				w.unknown(b, from, m.TTL, m.TOS)
			} else if inner, _, ok := d.Decap(b, m.TTL, m.TOS); ok {
				h := Header(b)
				w.p.noteITR(&w.itrs, from, d.pkt.Src, h.LSBs(), h.L())
				w.out = append(w.out, b[:HeaderLen+len(inner)])
			}
			if off+seg >= m.N { // also ends an empty datagram (counted malformed)
				break
			}
		}
	}
	if groMsgs > 0 {
		w.p.groMsgs.Add(groMsgs)
		w.p.groSegs.Add(groSegs)
	}
	if len(w.out) > 0 {
		k, err := w.p.tun.Write(w.out, HeaderLen)
		if err != nil {
			for i := k; i < len(w.out); i++ {
				d.Dropped(DropTUNWriteError)
			}
			w.p.logEvery(&w.lastLog, "fwd: write TUN: %v", err)
		}
		clear(w.out)
		w.out = w.out[:0]
	}
	d.End()
}
