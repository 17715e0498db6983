package conf

import (
	"fmt"
	"strings"

	"github.com/lispd/lispd/internal/sortx"
)

// Problem is one thing wrong with a configuration file, located at the key
// (or value) it concerns.
type Problem struct {
	File string // file name as given to Load or Parse; may be empty
	Line int    // 1-based line; 0 when unknown (a Config built in code)
	Col  int    // 1-based byte column; 0 when unknown
	Key  string // dotted TOML path such as "xtr.rloc[1].priority"; empty for syntax errors
	Msg  string // what is wrong, and where it helps, what would be right
}

// Error formats the problem as "FILE:LINE:COL: key: message", leaving out
// the parts that are unknown.
func (p Problem) Error() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		b.WriteString(":")
	}
	if p.Line > 0 {
		fmt.Fprintf(&b, "%d:%d:", p.Line, max(p.Col, 1))
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Errors is every problem found in a configuration, in file order. It is the
// error type returned by Load, Parse and Config.Validate.
type Errors []Problem

// Error lists the problems one per line.
func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, p := range e {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// sortProblems orders problems by position, then key, and drops exact
// duplicates. Problems with the same position and key keep their order: the
// order sort.SliceStable gives, from sortx.Sort over indexes with the index
// as the last key (SliceStable's merge sort is ~2 KB more of the binary).
func sortProblems(ps []Problem) Errors {
	order := make([]int, len(ps))
	for i := range order {
		order[i] = i
	}
	sortx.Sort(len(order), func(i, j int) bool {
		a, b := &ps[order[i]], &ps[order[j]]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Col != b.Col {
			return a.Col < b.Col
		}
		if a.Key != b.Key {
			return a.Key < b.Key
		}
		return order[i] < order[j]
	}, func(i, j int) { order[i], order[j] = order[j], order[i] })
	out := make(Errors, 0, len(ps))
	for _, i := range order {
		if n := len(out); n > 0 && ps[i] == out[n-1] {
			continue
		}
		out = append(out, ps[i])
	}
	return out
}
