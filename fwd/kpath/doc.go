// Package kpath is an in-kernel LISP data path: eBPF programs that
// encapsulate packets leaving the TUN device (TCX egress) and decapsulate
// LISP data packets arriving on an RLOC interface (TCX ingress, or XDP as
// an experiment), fed from BPF maps that a daemon would fill from its
// map-cache.
//
// The daemon does not use this package yet: nothing in lispd imports it.
// It holds the building blocks — a small eBPF assembler, bpf(2) wrappers for
// maps, programs and TCX/XDP links, the programs — and the tests and bench
// path (testing/cmd/kpathxtr, `bench -paths kpath`) that measure what such
// a path gives; testing/BENCH.md, "Session 4", has the figures and what
// wiring it into lispd would need (map-cache mirroring, locator choice,
// PMTU, counters, older kernels, UDP_GRO interplay).
//
// Scope today: IPv4 RLOCs; IPv4 and IPv6 EIDs; one RLOC per mapping; Linux
// 6.6+ for TCX (6.3+ for decapsulating inner IPv6).
//
// Files:
//
//	insn.go          eBPF instructions and their encoding
//	asm.go           instruction constructors, helper numbers, Assemble
//	sys_linux.go     the bpf(2) system call
//	map_linux.go     maps: create, update, lookup, delete
//	prog_linux.go    program load (with the verifier's log on failure), test runs
//	link_linux.go    TCX and XDP attach through BPF_LINK_CREATE
//	encap.go         the encapsulating program and its map layout
//	decap.go         the decapsulating programs (TC and XDP) and their map layout
//	path_linux.go    Encap and Decap: programs, maps and links as one object
//	static_linux.go  AttachStatic: an xTR with static mappings (tests, bench)
//
// The programs are instruction lists in Go rather than compiled from C, so
// that the module needs neither clang nor an ELF loader and keeps its
// dependencies (std and golang.org/x/sys).
package kpath
