package main

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// leftOut are code the lispd binary must not link, each with what to use
// instead: every one was a measured share of the mips_24kc ipk (issue 6).
var leftOut = []struct{ symbol, why string }{
	{"github.com/BurntSushi/toml.(*Encoder)", "conf.Encode writes TOML itself (~25 KB); read with toml, never write"},
	{"golang.org/x/sys/unix.anyToSockaddr", "x/sys/unix's Recvfrom/Getsockname/Accept4 decode every address family (~13 KB): use package syscall's"},
	{"sort.pdqsort_func", "sort.Slice is a second pdqsort (~8 KB): use internal/sortx or sort.Sort"},
	{"slices.pdqsortOrdered[go.shape.string]", "sort.Strings/slices.Sort on strings instantiate pdqsort (~8 KB): use sort.Sort(sort.StringSlice(x))"},
	{"sort.stable_func", "sort.SliceStable's merge sort: sort by index with the index as the last key"},
	{"bufio.(*Scanner)", "bufio.Scanner (~4 KB): cut lines with strings.Cut"},
	{"reflect.deepValueEqual", "reflect.DeepEqual: compare fields or encodings"},
	{"github.com/gaissmai/bart.(*Table[go.shape.[]", "a bart.Table of slices is a second copy of bart (~35 KB): store a pointer, which shares fwd's instantiation"},
}

// TestBinaryLeavesOut builds lispd for the host with symbols and checks
// that none of leftOut is linked. The ipk size guard says that the binary
// grew; this says by what.
func TestBinaryLeavesOut(t *testing.T) {
	if testing.Short() {
		t.Skip("builds lispd; skipped with -short")
	}
	root := repoRoot(t)
	bin := filepath.Join(t.TempDir(), "lispd")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-w", "-o", bin, ".")
	build.Dir = root
	build.Env = append(build.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command("go", "tool", "nm", bin).Output()
	if err != nil {
		t.Fatalf("go tool nm: %v", err)
	}
	var names []string // "ADDR TYPE NAME", NAME possibly with spaces
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 3 {
			names = append(names, strings.Join(f[2:], " "))
		}
	}
	if !slices.Contains(names, "main.main") {
		t.Fatal("go tool nm lists no main.main: cannot check")
	}
	for _, l := range leftOut {
		for _, n := range names {
			if strings.HasPrefix(n, l.symbol) {
				t.Errorf("lispd links %s: %s", n, l.why)
				break
			}
		}
	}
}
