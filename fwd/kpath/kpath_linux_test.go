package kpath

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/lispd/lispd/testing/netns"
)

// needBPF skips the test when bpf(2) is unusable here (not root), and
// fails it instead under CI=true.
func needBPF(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		// qemu-user (make emu) does not implement bpf(2): these tests
		// run on the host kernel, the emulated run keeps the pure ones
		// (the big-endian rendering of the programs among them).
		m, err := NewMap(MapSpec{Name: "probe", Type: MapArray, KeySize: 4, ValueSize: 4, MaxEntries: 1})
		if errors.Is(err, syscall.ENOSYS) {
			t.Skip("bpf(2) not implemented here (qemu-user?)")
		}
		if err == nil {
			m.Close()
		}
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("bpf(2) needs root (CI=true: not skipping)")
	}
	t.Skip("bpf(2) needs root")
}

// countProgram counts every packet into slot 0 of the array map m.
func countProgram(m *Map) []Insn {
	return []Insn{
		StoreImm(W, R10, -4, 0),
		LoadMapFD(R1, m.FD()),
		Mov64Reg(R2, R10),
		ALU64Imm(Add, R2, -4),
		CallHelper(FnMapLookupElem),
		JumpImm(JEq, R0, 0, "out"),
		Mov64Imm(R1, 1),
		AtomicAdd(DW, R0, 0, R1),
		Label("out"),
		Mov64Imm(R0, ActOK),
		Return(),
	}
}

func TestMapOps(t *testing.T) {
	needBPF(t)
	tests := []struct {
		spec MapSpec
		key  []byte
	}{
		{MapSpec{Name: "t_array", Type: MapArray, KeySize: 4, ValueSize: 8, MaxEntries: 4}, []byte{1, 0, 0, 0}},
		{MapSpec{Name: "t_hash", Type: MapHash, KeySize: 4, ValueSize: 8, MaxEntries: 4}, []byte{192, 0, 2, 1}},
		{MapSpec{Name: "t_lpm", Type: MapLPMTrie, KeySize: 8, ValueSize: 8, MaxEntries: 4, Flags: FlagNoPrealloc},
			[]byte{24, 0, 0, 0, 198, 51, 100, 0}},
		{MapSpec{Name: "t_pcpu", Type: MapPerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 2}, []byte{1, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.spec.Name, func(t *testing.T) {
			m, err := NewMap(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			v := make([]byte, m.ValueLen())
			for i := range v {
				v[i] = byte(i + 1)
			}
			if err := m.Update(tt.key, v, UpdateAny); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, m.ValueLen())
			if err := m.Lookup(tt.key, got); err != nil {
				t.Fatal(err)
			}
			if string(got) != string(v) {
				t.Fatalf("lookup % x, want % x", got, v)
			}
			if tt.spec.Type == MapLPMTrie {
				// A longer key inside the prefix finds the entry.
				k := []byte{32, 0, 0, 0, 198, 51, 100, 7}
				if err := m.Lookup(k, got); err != nil {
					t.Fatalf("longest-prefix lookup: %v", err)
				}
			}
			if tt.spec.Type == MapArray || tt.spec.Type == MapPerCPUArray {
				return // array entries cannot be deleted
			}
			if err := m.Delete(tt.key); err != nil {
				t.Fatal(err)
			}
			if err := m.Lookup(tt.key, got); !errors.Is(err, os.ErrNotExist) && !strings.Contains(err.Error(), "no such file") {
				t.Fatalf("lookup after delete: %v, want ENOENT", err)
			}
		})
	}
	m, err := NewMap(tests[0].spec)
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	if err := m.Update(tests[0].key, make([]byte, 8), UpdateAny); err == nil {
		t.Fatal("update of a closed map succeeded")
	}
}

func TestVerifierError(t *testing.T) {
	needBPF(t)
	// Reads R2 before writing it: the verifier must refuse.
	_, err := LoadProgram(ProgSpec{Name: "t_bad", Type: ProgSchedCLS, License: "GPL",
		Code: mustAssemble(t, []Insn{Mov64Reg(R0, R2), Return()})})
	var ve *VerifierError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v, want a *VerifierError", err)
	}
	if !strings.Contains(ve.Log, "R2 !read_ok") {
		t.Errorf("verifier log does not name the unread register:\n%s", ve.Log)
	}
}

// TestAttachCountsPings loads a counting program, attaches it to the TCX
// ingress (and, the fallback for kernels before 6.6, as a cls_bpf filter
// at the ingress) of a veth end in a test namespace, and checks that pings
// across the veth are counted, and no longer once the link is closed.
func TestAttachCountsPings(t *testing.T) {
	for _, c := range []struct {
		name   string
		attach func(*Program, int, AttachType) (*Link, error)
	}{{"tcx", AttachTCX}, {"cls", AttachCLS}} {
		t.Run(c.name, func(t *testing.T) { testAttachCountsPings(t, c.attach) })
	}
}

// twoHosts returns hosts a and b (network namespaces) joined by a veth
// pair, a's veth0 192.0.2.1/24 and b's veth1 192.0.2.2/24.
func twoHosts(t *testing.T) (a, b *netns.Host) {
	t.Helper()
	topo := netns.New(t)
	var err error
	if a, err = topo.Host("a"); err != nil {
		t.Fatal(err)
	}
	if b, err = topo.Host("b"); err != nil {
		t.Fatal(err)
	}
	if _, err := topo.Link(a, b, netns.LinkOptions{NameA: "veth0", NameB: "veth1",
		AddrA: []netip.Prefix{netip.MustParsePrefix("192.0.2.1/24")},
		AddrB: []netip.Prefix{netip.MustParsePrefix("192.0.2.2/24")}}); err != nil {
		t.Fatal(err)
	}
	return a, b
}

func testAttachCountsPings(t *testing.T, attach func(*Program, int, AttachType) (*Link, error)) {
	needBPF(t)
	a, b := twoHosts(t)
	m, err := NewMap(MapSpec{Name: "t_count", Type: MapArray, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	prog, err := LoadProgram(ProgSpec{Name: "t_count", Type: ProgSchedCLS, License: "GPL", Code: mustAssemble(t, countProgram(m))})
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	var link *Link
	if err := b.Do(func() error {
		ifi, err := net.InterfaceByName("veth1")
		if err != nil {
			return err
		}
		link, err = attach(prog, ifi.Index, TCXIngress)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	count := func() uint64 {
		v := make([]byte, 8)
		if err := m.Lookup([]byte{0, 0, 0, 0}, v); err != nil {
			t.Fatal(err)
		}
		return binary.NativeEndian.Uint64(v)
	}
	ping := func() {
		if out, err := a.CombinedOutput(context.Background(), "ping", "-c", "5", "-i", "0.05", "-W", "2", "192.0.2.2"); err != nil {
			t.Fatalf("ping: %v\n%s", err, out)
		}
	}
	ping()
	n := count()
	if n < 5 {
		t.Fatalf("counted %d packets for 5 pings", n)
	}
	if err := b.Do(link.Close); err != nil {
		t.Fatal(err)
	}
	ping()
	if after := count(); after != n {
		t.Fatalf("count went from %d to %d after the link was closed", n, after)
	}
}

// TestCountCPUs checks the parser of the kernel's CPU lists that
// PossibleCPUs reads.
func TestCountCPUs(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
	}{
		{"0\n", 1}, {"0-3\n", 4}, {"0,2-5\n", 5}, {"0-1,4,6-7", 5}, {"0-127\n", 128},
		{"", -1}, {"x", -1}, {"3-1", -1}, {"-1", -1}, {"1--2", -1},
	} {
		if got := countCPUs([]byte(c.in), -1); got != c.want {
			t.Errorf("%q: %d, want %d", c.in, got, c.want)
		}
	}
}
