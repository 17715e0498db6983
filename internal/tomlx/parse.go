package tomlx

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ParseError is a document that is not valid TOML.
type ParseError struct {
	Line, Col int // 1-based position of the problem
	Msg       string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("toml: line %d, column %d: %s", e.Line, e.Col, e.Msg)
}

// How a table came to exist, which decides what may still be added to it.
const (
	implicit = iota // parent of a [header] or [[header]]: may still get its own header
	header          // defined by a [header] or as an element of [[header]]
	dotted          // created by a dotted key
	inline          // an inline table: complete as written
)

type table struct {
	kind int
	keys map[string]any // string, int64, float64, bool, time.Time, []any, *table, *tableArray
}

type tableArray struct {
	tables []*table
}

func newTable(kind int) *table { return &table{kind: kind, keys: map[string]any{}} }

// parser reads one document.
type parser struct {
	src  []byte
	pos  int
	root *table
	cur  *table
}

// maxNesting bounds nested arrays and inline tables.
const maxNesting = 200

// Parse reads the TOML document data (a leading UTF-8 byte order mark is
// skipped).
func Parse(data []byte) (map[string]any, error) {
	p := &parser{src: data, root: newTable(header)}
	p.cur = p.root
	if strings.HasPrefix(string(data[:min(3, len(data))]), "\ufeff") {
		p.pos = 3 // a UTF-8 byte order mark
	}
	if err := p.document(); err != nil {
		return nil, err
	}
	return export(p.root), nil
}

func (p *parser) errAt(pos int, format string, args ...any) error {
	line, col := 1, 1
	for i := 0; i < pos && i < len(p.src); {
		if p.src[i] == '\n' {
			line++
			col = 1
			i++
			continue
		}
		_, n := utf8.DecodeRune(p.src[i:])
		i += n
		col++
	}
	return &ParseError{Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

func (p *parser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.src[p.pos]
}

func (p *parser) skipSpace() {
	for !p.eof() && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t') {
		p.pos++
	}
}

// skipComment skips a comment up to (not including) the line end.
func (p *parser) skipComment() error {
	if p.peek() != '#' {
		return nil
	}
	for !p.eof() && p.src[p.pos] != '\n' {
		c := p.src[p.pos]
		if c == '\r' && p.pos+1 < len(p.src) && p.src[p.pos+1] == '\n' {
			break
		}
		if c < 0x20 && c != '\t' || c == 0x7f {
			return p.errAt(p.pos, "control character 0x%02x in comment", c)
		}
		p.pos++
	}
	return nil
}

// lineEnd consumes white space, a comment and the line end (or EOF).
func (p *parser) lineEnd() error {
	p.skipSpace()
	if err := p.skipComment(); err != nil {
		return err
	}
	switch {
	case p.eof():
		return nil
	case p.src[p.pos] == '\n':
		p.pos++
		return nil
	case p.src[p.pos] == '\r' && p.pos+1 < len(p.src) && p.src[p.pos+1] == '\n':
		p.pos += 2
		return nil
	}
	return p.errAt(p.pos, "expected the end of the line, found %s", p.describe())
}

func (p *parser) describe() string {
	if p.eof() {
		return "end of file"
	}
	r, _ := utf8.DecodeRune(p.src[p.pos:])
	return strconv.QuoteRune(r)
}

func (p *parser) document() error {
	for {
		p.skipSpace()
		if p.eof() {
			return nil
		}
		switch c := p.peek(); {
		case c == '#' || c == '\n' || c == '\r':
			if err := p.lineEnd(); err != nil {
				return err
			}
		case c == '[':
			if err := p.tableHeader(); err != nil {
				return err
			}
		default:
			if err := p.keyValue(p.cur, 0); err != nil {
				return err
			}
			if err := p.lineEnd(); err != nil {
				return err
			}
		}
	}
}

// tableHeader reads [a.b] or [[a.b]].
func (p *parser) tableHeader() error {
	array := p.pos+1 < len(p.src) && p.src[p.pos+1] == '['
	p.pos++
	if array {
		p.pos++
	}
	p.skipSpace()
	keys, keyPos, err := p.key()
	if err != nil {
		return err
	}
	p.skipSpace()
	if p.peek() != ']' || array && (p.pos+1 >= len(p.src) || p.src[p.pos+1] != ']') {
		want := "]"
		if array {
			want = "]]"
		}
		return p.errAt(p.pos, "expected %q closing the table header, found %s", want, p.describe())
	}
	p.pos++
	if array {
		p.pos++
	}
	t := p.root
	for i, k := range keys[:len(keys)-1] {
		next, err := p.descend(t, k, keyPos[i], keys[:i+1])
		if err != nil {
			return err
		}
		t = next
	}
	last := keys[len(keys)-1]
	name := strings.Join(keys, ".")
	at := keyPos[len(keys)-1]
	switch v := t.keys[last].(type) {
	case nil:
		nt := newTable(header)
		if array {
			t.keys[last] = &tableArray{tables: []*table{nt}}
		} else {
			t.keys[last] = nt
		}
		p.cur = nt
	case *table:
		if array || v.kind != implicit {
			return p.errAt(at, "table %s has already been defined", name)
		}
		v.kind = header
		p.cur = v
	case *tableArray:
		if !array {
			return p.errAt(at, "%s has already been defined as an array of tables", name)
		}
		nt := newTable(header)
		v.tables = append(v.tables, nt)
		p.cur = nt
	default:
		return p.errAt(at, "key %s has already been defined (as a value, not a table)", name)
	}
	return p.lineEnd()
}

// descend returns the table at key k of t for a header, creating an
// implicit one; for an array of tables, its last element.
func (p *parser) descend(t *table, k string, at int, path []string) (*table, error) {
	switch v := t.keys[k].(type) {
	case nil:
		nt := newTable(implicit)
		t.keys[k] = nt
		return nt, nil
	case *table:
		if v.kind == inline {
			return nil, p.errAt(at, "inline table %s cannot be extended", strings.Join(path, "."))
		}
		return v, nil
	case *tableArray:
		return v.tables[len(v.tables)-1], nil
	}
	return nil, p.errAt(at, "key %s has already been defined (as a value, not a table)", strings.Join(path, "."))
}

// keyValue reads key = value into t.
func (p *parser) keyValue(t *table, depth int) error {
	keys, keyPos, err := p.key()
	if err != nil {
		return err
	}
	p.skipSpace()
	if p.peek() != '=' {
		return p.errAt(p.pos, "expected '=' after the key, found %s", p.describe())
	}
	p.pos++
	p.skipSpace()
	for i, k := range keys[:len(keys)-1] {
		switch v := t.keys[k].(type) {
		case nil:
			nt := newTable(dotted)
			t.keys[k] = nt
			t = nt
		case *table:
			if v.kind != dotted {
				return p.errAt(keyPos[i], "key %s has already been defined", strings.Join(keys[:i+1], "."))
			}
			t = v
		default:
			return p.errAt(keyPos[i], "key %s has already been defined", strings.Join(keys[:i+1], "."))
		}
	}
	last := keys[len(keys)-1]
	if _, ok := t.keys[last]; ok {
		return p.errAt(keyPos[len(keys)-1], "key %s has already been defined", strings.Join(keys, "."))
	}
	v, err := p.value(depth)
	if err != nil {
		return err
	}
	t.keys[last] = v
	return nil
}

// key reads a possibly dotted key and the offset of each part.
func (p *parser) key() ([]string, []int, error) {
	var keys []string
	var at []int
	for {
		p.skipSpace()
		start := p.pos
		var k string
		switch c := p.peek(); {
		case c == '"':
			s, err := p.basicString()
			if err != nil {
				return nil, nil, err
			}
			k = s
		case c == '\'':
			s, err := p.literalString()
			if err != nil {
				return nil, nil, err
			}
			k = s
		default:
			for !p.eof() && isBare(p.src[p.pos]) {
				p.pos++
			}
			if p.pos == start {
				return nil, nil, p.errAt(p.pos, "expected a key, found %s", p.describe())
			}
			k = string(p.src[start:p.pos])
		}
		keys = append(keys, k)
		at = append(at, start)
		p.skipSpace()
		if p.peek() != '.' {
			return keys, at, nil
		}
		p.pos++
	}
}

func isBare(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// value reads one value.
func (p *parser) value(depth int) (any, error) {
	if depth > maxNesting {
		return nil, p.errAt(p.pos, "values nested deeper than %d", maxNesting)
	}
	switch c := p.peek(); {
	case c == '"':
		if p.has(`"""`) {
			return p.multiBasicString()
		}
		return p.basicString()
	case c == '\'':
		if p.has(`'''`) {
			return p.multiLiteralString()
		}
		return p.literalString()
	case c == '[':
		return p.array(depth)
	case c == '{':
		return p.inlineTable(depth)
	case c == 't' && p.has("true"):
		p.pos += 4
		return true, nil
	case c == 'f' && p.has("false"):
		p.pos += 5
		return false, nil
	case c == '+' || c == '-' || c == 'i' || c == 'n' || c >= '0' && c <= '9':
		return p.numberOrDate()
	}
	return nil, p.errAt(p.pos, "expected a value, found %s", p.describe())
}

func (p *parser) has(s string) bool {
	return strings.HasPrefix(string(p.src[p.pos:min(len(p.src), p.pos+len(s))]), s)
}

func (p *parser) array(depth int) (any, error) {
	start := p.pos
	p.pos++ // [
	out := []any{}
	for {
		if err := p.skipArraySpace(); err != nil {
			return nil, err
		}
		if p.eof() {
			return nil, p.errAt(start, "unterminated array")
		}
		if p.peek() == ']' {
			p.pos++
			return out, nil
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		if err := p.skipArraySpace(); err != nil {
			return nil, err
		}
		switch p.peek() {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return out, nil
		default:
			return nil, p.errAt(p.pos, "expected ',' or ']' in array, found %s", p.describe())
		}
	}
}

// skipArraySpace skips white space, newlines and comments inside an array.
func (p *parser) skipArraySpace() error {
	for {
		p.skipSpace()
		switch {
		case p.peek() == '#':
			if err := p.skipComment(); err != nil {
				return err
			}
		case p.peek() == '\n':
			p.pos++
		case p.peek() == '\r' && p.has("\r\n"):
			p.pos += 2
		default:
			return nil
		}
	}
}

// inlineTable reads { k = v, ... }. Like BurntSushi/toml (and TOML 1.1) it
// accepts newlines, comments and a trailing comma inside the braces.
func (p *parser) inlineTable(depth int) (any, error) {
	start := p.pos
	p.pos++ // {
	t := newTable(inline)
	for {
		if err := p.skipArraySpace(); err != nil {
			return nil, err
		}
		if p.eof() {
			return nil, p.errAt(start, "unterminated inline table")
		}
		if p.peek() == '}' {
			p.pos++
			freeze(t)
			return t, nil
		}
		if err := p.keyValue(t, depth+1); err != nil {
			return nil, err
		}
		if err := p.skipArraySpace(); err != nil {
			return nil, err
		}
		switch p.peek() {
		case ',':
			p.pos++
		case '}':
			p.pos++
			freeze(t)
			return t, nil
		default:
			return nil, p.errAt(p.pos, "expected ',' or '}' in inline table, found %s", p.describe())
		}
	}
}

// freeze makes the dotted-key subtables of an inline table complete too.
func freeze(t *table) {
	t.kind = inline
	for _, v := range t.keys {
		if st, ok := v.(*table); ok {
			freeze(st)
		}
	}
}

// basicString reads "..." on one line.
func (p *parser) basicString() (string, error) {
	start := p.pos
	p.pos++
	var b strings.Builder
	for {
		if p.eof() {
			return "", p.errAt(start, "unterminated string")
		}
		c := p.src[p.pos]
		switch {
		case c == '"':
			p.pos++
			return b.String(), nil
		case c == '\\':
			if err := p.escape(&b); err != nil {
				return "", err
			}
		case c == '\n' || c == '\r':
			return "", p.errAt(start, "unterminated string (newline before the closing quote)")
		case c < 0x20 && c != '\t' || c == 0x7f:
			return "", p.errAt(p.pos, "control character 0x%02x in string", c)
		default:
			if err := p.char(&b); err != nil {
				return "", err
			}
		}
	}
}

// char copies one UTF-8 character.
func (p *parser) char(b *strings.Builder) error {
	r, n := utf8.DecodeRune(p.src[p.pos:])
	if r == utf8.RuneError && n <= 1 {
		return p.errAt(p.pos, "invalid UTF-8")
	}
	b.WriteRune(r)
	p.pos += n
	return nil
}

// escape reads one backslash escape.
func (p *parser) escape(b *strings.Builder) error {
	at := p.pos
	p.pos++
	if p.eof() {
		return p.errAt(at, "unterminated escape")
	}
	c := p.src[p.pos]
	p.pos++
	switch c {
	case 'b':
		b.WriteByte('\b')
	case 't':
		b.WriteByte('\t')
	case 'n':
		b.WriteByte('\n')
	case 'f':
		b.WriteByte('\f')
	case 'r':
		b.WriteByte('\r')
	case 'e':
		b.WriteByte(0x1b)
	case '"':
		b.WriteByte('"')
	case '\\':
		b.WriteByte('\\')
	case 'u', 'U':
		n := 4
		if c == 'U' {
			n = 8
		}
		if p.pos+n > len(p.src) {
			return p.errAt(at, "short \\%c escape", c)
		}
		v, err := strconv.ParseUint(string(p.src[p.pos:p.pos+n]), 16, 32)
		if err != nil || v > utf8.MaxRune || v >= 0xd800 && v < 0xe000 {
			return p.errAt(at, "invalid escape \\%c%s", c, p.src[p.pos:p.pos+n])
		}
		b.WriteRune(rune(v))
		p.pos += n
	default:
		return p.errAt(at, "invalid escape \\%c", c)
	}
	return nil
}

// multiBasicString reads """...""".
func (p *parser) multiBasicString() (string, error) {
	start := p.pos
	p.pos += 3
	p.skipFirstNewline()
	var b strings.Builder
	for {
		if p.eof() {
			return "", p.errAt(start, "unterminated multi-line string")
		}
		c := p.src[p.pos]
		switch {
		case p.has(`"""`):
			// Up to two more quotes belong to the string.
			n := 3
			for n < 5 && p.pos+n < len(p.src) && p.src[p.pos+n] == '"' {
				n++
			}
			b.WriteString(strings.Repeat(`"`, n-3))
			p.pos += n
			return b.String(), nil
		case c == '\\':
			// A backslash at the end of a line trims the line end and
			// the white space after it.
			q := p.pos + 1
			for q < len(p.src) && (p.src[q] == ' ' || p.src[q] == '\t') {
				q++
			}
			if q < len(p.src) && (p.src[q] == '\n' || p.src[q] == '\r' && q+1 < len(p.src) && p.src[q+1] == '\n') {
				p.pos = q
				for !p.eof() && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t' || p.src[p.pos] == '\n' || p.src[p.pos] == '\r' && p.has("\r\n")) {
					p.pos++
				}
				continue
			}
			if err := p.escape(&b); err != nil {
				return "", err
			}
		case c == '\n':
			b.WriteByte('\n')
			p.pos++
		case c == '\r' && p.has("\r\n"):
			b.WriteByte('\n')
			p.pos += 2
		case c < 0x20 && c != '\t' || c == 0x7f:
			return "", p.errAt(p.pos, "control character 0x%02x in string", c)
		default:
			if err := p.char(&b); err != nil {
				return "", err
			}
		}
	}
}

func (p *parser) skipFirstNewline() {
	if p.peek() == '\n' {
		p.pos++
	} else if p.has("\r\n") {
		p.pos += 2
	}
}

// literalString reads '...'.
func (p *parser) literalString() (string, error) {
	start := p.pos
	p.pos++
	var b strings.Builder
	for {
		if p.eof() || p.src[p.pos] == '\n' || p.src[p.pos] == '\r' {
			return "", p.errAt(start, "unterminated literal string")
		}
		c := p.src[p.pos]
		if c == '\'' {
			p.pos++
			return b.String(), nil
		}
		if c < 0x20 && c != '\t' || c == 0x7f {
			return "", p.errAt(p.pos, "control character 0x%02x in string", c)
		}
		if err := p.char(&b); err != nil {
			return "", err
		}
	}
}

// multiLiteralString reads ”'...”'.
func (p *parser) multiLiteralString() (string, error) {
	start := p.pos
	p.pos += 3
	p.skipFirstNewline()
	var b strings.Builder
	for {
		if p.eof() {
			return "", p.errAt(start, "unterminated multi-line literal string")
		}
		c := p.src[p.pos]
		switch {
		case p.has(`'''`):
			n := 3
			for n < 5 && p.pos+n < len(p.src) && p.src[p.pos+n] == '\'' {
				n++
			}
			b.WriteString(strings.Repeat(`'`, n-3))
			p.pos += n
			return b.String(), nil
		case c == '\n':
			b.WriteByte('\n')
			p.pos++
		case c == '\r' && p.has("\r\n"):
			b.WriteByte('\n')
			p.pos += 2
		case c < 0x20 && c != '\t' || c == 0x7f:
			return "", p.errAt(p.pos, "control character 0x%02x in string", c)
		default:
			if err := p.char(&b); err != nil {
				return "", err
			}
		}
	}
}

// numberOrDate reads an integer, float or date-time.
func (p *parser) numberOrDate() (any, error) {
	start := p.pos
	for !p.eof() {
		c := p.src[p.pos]
		// A space is part of a date-time only between date and time.
		if c == ' ' && p.pos-start == 10 && p.pos+1 < len(p.src) && isDigit(p.src[p.pos+1]) && isDate(p.src[start:p.pos]) {
			p.pos++
			continue
		}
		if !(isBare(c) || c == '+' || c == '.' || c == ':') {
			break
		}
		p.pos++
	}
	tok := string(p.src[start:p.pos])
	if v, ok := parseDateTime(tok); ok {
		return v, nil
	}
	if v, ok := parseInt(tok); ok {
		return v, nil
	}
	if v, ok := parseFloat(tok); ok {
		return v, nil
	}
	return nil, p.errAt(start, "invalid value %q", tok)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isDate(b []byte) bool {
	return len(b) == 10 && b[4] == '-' && b[7] == '-'
}

func parseInt(s string) (int64, bool) {
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o' || s[1] == 'b') {
		base := map[byte]int{'x': 16, 'o': 8, 'b': 2}[s[1]]
		digits := s[2:]
		if !underscoresOK(digits) {
			return 0, false
		}
		v, err := strconv.ParseInt(strings.ReplaceAll(digits, "_", ""), base, 64)
		return v, err == nil
	}
	d := strings.TrimLeft(s, "+-")
	if len(s)-len(d) > 1 || d == "" || !underscoresOK(d) {
		return 0, false
	}
	for _, c := range []byte(d) {
		if !isDigit(c) && c != '_' {
			return 0, false
		}
	}
	if len(d) > 1 && d[0] == '0' {
		return 0, false // no leading zeros
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64)
	return v, err == nil
}

// underscoresOK: each underscore between two digits.
func underscoresOK(s string) bool {
	for i := range len(s) {
		if s[i] == '_' && (i == 0 || i == len(s)-1 || s[i-1] == '_' || !isHex(s[i-1]) || !isHex(s[i+1])) {
			return false
		}
	}
	return true
}

func isHex(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func parseFloat(s string) (float64, bool) {
	d := strings.TrimLeft(s, "+-")
	if len(s)-len(d) > 1 {
		return 0, false
	}
	switch d {
	case "inf":
		if s[0] == '-' {
			return math.Inf(-1), true
		}
		return math.Inf(1), true
	case "nan":
		return math.NaN(), true
	}
	// digits [. digits] [e [+-] digits], no leading zeros in the integer part.
	i := 0
	digits := func() bool {
		st := i
		for i < len(d) && (isDigit(d[i]) || d[i] == '_') {
			i++
		}
		return i > st && underscoresOK(d[st:i])
	}
	if !digits() {
		return 0, false
	}
	intPart := d[:i]
	if len(intPart) > 1 && intPart[0] == '0' {
		return 0, false
	}
	frac := false
	if i < len(d) && d[i] == '.' {
		i++
		if !digits() {
			return 0, false
		}
		frac = true
	}
	exp := false
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if !digits() {
			return 0, false
		}
		exp = true
	}
	if i != len(d) || !frac && !exp {
		return 0, false
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
	return v, err == nil
}

// parseDateTime reads RFC 3339 offset date-times and TOML's local
// date-times, dates and times.
func parseDateTime(s string) (time.Time, bool) {
	for _, layout := range []string{
		"2006-01-02T15:04:05.999999999Z07:00",
		"2006-01-02T15:04:05.999999999",
		"2006-01-02",
		"15:04:05.999999999",
	} {
		in := s
		if len(in) > 10 && (in[10] == ' ' || in[10] == 't') {
			in = in[:10] + "T" + in[11:]
		}
		in = strings.Replace(in, "z", "Z", 1)
		if t, err := time.ParseInLocation(layout, in, time.Local); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// export turns the parsed tree into maps and slices.
func export(t *table) map[string]any {
	m := make(map[string]any, len(t.keys))
	for k, v := range t.keys {
		m[k] = exportValue(v)
	}
	return m
}

func exportValue(v any) any {
	switch v := v.(type) {
	case *table:
		return export(v)
	case *tableArray:
		out := make([]map[string]any, len(v.tables))
		for i, t := range v.tables {
			out[i] = export(t)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = exportValue(e)
		}
		return out
	}
	return v
}
