package netio

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// QuietLink keeps the kernel's own link-scope chatter out of a tunnel
// device, so that the data plane does not have to count it as drops: no
// IPv6 link-local address (addr_gen_mode 1: no router solicitations), and
// host rather than router behaviour on the device (its IPv6 "forwarding"
// off: a router joins ff02::2 and sends an MLD report for it even without
// an address). Forwarding between interfaces is governed by the "all"
// setting and is unaffected. A TUN carrying routed EID traffic needs
// neither. Call it before LinkSetUp. A host with IPv6 disabled is not an
// error.
func QuietLink(name string) error {
	for _, s := range []struct{ key, val string }{{"addr_gen_mode", "1"}, {"forwarding", "0"}} {
		err := os.WriteFile("/proc/sys/net/ipv6/conf/"+name+"/"+s.key, []byte(s.val+"\n"), 0)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: setting IPv6 %s: %w", name, s.key, err)
		}
	}
	return nil
}
