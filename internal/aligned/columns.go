// Package aligned aligns tab-separated cells into columns: the output of
// text/tabwriter.NewWriter(w, 0, 8, padding, ' ', 0), the only
// configuration lispd uses, in a fraction of its code (issue 6's size
// budget).
//
// As in text/tabwriter, a cell is text terminated by a tab ('\t' or '\v');
// the last cell of a line is not part of a column. A column block is a run
// of adjacent lines with a cell in that column; each cell in it is padded
// with spaces to the block's widest cell plus padding, widths counted in
// runes. Writing '\f' or a line without tabs flushes what is buffered.
// Unlike text/tabwriter, the byte 0xff (which valid UTF-8 never contains)
// is not an escape character: it is one rune of text.
package aligned

import (
	"io"
	"unicode/utf8"
)

// cell is one cell of a buffered line.
type cell struct {
	size  int // bytes
	width int // runes
}

// Writer buffers text and writes it aligned to the underlying writer on
// Flush (and at lines without tabs).
type Writer struct {
	out     io.Writer
	padding int
	buf     []byte   // text of the buffered lines, without tabs and newlines
	lines   [][]cell // buffered lines; the last is the one being written
	start   int      // where the current cell's text begins in buf
	widths  []int    // column widths while formatting
	err     error    // first write error
}

// NewWriter returns a Writer that pads cells with padding spaces.
func NewWriter(out io.Writer, padding int) *Writer {
	return &Writer{out: out, padding: padding, lines: [][]cell{nil}}
}

// Write buffers p; complete lines without tabs, and '\f', flush.
func (w *Writer) Write(p []byte) (int, error) {
	n := 0
	for i, ch := range p {
		switch ch {
		case '\t', '\v', '\n', '\f':
			w.buf = append(w.buf, p[n:i]...)
			n = i + 1
			ncells := w.endCell()
			if ch == '\n' || ch == '\f' {
				w.lines = append(w.lines, nil)
				if ch == '\f' || ncells == 1 {
					w.flush()
				}
			}
		}
	}
	w.buf = append(w.buf, p[n:]...)
	return len(p), w.err
}

// endCell ends the current cell and returns the number of cells of its line.
func (w *Writer) endCell() int {
	text := w.buf[w.start:]
	line := &w.lines[len(w.lines)-1]
	*line = append(*line, cell{size: len(text), width: utf8.RuneCount(text)})
	w.start = len(w.buf)
	return len(*line)
}

// Flush ends the current cell and writes everything buffered.
func (w *Writer) Flush() error {
	if len(w.buf) > w.start {
		w.endCell()
	}
	w.flush()
	return w.err
}

// flush formats and writes the buffered lines and empties the buffer.
func (w *Writer) flush() {
	w.format(0, 0, len(w.lines))
	w.buf, w.start = w.buf[:0], 0
	w.lines = append(w.lines[:0], nil)
}

// format writes lines [line0, line1), whose text starts at buf[pos:], with
// the columns left of len(w.widths) already sized, and returns where the
// next line's text starts. It is text/tabwriter's algorithm.
func (w *Writer) format(pos, line0, line1 int) int {
	column := len(w.widths)
	for this := line0; this < line1; this++ {
		if column >= len(w.lines[this])-1 {
			continue
		}
		// A cell in this column: a column block begins here.
		pos = w.writeLines(pos, line0, this)
		line0 = this
		width := 0
		for ; this < line1; this++ {
			line := w.lines[this]
			if column >= len(line)-1 {
				break
			}
			width = max(width, line[column].width+w.padding)
		}
		w.widths = append(w.widths, width)
		pos = w.format(pos, line0, this)
		w.widths = w.widths[:len(w.widths)-1]
		line0 = this
	}
	return w.writeLines(pos, line0, line1)
}

// spaces pads cells.
var spaces = []byte("                                ")

// writeLines writes lines [line0, line1) with the current widths.
func (w *Writer) writeLines(pos, line0, line1 int) int {
	for i := line0; i < line1; i++ {
		for j, c := range w.lines[i] {
			w.write(w.buf[pos : pos+c.size])
			pos += c.size
			if j < len(w.widths) {
				for pad := w.widths[j] - c.width; pad > 0; pad -= len(spaces) {
					w.write(spaces[:min(pad, len(spaces))])
				}
			}
		}
		if i+1 < len(w.lines) {
			w.write([]byte{'\n'})
		}
	}
	return pos
}

// write writes b unless an earlier write failed.
func (w *Writer) write(b []byte) {
	if w.err == nil && len(b) > 0 {
		_, w.err = w.out.Write(b)
	}
}
