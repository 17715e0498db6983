package uci

import (
	"errors"
	"strconv"
	"strings"

	"github.com/lispd/lispd/conf"
	"github.com/lispd/lispd/internal/nocmp"
)

// keyRef maps a conf key path of the rendered configuration (xtr.rloc[1])
// to the UCI section or option it came from (lispd.@rloc[1]), so that what
// conf finds wrong in the rendered configuration names the option the user
// edits, not a line of a file the user never edits (and that is not written
// when it is invalid).
type keyRef struct {
	_        nocmp.DoNotCompare
	key, ref string
}

// lists are the conf lists whose elements are, in order, the values of one
// option of the sections of one type (all of them: Render returns a
// configuration only when it rejected no value), or the sections
// themselves when option is empty. For xtr.rloc, the sections the renderer
// kept (rloc sections on one device merge).
var lists = [...]struct{ key, typ, option string }{
	{"xtr.eid_prefixes", TypeEID, "prefix"},
	{"xtr.eid_space", TypeLispd, "eid_space"},
	{"xtr.rloc", TypeRLOC, ""},
	{"xtr.map_resolvers", TypeMapResolver, "address"},
	{"xtr.map_server", TypeMapServer, ""},
	{"xtr.proxy_etrs", TypePETR, ""},
}

// listKeys returns the keys of the rendered configuration that conf may
// find wrong and the UCI options they came from. xtr.tun and
// xtr.instance_id are not among them: the renderer checks them in full.
func (r *renderer) listKeys() []keyRef {
	// A rendered configuration comes from a section named main.
	keys := []keyRef{{key: "xtr.mtu", ref: "lispd.main.mtu"}}
	for _, l := range lists {
		secs := r.pkg.OfType(l.typ)
		if l.typ == TypeRLOC {
			secs = r.rlocs
		}
		n := 0
		for _, s := range secs {
			values := 1
			if l.option != "" {
				o := s.Option(l.option)
				if o == nil {
					continue
				}
				values = len(o.Values)
			}
			ref := s.Ref(PackageName)
			if l.option != "" {
				ref += "." + l.option
			}
			for range values {
				key := l.key + "[" + strconv.Itoa(n) + "]"
				if l.typ == TypeRLOC && s.Option("device") != nil {
					// conf's interface is UCI's option device here.
					keys = append(keys, keyRef{key: key + ".interface", ref: ref + ".device"})
				}
				keys = append(keys, keyRef{key: key, ref: ref})
				n++
			}
		}
	}
	return keys
}

// uciProblems turns what conf found wrong in the rendered configuration
// (Encode reads it back with conf.Parse, the rules `lispd check` applies,
// among them the cross-field checks the renderer does not repeat:
// duplicate locators, overlapping EID prefixes, an RLOC inside an EID
// prefix) into Problems naming the UCI options the keys came from, the keys
// quoted in the messages too. A key no UCI option sets (the renderer leaves
// it at its default) gives a problem that says the rendered configuration
// is invalid and quotes conf without the rendered text's line.
func (res *Result) uciProblems(err error) error {
	var ce conf.Errors
	if !errors.As(err, &ce) {
		return err
	}
	ps := make(Problems, 0, len(ce))
	for _, p := range ce {
		ref := ""
		for _, k := range res.keys {
			if rest := p.Key[min(len(k.key), len(p.Key)):]; strings.HasPrefix(p.Key, k.key) && (rest == "" || rest[0] == '.') {
				ref = k.ref + rest
				break
			}
		}
		if ref == "" {
			ps = append(ps, Problem{Option: PackageName, Msg: "the rendered configuration is invalid: " + p.Key + ": " + p.Msg})
			continue
		}
		msg := p.Msg
		for _, k := range res.keys {
			msg = strings.ReplaceAll(msg, k.key, k.ref)
		}
		ps = append(ps, Problem{Option: ref, Msg: msg})
	}
	return ps
}
