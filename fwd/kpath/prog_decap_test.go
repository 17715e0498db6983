package kpath

// DecapInsns returns the decapsulating program for the TCX ingress hook of
// an Ethernet interface that carries RLOC traffic. locals is the file
// descriptor of the hash map of local RLOCs, stats that of the per-CPU
// stats array.
//
// A packet is decapsulated when it is IPv4 without options and not a
// fragment, with a correct header checksum, or IPv6 without extension
// headers, UDP to port 4341 of a local RLOC (of the outer family's map), a LISP header with sane flags (and the instance-id when the entry
// asks), and an inner IPv4 packet: bpf_skb_adjust_room removes the outer
// headers and bpf_redirect hands the inner packet to the TUN's receive
// path, as if the daemon had written it there. The outer UDP checksum is
// not verified (RFC 9300 section 5.3 lets an ETR skip it; the inner
// packet's own checksums are checked by whoever receives it). Everything
// else goes on (TC_ACT_OK) to the stack and the daemon's socket, GRO
// packets (gso_segs > 1) included: a coalesced UDP super-packet holds one
// LISP header per segment, which one adjust_room cannot strip.
//
// A packet that DecapXDPInsns decapsulated carries its mark in the skb's
// metadata (a packet from the wire never carries any): the program looks
// the marked RLOC up and redirects the packet, as it is (a GRO
// super-packet, usually), to the entry's TUN, without counting it again; a
// marked packet for an RLOC no longer local is dropped.
func DecapInsns(m decapMaps, big bool) []Insn { return decapProgram(m, false, big) }

// DecapXDPInsns returns the decapsulating program for the XDP hook of an
// RLOC interface: the same checks as DecapInsns, but it strips the outer
// headers (moving the Ethernet header up, bpf_xdp_adjust_head) before the
// kernel builds or coalesces the packet, so the inner TCP segments of a
// flow are GRO-merged by the interface's NAPI poll as if they had arrived
// plain. It marks each packet it decapsulated with XDP metadata
// (decapMark and the local RLOC, bpf_xdp_adjust_meta) and counts it; the
// TC program behind it (DecapInsns) moves marked packets into the TUN, so
// that they enter the stack there, and decapsulates what this one left
// alone. Everything it does not decapsulate goes on unchanged, unmarked and
// uncounted (XDP_PASS): the TC program sees it whole, decides again and
// counts it once. Without the TC program (the
// bench's kpath-xdp experiment) the inner packets enter the stack on the
// RLOC interface.
func DecapXDPInsns(m decapMaps, big bool) []Insn { return decapProgram(m, true, big) }

// decapMaps are the file descriptors of the maps the decapsulating
// programs use: local RLOCs (hash), stats (per-CPU array), local EID
// prefixes per inner family (LPM tries) and the senders (LRU hash, see
// Sender in decap.go).
type decapMaps struct {
	locals, stats, eids4, eids6, senders int
	locals6, senders6                    int // the same for IPv6 RLOCs
}

// noSenderRecord leaves recordSender out of the programs (the cost
// benchmark's baseline); stopAfterRecord makes them leave every packet to
// the stack right after it (so that the benchmark's repeated runs see the
// same packet). Both are for BenchmarkDecapRecord's own builds only.
var noSenderRecord, stopAfterRecord = false, false

// bpfFRecomputeCsum is bpf_skb_store_bytes's BPF_F_RECOMPUTE_CSUM.
const bpfFRecomputeCsum = 1

func decapProgram(m decapMaps, xdp, big bool) []Insn {
	locals, stats := m.locals, m.stats
	var p []Insn
	add := func(in ...Insn) { p = append(p, in...) }
	pass := int32(ActOK)
	dataEnd := int16(skbDataEnd)
	const in = 14 + Overhead4 // the inner IP header
	if xdp {
		pass = xdpPass
		dataEnd = xdpDataEnd
		add(
			Mov64Reg(R6, R1),
			LoadMem(W, R7, R6, xdpData),
			LoadMem(W, R8, R6, xdpDataEnd),
			Mov64Reg(R2, R7),
			ALU64Imm(Add, R2, decapHdrs),
			JumpReg(JGT, R2, R8, "pass"),
		)
	} else {
		add(
			Mov64Reg(R6, R1),
			// Marked at XDP: decapsulated and counted there.
			LoadMem(W, R2, R6, skbDataMeta),
			LoadMem(W, R3, R6, skbData),
			Mov64Reg(R4, R2),
			ALU64Imm(Add, R4, decapMarkLen),
			JumpReg(JGT, R4, R3, "unmarked"),
			// In 16-bit halves: the metadata sits 2 bytes past a word
			// (NET_IP_ALIGN), where a kernel without efficient unaligned
			// access (MIPS) refuses word accesses.
			LoadMem(H, R4, R2, 0),
			JumpImm(JNE, R4, decapMark>>16, "unmarked"),
			LoadMem(H, R4, R2, 2),
			JumpImm(JEq, R4, decapMark6&0xffff, "marked6"),
			JumpImm(JNE, R4, decapMark&0xffff, "unmarked"),
			LoadMem(H, R4, R2, 4),
			StoreMem(H, R10, -4, R4),
			LoadMem(H, R4, R2, 6),
			StoreMem(H, R10, -2, R4),
			LoadMapFD(R1, locals),
			Mov64Reg(R2, R10),
			ALU64Imm(Add, R2, -4),
			Goto("marked"),
			// An IPv6 RLOC's mark: decapMark6Len bytes.
			Label("marked6"),
			Mov64Reg(R4, R2),
			ALU64Imm(Add, R4, decapMark6Len),
			JumpReg(JGT, R4, R3, "unmarked"),
		)
		for i := int16(0); i < 16; i += 2 {
			add(LoadMem(H, R4, R2, 4+i), StoreMem(H, R10, -160+i, R4))
		}
		add(
			LoadMapFD(R1, m.locals6),
			Mov64Reg(R2, R10),
			ALU64Imm(Add, R2, -160),
			Label("marked"),
			CallHelper(FnMapLookupElem),
			JumpImm(JEq, R0, 0, "orphan"),
			LoadMem(W, R1, R0, 0),
			Mov64Imm(R2, redirectIngress),
			CallHelper(FnRedirect),
			Return(),
			Label("orphan"),
		)
		add(countStat(stats, StatDecapError, "orphan")...)
		add(
			Mov64Imm(R0, ActShot),
			Return(),
			Label("unmarked"),
			LoadMem(W, R2, R6, skbProtocol),
			JumpImm(JEq, R2, be16(0x0800, big), "proto"),
			JumpImm(JNE, R2, be16(0x86dd, big), "pass"),
			Label("proto"),
			LoadMem(W, R2, R6, skbGSOSegs),
			JumpImm(JGT, R2, 1, "gro"),
			LoadMem(W, R7, R6, skbData),
			LoadMem(W, R8, R6, skbDataEnd),
		)
		add(pullHeaders(decapHdrs, "hdr", "pass")...)
	}
	add(
		Label("hdr"),
		LoadMem(H, R2, R7, 12),
		JumpImm(JEq, R2, be16(0x86dd, big), "hdr6"),
		JumpImm(JNE, R2, be16(0x0800, big), "pass"),
		LoadMem(B, R2, R7, 14),
		JumpImm(JNE, R2, 0x45, "pass"),
		LoadMem(B, R2, R7, 23),
		JumpImm(JNE, R2, 17, "pass"),
		LoadMem(H, R2, R7, 20),
		ALU64Imm(And, R2, be16(0x3fff, big)),
		JumpImm(JNE, R2, 0, "pass"),
		LoadMem(H, R2, R7, 36),
		JumpImm(JNE, R2, be16(DataPort, big), "pass"),
		// To a local RLOC?
		LoadMem(W, R2, R7, 30),
		StoreMem(W, R10, -4, R2),
		LoadMapFD(R1, locals),
		Mov64Reg(R2, R10),
		ALU64Imm(Add, R2, -4),
		CallHelper(FnMapLookupElem),
		JumpImm(JEq, R0, 0, "pass"),
		Mov64Reg(R9, R0),
	)
	add(ipv4HeaderCsum()...) // the outer header's: the stack has not looked at it yet
	add(
		JumpImm(JNE, R0, 0, "bad"),
		// The outer header's extra length over IPv4's, which the code
		// below branches on: a register spill, which every verifier
		// since 5.x keeps as a known value (an immediate store, BPF_ST,
		// only since 6.3: before, the IPv4 path would be checked with
		// the IPv6 branches' offsets too, and refused).
		Mov64Imm(R2, 0),
		StoreMem(DW, R10, -64, R2), // outer IPv4: no shift
		Goto("lisp"),
		// Outer IPv6 without extension headers (those go to the stack),
		// UDP to port 4341 of a local IPv6 RLOC. The UDP checksum is not
		// looked at (zero or not, as with IPv4: RFC 9300 section 5.3,
		// RFC 6935). The rest of the program reads the packet through R7
		// moved 20 bytes on, where the same offsets as behind an IPv4
		// header find the UDP and LISP headers and the inner packet; -64
		// holds that shift.
		Label("hdr6"),
	)
	if xdp {
		add(
			Mov64Reg(R2, R7),
			ALU64Imm(Add, R2, decapHdrsO6),
			JumpReg(JGT, R2, R8, "pass"),
		)
	} else {
		add(pullHeaders(decapHdrsO6, "hdr6ok", "pass")...)
		add(Label("hdr6ok"))
	}
	add(
		LoadMem(B, R2, R7, 14),
		ALU64Imm(Rsh, R2, 4),
		JumpImm(JNE, R2, 6, "pass"),
		LoadMem(B, R2, R7, 20),
		JumpImm(JNE, R2, 17, "pass"),
		LoadMem(H, R2, R7, 56),
		JumpImm(JNE, R2, be16(DataPort, big), "pass"),
		// The destination, word by word (4-aligned behind an Ethernet
		// header at NET_IP_ALIGN), is the key.
		LoadMem(W, R2, R7, 38), StoreMem(W, R10, -160, R2),
		LoadMem(W, R2, R7, 42), StoreMem(W, R10, -156, R2),
		LoadMem(W, R2, R7, 46), StoreMem(W, R10, -152, R2),
		LoadMem(W, R2, R7, 50), StoreMem(W, R10, -148, R2),
		LoadMapFD(R1, m.locals6),
		Mov64Reg(R2, R10),
		ALU64Imm(Add, R2, -160),
		CallHelper(FnMapLookupElem),
		JumpImm(JEq, R0, 0, "pass"),
		Mov64Reg(R9, R0),
		Mov64Imm(R2, outerShift6),
		StoreMem(DW, R10, -64, R2),
		ALU64Imm(Add, R7, outerShift6),
		Label("lisp"),
		// LISP flags: not N with V, not E without N.
		LoadMem(B, R2, R7, 42),
		Mov64Reg(R3, R2),
		ALU64Imm(And, R3, 0x90),
		JumpImm(JEq, R3, 0x90, "bad"),
		Mov64Reg(R3, R2),
		ALU64Imm(And, R3, 0xa0),
		JumpImm(JEq, R3, 0x20, "bad"),
		// The instance-id: the header's with the I bit, 0 without
		// (the userspace ETR's rule), must be the entry's.
		Mov64Imm(R3, 0),
		ALU64Imm(And, R2, flagI),
		JumpImm(JEq, R2, 0, "iid"),
		LoadMem(W, R3, R7, 46),
		HostToBE(R3, 32),
		ALU64Imm(Rsh, R3, 8),
		Label("iid"),
		LoadMem(W, R4, R9, 8),
		JumpReg(JNE, R3, R4, "bad"),
		// The inner packet's version decides the protocol it gets; R8
		// (data_end) is not needed any more and keeps the flags.
		LoadMem(B, R2, R7, 14+Overhead4),
		ALU64Imm(Rsh, R2, 4),
		Mov64Imm(R8, 0),
		JumpImm(JEq, R2, 4, "inner"),
		JumpImm(JNE, R2, 6, "notip"),
		Mov64Imm(R8, adjDecapL3IPv6),
		Label("inner"),
		// ECN (RFC 6040): an outer CE, or an outer ECT(1) over an inner
		// ECT(0), changes the inner ECN field; the daemon combines or
		// drops those. Otherwise the inner ECN stays as it is.
		LoadMem(DW, R3, R10, -64),
		JumpImm(JNE, R3, 0, "ecn6"),
		LoadMem(B, R3, R7, 15), // IPv4 TOS
		Goto("ecnouter"),
		Label("ecn6"),
		LoadMem(B, R3, R7, 15-outerShift6), // IPv6: the low nibble of the traffic class in the high one of byte 1
		ALU64Imm(Rsh, R3, 4),
		Label("ecnouter"),
		ALU64Imm(And, R3, 3),
		JumpImm(JEq, R3, 3, "ecn"),
		JumpImm(JNE, R3, 1, "ecnok"),
		LoadMem(B, R4, R7, in+1), // IPv4 TOS: ECN in the low bits
		JumpImm(JEq, R8, 0, "ecnv"),
		LoadMem(B, R4, R7, in+1), // IPv6: traffic class low nibble in the high one of byte 1
		ALU64Imm(Rsh, R4, 4),
		Label("ecnv"),
		ALU64Imm(And, R4, 3),
		JumpImm(JEq, R4, 2, "ecn"),
		Label("ecnok"),
		// The inner destination must be one of this site's EIDs: never
		// decapsulate toward anything else (an open relay).
		JumpImm(JNE, R8, 0, "eid6"),
		StoreImm(W, R10, -56, 32),
		LoadMem(W, R2, R7, in+16), StoreMem(W, R10, -52, R2),
		LoadMapFD(R1, m.eids4),
		Goto("eid"),
		Label("eid6"),
		// An IPv6 header is 40 bytes: check them (R8 no longer holds
		// data_end; load it again).
		LoadMem(W, R2, R6, dataEnd),
		Mov64Reg(R3, R7),
		ALU64Imm(Add, R3, decapHdrs6),
		JumpReg(JGT, R3, R2, "pass"),
		StoreImm(W, R10, -56, 128),
		LoadMem(W, R2, R7, in+24), StoreMem(W, R10, -52, R2),
		LoadMem(W, R2, R7, in+28), StoreMem(W, R10, -48, R2),
		LoadMem(W, R2, R7, in+32), StoreMem(W, R10, -44, R2),
		LoadMem(W, R2, R7, in+36), StoreMem(W, R10, -40, R2),
		LoadMapFD(R1, m.eids6),
		Label("eid"),
		Mov64Reg(R2, R10),
		ALU64Imm(Add, R2, -56),
		CallHelper(FnMapLookupElem),
		JumpImm(JEq, R0, 0, "foreign"),
		// TTL / hop limit: min(inner, outer), as the daemon does (the ITR
		// copied the inner one, the underlay's routers decremented it); 0
		// goes to the daemon, which drops and counts it. The new value
		// waits at -88 (R3 holds the outer, R4 the inner one) while the
		// sender is recorded.
		LoadMem(DW, R3, R10, -64),
		JumpImm(JNE, R3, 0, "hops6"),
		LoadMem(B, R3, R7, 22), // IPv4 TTL
		Goto("hops"),
		Label("hops6"),
		LoadMem(B, R3, R7, 21-outerShift6), // IPv6 hop limit
		Label("hops"),
		LoadMem(B, R4, R7, in+8),
		JumpImm(JEq, R8, 0, "ttlv"),
		LoadMem(B, R4, R7, in+7),
		Label("ttlv"),
		JumpImm(JEq, R4, 0, "ttl"),
		JumpReg(JLT, R3, R4, "ttlmin"),
		Mov64Reg(R3, R4),
		Label("ttlmin"),
		JumpImm(JEq, R3, 0, "ttl"),
		StoreMem(B, R10, -88, R3),
		Label("ttlok"),
	)
	if !noSenderRecord {
		add(recordSender(m.senders, m.senders6)...)
	}
	if stopAfterRecord {
		// Always taken, but conditional: the verifier refuses code that
		// an unconditional jump leaves unreachable.
		add(JumpImm(JGE, R8, 0, "pass"))
	}
	add(
		// Write the TTL / hop limit.
		LoadMem(B, R3, R10, -88),
		JumpImm(JNE, R8, 0, "ttl6"),
		LoadMem(B, R4, R7, in+8),
		JumpReg(JEq, R3, R4, "ttldone"),
		// IPv4: the header checksum follows incrementally (RFC 1624,
		// HC' = ~(~HC + ~m + m') over the TTL/protocol word; one's
		// complement sums come out right in either byte order). The
		// header's sum stays the same, so a CHECKSUM_COMPLETE skb->csum
		// (and an outer UDP checksum) stays right too.
		LoadMem(H, R4, R7, in+8),
		StoreMem(B, R7, in+8, R3),
		LoadMem(H, R5, R7, in+8),
		LoadMem(H, R0, R7, in+10),
		ALU64Imm(Xor, R0, 0xffff),
		ALU64Imm(Xor, R4, 0xffff),
		ALU64Reg(Add, R0, R4),
		ALU64Reg(Add, R0, R5),
	)
	add(foldCsum()...)
	add(
		StoreMem(H, R7, in+10, R0),
		Goto("ttldone"),
		Label("ttl6"),
		LoadMem(B, R4, R7, in+7),
		JumpReg(JEq, R3, R4, "ttldone"),
	)
	if xdp {
		add(StoreMem(B, R7, in+7, R3))
	} else {
		// IPv6 has no header checksum to balance the change: write it
		// with bpf_skb_store_bytes, which keeps a CHECKSUM_COMPLETE
		// skb->csum right (the packet pointers are not used again).
		add(
			Mov64Reg(R1, R6),
			LoadMem(DW, R2, R10, -64),
			ALU64Imm(Add, R2, in+7),
			Mov64Reg(R3, R10),
			ALU64Imm(Add, R3, -88),
			Mov64Imm(R4, 1),
			Mov64Imm(R5, bpfFRecomputeCsum),
			CallHelper(FnSkbStoreBytes),
			JumpImm(JNE, R0, 0, "error"),
		)
	}
	add(
		Label("ttldone"),
	)
	if xdp {
		add(
			// Room for the mark first: where the driver has no metadata
			// (or headroom) the packet goes to the TC program whole.
			Mov64Reg(R1, R6),
			Mov64Imm(R2, -decapMarkLen),
			LoadMem(DW, R3, R10, -64),
			JumpImm(JEq, R3, 0, "meta"),
			Mov64Imm(R2, -decapMark6Len),
			Label("meta"),
			CallHelper(FnXDPAdjustMeta),
			JumpImm(JNE, R0, 0, "pass"),
			LoadMem(W, R2, R6, xdpDataMeta),
			LoadMem(W, R7, R6, xdpData),
			LoadMem(W, R8, R6, xdpDataEnd),
			Mov64Reg(R5, R7), // the frame's start, for the Ethernet header
			LoadMem(DW, R3, R10, -64),
			JumpImm(JNE, R3, 0, "mark6"),
			Mov64Reg(R3, R2),
			ALU64Imm(Add, R3, decapMarkLen),
			JumpReg(JGT, R3, R7, "xdperror"),
			Mov64Reg(R3, R7),
			ALU64Imm(Add, R3, decapHdrs),
			JumpReg(JGT, R3, R8, "xdperror"),
			// In 16-bit halves, as the TC program reads them.
			StoreImm(H, R2, 0, decapMark>>16),
			StoreImm(H, R2, 2, decapMark&0xffff),
			LoadMem(H, R3, R10, -4), // the local RLOC, the lookup's key
			StoreMem(H, R2, 4, R3),
			LoadMem(H, R3, R10, -2),
			StoreMem(H, R2, 6, R3),
			Goto("marked"),
			// An IPv6 RLOC: decapMark6 and its 16 bytes.
			Label("mark6"),
			Mov64Reg(R3, R2),
			ALU64Imm(Add, R3, decapMark6Len),
			JumpReg(JGT, R3, R7, "xdperror"),
			ALU64Imm(Add, R7, outerShift6),
			Mov64Reg(R3, R7),
			ALU64Imm(Add, R3, decapHdrs),
			JumpReg(JGT, R3, R8, "xdperror"),
			StoreImm(H, R2, 0, decapMark6>>16),
			StoreImm(H, R2, 2, decapMark6&0xffff),
		)
		for i := int16(0); i < 16; i += 2 {
			add(LoadMem(H, R3, R10, -160+i), StoreMem(H, R2, 4+i, R3))
		}
		add(
			Label("marked"),
			// Count: the inner bytes are the UDP payload after the LISP
			// header.
			LoadMem(H, R2, R7, 38),
			HostToBE(R2, 16),
			ALU64Imm(And, R2, 0xffff),
			ALU64Imm(Sub, R2, 16),
			AtomicAdd(DW, R9, 24, R2),
			Mov64Imm(R2, 1),
			AtomicAdd(DW, R9, 16, R2),
		)
		// The EtherType comes from the inner version.
		add(
			LoadMem(B, R2, R7, 14+Overhead4),
			ALU64Imm(Rsh, R2, 4),
			StoreImm(H, R7, Overhead4+12, be16(0x0800, big)),
			JumpImm(JEq, R2, 4, "eth"),
			StoreImm(H, R7, Overhead4+12, be16(0x86dd, big)),
			Label("eth"),
			LoadMem(H, R2, R5, 0), StoreMem(H, R7, Overhead4, R2),
			LoadMem(H, R2, R5, 2), StoreMem(H, R7, Overhead4+2, R2),
			LoadMem(H, R2, R5, 4), StoreMem(H, R7, Overhead4+4, R2),
			LoadMem(H, R2, R5, 6), StoreMem(H, R7, Overhead4+6, R2),
			LoadMem(H, R2, R5, 8), StoreMem(H, R7, Overhead4+8, R2),
			LoadMem(H, R2, R5, 10), StoreMem(H, R7, Overhead4+10, R2),
			// bpf_xdp_adjust_head moves the metadata along.
			Mov64Reg(R1, R6),
			LoadMem(DW, R2, R10, -64),
			ALU64Imm(Add, R2, Overhead4),
			CallHelper(FnXDPAdjustHead),
			JumpImm(JNE, R0, 0, "xdperror"),
			Mov64Imm(R0, xdpPass),
			Return(),
			Label("xdperror"),
		)
		// Cannot happen (the lengths were checked): a packet half
		// rewritten, or with an unwritten mark, must not go on.
		add(countStat(stats, StatDecapError, "xdp")...)
		add(Mov64Imm(R0, xdpDrop), Return())
	} else {
		add(
			LoadMem(W, R2, R6, skbLen),
			ALU64Imm(Sub, R2, 14+Overhead4),
			LoadMem(DW, R3, R10, -64),
			ALU64Reg(Sub, R2, R3),
			StoreMem(W, R10, -8, R2),
			// Strip the outer headers behind the MAC header. The
			// packet's protocol becomes the inner one's: IPv6 under
			// IPv4 (R8), IPv4 under IPv6.
			Mov64Reg(R4, R8),
			JumpImm(JEq, R3, 0, "flags"),
			Mov64Imm(R4, 0),
			JumpImm(JNE, R8, 0, "flags"),
			Mov64Imm(R4, adjDecapL3IPv4),
			Label("flags"),
			Mov64Imm(R2, -Overhead4),
			ALU64Reg(Sub, R2, R3),
			Mov64Reg(R1, R6),
			Mov64Imm(R3, adjRoomMAC),
			CallHelper(FnSkbAdjustRoom),
			JumpImm(JNE, R0, 0, "error"),
			Mov64Imm(R2, 1),
			AtomicAdd(DW, R9, 16, R2),
			LoadMem(W, R2, R10, -8),
			AtomicAdd(DW, R9, 24, R2),
			LoadMem(W, R1, R9, 0),
			Mov64Imm(R2, redirectIngress),
			CallHelper(FnRedirect),
			Return(),
		)
	}
	for _, s := range []struct {
		label string
		slot  int32
	}{{"pass", StatDecapPass}, {"gro", StatDecapGRO}, {"bad", StatDecapBad}, {"error", StatDecapError}, {"notip", StatDecapNotIP},
		{"foreign", StatDecapForeign}, {"ttl", StatDecapTTL}, {"ecn", StatDecapECN}} {
		if xdp && (s.label == "gro" || s.label == "error") {
			continue // TC only
		}
		add(Label(s.label))
		if !xdp {
			add(countStat(stats, s.slot, "")...)
			add(Mov64Imm(R0, pass), Return())
		}
	}
	if xdp {
		// Left to the TC program, which counts it.
		add(Mov64Imm(R0, pass), Return())
	}
	return p
}

// FnKtimeGetCoarseNS is bpf_ktime_get_coarse_ns (Linux 5.11+).
const FnKtimeGetCoarseNS = 160

// pullHeaders makes sure the skb's linear data (R7 to R8) holds n bytes:
// jump to ok when it does, else pull them in (bpf_skb_pull_data), reload
// R7 and R8 and go to fail when the packet is shorter; falls through to
// ok's place with the headers in.
func pullHeaders(n int32, ok, fail string) []Insn {
	return []Insn{
		Mov64Reg(R2, R7),
		ALU64Imm(Add, R2, n),
		JumpReg(JLE, R2, R8, ok),
		Mov64Reg(R1, R6),
		Mov64Imm(R2, n),
		CallHelper(FnSkbPullData),
		LoadMem(W, R7, R6, skbData),
		LoadMem(W, R8, R6, skbDataEnd),
		Mov64Reg(R2, R7),
		ALU64Imm(Add, R2, n),
		JumpReg(JGT, R2, R8, fail),
	}
}

// recordSender records the sender of a packet that passed every check, in
// the senders map, for the daemon (see Sender in decap.go): one lookup per
// packet, and a write only when the entry is missing, its flags or second
// header word differ from the packet's, or it is SenderRefresh old. The
// clock is the coarse one (bpf_ktime_get_coarse_ns, Linux 5.11+: the
// last tick's time, no clock source read): bpf_ktime_get_ns cost ~70 ns a
// packet on a VM's kvm-clock, this ~8 ns with the lookup. R7 is
// the packet, R8 zero for an inner IPv4 packet (else IPv6, whose 40-byte
// header was checked); R6-R9 are kept; it reads the outer shift at -64
// and uses the stack from -96 to -136 and, for an IPv6 sender's key, from
// -176 to -161.
func recordSender(senders, senders6 int) []Insn {
	const in = 14 + Overhead4
	return []Insn{
		CallHelper(FnKtimeGetCoarseNS),
		StoreMem(DW, R10, -104, R0),
		// The outer source is the key: an IPv4 one at -96 for senders,
		// an IPv6 one at -176 for senders6.
		LoadMem(DW, R2, R10, -64),
		JumpImm(JNE, R2, 0, "skey6"),
		LoadMem(W, R2, R7, 26),
		StoreMem(W, R10, -96, R2),
		LoadMapFD(R1, senders),
		Mov64Reg(R2, R10),
		ALU64Imm(Add, R2, -96),
		Goto("skey"),
		Label("skey6"),
		LoadMem(W, R2, R7, 22-outerShift6), StoreMem(W, R10, -176, R2),
		LoadMem(W, R2, R7, 26-outerShift6), StoreMem(W, R10, -172, R2),
		LoadMem(W, R2, R7, 30-outerShift6), StoreMem(W, R10, -168, R2),
		LoadMem(W, R2, R7, 34-outerShift6), StoreMem(W, R10, -164, R2),
		LoadMapFD(R1, senders6),
		Mov64Reg(R2, R10),
		ALU64Imm(Add, R2, -176),
		Label("skey"),
		CallHelper(FnMapLookupElem),
		JumpImm(JEq, R0, 0, "sender"),
		LoadMem(W, R2, R7, 46),
		LoadMem(W, R3, R0, 0),
		JumpReg(JNE, R2, R3, "sender"),
		LoadMem(B, R2, R7, 42),
		ALU64Imm(And, R2, flagL|flagI),
		LoadMem(B, R3, R0, 4),
		JumpReg(JNE, R2, R3, "sender"),
		// Signed: another CPU may have written a time after ours.
		LoadMem(DW, R2, R10, -104),
		LoadMem(DW, R3, R0, 8),
		ALU64Reg(Sub, R2, R3),
		JumpImm(JSLT, R2, int32(SenderRefresh), "senderok"),
		// The new value at -136, written whole (BPF_ANY): a reader never
		// sees half of it.
		Label("sender"),
		LoadMem(W, R2, R7, 46),
		StoreMem(W, R10, -136, R2),
		LoadMem(B, R2, R7, 42),
		ALU64Imm(And, R2, flagL|flagI),
		StoreMem(B, R10, -132, R2),
		StoreImm(B, R10, -131, 4),
		StoreImm(H, R10, -130, 0),
		LoadMem(DW, R2, R10, -104),
		StoreMem(DW, R10, -128, R2),
		JumpImm(JNE, R8, 0, "sender6"),
		LoadMem(W, R2, R7, in+12),
		StoreMem(W, R10, -120, R2),
		StoreImm(W, R10, -116, 0),
		StoreImm(DW, R10, -112, 0),
		Goto("senderset"),
		Label("sender6"),
		StoreImm(B, R10, -131, 6),
		LoadMem(W, R2, R7, in+8), StoreMem(W, R10, -120, R2),
		LoadMem(W, R2, R7, in+12), StoreMem(W, R10, -116, R2),
		LoadMem(W, R2, R7, in+16), StoreMem(W, R10, -112, R2),
		LoadMem(W, R2, R7, in+20), StoreMem(W, R10, -108, R2),
		Label("senderset"),
		LoadMapFD(R1, senders),
		Mov64Reg(R2, R10),
		ALU64Imm(Add, R2, -96),
		LoadMem(DW, R3, R10, -64),
		JumpImm(JEq, R3, 0, "sset"),
		LoadMapFD(R1, senders6),
		Mov64Reg(R2, R10),
		ALU64Imm(Add, R2, -176),
		Label("sset"),
		Mov64Reg(R3, R10),
		ALU64Imm(Add, R3, -136),
		Mov64Imm(R4, UpdateAny),
		CallHelper(FnMapUpdateElem),
		Label("senderok"),
	}
}
