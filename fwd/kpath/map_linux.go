package kpath

import (
	"errors"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// MapType is a BPF map type (enum bpf_map_type).
type MapType uint32

// Map types this package uses.
const (
	MapHash        MapType = 1
	MapArray       MapType = 2
	MapPerCPUArray MapType = 6
	MapLRUHash     MapType = 9
	MapLPMTrie     MapType = 11
)

// Map creation flags.
const (
	// FlagNoPrealloc allocates entries on update (required by LPM_TRIE).
	FlagNoPrealloc = 1
)

// Update flags.
const (
	UpdateAny     = 0 // create or replace
	UpdateNoExist = 1 // create only
	UpdateExist   = 2 // replace only
)

// MapSpec describes a map to create.
type MapSpec struct {
	_          [0]func() // not comparable: no equality function in the binary
	Name       string    // at most 15 bytes; shown by bpftool
	Type       MapType
	KeySize    uint32
	ValueSize  uint32 // per CPU for the per-CPU types
	MaxEntries uint32
	Flags      uint32
}

// Map is a BPF map held by its file descriptor.
type Map struct {
	_    [0]func() // not comparable: no equality function in the binary
	fd   int
	spec MapSpec
	mu   sync.Mutex // guards fd against Close during a call
}

// mapCreateAttr is the BPF_MAP_CREATE part of union bpf_attr.
type mapCreateAttr struct {
	mapType    uint32
	keySize    uint32
	valueSize  uint32
	maxEntries uint32
	mapFlags   uint32
	innerMapFD uint32
	numaNode   uint32
	name       [16]byte
}

// mapElemAttr is the BPF_MAP_*_ELEM part of union bpf_attr.
type mapElemAttr struct {
	mapFD uint32
	_     uint32
	key   uint64
	value uint64
	flags uint64
}

// NewMap creates a map as spec says.
func NewMap(spec MapSpec) (*Map, error) {
	if len(spec.Name) >= 16 {
		return nil, errors.New("create map " + spec.Name + ": name longer than 15 bytes")
	}
	a := mapCreateAttr{
		mapType:    uint32(spec.Type),
		keySize:    spec.KeySize,
		valueSize:  spec.ValueSize,
		maxEntries: spec.MaxEntries,
		mapFlags:   spec.Flags,
	}
	copy(a.name[:], spec.Name)
	fd, err := bpf(cmdMapCreate, unsafe.Pointer(&a), unsafe.Sizeof(a))
	if err != nil {
		return nil, wrap("create map "+spec.Name, err)
	}
	unix.CloseOnExec(fd)
	return &Map{fd: fd, spec: spec}, nil
}

// FD returns the map's file descriptor (for LoadMapFD); -1 once closed.
func (m *Map) FD() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fd
}

// Spec returns the spec the map was created with.
func (m *Map) Spec() MapSpec { return m.spec }

// Close releases the map; programs that use it keep their reference. A
// nil *Map closes as nothing.
func (m *Map) Close() error {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fd < 0 {
		return nil
	}
	err := unix.Close(m.fd)
	m.fd = -1
	return err
}

// ValueLen returns the length of the value buffer Lookup and Update take:
// ValueSize, or for the per-CPU types ValueSize rounded up to 8 bytes times
// the number of possible CPUs.
func (m *Map) ValueLen() int {
	if m.spec.Type == MapPerCPUArray {
		return int((m.spec.ValueSize+7)&^7) * PossibleCPUs()
	}
	return int(m.spec.ValueSize)
}

var errMapClosed = errors.New("map closed")

func (m *Map) elem(cmd int, name string, key, value []byte, flags uint64) error {
	op := "map " + m.spec.Name + ": " + name
	klen, vlen := len(key), m.ValueLen()
	if cmd == cmdMapGetNextKey { // value is the next key; key nil: the first
		vlen = int(m.spec.KeySize)
		if key == nil {
			klen = vlen
		}
	}
	if klen != int(m.spec.KeySize) || value != nil && len(value) != vlen {
		return errors.New(op + ": wrong key or value length")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fd < 0 {
		return wrap(op, errMapClosed)
	}
	a := mapElemAttr{mapFD: uint32(m.fd), key: ptr(key), value: ptr(value), flags: flags}
	_, err := bpf(cmd, unsafe.Pointer(&a), unsafe.Sizeof(a))
	runtime.KeepAlive(key)
	runtime.KeepAlive(value)
	if err != nil {
		return wrap(op, err)
	}
	return nil
}

// Update writes value under key (flags: UpdateAny, UpdateNoExist,
// UpdateExist).
func (m *Map) Update(key, value []byte, flags uint64) error {
	return m.elem(cmdMapUpdateElem, "update", key, value, flags)
}

// Lookup copies the value under key into value. A missing key gives an
// error that matches unix.ENOENT (errors.Is).
func (m *Map) Lookup(key, value []byte) error {
	return m.elem(cmdMapLookupElem, "lookup", key, value, 0)
}

// Delete removes key. A missing key gives an error that matches
// unix.ENOENT.
func (m *Map) Delete(key []byte) error {
	return m.elem(cmdMapDeleteElem, "delete", key, nil, 0)
}

// NextKey copies the key that follows key into next (BPF_MAP_GET_NEXT_KEY;
// key nil: the first key). After the last key it gives an error that
// matches unix.ENOENT. A hash map restarts from its first key when key is
// no longer in it.
func (m *Map) NextKey(key, next []byte) error {
	return m.elem(cmdMapGetNextKey, "next key", key, next, 0)
}

// nCPUs caches PossibleCPUs (0: not read yet).
var nCPUs atomic.Int32

// PossibleCPUs returns the number of possible CPUs: the number of values a
// per-CPU map holds per key (from /sys/devices/system/cpu/possible, e.g.
// "0-3" or "0,2-5"; runtime.NumCPU when unreadable).
func PossibleCPUs() int {
	if n := nCPUs.Load(); n > 0 {
		return int(n)
	}
	n := runtime.NumCPU()
	if b, err := os.ReadFile("/sys/devices/system/cpu/possible"); err == nil {
		n = countCPUs(b, n)
	}
	nCPUs.Store(int32(n))
	return n
}

// countCPUs counts the CPUs of a kernel CPU list ("0-3,5\n"), or returns
// def when it does not parse.
func countCPUs(b []byte, def int) int {
	n, lo, cur, num, inRange := 0, 0, 0, false, false
	for _, c := range append(b, ',') {
		switch {
		case c >= '0' && c <= '9':
			cur, num = cur*10+int(c-'0'), true
		case c == '-' && num && !inRange:
			lo, cur, num, inRange = cur, 0, false, true
		case (c == ',' || c == '\n') && num:
			if !inRange {
				lo = cur
			}
			if cur < lo {
				return def
			}
			n += cur - lo + 1
			cur, num, inRange = 0, false, false
		case c == ',' || c == '\n':
		default:
			return def
		}
	}
	if n == 0 {
		return def
	}
	return n
}
