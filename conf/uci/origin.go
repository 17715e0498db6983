package uci

import (
	"errors"
	"strconv"
	"strings"

	"github.com/lispd/lispd/conf"
)

// lists are the conf lists whose elements are, in order, the values of one
// option of the sections of one type (all of them: Render returns a
// configuration only when it rejected no value), or the sections
// themselves when option is empty. For xtr.rloc, the sections the renderer
// kept (rloc sections on one device merge).
var lists = [...]struct{ key, typ, option string }{
	{"xtr.eid_prefixes", TypeEID, ".prefix"},
	{"xtr.eid_space", TypeLispd, ".eid_space"},
	{"xtr.rloc", TypeRLOC, ""},
	{"xtr.map_resolvers", TypeMapResolver, ".address"},
	{"xtr.map_server", TypeMapServer, ""},
	{"xtr.proxy_etrs", TypePETR, ""},
}

// uciProblems turns what conf found wrong in the rendered configuration
// (Encode reads it back with conf.Parse, the rules `lispd check` applies,
// among them the cross-field checks the renderer does not repeat:
// duplicate locators, overlapping EID prefixes, an RLOC inside an EID
// prefix) into Problems naming the UCI options the keys came from, as
// `uci show` does, and the keys quoted in the messages too; so no message
// names the rendered file, which the user never edits and which is not
// written when invalid. A key no UCI option sets (the renderer leaves it at
// its default, or checks it in full) gives a problem that says the rendered
// configuration is invalid and quotes conf without the rendered text's
// line.
func (r *renderer) uciProblems(err error) error {
	var ce conf.Errors
	if !errors.As(err, &ce) {
		return err
	}
	// Pairs of a conf key and the UCI option (or section) it came from; a
	// rendered configuration comes from a section named main.
	keys := []string{"xtr.mtu", "lispd.main.mtu"}
	for _, l := range lists {
		secs := r.pkg.OfType(l.typ)
		if l.typ == TypeRLOC {
			secs = r.rlocs
		}
		n := 0
		for _, s := range secs {
			values := 1
			if l.option != "" {
				o := s.Option(l.option[1:])
				if o == nil {
					continue
				}
				values = len(o.Values)
			}
			ref := s.Ref(PackageName) + l.option
			for range values {
				key := l.key + "[" + strconv.Itoa(n) + "]"
				if l.typ == TypeRLOC && s.Option("device") != nil {
					keys = append(keys, key+".interface", ref+".device")
				}
				keys = append(keys, key, ref)
				n++
			}
		}
	}
	ps := make(Problems, len(ce))
	for i, p := range ce {
		ps[i] = Problem{Option: PackageName, Msg: "the rendered configuration is invalid: " + p.Key + ": " + p.Msg}
		for k := 0; k < len(keys); k += 2 {
			if rest := p.Key[min(len(keys[k]), len(p.Key)):]; strings.HasPrefix(p.Key, keys[k]) && (rest == "" || rest[0] == '.') {
				ps[i] = Problem{Option: keys[k+1] + rest, Msg: p.Msg}
				for j := 0; j < len(keys); j += 2 {
					ps[i].Msg = strings.ReplaceAll(ps[i].Msg, keys[j], keys[j+1])
				}
				break
			}
		}
	}
	return ps
}
