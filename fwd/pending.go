package fwd

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the pending queues (Options.PendingPackets, PendingTotal,
// PendingTimeout).
const (
	// DefaultPendingPackets is how many packets are held per destination
	// while its mapping is resolved.
	DefaultPendingPackets = 8
	// DefaultPendingTotal is how many packets are held in all.
	DefaultPendingTotal = 1024
	// DefaultPendingTimeout is how long a destination's packets wait for a
	// mapping: the control plane's default Map-Request schedule (1 s,
	// doubling, 3 retries: 1+2+4+8 s) plus a second. The control plane
	// normally ends the wait earlier, with an Insert or ResolveFailed.
	DefaultPendingTimeout = 16 * time.Second
)

// pendKey names a destination being resolved.
type pendKey struct {
	iid uint32
	dst netip.Addr
}

// pendingDst is one destination's queue.
type pendingDst struct {
	key     pendKey
	pkts    [][]byte // pool buffers: HeaderLen of headroom, then the packet
	expires uint32   // coarse clock
	entry   *Mapping // the pending map-cache placeholder, or nil
}

// pendingQueue holds the first packets to destinations whose mapping is
// being resolved (no first-packet loss), bounded per destination and in
// total. Packets are copied into a pool of fixed-size buffers, allocated
// lazily up to the total bound and reused, so a queue-and-flush cycle does
// not allocate per packet. A mutex guards it: only the miss path and the
// control plane's installs take it, never a hit.
type pendingQueue struct {
	bufSize int // HeaderLen + TUN MTU

	mu        sync.Mutex
	perDst    int // bounds and wait, changed by setLimits
	total     int
	timeout   time.Duration
	dsts      map[pendKey]*pendingDst
	held      int      // packets queued
	free      [][]byte // pool buffers not in use
	allocated int      // pool buffers ever allocated (<= total)
	spare     []*pendingDst

	n atomic.Int32 // len(dsts), read without the lock
}

// newPendingQueue returns a queue for packets up to mtu bytes, without room
// for any until setLimits.
func newPendingQueue(mtu int) *pendingQueue {
	return &pendingQueue{bufSize: HeaderLen + mtu, dsts: make(map[pendKey]*pendingDst)}
}

// setLimits sets the bounds and the wait of the destinations queued from
// now on, and returns how many packets it dropped to fit the bounds: a
// destination's oldest packets beyond perDst, then, while more than total
// are held, those of the destinations queued first. The destinations stay
// queued (their Map-Requests are under way); beyond total, new ones are
// refused until enough are resolved.
func (q *pendingQueue) setLimits(perDst, total int, timeout time.Duration) (dropped int) {
	q.mu.Lock()
	q.perDst, q.total, q.timeout = perDst, total, timeout
	// One destination trimmed per scan: a reload's one-off.
	for {
		var pd *pendingDst
		for _, p := range q.dsts {
			if len(p.pkts) > perDst {
				pd = p
				break
			}
			if q.held > total && len(p.pkts) > 0 && (pd == nil || p.expires < pd.expires) {
				pd = p
			}
		}
		if pd == nil {
			break // what is left of held is being sent (take): let go on release
		}
		keep := perDst // first the excess of every destination
		if len(pd.pkts) <= perDst {
			keep = max(len(pd.pkts)-(q.held-total), 0)
		}
		dropped += q.trimLocked(pd, keep)
	}
	// The pool lets go of the free buffers beyond total.
	for q.allocated > total && len(q.free) > 0 {
		q.free[len(q.free)-1] = nil
		q.free = q.free[:len(q.free)-1]
		q.allocated--
	}
	if len(q.spare) > total {
		clear(q.spare[total:])
		q.spare = q.spare[:total]
	}
	q.mu.Unlock()
	return dropped
}

// trimLocked drops the oldest of pd's packets beyond keep and returns how
// many. q.mu is held.
func (q *pendingQueue) trimLocked(pd *pendingDst, keep int) int {
	n := len(pd.pkts) - keep
	if n <= 0 {
		return 0
	}
	for _, b := range pd.pkts[:n] {
		q.putLocked(b)
	}
	m := copy(pd.pkts, pd.pkts[n:])
	clear(pd.pkts[m:])
	pd.pkts = pd.pkts[:m]
	q.held -= n
	return n
}

// enqueueResult says what enqueue did with a packet.
type enqueueResult uint8

const (
	enqQueued   enqueueResult = iota // copied into the destination's queue
	enqFull                          // dropped: a bound was reached
	enqNoQueue                       // dropped: no queue for another destination (total bound)
	enqResolved                      // a usable mapping was installed meanwhile: send the packet with it
)

// resolves reports whether packets can be sent with m: a complete entry or
// a negative one with an action other than Send-Map-Request.
func (m *Mapping) resolves(now uint32) bool {
	if m == nil || m.expired(now) {
		return false
	}
	return m.State == StateComplete || m.State == StateNegative && m.Action != ActionSendMapRequest
}

// enqueue copies pkt into key's queue, creating the queue (and, when
// placeholder is set, a pending map-cache entry) for a new destination;
// first reports that it did, so the caller tells the MissHandler once per
// destination. Before creating a queue it checks the cache's latest
// snapshot: if a mapping that resolves key arrived since the caller's
// snapshot, it returns enqResolved and that mapping instead.
func (q *pendingQueue) enqueue(c *MapCache, key pendKey, pkt []byte, now uint32, placeholder bool) (res enqueueResult, first bool, m *Mapping) {
	q.mu.Lock()
	defer q.mu.Unlock()
	pd := q.dsts[key]
	if pd == nil {
		// An install publishes its snapshot before it takes q.mu to flush:
		// either it flushes what we queue now, or we see its mapping here.
		if cur := c.snap.Load().lookup(key.iid, key.dst); cur.resolves(now) {
			return enqResolved, false, cur
		}
		if len(q.dsts) >= q.total {
			return enqNoQueue, false, nil
		}
		pd = q.newDst(key, now)
		if placeholder {
			pd.entry = c.insertPending(key.iid, key.dst, q.timeout)
		}
		first = true
	}
	if len(pd.pkts) >= q.perDst || HeaderLen+len(pkt) > q.bufSize {
		return enqFull, first, nil
	}
	var buf []byte
	switch {
	case len(q.free) > 0:
		buf = q.free[len(q.free)-1]
		q.free[len(q.free)-1] = nil
		q.free = q.free[:len(q.free)-1]
	case q.allocated < q.total:
		buf = make([]byte, q.bufSize)
		q.allocated++
	default:
		return enqFull, first, nil
	}
	n := copy(buf[HeaderLen:], pkt)
	pd.pkts = append(pd.pkts, buf[:HeaderLen+n])
	q.held++
	return enqQueued, first, nil
}

// newDst adds a queue for key. q.mu is held.
func (q *pendingQueue) newDst(key pendKey, now uint32) *pendingDst {
	var pd *pendingDst
	if n := len(q.spare); n > 0 {
		pd = q.spare[n-1]
		q.spare[n-1] = nil
		q.spare = q.spare[:n-1]
	} else {
		pd = &pendingDst{pkts: make([][]byte, 0, q.perDst)}
	}
	pd.key = key
	pd.expires = now + uint32((q.timeout+time.Second-1)/time.Second)
	q.dsts[key] = pd
	q.n.Store(int32(len(q.dsts)))
	return pd
}

// removeLocked takes pd out of the table and its placeholder out of the
// cache. q.mu is held. Not inlined, as recycleLocked: the miss path's
// bookkeeping, not the per-packet path (size, issue 6).
//
//go:noinline
func (q *pendingQueue) removeLocked(c *MapCache, pd *pendingDst) {
	delete(q.dsts, pd.key)
	q.n.Store(int32(len(q.dsts)))
	c.deletePending(pd.entry)
	pd.entry = nil
}

// take removes the queues of every destination in iid that prefix covers
// and appends them to into, in no particular order; their packets stay
// valid until release.
func (q *pendingQueue) take(c *MapCache, iid uint32, prefix netip.Prefix, into []*pendingDst) []*pendingDst {
	if q.n.Load() == 0 {
		return into
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for k, pd := range q.dsts {
		if k.iid == iid && prefix.Contains(k.dst) {
			q.removeLocked(c, pd)
			into = append(into, pd)
		}
	}
	return into
}

// drop removes key's queue and returns how many packets it held.
func (q *pendingQueue) drop(c *MapCache, key pendKey) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	pd := q.dsts[key]
	if pd == nil {
		return 0
	}
	q.removeLocked(c, pd)
	n := len(pd.pkts)
	q.recycleLocked(pd)
	return n
}

// expire removes the queues whose time is up at coarse time now and returns
// how many packets they held.
func (q *pendingQueue) expire(c *MapCache, now uint32) int {
	if q.n.Load() == 0 {
		return 0
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, pd := range q.dsts {
		if now >= pd.expires {
			q.removeLocked(c, pd)
			n += len(pd.pkts)
			q.recycleLocked(pd)
		}
	}
	return n
}

// release returns the buffers of queues taken with take to the pool.
func (q *pendingQueue) release(pds []*pendingDst) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, pd := range pds {
		q.recycleLocked(pd)
	}
}

// recycleLocked returns pd's buffers to the pool and pd to the spares.
//
//go:noinline
func (q *pendingQueue) recycleLocked(pd *pendingDst) {
	for i, b := range pd.pkts {
		q.putLocked(b)
		pd.pkts[i] = nil
	}
	q.held -= len(pd.pkts)
	pd.pkts = pd.pkts[:0]
	pd.entry = nil
	if len(q.spare) < q.total {
		q.spare = append(q.spare, pd)
	}
}

// putLocked returns buffer b to the pool, or lets it go while the pool
// holds more than total (setLimits lowered it with packets being sent).
// q.mu is held.
func (q *pendingQueue) putLocked(b []byte) {
	if q.allocated > q.total {
		q.allocated--
		return
	}
	q.free = append(q.free, b[:cap(b)])
}

// counts returns the destinations and packets queued.
func (q *pendingQueue) counts() (dsts, pkts int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.dsts), q.held
}
