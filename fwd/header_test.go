package fwd

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

type vector struct {
	Name    string `json:"name"`
	Src     string `json:"src"`
	Dst     string `json:"dst"`
	Sport   int    `json:"sport"`
	Dport   int    `json:"dport"`
	Payload string `json:"udp_payload_hex"`
	Frame   string `json:"frame_hex"`
	Notes   string `json:"notes"`
}

type vectorFile struct {
	Positive []vector `json:"positive"`
	Negative []vector `json:"negative"`
}

// dataVectors returns the data-plane vectors (names starting data_ or
// neg_data_) from testdata/vectors.json.
func dataVectors(t testing.TB) (pos, neg []vector) {
	t.Helper()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatalf("read vectors: %v", err)
	}
	var vf vectorFile
	if err := json.Unmarshal(b, &vf); err != nil {
		t.Fatalf("parse vectors: %v", err)
	}
	for _, v := range vf.Positive {
		if strings.HasPrefix(v.Name, "data_") {
			pos = append(pos, v)
		}
	}
	for _, v := range vf.Negative {
		if strings.HasPrefix(v.Name, "neg_data_") {
			neg = append(neg, v)
		}
	}
	if len(pos) == 0 || len(neg) == 0 {
		t.Fatalf("no data vectors (%d positive, %d negative)", len(pos), len(neg))
	}
	return pos, neg
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("hex: %v", err)
	}
	return b
}

// The expected fields of every positive data vector, from vectors.md.
var wantVectorFields = map[string]HeaderFields{
	"data_N_L":              {N: true, L: true, Nonce: 0xabcdef, LSBs: 3},
	"data_no_flags":         {},
	"data_N_E":              {N: true, E: true, Nonce: 0x00beef},
	"data_V":                {V: true, SrcMapVersion: 1, DstMapVersion: 2},
	"data_I":                {I: true, InstanceID: 1000},
	"data_N_L_I":            {N: true, L: true, I: true, Nonce: 0x123456, InstanceID: 1000, LSBs: 3},
	"data_v6inner_over_v4":  {N: true, Nonce: 0x42},
	"data_over_ipv6_cksum0": {N: true, L: true, Nonce: 1, LSBs: 1},
	"data_over_ipv6_cksum":  {N: true, L: true, Nonce: 1, LSBs: 1},
}

func TestHeaderVectors(t *testing.T) {
	pos, _ := dataVectors(t)
	seen := 0
	for _, v := range pos {
		t.Run(v.Name, func(t *testing.T) {
			want, ok := wantVectorFields[v.Name]
			if !ok {
				t.Fatalf("vector %s has no expected fields in this test", v.Name)
			}
			seen++
			b := mustHex(t, v.Payload)
			h := Header(b)
			if err := h.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			got := h.Fields()
			if got != want {
				t.Fatalf("fields = %+v, want %+v", got, want)
			}
			// Rebuild from the fields, not from the kept bytes.
			out := make([]byte, HeaderLen)
			Header(out).Encode(&want)
			if !bytes.Equal(out, b[:HeaderLen]) {
				t.Fatalf("encoded %x, want %x", out, b[:HeaderLen])
			}
			// The inner packet behind the header parses.
			var p Packet
			if err := ParsePacket(b[HeaderLen:], &p); err != nil {
				t.Fatalf("inner: %v", err)
			}
			if p.Len != len(b)-HeaderLen {
				t.Fatalf("inner length %d, want %d", p.Len, len(b)-HeaderLen)
			}
		})
	}
	if seen != len(wantVectorFields) {
		t.Fatalf("checked %d vectors, expected %d", seen, len(wantVectorFields))
	}
}

func TestHeaderNegativeVectors(t *testing.T) {
	_, neg := dataVectors(t)
	want := map[string]error{
		"neg_data_E_without_N": ErrEWithoutN,
		"neg_data_N_and_V":     ErrNAndV,
	}
	for _, v := range neg {
		t.Run(v.Name, func(t *testing.T) {
			w, ok := want[v.Name]
			if !ok {
				t.Fatalf("no expected error for %s", v.Name)
			}
			err := Header(mustHex(t, v.Payload)).Validate()
			if !errors.Is(err, w) {
				t.Fatalf("Validate = %v, want %v", err, w)
			}
		})
	}
}

func TestHeaderValidate(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrHeaderTooShort},
		{"seven bytes", make([]byte, 7), ErrHeaderTooShort},
		{"zero", make([]byte, 8), nil},
		{"E without N", []byte{FlagE, 0, 0, 0, 0, 0, 0, 0}, ErrEWithoutN},
		{"E with N", []byte{FlagE | FlagN, 0, 0, 0, 0, 0, 0, 0}, nil},
		{"N and V", []byte{FlagN | FlagV, 0, 0, 0, 0, 0, 0, 0}, ErrNAndV},
		{"E and V", []byte{FlagE | FlagV, 0, 0, 0, 0, 0, 0, 0}, ErrEWithoutN},
		{"all legal flags", []byte{FlagN | FlagL | FlagE | FlagI | 7, 1, 2, 3, 4, 5, 6, 7}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Header(tt.b).Validate(); !errors.Is(err, tt.want) {
				t.Fatalf("Validate = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestHeaderSetters(t *testing.T) {
	h := Header(make([]byte, HeaderLen))
	h.SetFlags(FlagV | FlagI)
	h.SetMapVersions(0xabc, 0x123)
	h.SetInstanceID(0xfedcba)
	h.SetLSBs(0x1ff) // I set: only 8 bits kept
	if got := []byte(h); !bytes.Equal(got, []byte{0x18, 0xab, 0xc1, 0x23, 0xfe, 0xdc, 0xba, 0xff}) {
		t.Fatalf("bytes %x", got)
	}
	if h.SourceMapVersion() != 0xabc || h.DestMapVersion() != 0x123 || h.InstanceID() != 0xfedcba || h.LSBs() != 0xff {
		t.Fatalf("getters: %+v", h.Fields())
	}
	h.SetFlags(FlagN | FlagL)
	h.SetNonce(0x1abcdef) // 24 bits kept
	h.SetLSBs(0xdeadbeef)
	if h.Nonce() != 0xabcdef || h.LSBs() != 0xdeadbeef || !h.N() || !h.L() || h.E() || h.V() || h.I() {
		t.Fatalf("getters: %+v", h.Fields())
	}
}

func TestHeaderAllocs(t *testing.T) {
	b := make([]byte, 64)
	f := HeaderFields{N: true, L: true, I: true, Nonce: 5, InstanceID: 7, LSBs: 1}
	var sink uint32
	n := testing.AllocsPerRun(1000, func() {
		h := Header(b)
		h.Encode(&f)
		if h.Validate() != nil {
			panic("invalid")
		}
		sink += h.Nonce() + h.InstanceID() + h.LSBs() + uint32(h.DestMapVersion())
		_ = Header(b[:3]).Validate()
	})
	if n != 0 {
		t.Fatalf("%v allocations per run, want 0", n)
	}
	_ = sink
}

func FuzzHeader(f *testing.F) {
	pos, neg := dataVectors(f)
	for _, v := range append(pos, neg...) {
		f.Add(mustHex(f, v.Payload))
	}
	f.Add([]byte{})
	f.Add([]byte{0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		h := Header(b)
		if err := h.Validate(); err != nil {
			return
		}
		fl := h.Fields()
		if fl.E && !fl.N || fl.N && fl.V {
			t.Fatalf("Validate accepted forbidden flags %#02x", b[0])
		}
		// Encode(Fields) reproduces the header except for bytes 1-3, which
		// are not carried when neither N nor V is set.
		out := make([]byte, HeaderLen)
		Header(out).Encode(&fl)
		want := append([]byte(nil), b[:HeaderLen]...)
		if !fl.N && !fl.V {
			want[1], want[2], want[3] = 0, 0, 0
		}
		if !bytes.Equal(out, want) {
			t.Fatalf("round trip %x -> %+v -> %x", b[:HeaderLen], fl, out)
		}
		var p Packet
		_ = ParsePacket(b[HeaderLen:], &p)
	})
}

func BenchmarkHeaderValidateFields(b *testing.B) {
	buf := make([]byte, HeaderLen)
	Header(buf).Encode(&HeaderFields{N: true, L: true, I: true, Nonce: 1, InstanceID: 1000, LSBs: 3})
	b.ReportAllocs()
	var sink uint32
	for b.Loop() {
		h := Header(buf)
		if h.Validate() == nil {
			sink += h.InstanceID() + h.Nonce()
		}
	}
	_ = sink
}
