package jsonx

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"unicode/utf8"

	"github.com/lispd/lispd/internal/sortx"
)

// RawMessage is an encoded JSON value: Marshal writes it as is (compacted),
// Unmarshal stores a copy of the value's bytes. Its MarshalJSON and
// UnmarshalJSON methods make encoding/json treat it the same way.
type RawMessage []byte

// MarshalJSON returns m, or null when m is nil.
func (m RawMessage) MarshalJSON() ([]byte, error) {
	if m == nil {
		return []byte("null"), nil
	}
	return m, nil
}

// UnmarshalJSON stores a copy of data.
func (m *RawMessage) UnmarshalJSON(data []byte) error {
	if m == nil {
		return fmt.Errorf("jsonx: RawMessage: UnmarshalJSON on nil pointer")
	}
	*m = append((*m)[:0], data...)
	return nil
}

// Marshal returns the JSON encoding of v.
func Marshal(v any) ([]byte, error) {
	return appendValue(nil, reflect.ValueOf(v), 0)
}

// MarshalIndent is Marshal followed by Indent.
func MarshalIndent(v any, prefix, indent string) ([]byte, error) {
	b, err := Marshal(v)
	if err != nil {
		return nil, err
	}
	return Indent(b, prefix, indent)
}

var (
	rawMessageType    = reflect.TypeFor[RawMessage]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// maxEncodeDepth stops a cyclic value.
const maxEncodeDepth = 1000

func appendValue(b []byte, v reflect.Value, depth int) ([]byte, error) {
	if depth > maxEncodeDepth {
		return b, fmt.Errorf("jsonx: value nested deeper than %d (a cycle?)", maxEncodeDepth)
	}
	if !v.IsValid() {
		return append(b, "null"...), nil
	}
	t := v.Type()
	if t == rawMessageType {
		if v.IsNil() {
			return append(b, "null"...), nil
		}
		n := len(b)
		b, err := appendCompact(b, v.Bytes())
		if err != nil {
			return b[:n], fmt.Errorf("jsonx: RawMessage: %w", err)
		}
		return b, nil
	}
	if t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface {
		if t.Implements(textMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType) {
			return appendText(b, v)
		}
	} else if v.IsNil() {
		return append(b, "null"...), nil
	} else if t.Kind() == reflect.Pointer && t.Implements(textMarshalerType) {
		return appendText(b, v)
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface:
		return appendValue(b, v.Elem(), depth+1)
	case reflect.Bool:
		return strconv.AppendBool(b, v.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(b, v.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.AppendUint(b, v.Uint(), 10), nil
	case reflect.Float32, reflect.Float64:
		return appendFloat(b, v.Float(), t.Bits())
	case reflect.String:
		return AppendString(b, v.String()), nil
	case reflect.Slice:
		if v.IsNil() {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i := range v.Len() {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendValue(b, v.Index(i), depth+1); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return b, fmt.Errorf("jsonx: unsupported map key type %v", t.Key())
		}
		if v.IsNil() {
			return append(b, "null"...), nil
		}
		keys := v.MapKeys()
		sortx.Sort(len(keys), func(i, j int) bool { return keys[i].String() < keys[j].String() }, func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendString(b, k.String())
			b = append(b, ':')
			var err error
			if b, err = appendValue(b, v.MapIndex(k), depth+1); err != nil {
				return b, err
			}
		}
		return append(b, '}'), nil
	case reflect.Struct:
		b = append(b, '{')
		first := true
		for _, f := range fieldsOf(t) {
			fv, ok := fieldByIndex(v, f.index)
			if !ok || (f.omitEmpty && isEmpty(fv)) || (f.omitZero && isZero(fv)) {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = AppendString(b, f.name)
			b = append(b, ':')
			var err error
			if b, err = appendValue(b, fv, depth+1); err != nil {
				return b, err
			}
		}
		return append(b, '}'), nil
	}
	return b, fmt.Errorf("jsonx: unsupported type %v", t)
}

// appendText encodes v through its MarshalText method as a JSON string (a
// pointer-receiver method through a copy).
func appendText(b []byte, v reflect.Value) ([]byte, error) {
	if v.Kind() != reflect.Pointer && !v.Type().Implements(textMarshalerType) {
		p := reflect.New(v.Type())
		p.Elem().Set(v)
		v = p
	}
	out, err := v.Interface().(encoding.TextMarshaler).MarshalText()
	if err != nil {
		return b, fmt.Errorf("jsonx: %v.MarshalText: %w", v.Type(), err)
	}
	return AppendString(b, string(out)), nil
}

// appendFloat formats f as encoding/json does: shortest representation,
// exponent form only for very small or large magnitudes.
func appendFloat(b []byte, f float64, bits int) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, fmt.Errorf("jsonx: unsupported value %v", f)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if format == 'e' {
		// clean up e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string, escaped as encoding/json does
// (HTML-safe; invalid UTF-8 becomes U+FFFD).
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// isEmpty is the omitempty test.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64,
		reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

type isZeroer interface{ IsZero() bool }

var isZeroerType = reflect.TypeFor[isZeroer]()

// isZero is the omitzero test: an IsZero method when the type has one,
// else the zero value.
func isZero(v reflect.Value) bool {
	t := v.Type()
	switch {
	case t.Kind() == reflect.Pointer && t.Implements(isZeroerType):
		return v.IsNil() || v.Interface().(isZeroer).IsZero()
	case t.Implements(isZeroerType):
		return v.Interface().(isZeroer).IsZero()
	case reflect.PointerTo(t).Implements(isZeroerType) && v.CanAddr():
		return v.Addr().Interface().(isZeroer).IsZero()
	}
	return v.IsZero()
}
