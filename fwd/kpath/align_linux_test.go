package kpath

import (
	"errors"
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// bpfFStrictAlignment is BPF_F_STRICT_ALIGNMENT: the verifier checks
// packet accesses as a kernel without
// CONFIG_HAVE_EFFICIENT_UNALIGNED_ACCESS always does (MIPS, 32-bit ARM
// before v6: OpenWrt's routers), with the packet's IP header at
// NET_IP_ALIGN (2) past a word boundary.
const bpfFStrictAlignment = 1

// loadStrict loads code as LoadProgram does, with strict alignment, and
// returns the verifier's log when the kernel refuses it.
func loadStrict(t *testing.T, name string, typ ProgType, code []byte) {
	t.Helper()
	log := make([]byte, verifierLogSize)
	lic := []byte("GPL\x00")
	a := progLoadAttr{progType: uint32(typ), insnCnt: uint32(len(code) / InsnSize), insns: ptr(code),
		license: ptr(lic), logLevel: 1, logSize: uint32(len(log)), logBuf: ptr(log), progFlags: bpfFStrictAlignment}
	copy(a.name[:], name)
	fd, err := bpf(cmdProgLoad, unsafe.Pointer(&a), unsafe.Sizeof(a))
	runtime.KeepAlive(code)
	runtime.KeepAlive(lic)
	runtime.KeepAlive(log)
	if err != nil {
		if errors.Is(err, unix.ENOSPC) {
			t.Fatalf("%s: %v (verifier log too long)", name, err)
		}
		l := unix.ByteSliceToString(log)
		if len(l) > 3000 {
			l = "..." + l[len(l)-3000:]
		}
		t.Fatalf("%s refused under strict alignment: %v\n%s", name, err, l)
	}
	unix.Close(fd)
}

// TestProgramsLoadWithStrictAlignment loads every program the daemon
// loads as a MIPS or ARMv5 kernel's verifier would check it: a word load
// at a packet offset that is not a multiple of 4 from the (2-aligned) IP
// header fails there, and the kernel path would fall back on the routers
// it is meant for.
func TestProgramsLoadWithStrictAlignment(t *testing.T) {
	needBPF(t)
	e, err := NewEncap(4)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	d, err := NewDecap(4)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, p := range []struct {
		name string
		typ  ProgType
		code []byte
	}{
		{"lisp_encap", ProgSchedCLS, encapImage.render(bigEndian, e.fds()...)},
		{"lisp_decap", ProgSchedCLS, decapImage.render(bigEndian, d.fds()...)},
		{"lisp_decap_xdp", ProgXDP, decapXDPImage.render(bigEndian, d.fds()...)},
	} {
		t.Run(p.name, func(t *testing.T) { loadStrict(t, p.name, p.typ, p.code) })
	}
}
