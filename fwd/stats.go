package fwd

import (
	"sync/atomic"

	"github.com/lispd/lispd/internal/nocmp"
)

// DropReason says why the data plane dropped a packet.
type DropReason uint8

// Drop reasons. Each has a counter in Stats.
const (
	DropMalformed      DropReason = iota // LISP header or inner packet does not parse
	DropNotLocalEID                      // decapsulated destination is not one of our EID prefixes
	DropIIDMismatch                      // instance-id in the header is not ours
	DropNotEIDSpace                      // packet from the TUN to outside eid_space
	DropNoMapping                        // map-cache miss (or expired entry)
	DropPending                          // entry waits for a Map-Reply and holds no queue
	DropQueueFull                        // pending queue full
	DropNegative                         // negative entry with a drop action
	DropNoRLOC                           // no reachable RLOC of priority below 255
	DropTooBig                           // DF packet larger than the path: ICMP too-big sent
	DropTTLExceeded                      // inner TTL would reach zero
	DropECN                              // CE outer over a Not-ECT inner (RFC 6040)
	DropSendError                        // sendmmsg failed
	DropTUNWriteError                    // write to the TUN failed
	DropPendingTimeout                   // queued while resolving; no mapping came in time
	DropNativeError                      // native forwarding (outside the tunnel) failed
	DropSpoofedSource                    // decapsulated source is one of our own EIDs
	DropUnknownSource                    // outer source is no known RLOC (xtr.decap_filter)
	numDropReasons
)

var dropNames = [numDropReasons]string{
	"malformed", "not-local-eid", "iid-mismatch", "not-eid-space", "no-mapping", "pending",
	"queue-full", "negative-drop", "no-rloc", "too-big", "ttl-exceeded", "ecn-drop",
	"send-error", "tun-write-error", "pending-timeout", "native-error",
	"spoofed-source", "unknown-source",
}

// String returns the reason's name as `show stats` prints it.
func (r DropReason) String() string {
	if r < numDropReasons {
		return dropNames[r]
	}
	return "unknown"
}

// Stats are the data plane's counters. They are updated lock-free (the
// packet path adds per batch, not per packet) and read with Snapshot.
type Stats struct {
	_ nocmp.DoNotCompare

	EncapPackets  atomic.Uint64 // inner packets encapsulated and handed to a socket
	EncapBytes    atomic.Uint64 // their inner bytes
	DecapPackets  atomic.Uint64 // inner packets decapsulated and written to the TUN
	DecapBytes    atomic.Uint64
	Misses        atomic.Uint64 // misses reported to the MissHandler
	ICMPSent      atomic.Uint64 // ICMP errors written back into the TUN
	ICMPLimited   atomic.Uint64 // ICMP errors suppressed by the rate limit
	Queued        atomic.Uint64 // packets held in a pending queue while their mapping was resolved
	Flushed       atomic.Uint64 // queued packets sent on (re-processed) when a mapping was installed
	NativePackets atomic.Uint64 // packets forwarded natively, outside the tunnel (NativeForwarder)
	NativeBytes   atomic.Uint64
	// LinkScope counts the kernel's own link-scope packets on the TUN
	// (multicast listener reports and the like to ff02::/16 or
	// 224.0.0.0/24): discarded, but not drops of anyone's traffic.
	LinkScope atomic.Uint64

	drops   [numDropReasons]atomic.Uint64
	offload atomic.Pointer[func() OffloadSnapshot] // set by setupOffload (offload.go)
	kernel  atomic.Pointer[func() KernelSnapshot]  // set by setupKernel (kernel.go)
}

// Drops returns the drop counter for reason r.
func (s *Stats) Drops(r DropReason) uint64 {
	if r >= numDropReasons {
		return 0
	}
	return s.drops[r].Load()
}

// StatsSnapshot is a plain copy of Stats for `show stats`.
type StatsSnapshot struct {
	EncapPackets, EncapBytes uint64
	DecapPackets, DecapBytes uint64
	Misses                   uint64
	ICMPSent, ICMPLimited    uint64
	Queued, Flushed          uint64
	NativePackets            uint64
	NativeBytes              uint64
	LinkScope                uint64
	Drops                    map[string]uint64 // by DropReason name, every reason present
	Offload                  OffloadSnapshot   // which TUN path runs, and its counters
	Kernel                   KernelSnapshot    // whether the in-kernel path runs, and its counters
}

// Snapshot copies the counters.
func (s *Stats) Snapshot() StatsSnapshot {
	out := StatsSnapshot{
		EncapPackets: s.EncapPackets.Load(), EncapBytes: s.EncapBytes.Load(),
		DecapPackets: s.DecapPackets.Load(), DecapBytes: s.DecapBytes.Load(),
		Misses:   s.Misses.Load(),
		ICMPSent: s.ICMPSent.Load(), ICMPLimited: s.ICMPLimited.Load(),
		Queued: s.Queued.Load(), Flushed: s.Flushed.Load(),
		NativePackets: s.NativePackets.Load(), NativeBytes: s.NativeBytes.Load(),
		LinkScope: s.LinkScope.Load(),
		Drops:     make(map[string]uint64, numDropReasons),
	}
	for r := DropReason(0); r < numDropReasons; r++ {
		out.Drops[r.String()] = s.drops[r].Load()
	}
	out.Offload.Path = TUNPathPlain
	if f := s.offload.Load(); f != nil {
		out.Offload = (*f)()
	}
	out.Kernel.State = KernelOff
	if f := s.kernel.Load(); f != nil {
		out.Kernel = (*f)()
	}
	return out
}

// batchStats accumulates one goroutine's counters over a batch, so the
// shared atomics are touched once per batch rather than once per packet.
type batchStats struct {
	_ nocmp.DoNotCompare

	pkts, bytes uint64
	misses      uint64
	icmp        uint64
	icmpLimited uint64
	queued      uint64
	native      uint64
	nativeBytes uint64
	linkScope   uint64
	drops       [numDropReasons]uint32
	anyDrop     bool
}

func (b *batchStats) drop(r DropReason) {
	b.drops[r]++
	b.anyDrop = true
}

// flush adds the batch's counters to s (encap or decap side) and resets b.
func (b *batchStats) flush(s *Stats, encap bool) {
	if b.pkts != 0 {
		if encap {
			s.EncapPackets.Add(b.pkts)
			s.EncapBytes.Add(b.bytes)
		} else {
			s.DecapPackets.Add(b.pkts)
			s.DecapBytes.Add(b.bytes)
		}
	}
	if b.misses != 0 {
		s.Misses.Add(b.misses)
	}
	if b.icmp != 0 {
		s.ICMPSent.Add(b.icmp)
	}
	if b.icmpLimited != 0 {
		s.ICMPLimited.Add(b.icmpLimited)
	}
	if b.queued != 0 {
		s.Queued.Add(b.queued)
	}
	if b.native != 0 {
		s.NativePackets.Add(b.native)
		s.NativeBytes.Add(b.nativeBytes)
	}
	if b.linkScope != 0 {
		s.LinkScope.Add(b.linkScope)
	}
	if b.anyDrop {
		for r, n := range b.drops {
			if n != 0 {
				s.drops[r].Add(uint64(n))
			}
		}
	}
	*b = batchStats{}
}

// addDrops counts n packets dropped for reason r outside a batch.
func (s *Stats) addDrops(r DropReason, n int) {
	if n > 0 && r < numDropReasons {
		s.drops[r].Add(uint64(n))
	}
}
