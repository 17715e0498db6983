package main

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// archWant is what the binary of each OpenWrt architecture must be.
var archWant = map[string]struct {
	machine elf.Machine
	class   elf.Class
	order   binary.ByteOrder
	goarch  string
	setting [2]string // a build setting that must be present (GOMIPS, GOARM)
	qemu    string    // "" = runs natively on amd64
}{
	"mips_24kc":                {elf.EM_MIPS, elf.ELFCLASS32, binary.BigEndian, "mips", [2]string{"GOMIPS", "softfloat"}, "qemu-mips-static"},
	"mipsel_24kc":              {elf.EM_MIPS, elf.ELFCLASS32, binary.LittleEndian, "mipsle", [2]string{"GOMIPS", "softfloat"}, "qemu-mipsel-static"},
	"arm_cortex-a7_neon-vfpv4": {elf.EM_ARM, elf.ELFCLASS32, binary.LittleEndian, "arm", [2]string{"GOARM", "7"}, "qemu-arm-static"},
	"aarch64_cortex-a53":       {elf.EM_AARCH64, elf.ELFCLASS64, binary.LittleEndian, "arm64", [2]string{"GOOS", "linux"}, "qemu-aarch64-static"},
	"x86_64":                   {elf.EM_X86_64, elf.ELFCLASS64, binary.LittleEndian, "amd64", [2]string{"GOOS", "linux"}, ""},
}

// Size limits for the mips_24kc package (decimal megabytes). Issue 6's
// target is a 1.3 MB ipk and a 3.5 MB binary. The ipk meets it (~1.291 MB):
// no net, encoding/json, log/slog, crypto/*, flag, text/tabwriter, bufio or
// BurntSushi/toml's encoder in the binary, no second copies of generic or
// sort code, no equality functions for struct types nothing compares
// (internal/nocmp), inlining only on the packet path, segments aligned to
// 4 KiB (-R 4096), data.tar.gz compressed by zopfli, and the experimental
// kernel path and the RTR role left out (-tags nokernelpath, ~44 KB of
// ipk; -tags nortr, ~20 KB), and with Go 1.26 Go's previous garbage
// collector (GOEXPERIMENT=nogreenteagc, ~9 KB). The binary (~4.12 MB) does
// not and is not
// expected to (the runtime alone is ~0.7 MB
// of code, and BurntSushi/toml, which the design card names, ~0.2 MB).
// `make test` guards the ipk at the target itself and the binary against
// growth past its size plus ~0.6%; LISPD_SIZE_TARGET=1 (`make size-target`)
// checks both targets.
const (
	targetMIPSIPK    = 1_300_000
	targetMIPSBinary = 3_500_000
	guardMIPSIPK     = targetMIPSIPK
	guardMIPSBinary  = 4_150_000
)

// mipsLimits returns the size limits in force for this run.
func mipsLimits() (ipk, binary int) {
	if os.Getenv("LISPD_SIZE_TARGET") == "1" {
		return targetMIPSIPK, targetMIPSBinary
	}
	return guardMIPSIPK, guardMIPSBinary
}

// makeIPKAll runs `make ipk-all` with its output under dir and returns the
// ipks by architecture.
func makeIPKAll(t *testing.T, root, dir string) map[string][]byte {
	t.Helper()
	cmd := exec.Command("make", "--no-print-directory", "ipk-all", "BUILD="+dir, "IPK_ZOPFLI=require")
	cmd.Dir = root
	for _, e := range os.Environ() {
		switch strings.SplitN(e, "=", 2)[0] {
		case "GOOS", "GOARCH", "GOMIPS", "GOARM", "GOFLAGS", "CGO_ENABLED", "MAKEFLAGS", "MFLAGS", "MAKELEVEL":
			continue // the recipe sets its own target
		}
		cmd.Env = append(cmd.Env, e)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make ipk-all: %v\n%s", err, out)
	}
	t.Logf("make ipk-all BUILD=%s:\n%s", dir, out)
	ipks := map[string][]byte{}
	for _, arch := range Arches {
		m, err := filepath.Glob(filepath.Join(dir, "openwrt", "lispd_*_"+arch+".ipk"))
		if err != nil || len(m) != 1 {
			t.Fatalf("%s: want one ipk, found %v (%v)", arch, m, err)
		}
		if ipks[arch], err = os.ReadFile(m[0]); err != nil {
			t.Fatal(err)
		}
	}
	return ipks
}

// sourceDateEpoch is what ipk.mk uses: the last commit's time, else 0.
func sourceDateEpoch(t *testing.T, root string) int64 {
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	cmd := exec.Command("git", "log", "-1", "--format=%ct")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		return 0
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(out)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// gitVersion is the top Makefile's VERSION: what main.version is stamped with.
func gitVersion(t *testing.T, root string) string {
	cmd := exec.Command("git", "describe", "--tags", "--always", "--dirty")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "dev"
	}
	return string(bytes.TrimSpace(out))
}

// TestIPKAll builds the five real ipks with `make ipk-all` (twice, the second
// time mostly from the Go build cache), unpacks each and checks its layout,
// control fields and conffiles, the binary's ELF machine, class, endianness,
// static linking and Go build settings, runs `lispd version` under
// qemu-user, checks the size budget and that both builds are byte-identical.
func TestIPKAll(t *testing.T) {
	if testing.Short() {
		t.Skip("builds five static binaries; skipped with -short")
	}
	needZopfli(t) // the size limits count on it
	root := repoRoot(t)
	epoch := sourceDateEpoch(t, root)
	version := gitVersion(t, root)
	first := makeIPKAll(t, root, t.TempDir())
	second := makeIPKAll(t, root, t.TempDir())

	for _, arch := range Arches {
		t.Run(arch, func(t *testing.T) {
			w := archWant[arch]
			ipk := first[arch]
			if !bytes.Equal(ipk, second[arch]) {
				t.Error("two builds of the same tree differ (not reproducible)")
			}
			u := checkLayout(t, ipk, arch, epoch)
			bin := u.file(u.Data, "./usr/sbin/lispd")
			if bin == nil {
				t.Fatal("no /usr/sbin/lispd")
			}
			t.Logf("SIZE %-26s ipk %9d bytes, binary %9d bytes", arch, len(ipk), len(bin.Data))
			if arch == "mips_24kc" {
				maxIPK, maxBinary := mipsLimits()
				if len(ipk) > maxIPK {
					t.Errorf("ipk is %d bytes, limit %d (target %d)", len(ipk), maxIPK, targetMIPSIPK)
				}
				if len(bin.Data) > maxBinary {
					t.Errorf("binary is %d bytes, limit %d (target %d)", len(bin.Data), maxBinary, targetMIPSBinary)
				}
			}

			f, err := elf.NewFile(bytes.NewReader(bin.Data))
			if err != nil {
				t.Fatalf("binary is not ELF: %v", err)
			}
			if f.Machine != w.machine || f.Class != w.class || f.ByteOrder != w.order || f.Type != elf.ET_EXEC {
				t.Errorf("ELF %v %v %v %v, want %v %v %v ET_EXEC", f.Machine, f.Class, f.ByteOrder, f.Type, w.machine, w.class, w.order)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
					t.Errorf("program header %v: not a static binary", p.Type)
				}
			}
			bi, err := buildinfo.Read(bytes.NewReader(bin.Data))
			if err != nil {
				t.Fatalf("build info: %v", err)
			}
			settings := map[string]string{}
			for _, s := range bi.Settings {
				settings[s.Key] = s.Value
			}
			// The package leaves the experimental kernel path
			// (IPK_KERNEL_PATH) and the RTR role (IPK_RTR) out.
			for k, v := range map[string]string{"GOARCH": w.goarch, "GOOS": "linux", "CGO_ENABLED": "0", "-trimpath": "true", "-tags": "nokernelpath,nortr", w.setting[0]: w.setting[1]} {
				if settings[k] != v {
					t.Errorf("build setting %s=%q, want %q", k, settings[k], v)
				}
			}
			// With Go 1.26, Go's previous garbage collector (ipk.mk).
			if strings.HasPrefix(runtime.Version(), "go1.26") && settings["GOEXPERIMENT"] != "nogreenteagc" {
				t.Errorf("build setting GOEXPERIMENT=%q, want nogreenteagc with %s", settings["GOEXPERIMENT"], runtime.Version())
			}
			if bytes.Contains(bin.Data, []byte("lispd/fwd/kpath.NewEncap")) {
				t.Error("binary links fwd/kpath's loader despite -tags nokernelpath")
			}
			if bytes.Contains(bin.Data, []byte("lispd/ctl.(*rtr).handleData")) {
				t.Error("binary links the RTR's data path despite -tags nortr")
			}
			// -trimpath keeps -ldflags out of the build info: check its effects.
			if f.Section(".symtab") != nil || f.Section(".debug_info") != nil {
				t.Error("binary not stripped (-s -w)")
			}

			// Run it: lispd version under qemu-user (natively on x86_64).
			exe := filepath.Join(t.TempDir(), "lispd")
			if err := os.WriteFile(exe, bin.Data, 0o755); err != nil {
				t.Fatal(err)
			}
			var cmd *exec.Cmd
			if w.qemu == "" {
				cmd = exec.Command(exe, "version")
			} else {
				if _, err := exec.LookPath(w.qemu); err != nil {
					if os.Getenv("CI") == "true" {
						t.Fatalf("%s not installed (make deps installs qemu-user-static)", w.qemu)
					}
					t.Skipf("%s not installed (make deps installs qemu-user-static)", w.qemu)
				}
				cmd = exec.Command(w.qemu, exe, "version")
			}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("lispd version: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "platform: linux/"+w.goarch+"\n") || !strings.HasPrefix(string(out), "lispd "+version+"\n") {
				t.Errorf("lispd version printed:\n%s", out)
			}
		})
	}
}
