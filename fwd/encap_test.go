package fwd

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

type missRecorder struct {
	iid  []uint32
	srcs []netip.Addr
	dsts []netip.Addr
}

func (m *missRecorder) Miss(iid uint32, src, dst netip.Addr) {
	m.iid = append(m.iid, iid)
	m.srcs = append(m.srcs, src)
	m.dsts = append(m.dsts, dst)
}

type encapFixture struct {
	cache *MapCache
	stats *Stats
	lsb   atomic.Uint32
	miss  missRecorder
	enc   *Encapsulator
}

func newEncapFixture(t testing.TB, iid uint32, petr *Mapping) *encapFixture {
	t.Helper()
	f := &encapFixture{cache: NewMapCache(100), stats: &Stats{}}
	f.lsb.Store(3)
	f.enc = newEncapsulator(encapConfig{
		iid:      iid,
		eidSpace: mustPrefixes("198.51.100.0/24", "2001:db8::/32", "203.0.113.0/24"),
		petr:     petr,
		pathMTU:  1400,
		miss:     &f.miss,
		seed:     1,
	}, f.cache, f.stats, &f.lsb, newRateLimit(1000, 1000))
	c := f.cache
	insert(t, c, MappingSpec{InstanceID: iid, Prefix: netip.MustParsePrefix("198.51.100.128/25"), RLOCs: []RLOCSpec{rlocSpec("192.0.2.2", 1, 100)}})
	insert(t, c, MappingSpec{InstanceID: iid, Prefix: netip.MustParsePrefix("2001:db8:2::/48"), RLOCs: []RLOCSpec{rlocSpec("2001:db8:ffff::2", 1, 100)}})
	insert(t, c, MappingSpec{InstanceID: iid, Prefix: netip.MustParsePrefix("203.0.113.0/28"), Action: ActionDrop})
	insert(t, c, MappingSpec{InstanceID: iid, Prefix: netip.MustParsePrefix("203.0.113.16/28"), Action: ActionDropPolicyDenied})
	insert(t, c, MappingSpec{InstanceID: iid, Prefix: netip.MustParsePrefix("203.0.113.32/28"), Action: ActionNativelyForward})
	insert(t, c, MappingSpec{InstanceID: iid, Prefix: netip.MustParsePrefix("203.0.113.48/28"), Pending: true})
	insert(t, c, MappingSpec{InstanceID: iid, Prefix: netip.MustParsePrefix("203.0.113.64/28"), RLOCs: []RLOCSpec{rlocSpec("192.0.2.7", 1, 100)}})
	m, _ := c.Get(iid, netip.MustParsePrefix("203.0.113.64/28"))
	m.RLOCs[0].SetUp(false)
	return f
}

// encapOne copies pkt into a buffer with headroom and encapsulates it.
func (f *encapFixture) encapOne(pkt []byte) (Verdict, EncapResult, []byte, []byte) {
	buf := make([]byte, 64+len(pkt))
	copy(buf[64:], pkt)
	reply := make([]byte, ICMPBufLen)
	var res EncapResult
	f.enc.Begin()
	v := f.enc.Encap(buf, 64, len(pkt), reply, &res)
	f.enc.End()
	return v, res, buf, reply[:res.ReplyLen]
}

func TestEncap(t *testing.T) {
	tests := []struct {
		name    string
		iid     uint32
		pkt     pktSpec
		verdict Verdict
		reason  DropReason
		dst     string // VerdictSend
		icmp    [2]uint8
		miss    bool
	}{
		{name: "v4 hit", pkt: pktSpec{src: "198.51.100.1", dst: "198.51.100.200", proto: protoICMP, tos: 0xb9, ttl: 63, df: true}, verdict: VerdictSend, dst: "192.0.2.2:4341"},
		{name: "v4 hit with iid", iid: 1000, pkt: pktSpec{src: "198.51.100.1", dst: "198.51.100.200", proto: protoUDP, sport: 1, dport: 2}, verdict: VerdictSend, dst: "192.0.2.2:4341"},
		{name: "v6 hit", pkt: pktSpec{src: "2001:db8:1::1", dst: "2001:db8:2::9", proto: protoTCP, tos: 0x2a, ttl: 7}, verdict: VerdictSend, dst: "[2001:db8:ffff::2]:4341"},
		{name: "miss", pkt: pktSpec{src: "198.51.100.1", dst: "198.51.100.5", proto: protoICMP}, verdict: VerdictDrop, reason: DropNoMapping, miss: true},
		{name: "outside eid_space", pkt: pktSpec{src: "198.51.100.1", dst: "192.0.2.99", proto: protoICMP}, verdict: VerdictDrop, reason: DropNotEIDSpace},
		{name: "negative drop", pkt: pktSpec{src: "198.51.100.1", dst: "203.0.113.1", proto: protoUDP}, verdict: VerdictReply, reason: DropNegative, icmp: [2]uint8{3, 1}},
		{name: "negative policy", pkt: pktSpec{src: "198.51.100.1", dst: "203.0.113.17", proto: protoUDP}, verdict: VerdictReply, reason: DropNegative, icmp: [2]uint8{3, 13}},
		{name: "native-forward without PETR", pkt: pktSpec{src: "198.51.100.1", dst: "203.0.113.33", proto: protoUDP}, verdict: VerdictReply, reason: DropNegative, icmp: [2]uint8{3, 1}},
		{name: "pending", pkt: pktSpec{src: "198.51.100.1", dst: "203.0.113.49", proto: protoUDP}, verdict: VerdictDrop, reason: DropPending},
		{name: "all RLOCs down", pkt: pktSpec{src: "198.51.100.1", dst: "203.0.113.65", proto: protoUDP}, verdict: VerdictReply, reason: DropNoRLOC, icmp: [2]uint8{3, 1}},
		{name: "too big with DF", pkt: pktSpec{src: "198.51.100.1", dst: "198.51.100.200", proto: protoUDP, df: true, payloadLen: 1400 - 36 - 28 + 1}, verdict: VerdictReply, reason: DropTooBig, icmp: [2]uint8{3, 4}},
		{name: "just fits with DF", pkt: pktSpec{src: "198.51.100.1", dst: "198.51.100.200", proto: protoUDP, df: true, payloadLen: 1400 - 36 - 28}, verdict: VerdictSend, dst: "192.0.2.2:4341"},
		{name: "too big without DF is sent", pkt: pktSpec{src: "198.51.100.1", dst: "198.51.100.200", proto: protoUDP, payloadLen: 1400}, verdict: VerdictSend, dst: "192.0.2.2:4341"},
		{name: "v6 too big", pkt: pktSpec{src: "2001:db8:1::1", dst: "2001:db8:2::9", proto: protoUDP, payloadLen: 1400 - 56 - 48 + 1}, verdict: VerdictReply, reason: DropTooBig, icmp: [2]uint8{2, 0}},
		{name: "no ICMP about an ICMP error", pkt: pktSpec{src: "198.51.100.1", dst: "203.0.113.1", proto: protoICMP, icmpType: 3}, verdict: VerdictDrop, reason: DropNegative},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newEncapFixture(t, tt.iid, nil)
			pkt := buildPacket(t, tt.pkt)
			v, res, buf, reply := f.encapOne(pkt)
			if v != tt.verdict {
				t.Fatalf("verdict %d (reason %v), want %d", v, res.Reason, tt.verdict)
			}
			if (len(f.miss.dsts) > 0) != tt.miss {
				t.Fatalf("misses %v, want miss=%v", f.miss.dsts, tt.miss)
			}
			if tt.miss && (f.miss.dsts[0].String() != tt.pkt.dst || f.miss.srcs[0].String() != tt.pkt.src || f.miss.iid[0] != tt.iid) {
				t.Fatalf("miss %v %v -> %v", f.miss.iid, f.miss.srcs, f.miss.dsts)
			}
			switch v {
			case VerdictSend:
				if res.Dst.String() != tt.dst {
					t.Fatalf("dst %v, want %s", res.Dst, tt.dst)
				}
				if &res.Pkt[0] != &buf[64-HeaderLen] || len(res.Pkt) != HeaderLen+len(pkt) {
					t.Fatal("LISP packet not in place in front of the inner packet")
				}
				h := Header(res.Pkt)
				if err := h.Validate(); err != nil {
					t.Fatal(err)
				}
				if !h.N() || !h.L() || h.E() || h.V() || h.I() != (tt.iid != 0) {
					t.Fatalf("flags %#02x", h.Flags())
				}
				if h.I() && (h.InstanceID() != tt.iid || h.LSBs() != 3) || !h.I() && h.LSBs() != 3 {
					t.Fatalf("iid/lsb: %+v", h.Fields())
				}
				var ip Packet
				_ = ParsePacket(pkt, &ip)
				if res.TOS != tt.pkt.tos || res.TOS != ip.TOS || res.TTL != ip.TTL {
					t.Fatalf("outer TOS/TTL %#x/%d, inner %#x/%d", res.TOS, res.TTL, ip.TOS, ip.TTL)
				}
				if f.stats.EncapPackets.Load() != 1 || f.stats.EncapBytes.Load() != uint64(len(pkt)) {
					t.Fatalf("counters %d/%d", f.stats.EncapPackets.Load(), f.stats.EncapBytes.Load())
				}
				if res.RLOC.Packets.Load() != 1 || res.RLOC.Bytes.Load() != uint64(len(pkt)) {
					t.Fatalf("RLOC counters %d/%d", res.RLOC.Packets.Load(), res.RLOC.Bytes.Load())
				}
			case VerdictDrop, VerdictReply:
				if res.Reason != tt.reason || f.stats.Drops(tt.reason) != 1 {
					t.Fatalf("reason %v (counter %d), want %v", res.Reason, f.stats.Drops(tt.reason), tt.reason)
				}
			}
			if v == VerdictReply {
				if reply[0]>>4 == 4 && (reply[20] != tt.icmp[0] || reply[21] != tt.icmp[1]) ||
					reply[0]>>4 == 6 && (reply[40] != tt.icmp[0] || reply[41] != tt.icmp[1]) {
					t.Fatalf("ICMP %x", reply[:48])
				}
				if !ipChecksumOK(reply) || !l4ChecksumOK(reply) {
					t.Fatal("bad ICMP checksums")
				}
				var rp Packet
				if err := ParsePacket(reply, &rp); err != nil || rp.Dst.String() != tt.pkt.src || rp.Src.String() != tt.pkt.dst {
					t.Fatalf("ICMP %v -> %v (%v)", rp.Src, rp.Dst, err)
				}
				if tt.reason == DropTooBig {
					if rp.Is6 && binary.BigEndian.Uint32(reply[44:]) != 1400-56 || !rp.Is6 && binary.BigEndian.Uint16(reply[26:]) != 1400-36 {
						t.Fatalf("next-hop MTU wrong: %x", reply[:48])
					}
				}
				if f.stats.ICMPSent.Load() != 1 {
					t.Fatalf("ICMPSent = %d", f.stats.ICMPSent.Load())
				}
			}
		})
	}
}

func TestEncapPETRAndExpiry(t *testing.T) {
	petr, err := NewMapping(MappingSpec{Prefix: netip.MustParsePrefix("0.0.0.0/0"), RLOCs: []RLOCSpec{rlocSpec("192.0.2.50", 1, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	f := newEncapFixture(t, 0, petr)
	v, res, _, _ := f.encapOne(buildPacket(t, pktSpec{src: "198.51.100.1", dst: "203.0.113.33", proto: protoUDP}))
	if v != VerdictSend || res.Dst.Addr().String() != "192.0.2.50" {
		t.Fatalf("native-forward with PETR: %d %v", v, res.Dst)
	}
	// An expired entry is a miss.
	insert(t, f.cache, MappingSpec{Prefix: netip.MustParsePrefix("198.51.100.0/26"), RLOCs: []RLOCSpec{rlocSpec("192.0.2.3", 1, 1)}, TTL: time.Minute})
	pkt := buildPacket(t, pktSpec{src: "198.51.100.100", dst: "198.51.100.1", proto: protoUDP})
	if v, _, _, _ := f.encapOne(pkt); v != VerdictSend {
		t.Fatalf("fresh: verdict %d", v)
	}
	f.cache.Tick(time.Now().Add(2 * time.Minute))
	if v, res, _, _ := f.encapOne(pkt); v != VerdictDrop || res.Reason != DropNoMapping || len(f.miss.dsts) != 1 {
		t.Fatalf("expired: verdict %d reason %v misses %v", v, res.Reason, f.miss.dsts)
	}
}

func TestEncapICMPRateLimit(t *testing.T) {
	f := newEncapFixture(t, 0, nil)
	f.enc.icmp = newRateLimit(2, 2)
	pkt := buildPacket(t, pktSpec{src: "198.51.100.1", dst: "203.0.113.1", proto: protoUDP})
	replies := 0
	for i := 0; i < 5; i++ {
		if v, _, _, _ := f.encapOne(pkt); v == VerdictReply {
			replies++
		}
	}
	if replies != 2 || f.stats.ICMPLimited.Load() != 3 || f.stats.Drops(DropNegative) != 5 {
		t.Fatalf("replies %d limited %d drops %d", replies, f.stats.ICMPLimited.Load(), f.stats.Drops(DropNegative))
	}
	f.cache.Tick(time.Now().Add(5 * time.Second))
	if v, _, _, _ := f.encapOne(pkt); v != VerdictReply {
		t.Fatal("bucket did not refill")
	}
}

func TestEncapFlowsSpread(t *testing.T) {
	f := newEncapFixture(t, 0, nil)
	insert(t, f.cache, MappingSpec{Prefix: netip.MustParsePrefix("198.51.100.0/26"), RLOCs: []RLOCSpec{rlocSpec("192.0.2.3", 1, 50), rlocSpec("192.0.2.4", 1, 50)}})
	ports := map[uint16]bool{}
	rlocs := map[netip.AddrPort]int{}
	for i := 0; i < 200; i++ {
		pkt := buildPacket(t, pktSpec{src: "198.51.100.100", dst: "198.51.100.1", proto: protoTCP, sport: uint16(10000 + i), dport: 80})
		_, res1, _, _ := f.encapOne(pkt)
		_, res2, _, _ := f.encapOne(pkt)
		if res1.Hash != res2.Hash || res1.Dst != res2.Dst {
			t.Fatal("one flow, two paths")
		}
		ports[SourcePort(res1.Hash)] = true
		rlocs[res1.Dst]++
	}
	if len(ports) < 150 || len(rlocs) != 2 || rlocs[netip.MustParseAddrPort("192.0.2.3:4341")] < 60 {
		t.Fatalf("ports %d, rlocs %v", len(ports), rlocs)
	}
}

// TestEncapLookupAllocs: the packet path's map-cache lookups allocate
// nothing, on every architecture, for a working set of destinations that
// fits the destination cache, and for one that does not (on 32-bit CPUs
// only when built with the release PGO profile: checkLookupAllocs).
func TestEncapLookupAllocs(t *testing.T) {
	f := newEncapFixture(t, 0, nil)
	var pkts [][]byte
	for i := 0; i < 32; i++ {
		pkts = append(pkts, buildPacket(t, pktSpec{src: "198.51.100.1", dst: "198.51.100." + itoa(128+i), proto: protoUDP}))
		pkts = append(pkts, buildPacket(t, pktSpec{src: "2001:db8:1::1", dst: "2001:db8:2::" + itoa(i+1), proto: protoUDP}))
	}
	buf := make([]byte, 2048)
	reply := make([]byte, ICMPBufLen)
	var res EncapResult
	encapAll := func(pkts [][]byte) {
		f.enc.Begin()
		for _, p := range pkts {
			copy(buf[HeaderLen:], p)
			if f.enc.Encap(buf, HeaderLen, len(p), reply, &res) != VerdictSend {
				panic("not sent")
			}
		}
		f.enc.End()
	}
	run := func() { encapAll(pkts) }
	run()
	if n := testing.AllocsPerRun(50, run); n != 0 {
		t.Fatalf("%v allocations for %d packets", n, len(pkts))
	}
	// A new snapshot empties the cache: a changed mapping takes effect.
	insert(t, f.cache, MappingSpec{Prefix: netip.MustParsePrefix("198.51.100.128/25"), RLOCs: []RLOCSpec{rlocSpec("192.0.2.77", 1, 100)}})
	copy(buf[HeaderLen:], pkts[0])
	f.enc.Begin()
	f.enc.Encap(buf, HeaderLen, len(pkts[0]), reply, &res)
	f.enc.End()
	if res.Dst.Addr().String() != "192.0.2.77" {
		t.Fatalf("after replace, sent to %v", res.Dst)
	}

	// Three times as many destinations as the destination cache holds:
	// most lookups miss it and go to the map-cache's table.
	many := make([][]byte, 3*dstCacheSize)
	for i := range many {
		many[i] = buildPacket(t, pktSpec{src: "2001:db8:1::1", dst: fmt.Sprintf("2001:db8:2::%x", i+1), proto: protoUDP})
	}
	sweep := func() { encapAll(many) }
	sweep()
	checkLookupAllocs(t, fmt.Sprintf("Encap of %d destinations", len(many)), testing.AllocsPerRun(5, sweep))
}

func itoa(i int) string { return strconv.Itoa(i) }

// FuzzEncap feeds arbitrary "inner packets" from the TUN to the
// encapsulator: it must never panic, and what it sends is a valid LISP
// header in front of exactly the parsed inner packet.
func FuzzEncap(f *testing.F) {
	pos, _ := dataVectors(f)
	for _, v := range pos {
		f.Add(mustHex(f, v.Payload)[HeaderLen:])
	}
	f.Add(buildPacket(f, pktSpec{src: "198.51.100.1", dst: "198.51.100.200", proto: protoTCP, df: true, payloadLen: 1400}))
	f.Add(buildPacket(f, pktSpec{src: "2001:db8:1::1", dst: "2001:db8:2::9", proto: protoUDP}))
	f.Add(buildPacket(f, pktSpec{src: "198.51.100.1", dst: "203.0.113.1", proto: protoICMP}))
	fx := newEncapFixture(f, 0, nil)
	buf := make([]byte, 70000)
	reply := make([]byte, ICMPBufLen)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		n := copy(buf[HeaderLen:], pkt)
		var res EncapResult
		fx.enc.Begin()
		v := fx.enc.Encap(buf, HeaderLen, n, reply, &res)
		fx.enc.End()
		switch v {
		case VerdictSend:
			if Header(res.Pkt).Validate() != nil || len(res.Pkt) > HeaderLen+n {
				t.Fatalf("sent %d bytes from %d", len(res.Pkt), n)
			}
		case VerdictReply:
			if res.ReplyLen <= 0 || res.ReplyLen > ICMPBufLen || !ipChecksumOK(reply[:res.ReplyLen]) {
				t.Fatalf("reply of %d bytes", res.ReplyLen)
			}
		}
	})
}
