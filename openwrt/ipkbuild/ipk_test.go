package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func feedDir(t *testing.T) string { return filepath.Join(repoRoot(t), "openwrt", "lispd") }

// TestPackLayout packs an ipk around a stand-in binary and checks the
// layout, control fields, conffiles and scripts; TestIPKAll does the same
// for real binaries of every architecture.
func TestPackLayout(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "lispd")
	if err := os.WriteFile(bin, []byte("not really lispd"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, arch := range Arches {
		s, err := MakeSpec(Options{Feed: feedDir(t), Binary: bin, Arch: arch, Version: "1.2.3", Epoch: 1700000000, Source: "feeds/packages/net/lispd"})
		if err != nil {
			t.Fatal(err)
		}
		if want := "lispd_1.2.3-1_" + arch + ".ipk"; s.FileName() != want {
			t.Errorf("file name %s, want %s", s.FileName(), want)
		}
		ipk, size, err := Build(s)
		if err != nil {
			t.Fatal(err)
		}
		u := checkLayout(t, ipk, arch, 1700000000)
		if u.Field["Version"] != "1.2.3-1" || size <= 0 {
			t.Errorf("Version %q size %d", u.Field["Version"], size)
		}
		if m := u.file(u.Data, "./usr/sbin/lispd"); m == nil || string(m.Data) != "not really lispd" {
			t.Error("binary not packed as given")
		}
	}
}

// TestPackReproducible: the same inputs give the same bytes; a different
// epoch gives different bytes (the check can fail).
func TestPackReproducible(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "lispd")
	if err := os.WriteFile(bin, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	build := func(epoch int64) []byte {
		s, err := MakeSpec(Options{Feed: feedDir(t), Binary: bin, Arch: "mips_24kc", Version: "1", Epoch: epoch})
		if err != nil {
			t.Fatal(err)
		}
		b, _, err := Build(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b, c := build(1), build(1), build(2)
	if !bytes.Equal(a, b) {
		t.Error("two builds of the same input differ")
	}
	if bytes.Equal(a, c) {
		t.Error("the epoch does not reach the bytes")
	}
}

func TestMakeSpecErrors(t *testing.T) {
	for _, o := range []Options{
		{Feed: feedDir(t), Binary: "/nonexistent", Arch: "x86_64", Version: "1"},
		{Feed: feedDir(t), Binary: "/dev/null", Arch: "sparc", Version: "1"},
		{Feed: feedDir(t), Binary: "/dev/null", Arch: "x86_64", Version: "1 2"},
		{Feed: t.TempDir(), Binary: "/dev/null", Arch: "x86_64", Version: "1"},
	} {
		if _, err := MakeSpec(o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}

// shellcheck runs shellcheck on a file; without shellcheck the test skips
// locally and fails under CI=true.
func shellcheck(t *testing.T, args ...string) {
	t.Helper()
	if _, err := exec.LookPath("shellcheck"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("shellcheck not installed (make deps installs it)")
		}
		t.Skip("shellcheck not installed (make deps installs it)")
	}
	out, err := exec.Command("shellcheck", args...).CombinedOutput()
	if err != nil {
		t.Errorf("shellcheck %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestShellcheck: every shell file of the package, including the prerm
// script kept inside the feed Makefile (as it lands in the ipk). The
// postinst/prerm wrappers are OpenWrt's own text, reproduced verbatim.
func TestShellcheck(t *testing.T) {
	files := filepath.Join(feedDir(t), "files")
	shellcheck(t, filepath.Join(files, "lispd.init"), filepath.Join(files, "lispd.defaults"), filepath.Join("testdata", "fake-uci"))
	fd, err := ReadFeed(filepath.Join(feedDir(t), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "prerm-pkg")
	if err := os.WriteFile(p, []byte(fd.Defines["Package/lispd/prerm"]+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	shellcheck(t, p)
}
