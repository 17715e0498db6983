package conf

import (
	"sort"
	"strconv"
	"strings"
)

// BurntSushi/toml does not export the positions of keys, so positions are
// found by a second, structural pass over the text of a file the TOML parser
// has already accepted. The pass knows just enough TOML to follow table
// headers, arrays of tables (and their indices), dotted keys, strings,
// arrays and inline tables; it never fails and always makes progress, so on
// input it does not understand it only loses precision.

// position is a 1-based line and byte column.
type position struct{ Line, Col int }

// positions maps a key path ("xtr.rloc[1].priority", "xtr.eid_prefixes[0]")
// to where it is written.
type positions struct {
	at        map[string]position
	lineStart []int // byte offset of the start of every line
}

// find returns the position of key, or of its nearest ancestor written in the
// file, or 1:1 when none is.
func (ps *positions) find(key string) position {
	for k := key; k != ""; k = parentPath(k) {
		if p, ok := ps.at[k]; ok {
			return p
		}
	}
	return position{1, 1}
}

// parentPath strips the last component of a key path: "a.b[2]" -> "a.b",
// "a.b" -> "a", `a."x.y"` -> "a", "a" -> "".
func parentPath(k string) string {
	if k == "" {
		return ""
	}
	switch k[len(k)-1] {
	case ']':
		if i := strings.LastIndexByte(k, '['); i >= 0 {
			return k[:i]
		}
		return ""
	case '"':
		for i := len(k) - 2; i >= 0; i-- {
			if k[i] == '"' && (i == 0 || k[i-1] != '\\') {
				if i > 0 && k[i-1] == '.' {
					return k[:i-1]
				}
				return ""
			}
		}
		return ""
	}
	if i := strings.LastIndexByte(k, '.'); i >= 0 {
		return k[:i]
	}
	return ""
}

// keyName renders one key component as it is written in a key path: bare
// when it can be, quoted otherwise.
func keyName(s string) string {
	if s == "" {
		return `""`
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return strconv.Quote(s)
		}
	}
	return s
}

// joinKey appends a named component to a key path.
func joinKey(parent, name string) string {
	if parent == "" {
		return keyName(name)
	}
	return parent + "." + keyName(name)
}

// indexKey appends an array index to a key path.
func indexKey(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

// offsetPosition converts a byte offset in src to a line and column.
func offsetPosition(src []byte, off int) position {
	off = min(max(off, 0), len(src))
	line, start := 1, 0
	for i := 0; i < off; i++ {
		if src[i] == '\n' {
			line, start = line+1, i+1
		}
	}
	return position{line, off - start + 1}
}

// scanPositions indexes the key positions of a TOML document.
func scanPositions(src []byte) *positions {
	s := &scanner{
		src:    src,
		ps:     &positions{at: make(map[string]position)},
		arrays: make(map[string]int),
	}
	s.ps.lineStart = append(s.ps.lineStart, 0)
	for i, c := range src {
		if c == '\n' {
			s.ps.lineStart = append(s.ps.lineStart, i+1)
		}
	}
	s.document()
	return s.ps
}

type scanner struct {
	src    []byte
	i      int
	ps     *positions
	arrays map[string]int // array-of-tables path (no final index) -> elements so far
	table  string         // resolved path of the current table
}

func (s *scanner) record(key string, off int) {
	if _, ok := s.ps.at[key]; ok {
		return
	}
	line := sort.Search(len(s.ps.lineStart), func(i int) bool { return s.ps.lineStart[i] > off }) - 1
	line = max(line, 0)
	s.ps.at[key] = position{Line: line + 1, Col: off - s.ps.lineStart[line] + 1}
}

func (s *scanner) eof() bool { return s.i >= len(s.src) }

func (s *scanner) peek(n int) byte {
	if s.i+n < len(s.src) {
		return s.src[s.i+n]
	}
	return 0
}

// skip skips blanks, and with newlines also line ends and comments.
func (s *scanner) skip(newlines bool) {
	for !s.eof() {
		switch c := s.src[s.i]; {
		case c == ' ' || c == '\t':
			s.i++
		case newlines && (c == '\n' || c == '\r'):
			s.i++
		case newlines && c == '#':
			s.skipLine()
		default:
			return
		}
	}
}

func (s *scanner) skipLine() {
	for !s.eof() && s.src[s.i] != '\n' {
		s.i++
	}
}

func (s *scanner) document() {
	if len(s.src) >= 3 && s.src[0] == 0xEF && s.src[1] == 0xBB && s.src[2] == 0xBF {
		s.i = 3
	}
	for {
		s.skip(true)
		if s.eof() {
			return
		}
		start := s.i
		if s.src[s.i] == '[' {
			s.header()
		} else {
			s.keyValue(s.table)
		}
		s.skip(false)
		if !s.eof() && s.src[s.i] == '#' {
			s.skipLine()
		}
		if s.i == start { // not understood: never loop
			s.i++
		}
	}
}

// header reads "[a.b]" or "[[a.b]]".
func (s *scanner) header() {
	s.i++ // [
	array := s.peek(0) == '['
	if array {
		s.i++
	}
	s.skip(false)
	keyOff := s.i
	names := s.key()
	path := ""
	for n, name := range names {
		path = joinKey(path, name)
		if array && n == len(names)-1 {
			idx := s.arrays[path]
			s.arrays[path] = idx + 1
			s.record(path, keyOff)
			path = indexKey(path, idx)
		} else if cnt, ok := s.arrays[path]; ok && cnt > 0 {
			path = indexKey(path, cnt-1)
		}
		s.record(path, keyOff)
	}
	s.table = path
	for !s.eof() && s.src[s.i] != ']' && s.src[s.i] != '\n' {
		s.i++
	}
	for !s.eof() && s.src[s.i] == ']' {
		s.i++
	}
}

// keyValue reads "a.b = value" relative to table.
func (s *scanner) keyValue(table string) {
	keyOff := s.i
	names := s.key()
	if len(names) == 0 {
		return
	}
	path := table
	for _, name := range names {
		path = joinKey(path, name)
		s.record(path, keyOff)
	}
	s.skip(false)
	if s.eof() || s.src[s.i] != '=' {
		return
	}
	s.i++
	s.skip(false)
	s.value(path)
}

// key reads a possibly dotted, possibly quoted key.
func (s *scanner) key() []string {
	var names []string
	for !s.eof() {
		s.skip(false)
		if s.eof() {
			break
		}
		switch c := s.src[s.i]; c {
		case '"', '\'':
			start := s.i
			s.str()
			raw := string(s.src[start:s.i])
			if c == '\'' {
				names = append(names, strings.Trim(raw, "'"))
			} else if u, err := strconv.Unquote(raw); err == nil {
				names = append(names, u)
			} else {
				names = append(names, strings.Trim(raw, `"`))
			}
		default:
			start := s.i
			for !s.eof() && !strings.ContainsRune(" \t\r\n=.[]\"'#,{}", rune(s.src[s.i])) {
				s.i++
			}
			if s.i == start {
				return names
			}
			names = append(names, string(s.src[start:s.i]))
		}
		s.skip(false)
		if s.eof() || s.src[s.i] != '.' {
			break
		}
		s.i++
	}
	return names
}

// value reads one value and records the positions of what it contains.
func (s *scanner) value(path string) {
	if s.eof() {
		return
	}
	switch s.src[s.i] {
	case '"', '\'':
		s.str()
	case '[':
		s.i++
		for n := 0; ; n++ {
			s.skip(true)
			if s.eof() {
				return
			}
			if s.src[s.i] == ']' {
				s.i++
				return
			}
			start := s.i
			elem := indexKey(path, n)
			s.record(elem, start)
			s.value(elem)
			s.skip(true)
			if !s.eof() && s.src[s.i] == ',' {
				s.i++
			} else if s.i == start {
				s.i++
			}
		}
	case '{':
		s.i++
		for {
			s.skip(true)
			if s.eof() {
				return
			}
			if s.src[s.i] == '}' {
				s.i++
				return
			}
			start := s.i
			s.keyValue(path)
			s.skip(true)
			if !s.eof() && s.src[s.i] == ',' {
				s.i++
			} else if s.i == start {
				s.i++
			}
		}
	default: // number, bool, date: up to a delimiter
		for !s.eof() && !strings.ContainsRune(",]}#\n", rune(s.src[s.i])) {
			s.i++
		}
	}
}

// str skips a basic, literal or multi-line string.
func (s *scanner) str() {
	q := s.src[s.i]
	if s.peek(1) == q && s.peek(2) == q {
		s.i += 3
		for !s.eof() {
			c := s.src[s.i]
			if c == '\\' && q == '"' {
				s.i += 2
				continue
			}
			if c == q && s.peek(1) == q && s.peek(2) == q {
				s.i += 3
				for n := 0; n < 2 && !s.eof() && s.src[s.i] == q; n++ {
					s.i++
				}
				return
			}
			s.i++
		}
		s.i = min(s.i, len(s.src))
		return
	}
	s.i++
	for !s.eof() {
		c := s.src[s.i]
		switch {
		case c == '\\' && q == '"':
			s.i += 2
			continue
		case c == q:
			s.i++
			return
		case c == '\n':
			return
		}
		s.i++
	}
	s.i = min(s.i, len(s.src))
}
