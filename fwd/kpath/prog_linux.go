package kpath

import (
	"errors"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ProgType is a BPF program type (enum bpf_prog_type).
type ProgType uint32

// Program types.
const (
	ProgSchedCLS ProgType = 3 // TC classifier (cls_bpf, TCX)
	ProgXDP      ProgType = 6 // XDP
)

// ProgSpec describes a program to load.
type ProgSpec struct {
	Name    string // at most 15 bytes
	Type    ProgType
	Code    []byte // encoded instructions in host order (InsnSize bytes each)
	License string // "GPL" for the GPL-only helpers (redirect_neigh, csum_diff...)
}

// Program is a loaded BPF program held by its file descriptor.
type Program struct {
	_    [0]func() // not comparable: no equality function in the binary
	fd   int
	name string
}

// VerifierError is a program the kernel refused, with the verifier's log.
type VerifierError struct {
	_    [0]func() // not comparable: no equality function in the binary
	Name string
	Err  error  // the errno of BPF_PROG_LOAD
	Log  string // the verifier's log (log level 1)
}

func (e *VerifierError) Error() string {
	return "load program " + e.Name + ": " + e.Err.Error() + "; verifier log:\n" + e.Log
}

func (e *VerifierError) Unwrap() error { return e.Err }

type progLoadAttr struct {
	progType           uint32
	insnCnt            uint32
	insns              uint64
	license            uint64
	logLevel           uint32
	logSize            uint32
	logBuf             uint64
	kernVersion        uint32
	progFlags          uint32
	name               [16]byte
	progIfindex        uint32
	expectedAttachType uint32
}

// verifierLogSize is the log buffer for a failed load: big enough for the
// whole log of programs of this size.
const verifierLogSize = 4 << 20

// LoadProgram loads the program spec.Code. When the kernel refuses it the
// error is a *VerifierError with the verifier's log.
func LoadProgram(spec ProgSpec) (*Program, error) {
	code := spec.Code
	if len(spec.Name) >= 16 || len(code) == 0 || len(code)%InsnSize != 0 {
		return nil, errors.New("load program " + spec.Name + ": bad name or code length")
	}
	lic := append([]byte(spec.License), 0)
	a := progLoadAttr{
		progType: uint32(spec.Type),
		insnCnt:  uint32(len(code) / InsnSize),
		insns:    ptr(code),
		license:  ptr(lic),
	}
	copy(a.name[:], spec.Name)
	fd, err := bpf(cmdProgLoad, unsafe.Pointer(&a), unsafe.Sizeof(a))
	if err != nil {
		// Load again with the verifier's log (not asked for the first time:
		// logging slows the verifier down).
		log := make([]byte, verifierLogSize)
		a.logLevel, a.logSize, a.logBuf = 1, uint32(len(log)), ptr(log)
		fd2, err2 := bpf(cmdProgLoad, unsafe.Pointer(&a), unsafe.Sizeof(a))
		runtime.KeepAlive(log)
		if err2 == nil {
			fd, err = fd2, nil // loaded after all
		} else {
			if errors.Is(err2, unix.ENOSPC) {
				err2 = err // the log did not fit; report the first error
			}
			return nil, &VerifierError{Name: spec.Name, Err: err2, Log: unix.ByteSliceToString(log)}
		}
	}
	runtime.KeepAlive(code)
	runtime.KeepAlive(lic)
	unix.CloseOnExec(fd)
	return &Program{fd: fd, name: spec.Name}, nil
}

// FD returns the program's file descriptor; -1 once closed.
func (p *Program) FD() int { return p.fd }

// Name returns the program's name.
func (p *Program) Name() string { return p.name }

// Close releases the program; links that hold it keep it attached. A nil
// *Program closes as nothing.
func (p *Program) Close() error {
	if p == nil || p.fd < 0 {
		return nil
	}
	err := unix.Close(p.fd)
	p.fd = -1
	return err
}

// progTestRunAttr is the BPF_PROG_TEST_RUN part of union bpf_attr.
type progTestRunAttr struct {
	progFD      uint32
	retval      uint32
	dataSizeIn  uint32
	dataSizeOut uint32
	dataIn      uint64
	dataOut     uint64
	repeat      uint32
	duration    uint32
	ctxSizeIn   uint32
	ctxSizeOut  uint32
	ctxIn       uint64
	ctxOut      uint64
	flags       uint32
	cpu         uint32
}

const cmdProgTestRun = 10

// TestRun runs the program once over the frame in (BPF_PROG_TEST_RUN: for a
// SchedCLS program in starts with an Ethernet header, from which the
// kernel takes the packet's protocol) and copies the packet as the
// program left it into out. Redirects are not carried out. It returns the
// program's return value and the length of the packet after the run
// (which may exceed len(out)).
func (p *Program) TestRun(in, out []byte) (ret uint32, outLen int, err error) {
	a := progTestRunAttr{
		progFD:      uint32(p.fd),
		dataSizeIn:  uint32(len(in)),
		dataSizeOut: uint32(len(out)),
		dataIn:      ptr(in),
		dataOut:     ptr(out),
		repeat:      1,
	}
	_, err = bpf(cmdProgTestRun, unsafe.Pointer(&a), unsafe.Sizeof(a))
	runtime.KeepAlive(in)
	runtime.KeepAlive(out)
	if err != nil && !errors.Is(err, unix.ENOSPC) {
		return 0, 0, wrap("test run of "+p.name, err)
	}
	return a.retval, int(a.dataSizeOut), nil
}
