// Package fwd is lispd's data plane (RFC 9300): it carries packets between
// the TUN device and UDP port 4341, encapsulating toward remote RLOCs (ITR)
// and decapsulating for this site's EIDs (ETR), through a map-cache the
// control plane fills. It imports neither ctl nor conf: main hands it plain
// Options, and map-cache misses leave through the MissHandler interface.
//
// # Files
//
//	header.go    the 8-byte LISP data header as a view over []byte
//	inner.go     parsing the inner IPv4/IPv6 header (ParsePacket)
//	flow.go      the inner flow hash: outer source port and RLOC choice
//	mapping.go   Mapping and RLOC: one map-cache entry and its locators
//	locator.go   RLOC choice: priority, weight, flow hash, reachability
//	mapcache.go  LPM per instance-id (bart), snapshots, TTL, limit + LRU
//	encap.go     Encapsulator: inner packet → LISP packet, in place
//	decap.go     Decapsulator: LISP packet → inner packet, in place
//	decapfilter.go  which outer sources may send us packets (decap_filter)
//	icmp.go      ICMP too-big / unreachable back to the sender, rate-limited
//	pending.go   per-destination queues of packets waiting for a mapping
//	native_linux.go  RawForwarder: native forwarding outside the tunnel
//	stats.go     counters and drop reasons
//	plane.go     Plane: goroutines, batches, sockets, the clock
//	kernel.go    the in-kernel path (fwd/kpath): map-cache mirror, counters
//	netio/       the kernel side: TUN, recvmmsg/sendmmsg, send-socket pool,
//	             path MTU, rtnetlink (routes, link)
//
// # Outbound packet walk (ITR: TUN → UDP)
//
// One goroutine (Plane.encapLoop) owns the direction and its buffers,
// allocated once: BatchSize buffers of HeaderLen+TUN MTU bytes.
//
//  1. TUN.Read fills up to 64 buffers at offset HeaderLen (8 bytes of
//     headroom) with every packet available, waiting only for the first.
//  2. Encapsulator.Begin loads the map-cache snapshot (one atomic load), the
//     coarse clock and the locator-status bits once for the batch.
//  3. Per packet (Encapsulator.Encap): ParsePacket reads src/dst/proto/TOS/
//     TTL/DF; a destination outside eid_space is dropped; the destination
//     cache (1024 slots, emptied when the snapshot changes) or else bart's
//     longest-prefix match finds the Mapping; a miss, an expired or
//     pending entry, or a negative Send-Map-Request entry queues the packet
//     (below, "No first-packet loss"); other negative entries apply their
//     action (native-forward → proxy ETRs, or without them the
//     NativeForwarder; no-action → NativeForwarder; drop actions → ICMP
//     unreachable);
//     FlowHash picks the RLOC in O(1) from the mapping's selection table;
//     a DF (or IPv6) packet that will not fit the RLOC's path MTU after the
//     36/56 bytes of encapsulation gets ICMP too-big with the next-hop MTU
//     (path MTU − overhead) written to a reply buffer; otherwise the LISP
//     header (N + nonce from a per-goroutine PRNG, L + locator-status bits,
//     I + instance-id when non-zero) is written in the headroom, and the
//     UDP payload, RLOC, flow hash, outer TOS (inner DSCP and ECN copied:
//     RFC 6040 normal mode) and outer TTL (copied) are returned.
//  4. The packet joins the batch of the send socket picked by flow hash from
//     the pool of its RLOC's family (distinct source ports: one flow, one
//     port). After the last packet of the batch, one WriteBatch (sendmmsg)
//     per socket used; TOS/TTL travel as control messages. ICMP replies go
//     back into the TUN with one Write.
//  5. Encapsulator.End adds the batch's counters to the shared atomics
//     (per mapping and RLOC counters are accumulated per run of packets to
//     the same RLOC, so a bulk flow costs a handful of atomic adds a batch).
//
// Nothing waits for a batch to fill: whatever one read returned is sent
// before the next read, and there are no timers on the packet path.
//
// # No first-packet loss
//
// With a MissHandler, a packet to a destination without a usable mapping
// is copied into that destination's queue (Options.PendingPackets, default
// 8, and PendingTotal in all, default 1024) under the queue's mutex — the
// miss path only; hits never take it. Buffers come from a pool of
// HeaderLen+MTU-byte buffers allocated lazily up to PendingTotal and
// reused. The first packet of a destination creates its queue, puts a
// pending placeholder (the /32 or /128, StatePending, never evicting
// anything) in the map-cache and calls MissHandler.Miss once; beyond a
// bound packets are dropped as queue-full.
//
// MapCache.Insert of a complete or negative entry removes, in the same
// snapshot, the placeholders it covers and then, from the inserting (the
// control plane's) goroutine, takes the queues it covers and sends their
// packets at once, in order, through the normal path: a second
// Encapsulator (the flusher) makes the same decisions as for a fresh
// packet, and one WriteBatch per send socket per batch goes out under that
// socket's mutex, which the encapsulating goroutine also takes once per
// WriteBatch. Before creating a queue the miss path checks the latest
// snapshot under the queue lock, so a packet racing an install is either
// flushed by it or sent with the new mapping; none is stranded.
// Plane.ResolveFailed drops a destination's queue (no-mapping); queues
// older than PendingTimeout are dropped by the clock goroutine
// (pending-timeout).
//
// # Inbound packet walk (ETR: UDP → TUN)
//
// One goroutine per receive socket (IPv4 and IPv6 port 4341).
//
//  1. ReadBatch (recvmmsg) fills up to 64 buffers with the datagrams
//     available, each with its outer TTL and TOS (IP_RECVTTL/IP_RECVTOS).
//  2. Per datagram: with DecapFilter, the outer source must be known (an
//     RLOC of a map-cache entry, a proxy ETR, DecapAllow; one compare for
//     the ITR of the previous datagram), else the packet is held (eight
//     slots, heldWait) while its inner source goes to the MissHandler, and
//     delivered when the rebuilt set of known sources has its sender, or
//     dropped (unknown-source). Then Decapsulator.Decap:
//     Header.Validate (length, E without N, N with V); the instance-id (0
//     when I is clear) must be ours; the inner packet must parse, its
//     destination lie in LocalEIDs (an ETR is not an open relay) and its
//     source not (spoofed-source); inner TTL becomes min(inner, outer), ECN is
//     combined per the RFC 6040 table (CE over Not-ECT: drop), and the IPv4
//     header checksum is updated incrementally (RFC 1624).
//  3. One TUN.Write of all accepted inner packets, at offset HeaderLen of
//     the receive buffers (no copy).
//
// # Control plane interface
//
// The control plane drives Plane.MapCache(): Insert (or Load) mappings,
// Delete, Lookup, Get, Walk/All for `show map-cache`, Expire sweeps,
// SetLocatorUp / RLOC.SetUp for reachability. Writers are serialized and
// publish a new immutable snapshot (bart's persistent insert/delete);
// packet goroutines never take a lock. Misses reach it through
// Options.MissHandler.
//
// # Time and path MTU
//
// A third goroutine ticks the map-cache's coarse clock once a second (TTL
// expiry, last-used times for LRU eviction, the ICMP token bucket) so the
// packet path never reads the system clock, and, when Options.PathMTUFunc
// is set (main passes KernelPathMTU: rtnl.PathMTU, IP_MTU on a connected
// socket), asks
// the kernel for the path MTU toward the RLOCs used in the last seconds.
// The send sockets use IP_PMTUDISC_WANT: outer packets leave with DF while
// they fit, so a smaller link in the core answers with ICMP
// fragmentation-needed, the kernel learns the path MTU, the plane reads it
// within a second, and from then on DF inner packets that do not fit get
// ICMP too-big from lispd (next-hop MTU = path MTU − 36 or − 56), while
// packets without DF are sent anyway and the kernel fragments the outer
// packet.
//
// The ICMP errors come from Options.ICMPSource4/6 or, by default, from the
// destination the sender was trying to reach: that address routes into the
// TUN, so the reply passes the kernel's reverse-path filter there.
package fwd
