package netio

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lispd/lispd/fwd/rtnl"

	"github.com/lispd/lispd/internal/netnstest"
)

// TestNetnsPolicyRoutes: with rtnl.AddPolicyRoutes, unmarked packets to
// eid_space enter the TUN (unless the main table has a more specific
// route), packets with the mark follow the main table (here a default
// route through a second TUN standing for the uplink); remove takes every
// rule and route away again.
func TestNetnsPolicyRoutes(t *testing.T) {
	const mark = 0x4c49
	eid := openTestTUN(t, 1400)
	up, err := OpenTUN(fmt.Sprintf("lsu%06x", rand.Uint32()&0xffffff), 1400)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	for _, a := range []netip.Prefix{tunAddr4, tunAddr6} {
		if err := rtnl.AddAddress(up.Name(), a); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); !hasLocalRoute(t, tunAddr6.Addr()); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%v never became local", tunAddr6)
		}
	}
	site := netip.MustParsePrefix("198.51.100.96/27") // a connected site subnet inside eid_space
	if _, err := rtnl.AddRoutes(up.Name(), []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0"), site}); err != nil {
		t.Fatal(err)
	}
	remove, err := rtnl.AddPolicyRoutes(rtnl.PolicyRoutes{Ifname: eid.Name(), Prefixes: []netip.Prefix{eidSpace4, eidSpace6}, Mark: mark})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { remove() })

	// Readers: which TUN did each probe come out of?
	type seen struct {
		dev     string
		payload string
	}
	out := make(chan seen, 64)
	for _, tun := range []TUN{eid, up} {
		go func() {
			bufs := [][]byte{make([]byte, 2000)}
			sizes := []int{0}
			for {
				n, err := tun.Read(bufs, sizes, 0)
				if err != nil {
					return
				}
				for i := 0; i < n; i++ {
					if _, p, ok := parseUDP(bufs[i][:sizes[i]]); ok {
						out <- seen{tun.Name(), string(p)}
					}
				}
			}
		}()
	}
	send := func(withMark bool, dst string, tag string) {
		t.Helper()
		a := netip.MustParseAddr(dst)
		fam := unix.AF_INET
		var sa unix.Sockaddr
		if a.Is4() {
			sa = &unix.SockaddrInet4{Port: 9, Addr: a.As4()}
		} else {
			fam = unix.AF_INET6
			sa = &unix.SockaddrInet6{Port: 9, Addr: a.As16()}
		}
		fd, err := unix.Socket(fam, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		if withMark {
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, mark); err != nil {
				t.Fatal(err)
			}
		}
		if err := unix.Sendto(fd, []byte(tag), 0, sa); err != nil {
			t.Fatalf("send %s to %s: %v", tag, dst, err)
		}
	}
	expect := func(tag, dev string) {
		t.Helper()
		timeout := time.After(5 * time.Second)
		for {
			select {
			case s := <-out:
				if s.payload != tag {
					continue // a stray packet (IPv6 router solicitation...)
				}
				if s.dev != dev {
					t.Errorf("%s came out of %s, want %s", tag, s.dev, dev)
				}
				return
			case <-timeout:
				t.Fatalf("%s never came out of a TUN", tag)
			}
		}
	}
	tests := []struct {
		tag    string
		marked bool
		dst    string
		dev    string
	}{
		{"eid4", false, "198.51.100.10", eid.Name()},
		{"eid4-marked", true, "198.51.100.10", up.Name()},
		{"site4", false, "198.51.100.100", up.Name()},
		{"outside4", false, "203.0.113.1", up.Name()},
		{"eid6", false, "2001:db8:1::10", eid.Name()},
		{"eid6-marked", true, "2001:db8:1::10", up.Name()},
		{"outside6", false, "2001:db8:99::1", up.Name()},
	}
	for _, tt := range tests {
		send(tt.marked, tt.dst, tt.tag)
		expect(tt.tag, tt.dev)
	}
	if n := countRules(t, rtnl.DefaultRulePriority, rtnl.DefaultRulePriority+1); n != 4 {
		t.Errorf("%d rules installed, want 4 (2 per family)", n)
	}

	if err := remove(); err != nil {
		t.Fatal(err)
	}
	if n := countRules(t, rtnl.DefaultRulePriority, rtnl.DefaultRulePriority+1); n != 0 {
		t.Errorf("%d rules left after remove", n)
	}
	rs, err := rtnl.ListRoutes(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Table == rtnl.DefaultRouteTable {
			t.Errorf("route %+v left after remove", r)
		}
	}
	send(false, "198.51.100.10", "after")
	expect("after", up.Name())
	if err := remove(); err != nil {
		t.Errorf("second remove: %v", err)
	}
}

// TestNetnsPolicyRoutesLeftover: rules left by a lispd that died without
// removing them (its TUN, and the routes through it, are gone) do not stop
// the next start, and are not doubled.
func TestNetnsPolicyRoutesLeftover(t *testing.T) {
	netnstest.Enter(t) // the crashed lispd and its successor share this namespace
	old, err := OpenTUN(fmt.Sprintf("lso%06x", rand.Uint32()&0xffffff), 1400)
	if err != nil {
		t.Fatal(err)
	}
	cfg := rtnl.PolicyRoutes{Ifname: old.Name(), Prefixes: []netip.Prefix{eidSpace4, eidSpace6}, Mark: 0x4c49}
	if _, err := rtnl.AddPolicyRoutes(cfg); err != nil { // never removed: the crash
		t.Fatal(err)
	}
	old.Close()
	if n := countRules(t, rtnl.DefaultRulePriority, rtnl.DefaultRulePriority+1); n != 4 {
		t.Fatalf("%d rules after the crash, want the 4 left over", n)
	}
	next, err := OpenTUN(fmt.Sprintf("lsn%06x", rand.Uint32()&0xffffff), 1400)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { next.Close() })
	cfg.Ifname = next.Name()
	remove, err := rtnl.AddPolicyRoutes(cfg)
	if err != nil {
		t.Fatalf("start after a crash: %v", err)
	}
	if n := countRules(t, rtnl.DefaultRulePriority, rtnl.DefaultRulePriority+1); n != 4 {
		t.Errorf("%d rules after the restart, want 4", n)
	}
	if err := remove(); err != nil {
		t.Fatal(err)
	}
	if n := countRules(t, rtnl.DefaultRulePriority, rtnl.DefaultRulePriority+1); n != 0 {
		t.Errorf("%d rules left after remove", n)
	}
}

func TestNetnsPolicyRoutesErrors(t *testing.T) {
	eid := openTestTUN(t, 1400)
	cases := []rtnl.PolicyRoutes{
		{Ifname: eid.Name(), Prefixes: []netip.Prefix{eidSpace4}, Table: unix.RT_TABLE_MAIN},
		{Ifname: "lsp-no-such", Prefixes: []netip.Prefix{eidSpace4}},
		{Ifname: eid.Name(), Prefixes: []netip.Prefix{eidSpace4, {}}},
	}
	for i, c := range cases {
		if _, err := rtnl.AddPolicyRoutes(c); err == nil {
			t.Errorf("case %d: rtnl.AddPolicyRoutes succeeded", i)
		}
	}
	// The failed third case left nothing behind.
	if n := countRules(t, rtnl.DefaultRulePriority, rtnl.DefaultRulePriority+1); n != 0 {
		t.Errorf("%d rules left by a failed install", n)
	}
}

// fibRuleHdrLen is the size of struct fib_rule_hdr.
const fibRuleHdrLen = 12

// countRules counts the IPv4 and IPv6 policy rules whose priority is one
// of prios.
func countRules(t *testing.T, prios ...uint32) int {
	t.Helper()
	n := 0
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		rib, err := syscall.NetlinkRIB(unix.RTM_GETRULE, fam)
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := syscall.ParseNetlinkMessage(rib)
		if err != nil {
			t.Fatal(err)
		}
		for i := range msgs {
			m := &msgs[i]
			if m.Header.Type != unix.RTM_NEWRULE || len(m.Data) < fibRuleHdrLen {
				continue
			}
			// syscall.ParseNetlinkRouteAttr does not know rule messages.
			b := m.Data[fibRuleHdrLen:]
			for len(b) >= unix.SizeofRtAttr {
				l := int(binary.NativeEndian.Uint16(b))
				typ := binary.NativeEndian.Uint16(b[2:])
				if l < unix.SizeofRtAttr || l > len(b) {
					t.Fatalf("bad rule attribute length %d", l)
				}
				if typ == unix.FRA_PRIORITY && l == unix.SizeofRtAttr+4 {
					for _, p := range prios {
						if binary.NativeEndian.Uint32(b[unix.SizeofRtAttr:]) == p {
							n++
						}
					}
				}
				l = (l + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1)
				if l > len(b) {
					break
				}
				b = b[l:]
			}
		}
	}
	return n
}
