package uci

import (
	"bytes"
	"fmt"

	"github.com/lispd/lispd/conf"
)

// header starts every rendered file.
const header = `# Rendered by "lispd uci-render" from /etc/config/lispd. Do not edit:
# the init script writes this file again on every start and reload.
# Edit /etc/config/lispd instead (or remove its eid, rloc, map_server,
# map_resolver and petr sections to use the TOML on flash).

`

// Encode renders c as TOML, with the header above, and checks that the
// result parses back with conf.Parse (so a rendered file never fails
// `lispd check` for a reason the renderer could have seen). name is the
// path used in conf's messages.
func Encode(name string, c *conf.Config) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(header)
	if err := conf.Encode(&b, c); err != nil {
		return nil, fmt.Errorf("encode %s: %w", name, err)
	}
	if _, err := conf.Parse(name, b.Bytes()); err != nil {
		return nil, fmt.Errorf("rendered configuration is invalid:\n%w", err)
	}
	return b.Bytes(), nil
}
