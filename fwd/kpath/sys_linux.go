package kpath

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// bpf(2) commands.
const (
	cmdMapCreate     = 0
	cmdMapLookupElem = 1
	cmdMapUpdateElem = 2
	cmdMapDeleteElem = 3
	cmdMapGetNextKey = 4
	cmdProgLoad      = 5
	cmdLinkCreate    = 28
)

// bpf calls the bpf(2) system call with the attribute struct at attr (size
// bytes) and returns its result (a file descriptor for the creating
// commands).
func bpf(cmd int, attr unsafe.Pointer, size uintptr) (int, error) {
	r, _, e := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
	runtime.KeepAlive(attr)
	if e != 0 {
		return int(r), e
	}
	return int(r), nil
}

// ptr returns the address of b's first byte as the kernel's __aligned_u64
// pointer fields want it (0 for an empty slice).
func ptr(b []byte) uint64 {
	if len(b) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(&b[0])))
}

// opError is an operation that failed, what it was done on and why, with
// an optional second cause (both match errors.Is). The package builds its
// errors from strings and this type rather than with fmt, which keeps the
// daemon's binary smaller.
type opError struct {
	_     [0]func() // not comparable: no equality function in the binary
	op    string
	err   error
	cause error // nil, or a second error the failure also means (ErrNoTCX)
}

func (e *opError) Error() string {
	s := e.op + ": " + e.err.Error()
	if e.cause != nil {
		s += " (" + e.cause.Error() + ")"
	}
	return s
}

func (e *opError) Unwrap() []error { return []error{e.err, e.cause} }

// wrap returns err with op in front.
func wrap(op string, err error) error { return &opError{op: op, err: err} }
