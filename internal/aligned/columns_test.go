package aligned

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
	"text/tabwriter"
)

// TestTable: a show-style table, aligned two spaces apart, columns sized per
// block, the last cell of each line unpadded, widths in runes.
func TestTable(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b, 2)
	w.Write([]byte("EID-prefix\tRLOC\tState\n192.0.2.0/24\t2001:db8::1\tup\nfd00::/8\tx\tdown\nno tabs here\nä\tb\n"))
	w.Flush()
	want := "EID-prefix    RLOC         State\n" +
		"192.0.2.0/24  2001:db8::1  up\n" +
		"fd00::/8      x            down\n" +
		"no tabs here\n" +
		"ä  b\n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
}

// op is one step of a random session: text written through the writer,
// text written straight to the underlying buffer, or a Flush.
type op struct {
	kind int // 0 write, 1 direct, 2 flush
	text string
}

// randomOps makes a session from pieces that exercise cells, empty cells,
// multi-byte runes, soft tabs, form feeds and lines without tabs.
func randomOps(r *rand.Rand) []op {
	pieces := []string{"a", "bb", "cccccc", "ü", "日本", "", "\t", "\t", "\t", "\v", "\n", "\n", "\f", " x "}
	var ops []op
	for range r.IntN(12) {
		switch k := r.IntN(10); {
		case k < 7:
			var s strings.Builder
			for range r.IntN(20) {
				s.WriteString(pieces[r.IntN(len(pieces))])
			}
			ops = append(ops, op{0, s.String()})
		case k < 9:
			ops = append(ops, op{1, "|"})
		default:
			ops = append(ops, op{2, ""})
		}
	}
	return ops
}

// run plays ops through a writer made by mk and returns what reached the
// underlying buffer.
func run[W interface {
	Write([]byte) (int, error)
	Flush() error
}](ops []op, mk func(*bytes.Buffer) W) string {
	var b bytes.Buffer
	w := mk(&b)
	for _, o := range ops {
		switch o.kind {
		case 0:
			w.Write([]byte(o.text))
		case 1:
			b.WriteString(o.text)
		case 2:
			w.Flush()
		}
	}
	w.Flush()
	return b.String()
}

// TestSameAsTabwriter compares the output of random sessions, including
// when text written around the writer shows when it flushes, with
// text/tabwriter configured as lispd configured it.
func TestSameAsTabwriter(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		ops := randomOps(r)
		pad := i % 4
		got := run(ops, func(b *bytes.Buffer) *Writer { return NewWriter(b, pad) })
		want := run(ops, func(b *bytes.Buffer) *tabwriter.Writer { return tabwriter.NewWriter(b, 0, 8, pad, ' ', 0) })
		if got != want {
			t.Fatalf("padding %d, ops %v:\ngot  %q\nwant %q", pad, ops, got, want)
		}
	}
}

// failWriter fails every write.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errFail }

var errFail = bytes.ErrTooLarge

// TestWriteError: a failed write of the underlying writer is returned.
func TestWriteError(t *testing.T) {
	w := NewWriter(failWriter{}, 2)
	w.Write([]byte("a\tb\n"))
	if err := w.Flush(); err != errFail {
		t.Errorf("Flush: %v, want %v", err, errFail)
	}
}
