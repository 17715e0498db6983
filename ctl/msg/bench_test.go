package msg

import (
	"strings"
	"testing"
)

// benchCases are the vectors' payloads by message kind.
func benchCases(tb testing.TB) []struct {
	name string
	wire []byte
	msg  Message
} {
	vf := loadVectors(tb)
	var out []struct {
		name string
		wire []byte
		msg  Message
	}
	for _, name := range []string{"map_request", "map_request_lcaf_iid", "ecm_map_request", "map_reply", "map_reply_negative",
		"map_register_sha256_32", "map_register_xtrid", "map_notify", "map_notify_ack", "info_request"} {
		for _, v := range vf.Positive {
			if v.Name != name {
				continue
			}
			wire := unhex(tb, v.Payload)
			typ, _ := PeekType(wire)
			m, err := New(typ)
			if err != nil {
				tb.Fatal(err)
			}
			out = append(out, struct {
				name string
				wire []byte
				msg  Message
			}{name, wire, m})
		}
	}
	return out
}

// TestDecodeAllocs asserts that decoding into a reused struct does not
// allocate once the struct's slices have grown.
func TestDecodeAllocs(t *testing.T) {
	for _, c := range benchCases(t) {
		if err := c.msg.Decode(c.wire); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(100, func() { _ = c.msg.Decode(c.wire) })
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per reused Decode, want 0", c.name, allocs)
		}
		buf := make([]byte, 0, 512)
		allocs = testing.AllocsPerRun(100, func() { buf = c.msg.Append(buf[:0]) })
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per Append into a large enough buffer, want 0", c.name, allocs)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, c := range benchCases(b) {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.wire)))
			for b.Loop() {
				if err := c.msg.Decode(c.wire); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeFresh(b *testing.B) {
	for _, c := range benchCases(b) {
		typ := c.msg.Type()
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m, _ := New(typ)
				if err := m.Decode(c.wire); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, c := range benchCases(b) {
		if err := c.msg.Decode(c.wire); err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 512)
			for b.Loop() {
				buf = c.msg.Append(buf[:0])
			}
		})
	}
}

func BenchmarkAuth(b *testing.B) {
	for _, c := range benchCases(b) {
		if !strings.HasPrefix(c.name, "map_register") && c.name != "info_request" {
			continue
		}
		wire := append([]byte(nil), c.wire...)
		b.Run("Sign/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := Sign(wire, key); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("Verify/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := Verify(wire, key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
