package rtnl

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// QuietLink gives a tunnel device no IPv6 link-local address
// (addr_gen_mode 1), so the kernel sends no router solicitations or
// neighbour traffic of its own into it: a TUN carrying routed EID traffic
// needs none. (A router still reports its ff02::2 membership there; the
// data plane counts such link-scope multicast apart from drops.) Call it
// before LinkSetUp. A host with IPv6 disabled is not an error.
func QuietLink(name string) error {
	err := os.WriteFile("/proc/sys/net/ipv6/conf/"+name+"/addr_gen_mode", []byte("1\n"), 0)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: disabling IPv6 link-local address: %w", name, err)
	}
	return nil
}
