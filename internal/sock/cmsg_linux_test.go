package sock

import (
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A wildcard socket with EnableRecvDst reports the local address each
// datagram was sent to (which ReadFromUDPAddrPort cannot), IPv4 and IPv6,
// without allocating.
func TestReadMsgUDPAddrPortDst(t *testing.T) {
	for _, tc := range []struct{ wildcard, dst string }{
		{"0.0.0.0", "127.0.0.7"},
		{"0.0.0.0", "127.0.0.1"},
		{"::", "::1"},
	} {
		c, err := ListenUDP(netip.AddrPortFrom(netip.MustParseAddr(tc.wildcard), 0), nil)
		if err != nil {
			t.Skipf("no %s: %v", tc.wildcard, err)
		}
		defer c.Close()
		if err := c.EnableRecvDst(); err != nil {
			t.Fatal(err)
		}
		dst := netip.MustParseAddr(tc.dst)
		peer, err := ListenUDP(netip.AddrPortFrom(dst, 0), nil)
		if err != nil {
			t.Skipf("no %s: %v", dst, err)
		}
		defer peer.Close()
		to := netip.AddrPortFrom(dst, c.LocalAddr().Port())
		b := make([]byte, 64)
		probe := []byte("probe")
		var got netip.Addr
		var from netip.AddrPort
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if a := testing.AllocsPerRun(50, func() {
			if _, err := peer.WriteToUDPAddrPort(probe, to); err != nil {
				t.Fatal(err)
			}
			var n int
			if n, from, got, err = c.ReadMsgUDPAddrPort(b); err != nil || string(b[:n]) != "probe" {
				t.Fatalf("read %q, %v", b[:n], err)
			}
		}); a != 0 {
			t.Errorf("%s: %.1f allocations per receive, want 0", tc.dst, a)
		}
		if got != dst || from != peer.LocalAddr() {
			t.Errorf("datagram to %v from %v: got destination %v from %v", dst, peer.LocalAddr(), got, from)
		}
		// Without EnableRecvDst there is no destination.
		c2, err := ListenUDP(netip.AddrPortFrom(netip.MustParseAddr(tc.wildcard), 0), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		if _, err := peer.WriteToUDPAddrPort([]byte("x"), netip.AddrPortFrom(dst, c2.LocalAddr().Port())); err != nil {
			t.Fatal(err)
		}
		c2.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, d, err := c2.ReadMsgUDPAddrPort(b); err != nil || d.IsValid() {
			t.Errorf("without EnableRecvDst: destination %v, %v; want none", d, err)
		}
	}
}

// cmsgBuf returns control data of one message (level, typ, data) in an
// aligned buffer, as the kernel lays it out.
func cmsgBuf(level, typ int32, data []byte) []byte {
	buf := make([]uint64, (unix.CmsgSpace(len(data))+7)/8)
	b := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), unix.CmsgSpace(len(data)))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(len(data)))
	copy(b[cmsgHdrLen:], data)
	return b
}

func TestPktinfoDst(t *testing.T) {
	v4 := make([]byte, unix.SizeofInet4Pktinfo)
	copy(v4[4:8], []byte{192, 0, 2, 99}) // spec_dst: not the destination
	copy(v4[8:12], []byte{192, 0, 2, 1})
	v6 := make([]byte, unix.SizeofInet6Pktinfo)
	a6 := netip.MustParseAddr("2001:db8::1").As16()
	copy(v6, a6[:])
	mapped := make([]byte, unix.SizeofInet6Pktinfo)
	m := netip.MustParseAddr("::ffff:198.51.100.1").As16()
	copy(mapped, m[:])
	tos := cmsgBuf(unix.IPPROTO_IP, unix.IP_TOS, []byte{0xb8})
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"ipv4", cmsgBuf(unix.IPPROTO_IP, unix.IP_PKTINFO, v4), "192.0.2.1"},
		{"ipv6", cmsgBuf(unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, v6), "2001:db8::1"},
		{"mapped", cmsgBuf(unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, mapped), "198.51.100.1"},
		{"after another", append(append([]byte(nil), tos...), cmsgBuf(unix.IPPROTO_IP, unix.IP_PKTINFO, v4)...), "192.0.2.1"},
		{"short", cmsgBuf(unix.IPPROTO_IP, unix.IP_PKTINFO, v4[:8]), ""},
		{"none", tos, ""},
		{"truncated", cmsgBuf(unix.IPPROTO_IP, unix.IP_PKTINFO, v4)[:cmsgHdrLen+4], ""},
		{"empty", nil, ""},
	}
	for _, tt := range tests {
		got := pktinfoDst(tt.b)
		if (tt.want == "" && got.IsValid()) || (tt.want != "" && got != netip.MustParseAddr(tt.want)) {
			t.Errorf("%s: destination %v, want %q", tt.name, got, tt.want)
		}
	}
}

// FuzzNextCmsg feeds arbitrary control data to the walk: it must never
// panic, read past the buffer or fail to shrink it.
func FuzzNextCmsg(f *testing.F) {
	f.Add([]byte{})
	f.Add(cmsgBuf(unix.IPPROTO_IP, unix.IP_PKTINFO, make([]byte, unix.SizeofInet4Pktinfo)))
	f.Add(cmsgBuf(unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, make([]byte, unix.SizeofInet6Pktinfo))[:cmsgHdrLen+3])
	f.Fuzz(func(t *testing.T, data []byte) {
		buf := make([]uint64, (len(data)+7)/8+1)
		b := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), len(data))
		copy(b, data)
		for range len(b) + 1 {
			_, _, _, rest, ok := NextCmsg(b)
			if !ok {
				break
			}
			if len(rest) >= len(b) {
				t.Fatalf("rest of %d bytes from %d", len(rest), len(b))
			}
			b = rest
		}
		pktinfoDst(b)
	})
}
