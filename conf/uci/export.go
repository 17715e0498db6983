// Package uci reads OpenWrt's UCI configuration for lispd (the text that
// `uci export lispd` prints) and renders it into an effective conf.Config.
//
// UCI is the home user's (and LuCI's) way to configure lispd: a few typed
// sections for the common case. When those sections are absent the TOML on
// flash is used as is; see Render.
package uci

import (
	"fmt"
	"strings"

	"github.com/lispd/lispd/internal/nocmp"
)

// Package is one parsed UCI package: the sections of /etc/config/NAME in
// file order.
type Package struct {
	Name     string
	Sections []*Section
}

// Section is one `config TYPE ['NAME']` block.
type Section struct {
	Type  string
	Name  string // empty for an anonymous section
	Index int    // position among the sections of the same type (for @TYPE[N])
	Line  int    // line of the `config` statement

	Options []*Option // in file order; a list accumulates into one Option
}

// Option is an `option NAME 'VALUE'` or the `list NAME 'VALUE'` lines of one
// list.
type Option struct {
	Name   string
	Values []string // exactly one value for an option
	List   bool
	Line   int // line of the first value
}

// Value returns the option's single value.
func (o *Option) Value() string {
	if len(o.Values) == 0 {
		return ""
	}
	return o.Values[len(o.Values)-1]
}

// Option returns the named option of the section, or nil.
func (s *Section) Option(name string) *Option {
	for _, o := range s.Options {
		if o.Name == name {
			return o
		}
	}
	return nil
}

// Ref names the section the way `uci show` does: pkg.NAME for a named
// section, pkg.@TYPE[N] for an anonymous one.
func (s *Section) Ref(pkg string) string {
	if s.Name != "" {
		return pkg + "." + s.Name
	}
	return fmt.Sprintf("%s.@%s[%d]", pkg, s.Type, s.Index)
}

// OfType returns the sections of one type, in file order.
func (p *Package) OfType(typ string) []*Section {
	var out []*Section
	for _, s := range p.Sections {
		if s.Type == typ {
			out = append(out, s)
		}
	}
	return out
}

// SyntaxError is a malformed line in UCI text.
type SyntaxError struct {
	_ nocmp.DoNotCompare

	Line int
	Msg  string
}

// Error implements error.
func (e *SyntaxError) Error() string { return fmt.Sprintf("uci line %d: %s", e.Line, e.Msg) }

// Parse reads UCI text in the format of `uci export` (and of the files in
// /etc/config): package, config, option and list statements, values bare,
// 'single-quoted' (no escapes; `uci export` writes a quote as '\”),
// "double-quoted" (backslash escapes) or concatenations of those, and
// # comments. When the text has no package statement, defaultName names it.
func Parse(text, defaultName string) (*Package, error) {
	p := &Package{Name: defaultName}
	var cur *Section
	count := map[string]int{}
	lines := splitLogicalLines(text)
	for _, ln := range lines {
		words, err := tokenize(ln.text)
		if err != nil {
			return nil, &SyntaxError{Line: ln.no, Msg: err.Error()}
		}
		if len(words) == 0 {
			continue
		}
		switch words[0] {
		case "package":
			if len(words) != 2 {
				return nil, &SyntaxError{Line: ln.no, Msg: "package wants one name"}
			}
			if len(p.Sections) > 0 {
				return nil, &SyntaxError{Line: ln.no, Msg: "package statement after sections"}
			}
			p.Name = words[1]
		case "config":
			if len(words) < 2 || len(words) > 3 {
				return nil, &SyntaxError{Line: ln.no, Msg: "config wants a type and an optional name"}
			}
			if !validName(words[1]) {
				return nil, &SyntaxError{Line: ln.no, Msg: fmt.Sprintf("invalid section type %q", words[1])}
			}
			cur = &Section{Type: words[1], Index: count[words[1]], Line: ln.no}
			count[words[1]]++
			if len(words) == 3 {
				if !validName(words[2]) {
					return nil, &SyntaxError{Line: ln.no, Msg: fmt.Sprintf("invalid section name %q", words[2])}
				}
				cur.Name = words[2]
			}
			p.Sections = append(p.Sections, cur)
		case "option", "list":
			if cur == nil {
				return nil, &SyntaxError{Line: ln.no, Msg: words[0] + " outside a config section"}
			}
			if len(words) != 3 {
				return nil, &SyntaxError{Line: ln.no, Msg: words[0] + " wants a name and one value"}
			}
			if !validName(words[1]) {
				return nil, &SyntaxError{Line: ln.no, Msg: fmt.Sprintf("invalid option name %q", words[1])}
			}
			isList := words[0] == "list"
			o := cur.Option(words[1])
			switch {
			case o == nil:
				cur.Options = append(cur.Options, &Option{Name: words[1], Values: []string{words[2]}, List: isList, Line: ln.no})
			case isList && o.List:
				o.Values = append(o.Values, words[2])
			default:
				// uci itself lets the last statement win; a mix of option and
				// list for one name is almost certainly a mistake.
				if o.List != isList {
					return nil, &SyntaxError{Line: ln.no, Msg: fmt.Sprintf("%s %s: given both as option and as list", cur.Type, words[1])}
				}
				o.Values = []string{words[2]}
				o.Line = ln.no
			}
		default:
			return nil, &SyntaxError{Line: ln.no, Msg: fmt.Sprintf("unknown statement %q", words[0])}
		}
	}
	return p, nil
}

// validName reports whether s is a valid UCI identifier.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

type logicalLine struct {
	_ nocmp.DoNotCompare

	no   int
	text string
}

// splitLogicalLines splits text into lines. A line break inside quotes is
// part of the value (uci allows multi-line quoted values); a backslash at
// the end of a line outside quotes continues it.
func splitLogicalLines(text string) []logicalLine {
	var out []logicalLine
	var b strings.Builder
	no, start := 1, 1
	var quote byte
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			}
		case quote == '"':
			if c == '\\' && i+1 < len(text) {
				b.WriteByte(c)
				i++
				c = text[i]
				if c == '\n' {
					no++
				}
			} else if c == '"' {
				quote = 0
			}
		default:
			if c == '#' && (b.Len() == 0 || isSpace(b.String()[b.Len()-1])) {
				// A comment runs to the end of the line; quotes in it mean nothing.
				for i+1 < len(text) && text[i+1] != '\n' {
					i++
				}
				continue
			}
			if c == '\'' || c == '"' {
				quote = c
			} else if c == '\\' && i+1 < len(text) && text[i+1] == '\n' {
				i++
				no++
				continue
			} else if c == '\\' && i+1 < len(text) {
				b.WriteByte(c)
				i++
				c = text[i]
			} else if c == '\n' {
				out = append(out, logicalLine{no: start, text: b.String()})
				b.Reset()
				no++
				start = no
				continue
			}
		}
		if c == '\n' && quote != 0 {
			no++
		}
		b.WriteByte(c)
	}
	if b.Len() > 0 {
		out = append(out, logicalLine{no: start, text: b.String()})
	}
	return out
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' }

// tokenize splits one logical line into words the way uci's parser does.
func tokenize(line string) ([]string, error) {
	var words []string
	i := 0
	for {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r') {
			i++
		}
		if i >= len(line) || line[i] == '#' {
			return words, nil
		}
		var w strings.Builder
		for i < len(line) {
			c := line[i]
			if c == ' ' || c == '\t' || c == '\r' {
				break
			}
			switch c {
			case '\'':
				end := strings.IndexByte(line[i+1:], '\'')
				if end < 0 {
					return nil, fmt.Errorf("unterminated ' quote")
				}
				w.WriteString(line[i+1 : i+1+end])
				i += end + 2
			case '"':
				i++
				closed := false
				for i < len(line) {
					if line[i] == '\\' && i+1 < len(line) {
						w.WriteByte(line[i+1])
						i += 2
						continue
					}
					if line[i] == '"' {
						closed = true
						i++
						break
					}
					w.WriteByte(line[i])
					i++
				}
				if !closed {
					return nil, fmt.Errorf("unterminated \" quote")
				}
			case '\\':
				if i+1 < len(line) {
					w.WriteByte(line[i+1])
					i += 2
				} else {
					i++
				}
			default:
				w.WriteByte(c)
				i++
			}
		}
		words = append(words, w.String())
	}
}
