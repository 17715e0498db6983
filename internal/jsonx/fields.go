package jsonx

import (
	"reflect"
	"strings"
	"sync"
)

// field is one encoded struct field.
type field struct {
	name      string
	index     []int // path through embedded structs
	omitEmpty bool
	omitZero  bool
}

var fieldCache sync.Map // reflect.Type -> []field

// fieldsOf returns t's JSON fields in declaration order, embedded structs
// flattened (a name declared at a shallower depth wins).
func fieldsOf(t reflect.Type) []field {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.([]field)
	}
	fs := appendFields(nil, t, nil)
	// Drop names shadowed by a shallower field of the same name.
	out := fs[:0]
	for i, f := range fs {
		shadowed := false
		for j, g := range fs {
			if i != j && g.name == f.name && (len(g.index) < len(f.index) || len(g.index) == len(f.index) && j < i) {
				shadowed = true
				break
			}
		}
		if !shadowed {
			out = append(out, f)
		}
	}
	fieldCache.Store(t, out)
	return out
}

func appendFields(fs []field, t reflect.Type, index []int) []field {
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		idx := append(append([]int(nil), index...), i)
		if sf.Anonymous && name == "" {
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				fs = appendFields(fs, ft, idx)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		f := field{name: name, index: idx}
		for opts != "" {
			var o string
			o, opts, _ = strings.Cut(opts, ",")
			switch o {
			case "omitempty":
				f.omitEmpty = true
			case "omitzero":
				f.omitZero = true
			}
		}
		fs = append(fs, f)
	}
	return fs
}

// fieldByIndex returns the field at index, false when it lies behind a nil
// embedded pointer.
func fieldByIndex(v reflect.Value, index []int) (reflect.Value, bool) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, true
}

// fieldFor returns the field for an object key: an exact match, else a
// case-insensitive one.
func fieldFor(fs []field, key []byte) *field {
	for i := range fs {
		if fs[i].name == string(key) {
			return &fs[i]
		}
	}
	for i := range fs {
		if strings.EqualFold(fs[i].name, string(key)) {
			return &fs[i]
		}
	}
	return nil
}
