package conf

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// FuzzParse checks that Parse never panics, that every problem it reports is
// located, and that whatever it accepts survives an Encode/Parse round trip.
func FuzzParse(f *testing.F) {
	f.Add(Example)
	f.Add([]byte(minXTR))
	f.Add([]byte("[xtr]\neid_prefixes = [\"198.51.100.1/25\"]\n[[xtr.rloc]]\npriority = 300\n"))
	f.Add([]byte("a = [{ b = { c = [1, {d = 2}] } }]\n[[x.y]]\n[x.y.z]\n"))
	f.Add([]byte("multi = \"\"\"\n[x]\n\"\"\"\n'q.k' = 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("f.toml", data)
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error %T is not a non-empty conf.Errors: %v", err, err)
			}
			for _, p := range errs {
				if p.File != "f.toml" || p.Line < 1 || p.Col < 1 {
					t.Fatalf("unlocated problem %+v", p)
				}
			}
			return
		}
		var buf bytes.Buffer
		if err := Encode(&buf, cfg); err != nil {
			t.Fatalf("Encode: %v", err)
		}
		back, err := Parse("f.toml", buf.Bytes())
		if err != nil {
			t.Fatalf("re-parse of encoded config: %v\n%s", err, buf.String())
		}
		if !reflect.DeepEqual(cfg, back) {
			t.Fatalf("round trip changed the config\n%s", buf.String())
		}
	})
}
