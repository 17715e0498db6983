package tshark

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// Filters of ../shared/vectors/check_pcap.sh: a frame is offending when it is
// malformed, carries an expert item of severity warning or error, or leaves
// bytes undissected ("data") after a LISP control message (Map-Notify-Ack,
// type 5, is exempt: tshark 4.0 cannot decode it).
const (
	// CheckFilter is the display filter of check_pcap.sh.
	CheckFilter = `_ws.malformed || _ws.expert.severity >= 6291456 || (lisp && data && !(lisp.type == 5))`
	// CheckFilterAllowUndecoded is check_pcap.sh's filter with ALLOW_UNDECODED=1:
	// "Not dissected yet" warnings (LCAF types tshark 4.0 lacks) are ignored.
	CheckFilterAllowUndecoded = `_ws.malformed || (_ws.expert.severity >= 6291456 && !lisp.undecoded) || (lisp && data && !(lisp.type == 5))`
)

// baseArgs are the preferences check_pcap.sh passes before the caller's own
// arguments: checksums are verified, a zero UDP checksum over IPv6 is allowed.
var baseArgs = []string{
	"-n",
	"-o", "udp.check_checksum:TRUE",
	"-o", "ip.check_checksum:TRUE",
	"-o", "udp.ignore_ipv6_zero_checksum:TRUE",
}

// IgnoreKernelTCP is the Options.Ignore of a TCP transfer's capture: frames
// whose inner TCP carries a D-SACK (the sender's spurious tail-loss probe
// on a loaded machine) or the checksum 0xffff where tshark computes 0x0000
// (Linux completes a partial checksum in software with skb_checksum_help,
// which writes 0xffff, CSUM_MANGLED_0, for a zero sum: one segment in 65536
// of a kernel-encapsulated flow). Neither says anything of our bytes.
const IgnoreKernelTCP = "tcp.options.sack.dsack || tcp.checksum == 0xffff"

// Options tunes CheckWith.
type Options struct {
	// AllowUndecoded ignores "Not dissected yet" expert warnings, like
	// check_pcap.sh with ALLOW_UNDECODED=1.
	AllowUndecoded bool
	// ExtraArgs are passed to tshark after the standard preferences, e.g.
	// "-d", "udp.port==14342,lisp" for LISP on other ports.
	ExtraArgs []string
	// Ignore, when set, is a display filter of frames the check leaves out,
	// for what a capture shows about the endpoints rather than about the
	// bytes under test (e.g. "tcp.options.sack.dsack": an inner TCP's
	// spurious retransmission).
	Ignore string
}

// Available reports why tshark cannot be used by this test process, or nil.
// It fails when the test binary runs under user-mode emulation (GOARCH is not
// the host's, e.g. GOARCH=mips under qemu-mips-static) and when tshark is not
// on PATH or does not run.
func Available() error {
	if host := hostArch(); host != "" && host != runtime.GOARCH {
		return fmt.Errorf("test binary is %s running on a %s host (emulated): tshark not used", runtime.GOARCH, host)
	}
	path, err := exec.LookPath("tshark")
	if err != nil {
		return fmt.Errorf("tshark not found (apt-get install -y tshark): %w", err)
	}
	if out, err := exec.Command(path, "--version").CombinedOutput(); err != nil {
		return fmt.Errorf("%s --version: %v: %s", path, err, firstLine(out))
	}
	return nil
}

// Require skips the test when tshark is unavailable. With CI=true, a native
// (not emulated) test run fails instead: CI must not silently lose the check.
func Require(t testing.TB) {
	t.Helper()
	err := Available()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" && !emulated() {
		t.Fatalf("CI=true but tshark is unavailable: %v", err)
	}
	t.Skipf("skipping: %v", err)
}

// Check runs tshark over the capture at pcapPath the way
// ../shared/vectors/check_pcap.sh does and fails the test listing every
// offending frame as "frame<TAB>info<TAB>expert messages". extraArgs go to
// tshark (for example "-d", "udp.port==14342,lisp"). Without tshark the test
// is skipped (failed with CI=true, see Require).
func Check(t testing.TB, pcapPath string, extraArgs ...string) {
	t.Helper()
	CheckWith(t, pcapPath, Options{ExtraArgs: extraArgs})
}

// CheckWith is Check with options.
func CheckWith(t testing.TB, pcapPath string, opt Options) {
	t.Helper()
	Require(t)
	filter := CheckFilter
	if opt.AllowUndecoded {
		filter = CheckFilterAllowUndecoded
	}
	if opt.Ignore != "" {
		filter = "(" + filter + ") && !(" + opt.Ignore + ")"
	}
	rows, err := run(pcapPath, filter, []string{"frame.number", "_ws.col.Info", "_ws.expert.message"}, opt.ExtraArgs)
	if err != nil {
		t.Fatalf("tshark check of %s: %v", pcapPath, err)
	}
	if len(rows) > 0 {
		var b strings.Builder
		for _, r := range rows {
			b.WriteString("\n\t")
			b.WriteString(strings.Join(r, "\t"))
		}
		t.Errorf("tshark flags %d frame(s) of %s (frame, info, expert):%s", len(rows), pcapPath, b.String())
	}
}

// Fields runs `tshark -T fields` over the capture with the given display
// filter ("" for every frame) and returns one row per frame with one column
// per field. Repeated occurrences of a field in a frame are joined with ';'.
// Without tshark the test is skipped (failed with CI=true, see Require).
func Fields(t testing.TB, pcapPath, displayFilter string, fields []string, extraArgs ...string) [][]string {
	t.Helper()
	Require(t)
	if len(fields) == 0 {
		t.Fatal("tshark.Fields: no fields requested")
	}
	rows, err := run(pcapPath, displayFilter, fields, extraArgs)
	if err != nil {
		t.Fatalf("tshark fields of %s: %v", pcapPath, err)
	}
	return rows
}

func run(pcapPath, filter string, fields, extra []string) ([][]string, error) {
	args := append([]string{"-r", pcapPath}, baseArgs...)
	args = append(args, extra...)
	if filter != "" {
		args = append(args, "-Y", filter)
	}
	args = append(args, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=;")
	// tshark prints a field named twice only once: ask for each field once
	// and give every requested column its value.
	col := make([]int, len(fields))
	seen := map[string]int{}
	for i, f := range fields {
		j, ok := seen[f]
		if !ok {
			j = len(seen)
			seen[f] = j
			args = append(args, "-e", f)
		}
		col[i] = j
	}
	cmd := exec.Command("tshark", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("tshark %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	var rows [][]string
	for _, line := range strings.Split(stdout.String(), "\n") {
		if line == "" {
			continue
		}
		vals := strings.Split(line, "\t")
		row := make([]string, len(fields))
		for i, j := range col {
			if j < len(vals) {
				row[i] = vals[j]
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// hostArch returns the GOARCH name of the machine's own binaries (read from
// the ELF header of /bin/sh), or "" when it cannot be told. Under qemu-user
// emulation it differs from runtime.GOARCH.
func hostArch() string {
	for _, p := range []string{"/bin/sh", "/usr/bin/env"} {
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		defer f.Close()
		switch f.Machine {
		case elf.EM_X86_64:
			return "amd64"
		case elf.EM_386:
			return "386"
		case elf.EM_AARCH64:
			return "arm64"
		case elf.EM_ARM:
			return "arm"
		case elf.EM_MIPS:
			if f.ByteOrder.String() == "LittleEndian" {
				if f.Class == elf.ELFCLASS64 {
					return "mips64le"
				}
				return "mipsle"
			}
			if f.Class == elf.ELFCLASS64 {
				return "mips64"
			}
			return "mips"
		case elf.EM_RISCV:
			return "riscv64"
		case elf.EM_PPC64:
			return "ppc64le"
		case elf.EM_S390:
			return "s390x"
		case elf.EM_LOONGARCH:
			return "loong64"
		}
		return ""
	}
	return ""
}

// emulated reports whether this process is a foreign-architecture binary run
// under user-mode emulation.
func emulated() bool {
	h := hostArch()
	return h != "" && h != runtime.GOARCH
}

func firstLine(b []byte) string {
	s := string(b)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
