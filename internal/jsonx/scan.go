package jsonx

import (
	"fmt"
	"unicode/utf8"

	"github.com/lispd/lispd/internal/nocmp"
)

// MaxDepth is the deepest nesting of arrays and objects the decoder
// accepts.
const MaxDepth = 1000

// SyntaxError is a malformed JSON text.
type SyntaxError struct {
	_ nocmp.DoNotCompare

	Offset int    // byte offset of the problem
	Msg    string // what is wrong
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("jsonx: offset %d: %s", e.Offset, e.Msg)
}

func syntaxErr(off int, format string, args ...any) error {
	return &SyntaxError{Offset: off, Msg: fmt.Sprintf(format, args...)}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// describe names the byte at i for an error.
func describe(b []byte, i int) string {
	if i >= len(b) {
		return "end of input"
	}
	if c := b[i]; c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("%q", rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", b[i])
}

// skipValue returns the offset just past the JSON value starting at i
// (after white space).
func skipValue(b []byte, i, depth int) (int, error) {
	i = skipSpace(b, i)
	if i >= len(b) {
		return i, syntaxErr(i, "unexpected end of input, want a value")
	}
	switch c := b[i]; {
	case c == '{' || c == '[':
		if depth >= MaxDepth {
			return i, syntaxErr(i, "nested deeper than %d", MaxDepth)
		}
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == end {
			return i + 1, nil
		}
		for {
			var err error
			if c == '{' {
				i = skipSpace(b, i)
				if i >= len(b) || b[i] != '"' {
					return i, syntaxErr(i, "%s, want an object key", describe(b, i))
				}
				if i, err = skipString(b, i); err != nil {
					return i, err
				}
				i = skipSpace(b, i)
				if i >= len(b) || b[i] != ':' {
					return i, syntaxErr(i, "%s after object key, want ':'", describe(b, i))
				}
				i++
			}
			if i, err = skipValue(b, i, depth+1); err != nil {
				return i, err
			}
			i = skipSpace(b, i)
			if i < len(b) && b[i] == ',' {
				i++
				continue
			}
			if i < len(b) && b[i] == end {
				return i + 1, nil
			}
			return i, syntaxErr(i, "%s, want ',' or '%c'", describe(b, i), end)
		}
	case c == '"':
		return skipString(b, i)
	case c == '-' || c >= '0' && c <= '9':
		return skipNumber(b, i)
	case c == 't':
		return skipLiteral(b, i, "true")
	case c == 'f':
		return skipLiteral(b, i, "false")
	case c == 'n':
		return skipLiteral(b, i, "null")
	}
	return i, syntaxErr(i, "%s, want a value", describe(b, i))
}

func skipLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, syntaxErr(i, "invalid literal, want %s", lit)
	}
	return i + len(lit), nil
}

// skipNumber checks the JSON number grammar.
func skipNumber(b []byte, i int) (int, error) {
	start := i
	if b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return i, syntaxErr(start, "invalid number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return i, syntaxErr(start, "invalid number: no digits after '.'")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return i, syntaxErr(start, "invalid number: no exponent digits")
		}
	}
	return i, nil
}

// skipString checks a string starting with the quote at i and returns the
// offset after its closing quote.
func skipString(b []byte, i int) (int, error) {
	start := i
	i++
	for i < len(b) {
		switch c := b[i]; {
		case c == '"':
			return i + 1, nil
		case c == '\\':
			if i+1 >= len(b) {
				return i, syntaxErr(i, "unterminated escape")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					return i, syntaxErr(i, "short \\u escape")
				}
				for _, h := range b[i+2 : i+6] {
					if unhex(h) < 0 {
						return i, syntaxErr(i, "invalid \\u escape")
					}
				}
				i += 6
			default:
				return i, syntaxErr(i, "invalid escape \\%c", b[i+1])
			}
		case c < 0x20:
			return i, syntaxErr(i, "control character 0x%02x in string", c)
		default:
			i++
		}
	}
	return i, syntaxErr(start, "unterminated string")
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// unquote decodes the string literal b (quotes included, already checked
// by skipString). Invalid UTF-8 and lone surrogates become U+FFFD.
func unquote(b []byte) string {
	b = b[1 : len(b)-1]
	simple := true
	for _, c := range b {
		if c == '\\' || c >= utf8.RuneSelf {
			simple = false
			break
		}
	}
	if simple {
		return string(b)
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		c := b[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(b[i:])
			out = utf8.AppendRune(out, r)
			i += size
			continue
		}
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		switch b[i+1] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := hex4(b[i+2:])
			i += 6
			if r >= 0xd800 && r < 0xdc00 && i+6 <= len(b) && b[i] == '\\' && b[i+1] == 'u' {
				if r2 := hex4(b[i+2:]); r2 >= 0xdc00 && r2 < 0xe000 {
					out = utf8.AppendRune(out, (r-0xd800)<<10+(r2-0xdc00)+0x10000)
					i += 6
					continue
				}
			}
			if r >= 0xd800 && r < 0xe000 {
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
			continue
		default: // '"', '\\', '/'
			out = append(out, b[i+1])
		}
		i += 2
	}
	return string(out)
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		r = r<<4 | rune(unhex(c))
	}
	return r
}

// Valid reports whether b is one JSON value with nothing but white space
// around it.
func Valid(b []byte) bool {
	i, err := skipValue(b, 0, 0)
	return err == nil && skipSpace(b, i) == len(b)
}

// appendCompact appends the JSON value src without insignificant white
// space, checking it.
func appendCompact(dst, src []byte) ([]byte, error) {
	end, err := skipValue(src, 0, 0)
	if err != nil {
		return dst, err
	}
	if i := skipSpace(src, end); i != len(src) {
		return dst, syntaxErr(i, "%s after the value", describe(src, i))
	}
	inString := false
	for i := 0; i < end; i++ {
		c := src[i]
		if inString {
			dst = append(dst, c)
			switch c {
			case '\\':
				i++
				dst = append(dst, src[i])
			case '"':
				inString = false
			}
			continue
		}
		if isSpace(c) {
			continue
		}
		if c == '"' {
			inString = true
		}
		dst = append(dst, c)
	}
	return dst, nil
}

// Indent returns the JSON value src re-formatted like encoding/json's
// Indent: each element on its own line starting with prefix and indent
// repeated per nesting level; empty arrays and objects stay "[]" and "{}".
func Indent(src []byte, prefix, indent string) ([]byte, error) {
	c, err := appendCompact(nil, src)
	if err != nil {
		return nil, err
	}
	var out []byte
	depth := 0
	newline := func() {
		out = append(out, '\n')
		out = append(out, prefix...)
		for range depth {
			out = append(out, indent...)
		}
	}
	for i := 0; i < len(c); i++ {
		ch := c[i]
		switch ch {
		case '"':
			j, _ := skipString(c, i)
			out = append(out, c[i:j]...)
			i = j - 1
		case '{', '[':
			out = append(out, ch)
			if i+1 < len(c) && (c[i+1] == '}' || c[i+1] == ']') {
				out = append(out, c[i+1])
				i++
				continue
			}
			depth++
			newline()
		case '}', ']':
			depth--
			newline()
			out = append(out, ch)
		case ',':
			out = append(out, ch)
			newline()
		case ':':
			out = append(out, ':', ' ')
		default:
			out = append(out, ch)
		}
	}
	return out, nil
}
