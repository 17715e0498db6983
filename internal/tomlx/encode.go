package tomlx

import (
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Marshal writes the struct v (or pointer to one) as a TOML document, in
// the layout github.com/BurntSushi/toml's encoder writes: for each table
// its plain keys first, in field order, then its sub-tables ([a.b]) and
// arrays of tables ([[a.c]]), each after a blank line. Fields are named by
// their `toml:"name,omitempty"` tags (untagged exported fields by their Go
// name, "-" skipped); nil pointers and nil slices are left out, as are zero values
// with omitempty; values with a MarshalText method are written as strings.
func Marshal(v any) ([]byte, error) {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil, fmt.Errorf("tomlx: Marshal of a nil pointer")
		}
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return nil, fmt.Errorf("tomlx: Marshal needs a struct, not %s", rv.Type())
	}
	var e encoder
	if err := e.table(nil, rv); err != nil {
		return nil, err
	}
	return e.b, nil
}

type encoder struct{ b []byte }

var textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()

type tomlField struct {
	name string
	v    reflect.Value
}

// fields returns the struct's encodable fields, split into plain values
// and (arrays of) tables.
func fields(rv reflect.Value) (plain, tables []tomlField) {
	t := rv.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		name, opts, _ := strings.Cut(sf.Tag.Get("toml"), ",")
		if name == "-" || !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		v := rv.Field(i)
		if opts == "omitempty" && v.IsZero() {
			continue
		}
		switch {
		case (v.Kind() == reflect.Pointer || v.Kind() == reflect.Slice) && v.IsNil():
			continue
		case isTable(v.Type()) || isTableArray(v.Type()) && v.Len() > 0:
			// An empty array of tables is written as a plain "key = []"
			// (as BurntSushi/toml does), so that it reads back empty.
			tables = append(tables, tomlField{name, v})
		default:
			plain = append(plain, tomlField{name, v})
		}
	}
	return plain, tables
}

func isText(t reflect.Type) bool {
	return t.Implements(textMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType)
}

func isTable(t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct && !isText(t)
}

func isTableArray(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && isTable(t.Elem())
}

func (e *encoder) table(path []string, rv reflect.Value) error {
	plain, tables := fields(rv)
	for _, f := range plain {
		e.b = append(e.b, quoteKey(f.name)...)
		e.b = append(e.b, " = "...)
		var err error
		if e.b, err = appendValue(e.b, f.v); err != nil {
			return fmt.Errorf("tomlx: %s: %w", strings.Join(append(path, f.name), "."), err)
		}
		e.b = append(e.b, '\n')
	}
	for _, f := range tables {
		sub := append(append([]string(nil), path...), f.name)
		name := joinKeys(sub)
		if f.v.Kind() == reflect.Slice {
			for i := range f.v.Len() {
				el := f.v.Index(i)
				if el.Kind() == reflect.Pointer {
					if el.IsNil() {
						continue
					}
					el = el.Elem()
				}
				e.b = append(e.b, "\n[["...)
				e.b = append(e.b, name...)
				e.b = append(e.b, "]]\n"...)
				if err := e.table(sub, el); err != nil {
					return err
				}
			}
			continue
		}
		v := f.v
		if v.Kind() == reflect.Pointer {
			v = v.Elem()
		}
		e.b = append(e.b, "\n["...)
		e.b = append(e.b, name...)
		e.b = append(e.b, "]\n"...)
		if err := e.table(sub, v); err != nil {
			return err
		}
	}
	return nil
}

func joinKeys(keys []string) string {
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = quoteKey(k)
	}
	return strings.Join(q, ".")
}

// quoteKey writes a key bare when it can be.
func quoteKey(k string) string {
	if k == "" {
		return `""`
	}
	for i := range len(k) {
		if !isBare(k[i]) {
			return string(appendString(nil, k))
		}
	}
	return k
}

func appendValue(b []byte, v reflect.Value) ([]byte, error) {
	if isText(v.Type()) {
		if v.Kind() == reflect.Pointer && v.IsNil() {
			return b, fmt.Errorf("nil %s", v.Type())
		}
		if !v.Type().Implements(textMarshalerType) {
			p := reflect.New(v.Type())
			p.Elem().Set(v)
			v = p
		}
		text, err := v.Interface().(encoding.TextMarshaler).MarshalText()
		if err != nil {
			return b, err
		}
		return appendString(b, string(text)), nil
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return b, fmt.Errorf("nil value inside an array")
		}
		return appendValue(b, v.Elem())
	case reflect.String:
		return appendString(b, v.String()), nil
	case reflect.Bool:
		return strconv.AppendBool(b, v.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(b, v.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.AppendUint(b, v.Uint(), 10), nil
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		s := strconv.FormatFloat(f, 'g', -1, 64)
		switch s {
		case "+Inf":
			s = "inf"
		case "-Inf":
			s = "-inf"
		case "NaN":
			s = "nan"
		default:
			if !strings.ContainsAny(s, ".eE") {
				s += ".0"
			}
		}
		return append(b, s...), nil
	case reflect.Slice, reflect.Array:
		b = append(b, '[')
		for i := range v.Len() {
			if i > 0 {
				b = append(b, ", "...)
			}
			var err error
			if b, err = appendValue(b, v.Index(i)); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	}
	return b, fmt.Errorf("cannot encode a %s", v.Type())
}

// appendString writes s as a TOML basic string.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"':
			b = append(b, `\"`...)
		case r == '\\':
			b = append(b, `\\`...)
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\t':
			b = append(b, `\t`...)
		case r == '\r':
			b = append(b, `\r`...)
		case r < 0x20 || r == 0x7f:
			b = append(b, fmt.Sprintf(`\u%04X`, r)...)
		default:
			b = append(b, string(r)...)
		}
	}
	return append(b, '"')
}
