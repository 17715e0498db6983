package tomlx

import (
	"bytes"
	"math"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// normalize makes BurntSushi's decoding comparable with Parse's: local
// date-times carry a special location there.
func normalize(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = normalize(e)
		}
	case []any:
		for i, e := range v {
			v[i] = normalize(e)
		}
	case []map[string]any:
		for _, e := range v {
			normalize(e)
		}
	case time.Time:
		return v.Format(time.RFC3339Nano)[:19]
	case float64:
		if math.IsNaN(v) {
			return "NaN"
		}
	}
	return v
}

var validDocs = []string{
	"",
	"# only a comment\n\n",
	"a = 1\nb = -2\nc = +3\nd = 1_000\nhex = 0xDEAD_beef\noct = 0o755\nbin = 0b1101\n",
	"f1 = 1.5\nf2 = -0.01\nf3 = 5e+22\nf4 = 1e06\nf5 = -2E-2\nf6 = 6.626e-34\nf7 = 224_617.445_991\nf8 = inf\nf9 = -inf\nf10 = nan\n",
	"t = true\nf = false\n",
	`s = "tab\there \"q\" \\ \u00e9 \U0001F600"` + "\nl = 'C:\\path\\no escape'\n",
	"m = \"\"\"\nline1\nline2 \\\n   continued\"\"\"\nml = '''\nraw \\n\n'''\nq = \"\"\"two quotes: \"\"\"\"\"\n",
	"odt = 1979-05-27T07:32:00Z\nodt2 = 1979-05-27T00:32:00.999999-07:00\nodt3 = 1979-05-27 07:32:00Z\nldt = 1979-05-27T07:32:00\nld = 1979-05-27\n",
	"arr = [1, 2, 3]\nnested = [[1, 2], [\"a\", 'b'], []]\nmulti = [\n  1, # one\n  2,\n]\nmixed = [1, \"x\", 1.5, {a = 1}]\n",
	"inl = { x = 1, y.z = \"2\", w = { v = [1] } }\nempty = {}\nlax = {\n  a = 1, # c\n  b = 2,\n}\n",
	"[a]\nx = 1\n[a.b]\ny = 2\n[c.d.e]\nz = 3\n[c]\nw = 4\n",
	"[[fruit]]\nname = \"apple\"\n[fruit.physical]\ncolor = \"red\"\n[[fruit.variety]]\nname = \"red delicious\"\n[[fruit]]\nname = \"banana\"\n",
	"a.b.c = 1\na.b.d = 2\na.e = 3\n\"quoted key\" = 1\n'lit.key' = 2\n\"\" = 3\n 'x' . \"y\" = 4\n",
	"[ sp . ace ]\nk = 1\n[[ arr . tab ]]\nk = 2\n",
	"k = 1\r\n[t]\r\nv = \"x\"\r\n",
	"key = \"value\" # trailing comment\n[tbl] # comment\n",
	"lt = 07:32:00\nlt2 = 00:32:00.999\n",
}

func TestParseMatchesBurntSushi(t *testing.T) {
	for _, doc := range validDocs {
		var want map[string]any
		if _, err := toml.Decode(doc, &want); err != nil {
			t.Fatalf("BurntSushi rejects test document %q: %v", doc, err)
		}
		got, err := Parse([]byte(doc))
		if err != nil {
			t.Errorf("Parse(%q): %v", doc, err)
			continue
		}
		if want == nil {
			want = map[string]any{}
		}
		if g, w := normalize(got), normalize(want); !reflect.DeepEqual(g, w) {
			t.Errorf("Parse(%q):\n got %#v\nwant %#v", doc, g, w)
		}
	}
}

// invalidDocs break TOML 1.0; lenient marks those BurntSushi/toml accepts
// anyway.
var invalidDocs = []struct {
	doc, msg string
	lenient  bool
}{
	{"a = 1\na = 2\n", "line 2, column 1: key a has already been defined", false},
	{"[t]\n[t]\n", "line 2, column 2: table t has already been defined", false},
	{"[t]\nx.y = 1\n[t.x]\n", "line 3, column 4: table t.x has already been defined", true},
	{"a = {x = 1}\na.y = 2\n", "key a has already been defined", true},
	{"a = {x = 1}\n[a.b]\n", "inline table a cannot be extended", true},
	{"a = [1]\n[[a]]\n", "already been defined", false},
	{"[[a]]\n[a]\n", "already been defined as an array of tables", false},
	{"a = 1\n[a.b]\n", "already been defined", false},
	{"a = \n", "line 1, column 5: expected a value", false},
	{"a = 1 b = 2\n", "expected the end of the line", false},
	{"a = \"unterminated\n", "unterminated string", false},
	{"a = 'x\n", "unterminated literal string", false},
	{"a = \"\"\"x\n", "unterminated multi-line string", false},
	{"a = \"\\q\"\n", "invalid escape", false},
	{"a = \"\\uD800\"\n", "invalid escape", false},
	{"a = 01\n", "invalid value", false},
	{"a = 1__0\n", "invalid value", false},
	{"a = 1.\n", "invalid value", false},
	{"a = .5\n", "expected a value", false},
	{"a = [1 2]\n", "expected ',' or ']'", false},
	{"a = [1,\n", "unterminated array", false},
	{"a = {x = 1 y = 2}\n", "expected ',' or '}'", false},
	{"a = {x = 1\n", "expected ',' or '}' in inline table, found end of file", false},
	{"[a\n", "closing the table header", false},
	{"= 1\n", "expected a key", false},
	{"a 1\n", "expected '='", false},
	{"a = 1979-13-45\n", "invalid value", false},
	{"a = \"\xff\"\n", "invalid UTF-8", false},
	{"# bad \x01 comment\n", "control character", false},
	{"a = " + strings.Repeat("[", 300) + "\n", "nested deeper", false},
}

func TestParseErrors(t *testing.T) {
	for _, tc := range invalidDocs {
		_, err := Parse([]byte(tc.doc))
		pe, ok := err.(*ParseError)
		if !ok || !strings.Contains(err.Error(), tc.msg) || pe.Line < 1 || pe.Col < 1 {
			t.Errorf("Parse(%q) = %v, want a *ParseError containing %q", tc.doc, err, tc.msg)
		}
		var v map[string]any
		if _, err := toml.Decode(tc.doc, &v); err == nil && !tc.lenient {
			t.Errorf("BurntSushi accepts %q, which Parse refuses", tc.doc)
		}
	}
}

type dur struct{ time.Duration }

func (d dur) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

type inner struct {
	Addr  netip.Addr `toml:"address,omitempty"`
	Prio  int        `toml:"priority"`
	Flag  *bool      `toml:"flag"`
	Skip  string     `toml:"-"`
	Extra string
}

type sub struct {
	Name  string         `toml:"name"`
	Pfx   []netip.Prefix `toml:"prefixes"`
	Inner []inner        `toml:"inner"`
}

type doc struct {
	Level   string   `toml:"log_level"`
	Count   uint32   `toml:"count"`
	Neg     int      `toml:"neg"`
	F       float64  `toml:"f"`
	Wait    dur      `toml:"wait"`
	Quote   string   `toml:"quote"`
	Empty   []string `toml:"empty"`
	Nil     []string `toml:"nil"`
	Sub     *sub     `toml:"sub"`
	NoSub   *sub     `toml:"nosub"`
	Subs    []sub    `toml:"subs"`
	Omitted string   `toml:"omitted,omitempty"`
	Dotted  string   `toml:"dotted.key"`
}

func sampleDoc() doc {
	yes := true
	return doc{
		Level: "info", Count: 7, Neg: -3, F: 2, Wait: dur{90 * time.Second},
		Quote: "a \"q\" \\ \n\t\x01 é", Empty: []string{},
		Sub: &sub{Name: "s", Pfx: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
			Inner: []inner{{Addr: netip.MustParseAddr("2001:db8::1"), Prio: 1, Flag: &yes}, {Prio: 2}}},
		Subs:   []sub{{Name: "a", Inner: []inner{}}, {Name: "b", Pfx: []netip.Prefix{}}},
		Dotted: "x",
	}
}

func TestMarshalMatchesBurntSushi(t *testing.T) {
	d := sampleDoc()
	var want bytes.Buffer
	enc := toml.NewEncoder(&want)
	enc.Indent = ""
	if err := enc.Encode(d); err != nil {
		t.Fatal(err)
	}
	got, err := Marshal(&d)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want.String() {
		t.Errorf("Marshal:\n%s\nBurntSushi:\n%s", got, want.String())
	}
	// And it reads back.
	m, err := Parse(got)
	if err != nil {
		t.Fatalf("Parse(Marshal): %v\n%s", err, got)
	}
	if m["quote"] != d.Quote || m["sub"].(map[string]any)["inner"].([]map[string]any)[0]["address"] != "2001:db8::1" {
		t.Errorf("round trip lost values: %#v", m)
	}
}

func TestMarshalErrors(t *testing.T) {
	if _, err := Marshal(42); err == nil {
		t.Error("Marshal(42) succeeded")
	}
	if _, err := Marshal((*doc)(nil)); err == nil {
		t.Error("Marshal(nil) succeeded")
	}
	if _, err := Marshal(struct {
		C chan int `toml:"c"`
	}{make(chan int)}); err == nil {
		t.Error("Marshal of a channel succeeded")
	}
}

func FuzzParse(f *testing.F) {
	for _, d := range validDocs {
		f.Add([]byte(d))
	}
	for _, d := range invalidDocs {
		f.Add([]byte(d.doc))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := Parse(b)
		if err != nil {
			if pe, ok := err.(*ParseError); !ok || pe.Line < 1 || pe.Col < 1 {
				t.Fatalf("error %v is not a located *ParseError", err)
			}
			return
		}
		var want map[string]any
		if _, err := toml.Decode(string(b), &want); err != nil {
			return // Parse is more lenient in corners (e.g. some date-times); not a crash
		}
		if want == nil {
			want = map[string]any{}
		}
		if g, w := normalize(got), normalize(want); !reflect.DeepEqual(g, w) {
			t.Fatalf("Parse(%q):\n got %#v\nwant %#v", b, g, w)
		}
	})
}
