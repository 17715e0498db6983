package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// needZopfli skips the test when the zopfli command is missing (make deps
// installs it), and fails it under CI=true.
func needZopfli(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("zopfli")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("zopfli not installed (make deps installs it)")
		}
		t.Skip("zopfli not installed (make deps installs it)")
	}
	return path
}

// sample is compressible, not trivially: lines of a counter.
func sample() []byte {
	var b bytes.Buffer
	for i := 0; i < 20000; i++ {
		b.WriteString("line ")
		b.WriteString(strings.Repeat("x", i%17))
		b.WriteByte(byte('a' + i%23))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// TestZopfliGzipper: zopfli's output is standard gzip that decompresses to
// the input, without name or timestamp, the same bytes every time, and no
// larger than compress/gzip's.
func TestZopfliGzipper(t *testing.T) {
	z := ZopfliGzipper(needZopfli(t))
	in := sample()
	a, err := z(in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := z(in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("two runs on the same input differ")
	}
	zr, err := gzip.NewReader(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(out, in) {
		t.Fatalf("does not decompress to the input (err %v)", err)
	}
	if zr.Header.Name != "" || !zr.Header.ModTime.IsZero() {
		t.Errorf("header has name %q, mtime %v", zr.Header.Name, zr.Header.ModTime)
	}
	g, err := gz(in)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d bytes: zopfli %d, compress/gzip %d", len(in), len(a), len(g))
	if len(a) > len(g) {
		t.Errorf("zopfli %d bytes, compress/gzip %d", len(a), len(g))
	}
}

// TestSelectGzipper: off is compress/gzip, a bad mode is an error naming
// the flag, auto without zopfli on PATH falls back with a note and require
// fails.
func TestSelectGzipper(t *testing.T) {
	if g, err := SelectGzipper("off", io.Discard); g != nil || err != nil {
		t.Errorf("off: %v %v", g != nil, err)
	}
	if _, err := SelectGzipper("fast", io.Discard); err == nil || !strings.Contains(err.Error(), "-zopfli") {
		t.Errorf("bad mode: %v", err)
	}
	t.Setenv("PATH", t.TempDir())
	var note bytes.Buffer
	if g, err := SelectGzipper("auto", &note); g != nil || err != nil || !strings.Contains(note.String(), "zopfli not found") {
		t.Errorf("auto without zopfli: %v %v %q", g != nil, err, note.String())
	}
	if _, err := SelectGzipper("require", io.Discard); err == nil {
		t.Error("require without zopfli: no error")
	}
}

// TestBuildDataGzip: Build compresses data.tar with Spec.DataGzip.
func TestBuildDataGzip(t *testing.T) {
	s := &Spec{Name: "x", Version: "1-1", Arch: "mips_24kc", Control: "Package: x\nInstalled-Size: 0\n",
		Data: []Entry{{Path: "/a", Mode: 0o644, Data: []byte("a")}}}
	called := 0
	s.DataGzip = func(b []byte) ([]byte, error) { called++; return gz(b) }
	if _, _, err := Build(s); err != nil {
		t.Fatal(err)
	}
	if called != 1 {
		t.Errorf("DataGzip called %d times, want 1", called)
	}
}
