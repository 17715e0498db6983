package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// zopfliIterations is zopfli's --i: 5 rounds give all but ~0.02% of the
// default 15 in about half the time.
const zopfliIterations = 5

// Gzipper compresses b into a gzip stream without file name or timestamp.
type Gzipper func(b []byte) ([]byte, error)

// ZopfliGzipper returns a Gzipper that runs the zopfli command at path
// (Debian package zopfli): standard gzip that any gunzip reads, ~6% smaller
// than compress/gzip at BestCompression for a Go binary, and deterministic
// (the same input and zopfli version give the same bytes). Its output is
// decompressed and compared with the input before it is used.
func ZopfliGzipper(path string) Gzipper {
	return func(b []byte) ([]byte, error) {
		dir, err := os.MkdirTemp("", "ipkbuild-zopfli")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		in := filepath.Join(dir, "data.tar")
		if err := os.WriteFile(in, b, 0o600); err != nil {
			return nil, err
		}
		var out, stderr bytes.Buffer
		cmd := exec.Command(path, fmt.Sprintf("--i%d", zopfliIterations), "--gzip", "-c", in)
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("zopfli: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
		}
		zr, err := gzip.NewReader(bytes.NewReader(out.Bytes()))
		if err != nil {
			return nil, fmt.Errorf("zopfli output: %w", err)
		}
		back, err := io.ReadAll(zr)
		if err != nil {
			return nil, fmt.Errorf("zopfli output: %w", err)
		}
		if !bytes.Equal(back, b) {
			return nil, fmt.Errorf("zopfli output does not decompress to its input")
		}
		if zr.Header.Name != "" || !zr.Header.ModTime.IsZero() {
			return nil, fmt.Errorf("zopfli output has a file name or timestamp")
		}
		return out.Bytes(), nil
	}
}

// SelectGzipper picks data.tar.gz's compressor for mode "auto" (zopfli when
// it is on PATH, else compress/gzip with a note on stderr), "require"
// (zopfli or an error) or "off" (compress/gzip). It returns nil for
// compress/gzip.
func SelectGzipper(mode string, stderr io.Writer) (Gzipper, error) {
	switch mode {
	case "off":
		return nil, nil
	case "auto", "require":
	default:
		return nil, fmt.Errorf("-zopfli %q: want auto, require or off", mode)
	}
	path, err := exec.LookPath("zopfli")
	if err == nil {
		return ZopfliGzipper(path), nil
	}
	if mode == "require" {
		return nil, fmt.Errorf("zopfli not found (apt-get install zopfli, or make deps): %w", err)
	}
	fmt.Fprintln(stderr, "ipkbuild: zopfli not found: data.tar.gz compressed with compress/gzip, ~6% larger (apt-get install zopfli, or make deps)")
	return nil, nil
}
