package jsonx

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"strconv"

	"github.com/lispd/lispd/internal/nocmp"
)

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

// Unmarshal decodes the JSON value data into the value v points to. data
// must hold exactly one value (white space around it is fine). Object keys
// without a matching field are ignored; null leaves a non-pointer value as
// it was.
func Unmarshal(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("jsonx: Unmarshal needs a non-nil pointer, not %T", v)
	}
	end, err := skipValue(data, 0, 0)
	if err != nil {
		return err
	}
	if i := skipSpace(data, end); i != len(data) {
		return syntaxErr(i, "%s after the value: more than one JSON value", describe(data, i))
	}
	d := decoder{data: data[:end]}
	_, err = d.value(skipSpace(data, 0), rv.Elem())
	return err
}

// UnmarshalError is well-formed JSON that does not fit the Go value.
type UnmarshalError struct {
	_ nocmp.DoNotCompare

	Offset int          // where the value starts
	Type   reflect.Type // the Go type it was decoded into
	Msg    string
}

func (e *UnmarshalError) Error() string {
	return fmt.Sprintf("jsonx: offset %d: cannot decode into %v: %s", e.Offset, e.Type, e.Msg)
}

// decoder walks text that skipValue already checked.
type decoder struct{ data []byte }

func (d *decoder) typeErr(off int, t reflect.Type, format string, args ...any) error {
	return &UnmarshalError{Offset: off, Type: t, Msg: fmt.Sprintf(format, args...)}
}

// value decodes the value at i (no leading white space) into v and returns
// the offset after it.
func (d *decoder) value(i int, v reflect.Value) (int, error) {
	end, err := skipValue(d.data, i, 0)
	if err != nil {
		return i, err
	}
	raw := d.data[i:end]
	isNull := raw[0] == 'n'
	if v.Type() == rawMessageType {
		if !isNull {
			v.SetBytes(append([]byte(nil), raw...))
		}
		return end, nil
	}
	// UnmarshalText first, as encoding/json: through a pointer.
	if v.Kind() != reflect.Pointer && v.CanAddr() {
		if reflect.PointerTo(v.Type()).Implements(textUnmarshalerType) {
			if isNull {
				return end, nil
			}
			if raw[0] != '"' {
				return i, d.typeErr(i, v.Type(), "want a string")
			}
			if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(unquote(raw))); err != nil {
				return i, d.typeErr(i, v.Type(), "%v", err)
			}
			return end, nil
		}
	}
	switch v.Kind() {
	case reflect.Pointer:
		if isNull {
			v.SetZero()
			return end, nil
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return d.value(i, v.Elem())
	case reflect.Interface:
		if isNull {
			v.SetZero()
			return end, nil
		}
		if v.NumMethod() != 0 {
			return i, d.typeErr(i, v.Type(), "interface with methods")
		}
		x, err := d.anyValue(i)
		if err != nil {
			return i, err
		}
		v.Set(reflect.ValueOf(x))
		return end, nil
	}
	if isNull {
		switch v.Kind() {
		case reflect.Slice, reflect.Map:
			v.SetZero()
		}
		return end, nil
	}
	switch v.Kind() {
	case reflect.Bool:
		if raw[0] != 't' && raw[0] != 'f' {
			return i, d.typeErr(i, v.Type(), "want true or false")
		}
		v.SetBool(raw[0] == 't')
	case reflect.String:
		if raw[0] != '"' {
			return i, d.typeErr(i, v.Type(), "want a string")
		}
		v.SetString(unquote(raw))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(string(raw), 10, v.Type().Bits())
		if err != nil {
			return i, d.typeErr(i, v.Type(), "%s is not a %d-bit integer", raw, v.Type().Bits())
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		n, err := strconv.ParseUint(string(raw), 10, v.Type().Bits())
		if err != nil {
			return i, d.typeErr(i, v.Type(), "%s is not an unsigned %d-bit integer", raw, v.Type().Bits())
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
			return i, d.typeErr(i, v.Type(), "want a number")
		}
		f, err := strconv.ParseFloat(string(raw), v.Type().Bits())
		if err != nil {
			return i, d.typeErr(i, v.Type(), "%s out of range", raw)
		}
		v.SetFloat(f)
	case reflect.Slice:
		if raw[0] != '[' {
			return i, d.typeErr(i, v.Type(), "want an array")
		}
		s := reflect.MakeSlice(v.Type(), 0, 0)
		err := d.elements(i, func(j int) (int, error) {
			s = reflect.Append(s, reflect.Zero(v.Type().Elem()))
			return d.value(j, s.Index(s.Len()-1))
		})
		if err != nil {
			return i, err
		}
		v.Set(s)
	case reflect.Map:
		if raw[0] != '{' {
			return i, d.typeErr(i, v.Type(), "want an object")
		}
		if v.Type().Key().Kind() != reflect.String {
			return i, d.typeErr(i, v.Type(), "map key is not a string")
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		err := d.members(i, func(key string, j int) (int, error) {
			e := reflect.New(v.Type().Elem()).Elem()
			k, err := d.value(j, e)
			if err == nil {
				v.SetMapIndex(reflect.ValueOf(key).Convert(v.Type().Key()), e)
			}
			return k, err
		})
		if err != nil {
			return i, err
		}
	case reflect.Struct:
		if raw[0] != '{' {
			return i, d.typeErr(i, v.Type(), "want an object")
		}
		fs := fieldsOf(v.Type())
		err := d.members(i, func(key string, j int) (int, error) {
			f := fieldFor(fs, []byte(key))
			if f == nil {
				return skipValue(d.data, j, 0)
			}
			fv, err := fieldAlloc(v, f.index)
			if err != nil {
				return j, d.typeErr(j, v.Type(), "%v", err)
			}
			return d.value(j, fv)
		})
		if err != nil {
			return i, err
		}
	default:
		return i, d.typeErr(i, v.Type(), "unsupported type")
	}
	return end, nil
}

// fieldAlloc returns the field at index, allocating nil embedded pointers.
func fieldAlloc(v reflect.Value, index []int) (reflect.Value, error) {
	for n, x := range index {
		if n > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				if !v.CanSet() {
					return reflect.Value{}, errors.New("embedded pointer to unexported struct")
				}
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, nil
}

// elements calls fn with the offset of each element of the array at i.
func (d *decoder) elements(i int, fn func(j int) (int, error)) error {
	i = skipSpace(d.data, i+1)
	if d.data[i] == ']' {
		return nil
	}
	for {
		var err error
		if i, err = fn(skipSpace(d.data, i)); err != nil {
			return err
		}
		i = skipSpace(d.data, i)
		if d.data[i] == ']' {
			return nil
		}
		i = skipSpace(d.data, i+1) // ','
	}
}

// members calls fn with each key and value offset of the object at i.
func (d *decoder) members(i int, fn func(key string, j int) (int, error)) error {
	i = skipSpace(d.data, i+1)
	if d.data[i] == '}' {
		return nil
	}
	for {
		i = skipSpace(d.data, i)
		k, _ := skipString(d.data, i)
		key := unquote(d.data[i:k])
		j := skipSpace(d.data, skipSpace(d.data, k)+1) // ':'
		var err error
		if i, err = fn(key, j); err != nil {
			return err
		}
		i = skipSpace(d.data, i)
		if d.data[i] == '}' {
			return nil
		}
		i++ // ','
	}
}

// anyValue decodes the value at i as encoding/json does into an any:
// map[string]any, []any, float64, string, bool or nil.
func (d *decoder) anyValue(i int) (any, error) {
	switch c := d.data[i]; {
	case c == '{':
		m := map[string]any{}
		err := d.members(i, func(key string, j int) (int, error) {
			x, err := d.anyValue(j)
			m[key] = x
			end, _ := skipValue(d.data, j, 0)
			return end, err
		})
		return m, err
	case c == '[':
		s := []any{}
		err := d.elements(i, func(j int) (int, error) {
			x, err := d.anyValue(j)
			s = append(s, x)
			end, _ := skipValue(d.data, j, 0)
			return end, err
		})
		return s, err
	case c == '"':
		end, _ := skipString(d.data, i)
		return unquote(d.data[i:end]), nil
	case c == 't':
		return true, nil
	case c == 'f':
		return false, nil
	case c == 'n':
		return nil, nil
	}
	end, _ := skipNumber(d.data, i)
	f, err := strconv.ParseFloat(string(d.data[i:end]), 64)
	if err != nil {
		return nil, &UnmarshalError{Offset: i, Type: reflect.TypeFor[float64](), Msg: fmt.Sprintf("%s out of range", d.data[i:end])}
	}
	return f, nil
}
