package kpath

import (
	"encoding/binary"
	"fmt"
)

// be16 returns the 16-bit value whose bytes in memory are v in network
// order, as a load of those bytes yields it on a host of the given byte
// order: the constant to compare a loaded field with, or to store.
func be16(v uint16, big bool) int32 {
	if big {
		return int32(v)
	}
	return int32(binary.LittleEndian.Uint16([]byte{byte(v >> 8), byte(v)}))
}

// outerRoom makes room for overhead bytes of outer headers behind the
// (empty) MAC header, the packet's protocol becoming that of l3 (the
// adjust_room encap flag); a refusal leaves the packet unchanged for
// "skip". Then it adds an Ethernet header of ethertype for
// bpf_redirect_neigh to fill in, reloads the packet pointers R7 and R8 and
// checks that the headers fit ("error": the packet was changed).
func outerRoom(overhead int32, l3 int32, ethertype uint16, big bool) []Insn {
	return []Insn{
		Mov64Reg(R1, R6),
		Mov64Imm(R2, overhead),
		Mov64Imm(R3, adjRoomMAC),
		Mov64Imm(R4, adjFixedGSO|l3|adjEncapL4UDP),
		CallHelper(FnSkbAdjustRoom),
		JumpImm(JNE, R0, 0, "skip"), // unchanged on failure
		Mov64Reg(R1, R6),
		Mov64Imm(R2, 14),
		Mov64Imm(R3, 0),
		CallHelper(FnSkbChangeHead),
		JumpImm(JNE, R0, 0, "error"),
		LoadMem(W, R7, R6, skbData),
		LoadMem(W, R8, R6, skbDataEnd),
		Mov64Reg(R2, R7),
		ALU64Imm(Add, R2, 14+overhead),
		JumpReg(JGT, R2, R8, "error"),
		StoreImm(H, R7, 12, be16(ethertype, big)),
	}
}

// udpLISPHeaders writes the outer UDP header at packet offset udp (R7 the
// packet, R6 the skb): source port from -14, destination 4341, length the
// skb's from there, checksum zero; and the LISP header behind it from -28
// and -44.
func udpLISPHeaders(udp int16, big bool) []Insn {
	return []Insn{
		LoadMem(H, R2, R10, -14),
		StoreMem(H, R7, udp, R2),
		StoreImm(H, R7, udp+2, be16(DataPort, big)),
		LoadMem(W, R2, R6, skbLen),
		ALU64Imm(Sub, R2, int32(udp)),
		HostToBE(R2, 16),
		StoreMem(H, R7, udp+4, R2),
		StoreImm(H, R7, udp+6, 0),
		LoadMem(W, R2, R10, -28),
		StoreMem(W, R7, udp+8, R2),
		LoadMem(W, R2, R10, -44),
		StoreMem(W, R7, udp+12, R2),
	}
}

// localRecord looks up the locals table fd (key 0 at -80) and leaves in R0
// the record of the flow's local RLOC: the one the table's slot hash>>26
// (the hash at -52) names, bounded by a mask, at slotsOff and shift (the
// record size's log2) of that table's layout; a failed lookup goes to
// "skip". R1 and R2 are clobbered.
func localRecord(fd int, slotsOff int16, shift int32) []Insn {
	return []Insn{
		LoadMapFD(R1, fd),
		Mov64Reg(R2, R10),
		ALU64Imm(Add, R2, -80),
		CallHelper(FnMapLookupElem),
		JumpImm(JEq, R0, 0, "skip"),
		LoadMem(W, R2, R10, -52),
		ALU64Imm(Rsh, R2, encapLocalHash),
		Mov64Reg(R1, R0),
		ALU64Reg(Add, R1, R2),
		LoadMem(B, R2, R1, slotsOff),
		ALU64Imm(And, R2, MaxEncapLocals-1),
		ALU64Imm(Lsh, R2, shift),
		ALU64Reg(Add, R0, R2),
	}
}

// countStat returns instructions that add one to slot of the per-CPU stats
// map (clobbers R0-R5 and the stack word at -32); tag makes its label
// unique when a program counts the same slot in two places.
func countStat(stats int, slot int32, tag string) []Insn {
	done := fmt.Sprintf("stat%d_%s_done", slot, tag)
	return []Insn{
		StoreImm(W, R10, -32, slot),
		LoadMapFD(R1, stats),
		Mov64Reg(R2, R10),
		ALU64Imm(Add, R2, -32),
		CallHelper(FnMapLookupElem),
		JumpImm(JEq, R0, 0, done),
		LoadMem(DW, R1, R0, 0),
		ALU64Imm(Add, R1, 1),
		StoreMem(DW, R0, 0, R1),
		Label(done),
	}
}

// foldCsum folds the 32-bit one's complement sum in R0 to 16 bits and
// complements it (clobbers R2).
func foldCsum() []Insn {
	return []Insn{
		Mov64Reg(R2, R0), ALU64Imm(Rsh, R2, 16), ALU64Imm(And, R0, 0xffff), ALU64Reg(Add, R0, R2),
		Mov64Reg(R2, R0), ALU64Imm(Rsh, R2, 16), ALU64Imm(And, R0, 0xffff), ALU64Reg(Add, R0, R2),
		ALU64Imm(Xor, R0, 0xffff),
	}
}

// ipv4HeaderCsum leaves in R0 the checksum of the 20-byte IPv4 header at
// offset 14 of the packet at R7 (behind an Ethernet header): 0 when the
// header holds a right one, the value to store when its checksum field is
// zero (clobbers R1-R5).
func ipv4HeaderCsum() []Insn {
	return append([]Insn{
		Mov64Imm(R1, 0),
		Mov64Imm(R2, 0),
		Mov64Reg(R3, R7),
		ALU64Imm(Add, R3, 14),
		Mov64Imm(R4, 20),
		Mov64Imm(R5, 0),
		CallHelper(FnCsumDiff),
	}, foldCsum()...)
}

// EncapInsns returns the encapsulating program for the TCX egress hook of a
// TUN device (an L3 device: packets start at the IP header). entries4 and
// entries6 are the file descriptors of the LPM maps for IPv4 and IPv6
// destinations, stats that of the per-CPU stats array, locals and locals6
// those of the IPv4 and IPv6 locals tables (EncapLocals); big selects the
// byte order of the host that loads it.
//
// A packet whose destination has an entry is encapsulated in place —
// bpf_skb_adjust_room grows the room for the outer IPv4 (or, for an entry
// with IPv6 RLOCs, IPv6: Overhead6, flow label from the flow hash, UDP
// checksum zero as RFC 6935 allows tunnels), UDP and LISP headers (GSO
// packets stay GSO, marked as UDP tunnel, segmented later by the kernel
// with their gso_size unchanged), bpf_skb_change_head adds an Ethernet
// header for bpf_redirect_neigh to replace — and sent from the interface
// of the flow's local RLOC to its neighbour. The remote RLOC is the one
// the entry's slot table names for the flow (the kernel's flow hash picks
// the slot: a flow stays on one RLOC), and the RLOC's MTU and counters
// are the ones used; the local RLOC (outer source and uplink) is the one
// the slot table of the locals table of the entry's RLOC family names for
// the flow, from other bits of the same hash (a flow stays on one uplink,
// whichever remote RLOC it goes to). Everything else goes on to the TUN
// (TC_ACT_OK) for the daemon: misses, other protocols, IPv4 with options
// or fragments, packets that would not fit the RLOC's MTU or whose slot
// names no local RLOC, GSO packets other than TCP without extension
// headers.
func EncapInsns(entries4, entries6, stats, locals, locals6 int, big bool) []Insn {
	var p []Insn
	add := func(in ...Insn) { p = append(p, in...) }
	// pull makes sure n bytes of headers are in the linear part, reloading
	// the packet pointers R7 (data) and R8 (data_end); else to "skip".
	pull := func(n int32, label string) {
		add(LoadMem(W, R7, R6, skbData), LoadMem(W, R8, R6, skbDataEnd))
		add(pullHeaders(n, label, "skip")...)
		add(Label(label))
	}
	// fits checks that the packet fits the RLOC's MTU (R9 + 4) with the
	// outer headers (their length at -56): a plain packet by its length, a GSO packet by its
	// segments (l3 bytes of IP header, then the TCP header, plus gso_size).
	// proto is the register holding the transport protocol.
	fits := func(fam string, l3 int32, proto Reg) {
		gso, done := "gso"+fam, "fits"+fam
		add(
			LoadMem(W, R2, R6, skbGSOSize),
			JumpImm(JNE, R2, 0, gso),
			LoadMem(W, R3, R6, skbLen),
			LoadMem(W, R4, R10, -56), // the outer headers' length
			ALU64Reg(Add, R3, R4),
			LoadMem(W, R4, R9, 4),
			JumpReg(JGT, R3, R4, "skip"),
			Goto(done),
			Label(gso),
			JumpImm(JNE, proto, 6, "skip"), // TCP only
		)
		add(countStat(stats, StatEncapGSO, fam)...)
		add(
			Mov64Reg(R3, R7),
			ALU64Imm(Add, R3, l3+13),
			JumpReg(JGT, R3, R8, "skip"),
			LoadMem(B, R3, R7, int16(l3+12)),
			ALU64Imm(Rsh, R3, 4),
			ALU64Imm(Lsh, R3, 2),
			LoadMem(W, R2, R6, skbGSOSize),
			ALU64Reg(Add, R3, R2),
			ALU64Imm(Add, R3, l3),
			LoadMem(W, R4, R10, -56),
			ALU64Reg(Add, R3, R4),
			LoadMem(W, R4, R9, 4),
			JumpReg(JGT, R3, R4, "skip"),
			Label(done),
		)
	}
	// pick chooses the remote RLOC of the entry in R9 for this flow and
	// points R9 at it: the slot hash&(EncapSlots-1) of the entry's table
	// names the RLOC (bounded by a mask: the verifier sees at most
	// MaxEncapRLOCs). The shared fields go to the stack first (-48:
	// flags and the second LISP word, as in the entry), the outer source
	// port, from the same hash, to -14, the hash itself to -52 (the local
	// RLOC's slot, an IPv6 outer header's flow label), the length of the
	// outer headers (Overhead4 or Overhead6, from the entry's RLOC family)
	// to -56, and the pointer to the RLOC's IPv6 address (used with IPv6
	// RLOCs) to -64.
	pick := func(fam string) {
		add(
			LoadMem(DW, R2, R9, 8),
			StoreMem(DW, R10, -48, R2),
			LoadMem(B, R2, R9, encapFamily),
			StoreImm(W, R10, -56, Overhead4),
			JumpImm(JEq, R2, 0, "outer4"+fam),
			StoreImm(W, R10, -56, Overhead6),
			Label("outer4"+fam),
			Mov64Reg(R1, R6),
			CallHelper(FnGetHashRecalc),
			StoreMem(W, R10, -52, R0),
			Mov64Reg(R2, R0),
			ALU64Imm(Rsh, R2, 7),
			ALU64Imm(And, R2, 0x3fff),
			ALU64Imm(Or, R2, sourcePortMin),
			HostToBE(R2, 16),
			StoreMem(H, R10, -14, R2),
			ALU64Imm(And, R0, EncapSlots-1),
			Mov64Reg(R1, R9),
			ALU64Reg(Add, R1, R0),
			LoadMem(B, R2, R1, encapSlotTable),
			ALU64Imm(And, R2, MaxEncapRLOCs-1),
			Mov64Reg(R3, R2),
			ALU64Imm(Lsh, R3, 4),
			ALU64Reg(Add, R3, R9),
			ALU64Imm(Add, R3, encapDsts6),
			StoreMem(DW, R10, -64, R3),
			ALU64Imm(Lsh, R2, encapRLOCShift),
			ALU64Imm(Add, R2, encapRLOCs),
			ALU64Reg(Add, R9, R2),
		)
	}
	add(
		Mov64Reg(R6, R1),
		LoadMem(W, R2, R6, skbProtocol),
		JumpImm(JEq, R2, be16(0x86dd, big), "v6"),
		JumpImm(JNE, R2, be16(0x0800, big), "skip"),
	)
	// IPv4.
	pull(20, "hdr4")
	add(
		LoadMem(B, R2, R7, 0),
		JumpImm(JNE, R2, 0x45, "skip"), // version 4 without options
		LoadMem(H, R2, R7, 6),
		ALU64Imm(And, R2, be16(0x3fff, big)),
		JumpImm(JNE, R2, 0, "skip"), // MF or a fragment offset
		StoreImm(W, R10, -8, 32),
		// The address in halves: the IP header starts 2 bytes past a word
		// (NET_IP_ALIGN), and a kernel without efficient unaligned access
		// (MIPS) refuses a word load there.
		LoadMem(H, R2, R7, 16), StoreMem(H, R10, -4, R2),
		LoadMem(H, R2, R7, 18), StoreMem(H, R10, -2, R2),
		LoadMapFD(R1, entries4),
		Mov64Reg(R2, R10),
		ALU64Imm(Add, R2, -8),
		CallHelper(FnMapLookupElem),
		JumpImm(JEq, R0, 0, "miss"),
		Mov64Reg(R9, R0),
	)
	pick("4")
	add(
		LoadMem(B, R5, R7, 9),
	)
	fits("4", 20, R5)
	add(
		LoadMem(B, R2, R7, 1),
		StoreMem(B, R10, -16, R2), // TOS
		LoadMem(B, R2, R7, 8),
		StoreMem(B, R10, -15, R2), // TTL
		Goto("encap"),
		Label("v6"),
	)
	// IPv6.
	pull(40, "hdr6")
	add(
		LoadMem(B, R2, R7, 0),
		ALU64Imm(Rsh, R2, 4),
		JumpImm(JNE, R2, 6, "skip"),
		StoreImm(W, R10, -24, 128),
		LoadMem(H, R2, R7, 24), StoreMem(H, R10, -20, R2),
		LoadMem(H, R2, R7, 26), StoreMem(H, R10, -18, R2),
		LoadMem(H, R2, R7, 28), StoreMem(H, R10, -16, R2),
		LoadMem(H, R2, R7, 30), StoreMem(H, R10, -14, R2),
		LoadMem(H, R2, R7, 32), StoreMem(H, R10, -12, R2),
		LoadMem(H, R2, R7, 34), StoreMem(H, R10, -10, R2),
		LoadMem(H, R2, R7, 36), StoreMem(H, R10, -8, R2),
		LoadMem(H, R2, R7, 38), StoreMem(H, R10, -6, R2),
		LoadMapFD(R1, entries6),
		Mov64Reg(R2, R10),
		ALU64Imm(Add, R2, -24),
		CallHelper(FnMapLookupElem),
		JumpImm(JEq, R0, 0, "miss"),
		Mov64Reg(R9, R0),
	)
	pick("6")
	add(
		LoadMem(B, R5, R7, 6), // next header: TCP right after the fixed header for GSO
	)
	fits("6", 40, R5)
	add(
		// Traffic class: the low nibble of byte 0 and the high one of byte 1.
		LoadMem(B, R2, R7, 0),
		ALU64Imm(And, R2, 0x0f),
		ALU64Imm(Lsh, R2, 4),
		LoadMem(B, R3, R7, 1),
		ALU64Imm(Rsh, R3, 4),
		ALU64Reg(Or, R2, R3),
		StoreMem(B, R10, -16, R2),
		LoadMem(B, R2, R7, 7),
		StoreMem(B, R10, -15, R2), // hop limit
		Label("encap"),
		// Keep what the counters need; the helpers below invalidate the
		// packet pointers.
		LoadMem(W, R2, R6, skbLen),
		StoreMem(W, R10, -24, R2),
		LoadMem(W, R2, R6, skbGSOSegs),
		JumpImm(JNE, R2, 0, "segs"),
		Mov64Imm(R2, 1),
		Label("segs"),
		StoreMem(W, R10, -20, R2),
		// First word of the LISP header: flags and a random nonce.
		CallHelper(FnGetPrandomU32),
		ALU64Imm(And, R0, 0xffffff),
		LoadMem(B, R2, R10, -48),
		ALU64Imm(Lsh, R2, 24),
		ALU64Reg(Or, R0, R2),
		HostToBE(R0, 32),
		StoreMem(W, R10, -28, R0),
		// The flow's local RLOC, from the locals table of the entry's RLOC
		// family (the key 0 at -80; one branch on the family, which also
		// picks the outer header): the table's slot hash>>26 names it
		// (bounded by a mask). An unset one (ifindex 0) sends the packet
		// to the TUN.
		StoreImm(W, R10, -80, 0),
		LoadMem(B, R2, R10, -47), // the RLOC family (the entry's byte 9)
		JumpImm(JNE, R2, 0, "encap6"),
		// IPv4: the local's address and ifindex, one word, to -40.
	)
	add(localRecord(locals, encapLocalSlots, encapLocalShift)...)
	add(
		LoadMem(DW, R2, R0, 0),
		StoreMem(DW, R10, -40, R2),
		LoadMem(W, R2, R10, -36),
		JumpImm(JEq, R2, 0, "skip"),
		// A zero source: a record read while the mirror cleared it (a
		// map update is a copy, not one 8-byte store).
		LoadMem(W, R2, R10, -40),
		JumpImm(JEq, R2, 0, "skip"),
		// Room for the outer headers behind the (empty) MAC header; the
		// packet's protocol becomes IPv4.
	)
	add(outerRoom(Overhead4, adjEncapL3IPv4, 0x0800, big)...)
	add(
		// Outer IPv4 header.
		StoreImm(B, R7, 14, 0x45),
		LoadMem(B, R2, R10, -16),
		StoreMem(B, R7, 15, R2),
		LoadMem(W, R2, R6, skbLen),
		ALU64Imm(Sub, R2, 14),
		HostToBE(R2, 16),
		StoreMem(H, R7, 16, R2),
		StoreImm(H, R7, 18, 0),
		StoreImm(H, R7, 20, be16(0x4000, big)), // DF, as the daemon's sockets send
		LoadMem(B, R2, R10, -15),
		StoreMem(B, R7, 22, R2),
		StoreImm(B, R7, 23, 17),
		StoreImm(H, R7, 24, 0),
		LoadMem(W, R2, R10, -40),
		StoreMem(W, R7, 26, R2),
		LoadMem(W, R2, R9, 0),
		StoreMem(W, R7, 30, R2),
	)
	// UDP header, checksum zero (RFC 9300 section 5.3), and LISP header.
	add(udpLISPHeaders(34, big)...)
	add(ipv4HeaderCsum()...)
	add(
		StoreMem(H, R7, 24, R0),
		// Count and send.
		Label("send"),
		LoadMem(W, R2, R10, -20),
		AtomicAdd(DW, R9, 8, R2),
		LoadMem(W, R2, R10, -24),
		AtomicAdd(DW, R9, 16, R2),
		LoadMem(W, R1, R10, -36),
		Mov64Imm(R2, 0),
		Mov64Imm(R3, 0),
		Mov64Imm(R4, 0),
		CallHelper(FnRedirectNeigh),
		Return(),
		// An IPv6 RLOC: the same with an outer IPv6 header (the packet's
		// protocol becomes IPv6).
		Label("encap6"),
		// The IPv6 local: the pointer to its record (the outer source at
		// +0) to -72, its ifindex to -36.
	)
	add(localRecord(locals6, encapLocalSlots6, encapLocal6Shift)...)
	add(
		StoreMem(DW, R10, -72, R0),
		LoadMem(W, R2, R0, encapLocal6If),
		StoreMem(W, R10, -36, R2),
		JumpImm(JEq, R2, 0, "skip"),
		// A source whose first word is zero (no usable IPv6 source is in
		// ::/32): a record read while the mirror cleared it.
		LoadMem(W, R2, R0, 0),
		JumpImm(JEq, R2, 0, "skip"),
	)
	add(outerRoom(Overhead6, adjEncapL3IPv6, 0x86dd, big)...)
	add(
		// Outer IPv6 header: version, traffic class (the inner TOS or
		// traffic class, ECN included), flow label (20 bits of the flow
		// hash, RFC 6438), payload length, next header UDP, hop limit.
		LoadMem(B, R2, R10, -16),
		ALU64Imm(Lsh, R2, 20),
		LoadMem(W, R3, R10, -52),
		ALU64Imm(Rsh, R3, 12),
		ALU64Imm(And, R3, 0xfffff),
		ALU64Reg(Or, R2, R3),
		ALU64Imm(Or, R2, 0x60000000),
		HostToBE(R2, 32),
		StoreMem(W, R7, 14, R2),
		LoadMem(W, R2, R6, skbLen),
		ALU64Imm(Sub, R2, 14+40),
		HostToBE(R2, 16),
		StoreMem(H, R7, 18, R2),
		StoreImm(B, R7, 20, 17),
		LoadMem(B, R2, R10, -15),
		StoreMem(B, R7, 21, R2),
		// Source (the local's record) and destination (the entry's
		// IPv6 area), a word at a time (both 4-aligned in the packet,
		// behind the 14-byte Ethernet header at NET_IP_ALIGN).
		LoadMem(DW, R2, R10, -72),
		LoadMem(DW, R3, R10, -64),
	)
	for i := int16(0); i < 16; i += 4 {
		add(
			LoadMem(W, R4, R2, i), StoreMem(W, R7, 22+i, R4),
			LoadMem(W, R4, R3, i), StoreMem(W, R7, 38+i, R4),
		)
	}
	// UDP header, checksum zero (RFC 9300 section 5.3 with RFC 6935 and
	// 6936: a tunnel's IPv6 UDP checksum may be zero), and LISP header.
	add(udpLISPHeaders(54, big)...)
	add(
		Goto("send"),
		Label("miss"),
	)
	add(countStat(stats, StatEncapMiss, "")...)
	add(Mov64Imm(R0, ActOK), Return(), Label("skip"))
	add(countStat(stats, StatEncapSkip, "")...)
	add(Mov64Imm(R0, ActOK), Return(), Label("error"))
	add(countStat(stats, StatEncapError, "")...)
	add(Mov64Imm(R0, ActShot), Return())
	return p
}
