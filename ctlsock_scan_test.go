package main

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// scanControlSocketBufio is scanControlSocket as it was, over bufio.Scanner.
func scanControlSocketBufio(data []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			return ""
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(key) != "control_socket" {
			continue
		}
		val = strings.TrimSpace(val)
		if i := strings.Index(val, "#"); i >= 0 && (strings.HasPrefix(val, "'") || !strings.HasPrefix(val, `"`)) {
			val = strings.TrimSpace(val[:i])
		}
		if strings.HasPrefix(val, "'") && strings.Count(val, "'") >= 2 {
			return val[1 : 1+strings.Index(val[1:], "'")]
		}
		if s, err := strconv.QuotedPrefix(val); err == nil {
			if u, err := strconv.Unquote(s); err == nil {
				return u
			}
		}
		return ""
	}
	return ""
}

// TestScanControlSocketSameAsBufio compares the line loop with the
// bufio.Scanner version it replaced: random files of control_socket lines,
// comments, tables, CR LF, empty lines, and lines around the Scanner's
// 64 KiB limit.
func TestScanControlSocketSameAsBufio(t *testing.T) {
	pieces := []string{"control_socket = \"/run/a.sock\"", "control_socket='/x y'", "control_socket = /bare # c", "# c",
		"", "\r", "[xtr]", "log_level = 'debug'", " control_socket\t=\t\"q\\\"uote\"  ", "control_socket = \"broken", "x = [", "=", "control_socket"}
	r := rand.New(rand.NewPCG(9, 6))
	check := func(data []byte) {
		t.Helper()
		if got, want := scanControlSocket(data), scanControlSocketBufio(data); got != want {
			t.Fatalf("scan(%.200q) = %q, bufio version %q", data, got, want)
		}
	}
	for range 5000 {
		var b strings.Builder
		for range r.IntN(6) {
			b.WriteString(pieces[r.IntN(len(pieces))])
			b.WriteString([]string{"\n", "\r\n", "\n\n"}[r.IntN(3)])
		}
		if r.IntN(2) == 0 {
			b.WriteString(pieces[r.IntN(len(pieces))]) // no final newline
		}
		check([]byte(b.String()))
	}
	for _, n := range []int{maxScanLine - 2, maxScanLine - 1, maxScanLine, maxScanLine + 1} {
		long := strings.Repeat("#", n)
		for _, tail := range []string{"", "\n", "\r\n", "\ncontrol_socket = \"/s\"\n"} {
			check([]byte(long + tail))
			check([]byte("a = 1\n" + long + tail))
			sock := `control_socket = "` + strings.Repeat("x", n-len(`control_socket = ""`)) + `"`
			check([]byte(sock + tail))
			check([]byte("a = 1\n" + sock + tail))
		}
	}
}
