package conf

import (
	"encoding"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/netip"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Load reads, decodes, completes with defaults and validates the
// configuration file at path. Any problem is returned as Errors, every one
// of them located as FILE:LINE:COL with its key path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		msg := err.Error()
		var pe *fs.PathError
		if errors.As(err, &pe) {
			msg = "cannot read: " + pe.Err.Error()
		}
		return nil, Errors{{File: path, Msg: msg}}
	}
	return Parse(path, data)
}

// Parse is Load for a file already in memory; path is used in messages and
// kept in Config.Path.
func Parse(path string, data []byte) (*Config, error) {
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		return nil, Errors{syntaxProblem(path, data, err)}
	}
	d := &decoder{bad: make(map[string]bool)}
	cfg := Default()
	d.table("", raw, reflect.ValueOf(cfg).Elem())
	cfg.Path = path
	cfg.fillDerived()
	probs := d.probs
	for _, f := range cfg.validate() {
		if !d.hidden(f.Key) && !d.anyBadUnder(f.deps) {
			probs = append(probs, f.Problem)
		}
	}
	if len(probs) == 0 {
		return cfg, nil
	}
	pos := scanPositions(data)
	for i := range probs {
		p := &probs[i]
		p.File = path
		at := pos.find(p.Key)
		p.Line, p.Col = at.Line, at.Col
		if p.Msg == msgEmpty && pos.at[p.Key] == (position{}) {
			p.Msg = "is missing" // not written at all
		}
	}
	return nil, sortProblems(probs)
}

// syntaxProblem locates and words a TOML syntax error. The parser's byte
// offset is more precise than its line and column (which point past the
// end of the line, or at the next line, when a newline came unexpectedly):
// an error whose span holds a line end is at the end of the line it ends.
// A key defined twice is said in our style, with where it was first.
func syntaxProblem(path string, data []byte, err error) Problem {
	p := Problem{File: path, Line: 1, Col: 1, Msg: err.Error()}
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		return p
	}
	off := min(max(pe.Position.Start, 0), len(data))
	end, i := min(off+pe.Position.Len, len(data)), off
	for i < end && data[i] != '\n' && data[i] != '\r' {
		i++
	}
	if i < end {
		off = i
	}
	at := offsetPosition(data, off)
	p.Line, p.Col, p.Msg = at.Line, at.Col, pe.Message
	const pre, suf = "Key '", "' has already been defined."
	if strings.HasPrefix(p.Msg, pre) && strings.HasSuffix(p.Msg, suf) {
		p.Key, p.Msg = p.Msg[len(pre):len(p.Msg)-len(suf)], "defined twice"
		if first, ok := scanPositions(data).at[p.Key]; ok {
			p.Msg += " (first at line " + strconv.Itoa(first.Line) + ")"
		}
	}
	return p
}

// fillDerived sets the defaults that depend on other keys, so that readers of
// a parsed Config never see a nil where a value is meant.
func (c *Config) fillDerived() {
	if c.XTR == nil {
		return
	}
	for i := range c.XTR.MapCache {
		if c.XTR.MapCache[i].InstanceID == nil {
			id := c.XTR.InstanceID
			c.XTR.MapCache[i].InstanceID = &id
		}
	}
}

// decoder moves a decoded TOML tree into the schema types, reporting every
// unknown key and every value of the wrong type rather than stopping at the
// first.
type decoder struct {
	probs []Problem
	bad   map[string]bool // keys that already have a decoding problem
}

func (d *decoder) fail(key, format string, args ...any) {
	d.bad[key] = true
	d.probs = append(d.probs, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
}

// hidden reports whether key or one of its ancestors already failed to
// decode, or key is an array element one of whose keys did: validation would
// only repeat the problem about a zero value.
func (d *decoder) hidden(key string) bool {
	for k := key; k != ""; k = parentPath(k) {
		if d.bad[k] {
			return true
		}
	}
	if strings.HasSuffix(key, "]") {
		for k := range d.bad {
			if parentPath(k) == key {
				return true
			}
		}
	}
	return false
}

// anyBadUnder reports whether one of keys, or a key inside one of them,
// failed to decode.
func (d *decoder) anyBadUnder(keys []string) bool {
	for bad := range d.bad {
		for _, k := range keys {
			if bad == k || strings.HasPrefix(bad, k+".") || strings.HasPrefix(bad, k+"[") {
				return true
			}
		}
	}
	return false
}

// formerForm explains a value written in a form the schema no longer has:
// rtr.map_servers entries were tables with a key that nothing used.
func formerForm(key string, v any) string {
	if _, table := v.(map[string]any); table && strings.HasPrefix(key, "rtr.map_servers[") {
		return `: rtr.map_servers lists Map-Server addresses only, e.g. map_servers = ["192.0.2.10"]; ` +
			`the RTR holds no key (what it relays is signed with the site's key, checked by the xTR and the Map-Server)`
	}
	return ""
}

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

// table decodes a TOML table into the struct rv.
func (d *decoder) table(key string, m map[string]any, rv reflect.Value) {
	fields := make(map[string]int)
	names := make([]string, 0, rv.NumField())
	for i := 0; i < rv.NumField(); i++ {
		name, _, _ := strings.Cut(rv.Type().Field(i).Tag.Get("toml"), ",")
		if name == "" || name == "-" {
			continue
		}
		fields[name] = i
		names = append(names, name)
	}
	for k, v := range m {
		sub := joinKey(key, k)
		i, ok := fields[k]
		if !ok {
			msg := "unknown key"
			if s := suggest(k, names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			d.fail(sub, "%s", msg)
			continue
		}
		d.value(sub, v, rv.Field(i))
	}
}

// value decodes one TOML value into rv.
func (d *decoder) value(key string, v any, rv reflect.Value) {
	if rv.Kind() == reflect.Pointer && !rv.Type().Implements(textUnmarshalerType) {
		nv := reflect.New(rv.Type().Elem())
		if df, ok := nv.Interface().(defaulter); ok {
			df.SetDefaults()
		}
		d.value(key, v, nv.Elem())
		rv.Set(nv)
		return
	}
	if rv.CanAddr() && rv.Addr().Type().Implements(textUnmarshalerType) {
		s, ok := v.(string)
		if !ok {
			d.fail(key, "expected a string (%s), got %s%s", describe(rv.Type()), tomlType(v), formerForm(key, v))
			return
		}
		if err := rv.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			why := unwrapParseError(err)
			if _, perr := netip.ParseAddrPort(s); perr == nil {
				why = "no port here: LISP uses fixed ports (4342 control, 4341 data)"
			}
			d.fail(key, "%q is not %s: %s", s, describe(rv.Type()), why)
		}
		return
	}
	switch rv.Kind() {
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			d.fail(key, "expected a string, got %s", tomlType(v))
			return
		}
		rv.SetString(s)
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			d.fail(key, "expected true or false, got %s", tomlType(v))
			return
		}
		rv.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(int64)
		if !ok {
			d.fail(key, "expected an integer, got %s", tomlType(v))
			return
		}
		if rv.OverflowInt(n) {
			d.fail(key, "%d is out of range", n)
			return
		}
		rv.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(int64)
		if !ok {
			d.fail(key, "expected an integer, got %s", tomlType(v))
			return
		}
		if n < 0 || rv.OverflowUint(uint64(n)) {
			d.fail(key, "%d is out of range", n)
			return
		}
		rv.SetUint(uint64(n))
	case reflect.Slice:
		var elems []any
		switch a := v.(type) {
		case []any:
			elems = a
		case []map[string]any:
			for _, e := range a {
				elems = append(elems, e)
			}
		default:
			hint := ""
			if _, table := v.(map[string]any); table {
				hint = " (an array of tables is written [[" + key + "]])"
			}
			d.fail(key, "expected an array, got %s%s", tomlType(v), hint)
			return
		}
		s := reflect.MakeSlice(rv.Type(), len(elems), len(elems))
		for i, e := range elems {
			el := s.Index(i)
			if df, ok := el.Addr().Interface().(defaulter); ok {
				df.SetDefaults()
			}
			d.value(indexKey(key, i), e, el)
		}
		rv.Set(s)
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			d.fail(key, "expected a table, got %s", tomlType(v))
			return
		}
		d.table(key, m, rv)
	default:
		d.fail(key, "cannot decode into %s", rv.Type())
	}
}

// describe names what a text-decoded schema type expects.
func describe(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[netip.Addr]():
		return "an IP address"
	case reflect.TypeFor[netip.Prefix]():
		return "an IP prefix"
	case reflect.TypeFor[Duration]():
		return `a duration such as "90s", "5m" or "24h"`
	}
	return "a " + t.String()
}

// unwrapParseError shortens the errors of netip and time parsers, which
// repeat the input.
func unwrapParseError(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, "): "); i >= 0 { // netip: ParseAddr("x"): reason
		return s[i+3:]
	}
	if strings.HasPrefix(s, "time: ") {
		if j := strings.Index(s, ` "`); j >= 0 {
			return s[len("time: "):j]
		}
		return s[len("time: "):]
	}
	return s
}

// tomlType describes a decoded TOML value for messages.
func tomlType(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("string %q", x)
	case int64:
		return fmt.Sprintf("integer %d", x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "a float"
		}
		return fmt.Sprintf("float %g", x)
	case bool:
		return fmt.Sprintf("boolean %t", x)
	case time.Time:
		return "a date-time"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("%T", v)
}

// suggest returns the known key closest to a mistyped one, or "".
func suggest(k string, known []string) string {
	best, bestD := "", 3
	for _, n := range known {
		if dd := editDistance(k, n); dd < bestD {
			best, bestD = n, dd
		}
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
