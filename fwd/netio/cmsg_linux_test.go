package netio

import (
	"net/netip"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sendCmsg builds control data with buildSendCmsg into an aligned buffer.
func sendCmsg(v6 bool, m *Message) []byte {
	buf := make([]uint64, ctrlSlot/8)
	b := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), ctrlSlot)
	return b[:buildSendCmsg(b, v6, m)]
}

// TestCmsgRoundTrip checks that what buildSendCmsg writes parses back, with
// the kernel's cmsg layout of this architecture.
func TestCmsgRoundTrip(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		in := Message{TOS: 0xb9, TTL: 17}
		b := sendCmsg(v6, &in)
		if len(b) != 2*unix.CmsgSpace(4) {
			t.Fatalf("v6=%v: %d bytes of control data, want %d", v6, len(b), 2*unix.CmsgSpace(4))
		}
		if !v6 {
			b[cmsgHdrLen] = 0xb9 // the kernel sends IP_TOS as one byte
		}
		var out Message
		var drops uint32
		var have bool
		parseRecvCmsg(b, &out, &drops, &have)
		if out.TOS != in.TOS || out.TTL != in.TTL || have {
			t.Errorf("v6=%v: parsed TOS %#x TTL %d drops %v, want %#x %d none", v6, out.TOS, out.TTL, have, in.TOS, in.TTL)
		}
	}
	if n := len(sendCmsg(false, &Message{})); n != 0 {
		t.Errorf("no TOS/TTL/Src: %d bytes of control data, want 0", n)
	}
}

// FuzzParseRecvCmsg feeds arbitrary control data to the parser: it must never
// panic or read past the buffer.
func FuzzParseRecvCmsg(f *testing.F) {
	f.Add([]byte{})
	f.Add(sendCmsg(false, &Message{TOS: 1, TTL: 2}))
	f.Add(sendCmsg(true, &Message{TOS: 1, TTL: 2}))
	f.Add(sendCmsg(true, &Message{TOS: 1, TTL: 2})[:unix.CmsgSpace(4)+3])
	f.Fuzz(func(t *testing.T, data []byte) {
		buf := make([]uint64, (len(data)+7)/8+1)
		b := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), len(data))
		copy(b, data)
		var m Message
		var drops uint32
		var have bool
		parseRecvCmsg(b, &m, &drops, &have)
	})
}

// TestCmsgPktinfo: Src and IfIndex go into one IP_PKTINFO / IPV6_PKTINFO,
// either alone too (the kernel's choice for the other).
func TestCmsgPktinfo(t *testing.T) {
	v4, v6 := netip.MustParseAddr("192.0.2.11"), netip.MustParseAddr("2001:db8::11")
	tests := []struct {
		v6  bool
		m   Message
		src netip.Addr
		idx int
	}{
		{false, Message{Src: v4, IfIndex: 7}, v4, 7},
		{false, Message{IfIndex: 3}, netip.IPv4Unspecified(), 3},
		{false, Message{Src: v4}, v4, 0},
		{true, Message{Src: v6, IfIndex: 9}, v6, 9},
		{true, Message{IfIndex: 4}, netip.IPv6Unspecified(), 4},
	}
	for _, tt := range tests {
		b := sendCmsg(tt.v6, &tt.m)
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		d := unsafe.Pointer(&b[cmsgHdrLen])
		var src netip.Addr
		var idx int
		if tt.v6 {
			if h.Level != unix.IPPROTO_IPV6 || h.Type != unix.IPV6_PKTINFO || len(b) != unix.CmsgSpace(unix.SizeofInet6Pktinfo) {
				t.Fatalf("%+v: header %+v, %d bytes", tt.m, *h, len(b))
			}
			pi := (*unix.Inet6Pktinfo)(d)
			src, idx = netip.AddrFrom16(pi.Addr), int(pi.Ifindex)
		} else {
			if h.Level != unix.IPPROTO_IP || h.Type != unix.IP_PKTINFO || len(b) != unix.CmsgSpace(unix.SizeofInet4Pktinfo) {
				t.Fatalf("%+v: header %+v, %d bytes", tt.m, *h, len(b))
			}
			pi := (*unix.Inet4Pktinfo)(d)
			src, idx = netip.AddrFrom4(pi.Spec_dst), int(pi.Ifindex)
		}
		if src != tt.src || idx != tt.idx {
			t.Errorf("%+v: pktinfo source %v ifindex %d, want %v %d", tt.m, src, idx, tt.src, tt.idx)
		}
	}
}
