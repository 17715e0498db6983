// Package kpath is an in-kernel LISP data path: eBPF programs for the TC
// (TCX) hooks that encapsulate IPv4 packets leaving the TUN device and
// decapsulate LISP data packets arriving on an RLOC interface, fed from BPF
// maps that a daemon fills from its map-cache.
//
// The daemon does not use this package yet: nothing in lispd imports it.
// It holds the building blocks (a small eBPF assembler, bpf(2) wrappers for
// maps, programs and TCX links, and the two programs) and the tests and
// bench path (testing/cmd/kpathxtr) that measure what such a path would
// give; testing/BENCH.md, "Session 4", says what wiring it into lispd would
// need.
//
// Files:
//
//	insn.go    eBPF instructions and their encoding
//	asm.go     instruction constructors, labels resolved into jump offsets
//	sys_linux.go  the bpf(2) system call
//	map_linux.go  maps: create, update, lookup, delete
//	prog_linux.go program load (with the verifier's log on failure)
//	link_linux.go TCX attach through BPF_LINK_CREATE
//	encap.go   the encapsulating program (TUN egress) and its map layout
//	decap.go   the decapsulating program (RLOC interface ingress)
//	path_linux.go Encap/Decap: programs, maps and links as one object
//
// The programs are written as instruction lists in Go rather than compiled
// from C, so that the package needs neither clang nor an ELF loader: the
// module keeps its dependencies (std and golang.org/x/sys).
package kpath
