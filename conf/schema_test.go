package conf

import (
	"encoding"
	"reflect"
	"regexp"
	"strings"
)

// schemaKeys lists the dotted TOML paths of the schema ("xtr.rloc.priority",
// without array indices), found by reflection, so a key added to a struct is
// automatically required in the example.
func schemaKeys() []string {
	var keys []string
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextUnmarshaler]()) {
			return
		}
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
			if name == "" || name == "-" {
				continue
			}
			keys = append(keys, joinKey(prefix, name))
			walk(joinKey(prefix, name), t.Field(i).Type)
		}
	}
	walk("", reflect.TypeFor[Config]())
	return keys
}

var indexRE = regexp.MustCompile(`\[[0-9]+\]`)

// writtenKeys lists the dotted paths (without indices) set in a TOML text.
func writtenKeys(src []byte) map[string]bool {
	out := map[string]bool{}
	for k := range scanPositions(src).at {
		out[indexRE.ReplaceAllString(k, "")] = true
	}
	return out
}
