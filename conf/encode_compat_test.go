package conf

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
)

// burntSushiEncode is what Encode wrote before it had its own writer:
// github.com/BurntSushi/toml's Encoder with no indent, after the header.
func burntSushiEncode(t *testing.T, cfg *Config) string {
	t.Helper()
	var buf bytes.Buffer
	buf.WriteString("# lispd configuration (generated)\n")
	enc := toml.NewEncoder(&buf)
	enc.Indent = ""
	if err := enc.Encode(cfg); err != nil {
		t.Fatalf("toml.Encoder: %v", err)
	}
	return buf.String()
}

// checkEncodeCompat checks that Encode writes cfg byte for byte as the
// BurntSushi encoder does, and that BurntSushi's decoder reads the text
// back to a Config equal to cfg.
func checkEncodeCompat(t *testing.T, name string, cfg *Config) {
	t.Helper()
	var buf bytes.Buffer
	if err := Encode(&buf, cfg); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	got, want := buf.String(), burntSushiEncode(t, cfg)
	var red bytes.Buffer
	if err := EncodeRedacted(&red, cfg); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if r := burntSushiEncode(t, cfg.Redacted()); red.String() != r {
		t.Fatalf("%s: EncodeRedacted differs from toml.Encoder of Redacted\n--- EncodeRedacted:\n%s\n--- toml.Encoder:\n%s", name, red.String(), r)
	}
	if got != want {
		t.Fatalf("%s: Encode differs from toml.Encoder\n--- Encode:\n%s\n--- toml.Encoder:\n%s", name, got, want)
	}
	if !utf8.ValidString(got) {
		return // TOML text is UTF-8: a string with invalid bytes cannot come back
	}
	var back Config
	if _, err := toml.Decode(got, &back); err != nil {
		t.Fatalf("%s: encoded config does not decode: %v\n%s", name, err, got)
	}
	back.Path = cfg.Path
	// omitempty drops an empty map_cache rlocs list: it comes back nil.
	cfg = cfg.DeepCopy()
	if cfg.XTR != nil {
		for i := range cfg.XTR.MapCache {
			if len(cfg.XTR.MapCache[i].RLOCs) == 0 {
				cfg.XTR.MapCache[i].RLOCs = nil
			}
		}
	}
	if !reflect.DeepEqual(cfg, &back) {
		b1, _ := json.MarshalIndent(cfg, "", " ")
		b2, _ := json.MarshalIndent(&back, "", " ")
		t.Fatalf("%s: decode(encode(cfg)) != cfg\n%s\nbefore %s\nafter  %s", name, got, b1, b2)
	}
}

// TestEncodeSameAsTOMLEncoderCorpus compares Encode with BurntSushi's
// encoder on the example (plain and redacted) and every fuzz seed file
// that parses.
func TestEncodeSameAsTOMLEncoderCorpus(t *testing.T) {
	cfg, err := Parse("x.toml", Example)
	if err != nil {
		t.Fatal(err)
	}
	checkEncodeCompat(t, "example", cfg)
	checkEncodeCompat(t, "example redacted", cfg.Redacted())
	checkEncodeCompat(t, "default", Default())
	files, _ := filepath.Glob("testdata/fuzz/FuzzParse/*")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// Fuzz corpus files hold a Go-quoted []byte("...") line.
		s := string(data)
		i := strings.Index(s, "[]byte(")
		if i < 0 {
			continue
		}
		var raw string
		if _, err := toml.Decode("v = "+strings.TrimSuffix(strings.TrimSpace(s[i+7:]), ")"), &struct{ V *string }{&raw}); err != nil {
			continue
		}
		if c, err := Parse("f.toml", []byte(raw)); err == nil {
			checkEncodeCompat(t, f, c)
		}
	}
}

// TestEncodeSameAsTOMLEncoderRandom compares Encode with BurntSushi's
// encoder on random Configs: every field of every type of the schema set
// (found by reflection, so a field added later is covered too), pointers and
// slices nil, empty or not, strings with quotes, backslashes, control
// characters, DEL, multi-byte and invalid UTF-8.
func TestEncodeSameAsTOMLEncoderRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 2026))
	for i := range 3000 {
		var cfg Config
		fillRandom(r, reflect.ValueOf(&cfg).Elem(), 0)
		cfg.Path = ""
		checkEncodeCompat(t, "random #"+strconv.Itoa(i), &cfg)
	}
}

var randomStrings = []string{"", "a", "lisp0", `"`, `\`, `a "quoted" key \ with # and spaces`, "\x00", "\x01\x1f", "\b\t\n\f\r", "\x7f",
	"é", "日本", "\U0001F600", "'", "''' \"\"\"", "=", "[x]", "#", " ", "\u2028", "\ufeff", "\xff\xfe", "\xc3"}

var randomAddrs = []netip.Addr{{}, netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1"),
	netip.MustParseAddr("::ffff:198.51.100.7"), netip.MustParseAddr("fe80::1%eth0"), netip.MustParseAddr("0.0.0.0")}

var randomPrefixes = []netip.Prefix{{}, netip.MustParsePrefix("198.51.100.0/25"), netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0"), netip.MustParsePrefix("203.0.113.5/32")}

func fillRandom(r *rand.Rand, v reflect.Value, depth int) {
	switch v.Interface().(type) {
	case netip.Addr:
		v.Set(reflect.ValueOf(randomAddrs[r.IntN(len(randomAddrs))]))
		return
	case netip.Prefix:
		v.Set(reflect.ValueOf(randomPrefixes[r.IntN(len(randomPrefixes))]))
		return
	case Duration:
		ds := []time.Duration{0, time.Second, 90 * time.Second, 24 * time.Hour, 250 * time.Millisecond, -time.Minute, time.Duration(r.Int64())}
		v.Set(reflect.ValueOf(Duration{ds[r.IntN(len(ds))]}))
		return
	}
	switch v.Kind() {
	case reflect.String:
		var b strings.Builder
		for range r.IntN(4) {
			b.WriteString(randomStrings[r.IntN(len(randomStrings))])
		}
		v.SetString(b.String())
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 1)
	case reflect.Int, reflect.Int64:
		ns := []int64{0, 1, -1, 255, 1 << 40, -1 << 63, 1<<63 - 1, r.Int64()}
		v.SetInt(ns[r.IntN(len(ns))])
	case reflect.Uint32:
		ns := []uint64{0, 1, 0xFFFFFE, 1<<32 - 1, uint64(r.Uint32())}
		v.SetUint(ns[r.IntN(len(ns))])
	case reflect.Pointer:
		if r.IntN(4) == 0 || depth > 3 {
			return
		}
		p := reflect.New(v.Type().Elem())
		fillRandom(r, p.Elem(), depth+1)
		v.Set(p)
	case reflect.Slice:
		switch r.IntN(4) {
		case 0: // nil
			return
		case 1:
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
			return
		}
		s := reflect.MakeSlice(v.Type(), 1+r.IntN(3), 3)
		for i := range s.Len() {
			fillRandom(r, s.Index(i), depth+1)
		}
		v.Set(s)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillRandom(r, v.Field(i), depth+1)
			}
		}
	default:
		panic("fillRandom: no generator for " + v.Type().String())
	}
}
