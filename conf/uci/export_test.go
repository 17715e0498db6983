package uci

import (
	"os"
	"strings"
	"testing"
)

// tricky are values a user may type into LuCI or `uci set`.
var tricky = []string{
	"plain",
	"with spaces  and\ttab",
	`it's`,
	`''`,
	`say "hi"`,
	`back\slash\`,
	`\'\"`,
	`# not a comment`,
	`semi;colon`,
	"ünïcode ✓",
	"",
	"multi\nline",
}

func TestParseQuotedValues(t *testing.T) {
	for _, v := range tricky {
		text := "package lispd\n\nconfig map_server\n\toption key " + Quote(v) + "\n\tlist l " + Quote(v) + "\n\tlist l " + Quote(v+"2") + "\n"
		p, err := Parse(text, "x")
		if err != nil {
			t.Fatalf("%q: %v\n%s", v, err, text)
		}
		s := p.Sections[0]
		if got := s.Option("key").Value(); got != v {
			t.Errorf("option: got %q, want %q", got, v)
		}
		l := s.Option("l")
		if !l.List || len(l.Values) != 2 || l.Values[0] != v || l.Values[1] != v+"2" {
			t.Errorf("list: got %q (list=%v), want [%q %q]", l.Values, l.List, v, v+"2")
		}
	}
}

func TestParseForms(t *testing.T) {
	text := `# comment with this site's apostrophe
package 'lispd'
config lispd main   # trailing comment, it's "quoted"
	option a bare
	option b "double \"quoted\" \\ value"
	option c 'con'"cat"enated
	option d esc\ aped
	option e 'first'
	option e 'last wins'
config eid
config eid named
`
	p, err := Parse(text, "x")
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "lispd" || len(p.Sections) != 3 {
		t.Fatalf("got package %q with %d sections", p.Name, len(p.Sections))
	}
	want := map[string]string{"a": "bare", "b": `double "quoted" \ value`, "c": "concatenated", "d": "esc aped", "e": "last wins"}
	for k, v := range want {
		if got := p.Sections[0].Option(k).Value(); got != v {
			t.Errorf("option %s: got %q, want %q", k, got, v)
		}
	}
	if got := p.Sections[0].Ref("lispd"); got != "lispd.main" {
		t.Errorf("named ref %q", got)
	}
	if got := p.Sections[1].Ref("lispd"); got != "lispd.@eid[0]" {
		t.Errorf("anonymous ref %q", got)
	}
	if p.Sections[2].Index != 1 || p.Sections[2].Name != "named" {
		t.Errorf("third section: %+v", p.Sections[2])
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"option a b\n", "line 1: option outside a config section"},
		{"config lispd\n\toption a 'b\n", "unterminated ' quote"},
		{"config lispd\n\toption a \"b\n", "unterminated \" quote"},
		{"config lispd\n\toption a\n", "line 2: option wants a name and one value"},
		{"config lispd\n\toption a b c\n", "line 2: option wants a name and one value"},
		{"config lis-pd\n", "invalid section type"},
		{"config lispd\n\toption a-b c\n", "invalid option name"},
		{"config lispd\n\toption a b\n\tlist a c\n", "line 3: lispd a: given both as option and as list"},
		{"frobnicate\n", `unknown statement "frobnicate"`},
		{"config lispd\npackage lispd\n", "package statement after sections"},
	} {
		_, err := Parse(tc.text, "lispd")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.text, err, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/full.uci", "testdata/flash.uci"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	for _, v := range tricky {
		f.Add("config lispd\n\toption k " + Quote(v) + "\n")
	}
	f.Fuzz(func(t *testing.T, text string) {
		p, err := Parse(text, PackageName)
		if err != nil {
			return
		}
		// Whatever parses renders or is rejected with problems; never a panic.
		_, _ = Render(p, Options{Devices: map[string]string{"wan": "eth1"}})
		// Quote is Parse's inverse for every value.
		for _, s := range p.Sections {
			for _, o := range s.Options {
				for _, v := range o.Values {
					q, err := Parse("config t\n\toption o "+Quote(v)+"\n", "x")
					if err != nil {
						t.Fatalf("Quote(%q) does not parse: %v", v, err)
					}
					if got := q.Sections[0].Options[0].Value(); got != v {
						t.Fatalf("Quote round trip: got %q, want %q", got, v)
					}
				}
			}
		}
	})
}
