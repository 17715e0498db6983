package jsonx

import (
	"encoding/json"
	"math"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

type inner struct {
	Addr netip.Addr     `json:"address"`
	Port uint16         `json:"port,omitempty"`
	RTT  *float64       `json:"rtt_ms,omitempty"`
	AP   netip.AddrPort `json:"public,omitzero"`
}

type embedded struct {
	Shared string `json:"shared"`
	Deep   int
}

type outer struct {
	embedded
	Name     string         `json:"name"`
	Skip     string         `json:"-"`
	Count    int64          `json:"count"`
	U8       uint8          `json:"u8"`
	Neg      int8           `json:"neg"`
	OK       bool           `json:"ok"`
	F        float64        `json:"f"`
	F32      float32        `json:"f32"`
	Prefix   netip.Prefix   `json:"prefix"`
	When     time.Time      `json:"when"`
	Never    time.Time      `json:"never,omitzero"`
	Opt      *uint32        `json:"opt,omitempty"`
	List     []inner        `json:"list"`
	Nil      []string       `json:"nil"`
	Empty    []string       `json:"empty"`
	OmitList []string       `json:"omit_list,omitempty"`
	Map      map[string]int `json:"map"`
	Any      any            `json:"any"`
	Raw      RawMessage     `json:"raw,omitempty"`
	Ptr      *inner         `json:"ptr"`
	Untagged string
	private  int
}

func sample() outer {
	rtt := 1.25
	opt := uint32(7)
	return outer{
		embedded: embedded{Shared: "e", Deep: 3},
		Name:     "a \"quoted\" <tag> & \u2028 \x01 \t\n é \xff",
		Skip:     "x",
		Count:    -1 << 40,
		U8:       255,
		Neg:      -128,
		OK:       true,
		F:        1e-7,
		F32:      3.5,
		Prefix:   netip.MustParsePrefix("2001:db8::/32"),
		When:     time.Date(2026, 11, 24, 23, 0, 0, 123456789, time.UTC),
		Opt:      &opt,
		List: []inner{
			{Addr: netip.MustParseAddr("192.0.2.1"), Port: 4341, RTT: &rtt, AP: netip.MustParseAddrPort("203.0.113.1:10000")},
			{Addr: netip.MustParseAddr("2001:db8::1")},
		},
		Empty:    []string{},
		Map:      map[string]int{"z": 1, "a": 2},
		Any:      map[string]any{"k": []any{1.5, "s", nil, true}},
		Raw:      RawMessage(`{ "x" : [1, 2] }`),
		Untagged: "u",
		private:  9,
	}
}

func TestMarshalMatchesEncodingJSON(t *testing.T) {
	for _, v := range []any{
		sample(), &outer{}, []int(nil), map[string]string(nil), "", 0.0, 1e21, 123456789.0, -0.000001, 1e-7, float32(1e-7), uint64(math.MaxUint64), nil,
		struct {
			A any `json:"a"`
		}{A: &inner{}},
	} {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Marshal(v)
		if err != nil {
			t.Fatalf("Marshal(%#v): %v", v, err)
		}
		if string(got) != string(want) {
			t.Errorf("Marshal(%T):\n got %s\nwant %s", v, got, want)
		}
		wantI, _ := json.MarshalIndent(v, ">", "  ")
		gotI, err := MarshalIndent(v, ">", "  ")
		if err != nil || string(gotI) != string(wantI) {
			t.Errorf("MarshalIndent(%T): %v\n got %s\nwant %s", v, err, gotI, wantI)
		}
	}
}

func TestMarshalErrors(t *testing.T) {
	for _, v := range []any{math.Inf(1), math.NaN(), make(chan int), map[int]int{1: 1}, RawMessage(`{`)} {
		if _, err := Marshal(v); err == nil {
			t.Errorf("Marshal(%T %v) succeeded", v, v)
		}
	}
}

func TestUnmarshalMatchesEncodingJSON(t *testing.T) {
	text, _ := json.Marshal(sample())
	var want, got outer
	if err := json.Unmarshal(text, &want); err != nil {
		t.Fatal(err)
	}
	if err := Unmarshal(text, &got); err != nil {
		t.Fatal(err)
	}
	// RawMessage types differ; compare as bytes and then clear.
	if string(got.Raw) != string(want.Raw) {
		t.Errorf("Raw %s, want %s", got.Raw, want.Raw)
	}
	got.Raw, want.Raw = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Unmarshal:\n got %+v\nwant %+v", got, want)
	}
	// Case-insensitive keys, unknown keys, null into a value, escapes.
	in := `{"NAME":"\ud83d\ude00\u00e9\/","unknown":{"a":[1,{}]},"count":null,"opt":null,"list":null,"any":[1,"x"]}`
	var a, b outer
	a.Count, b.Count = 5, 5
	if err := json.Unmarshal([]byte(in), &a); err != nil {
		t.Fatal(err)
	}
	if err := Unmarshal([]byte(in), &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("Unmarshal(%s):\n got %+v\nwant %+v", in, b, a)
	}
}

func TestUnmarshalErrors(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		v        any
	}{
		{`{"count":"1"}`, "offset 9", &outer{}},
		{`{"u8":256}`, "8-bit", &outer{}},
		{`{"prefix":"nope"}`, "netip.Prefix", &outer{}},
		{`{"list":{}}`, "want an array", &outer{}},
		{`{} {}`, "more than one JSON value", &outer{}},
		{`{"a":}`, "offset 5", &outer{}},
		{`[1,]`, "want a value", &[]int{}},
		{`"\x"`, "invalid escape", new(string)},
		{"\"a\x01\"", "control character", new(string)},
		{`01`, "after the value", new(int)},
		{`-`, "invalid number", new(int)},
		{`tru`, "want true", new(bool)},
		{strings.Repeat("[", MaxDepth+1), "deeper", new(any)},
		{`{"a":1}`, "non-nil pointer", nil},
	} {
		var err error
		if tc.v == nil {
			err = Unmarshal([]byte(tc.in), outer{})
		} else {
			err = Unmarshal([]byte(tc.in), tc.v)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Unmarshal(%q) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

func FuzzUnmarshal(f *testing.F) {
	text, _ := json.Marshal(sample())
	for _, s := range []string{string(text), `{"v":1,"cmd":"show map-cache","args":{"eid":"198.51.100.10"}}`, `[1,-0.5e+3,"\u00e9\ud800",null,true,false,{}]`, `{`, `"\`, `1e`, ` {"a" : [ ] } `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		valid := json.Valid(b)
		if Valid(b) != valid && strings.Count(string(b), "[")+strings.Count(string(b), "{") < MaxDepth {
			t.Fatalf("Valid(%q) = %v, encoding/json says %v", b, !valid, valid)
		}
		var got, want any
		gerr := Unmarshal(b, &got)
		werr := json.Unmarshal(b, &want)
		if (gerr == nil) != (werr == nil) {
			if gerr != nil && strings.Contains(gerr.Error(), "deeper") {
				return
			}
			t.Fatalf("Unmarshal(%q): jsonx %v, encoding/json %v", b, gerr, werr)
		}
		if gerr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("Unmarshal(%q): jsonx %#v, encoding/json %#v", b, got, want)
		}
		var o1, o2 outer
		if Unmarshal(b, &o1) == nil {
			if _, err := Marshal(o1); err != nil && json.Unmarshal(b, &o2) == nil {
				t.Fatalf("decoded value does not encode: %v", err)
			}
		}
	})
}
