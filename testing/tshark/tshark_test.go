package tshark

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"path/filepath"
	"testing"
	"time"
)

// mapRequest is vectors.md #10 (Map-Request, IRC=1, 10.1.0.0/24).
const mapRequestHex = "10000101010203040506070800010a0200010001c0000201000220010db8000000000000000000000001001800010a010000"

// frameHex and frame6Hex are the whole Ethernet frames of vectors #10 and #13
// (vectors.json frame_hex), built by an independent generator.
const (
	frameHex  = "02000000000202000000000108004500004e1234400040112a5fc0000201cb00710ae00110f6003aeb83" + mapRequestHex
	frame6Hex = "02000000000202000000000186dd60000000003a114020010db800000000000000000000000120010db8000000000000000000000010e00310f6003a8e0b" + mapRequestHex
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUDPFrameMatchesVector(t *testing.T) {
	payload := mustHex(t, mapRequestHex)
	got, err := UDPFrame(netip.MustParseAddrPort("192.0.2.1:57345"), netip.MustParseAddrPort("203.0.113.10:4342"), payload)
	if err != nil {
		t.Fatal(err)
	}
	if want := mustHex(t, frameHex); !bytes.Equal(got, want) {
		t.Fatalf("IPv4 frame\n got %x\nwant %x", got, want)
	}
	got6, err := UDPFrame(netip.MustParseAddrPort("[2001:db8::1]:57347"), netip.MustParseAddrPort("[2001:db8::10]:4342"), payload)
	if err != nil {
		t.Fatal(err)
	}
	if want := mustHex(t, frame6Hex); !bytes.Equal(got6, want) {
		t.Fatalf("IPv6 frame\n got %x\nwant %x", got6, want)
	}
	ip := got[14:]
	if Checksum(ip[:20], 0) != 0 {
		t.Errorf("IPv4 header checksum does not verify")
	}
	udp := ip[20:]
	if Checksum(udp, pseudoSum(netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("203.0.113.10"), len(udp))) != 0 {
		t.Errorf("UDP checksum does not verify")
	}
}

func TestUDPPacketIPv6Checksum(t *testing.T) {
	src, dst := netip.MustParseAddrPort("[2001:db8::1]:57347"), netip.MustParseAddrPort("[2001:db8::10]:4342")
	p, err := UDPPacket(src, dst, []byte("hello, odd length"))
	if err != nil {
		t.Fatal(err)
	}
	if p[0]>>4 != 6 || len(p) != 40+8+17 {
		t.Fatalf("bad IPv6 packet %x", p)
	}
	if Checksum(p[40:], pseudoSum(src.Addr(), dst.Addr(), len(p)-40)) != 0 {
		t.Errorf("UDP checksum does not verify")
	}
	d, err := ParseUDP(LinkTypeRaw, p)
	if err != nil {
		t.Fatal(err)
	}
	if d.Src != src || d.Dst != dst || string(d.Payload) != "hello, odd length" || d.Truncated {
		t.Errorf("ParseUDP = %+v", d)
	}
	if _, err := UDPPacket(src, netip.MustParseAddrPort("192.0.2.1:1"), nil); err == nil {
		t.Error("mixed families accepted")
	}
}

func TestPcapRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	frames := [][]byte{mustHex(t, frameHex), {1, 2, 3}}
	ts := time.Unix(1700000000, 123456000)
	for _, f := range frames {
		if err := w.WritePacket(ts, f); err != nil {
			t.Fatal(err)
		}
	}
	r, err := NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != LinkTypeEthernet {
		t.Errorf("link type %d", r.LinkType())
	}
	for i, f := range frames {
		p, err := r.Next()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if !bytes.Equal(p.Data, f) || p.OrigLen != len(f) || !p.Time.Equal(ts) {
			t.Errorf("record %d = %+v", i, p)
		}
	}
	if _, err := r.Next(); err == nil {
		t.Error("no EOF after last record")
	}
	if _, err := NewReader(bytes.NewReader(make([]byte, 24))); err == nil {
		t.Error("zero magic accepted")
	}
}

func TestCheckAndFields(t *testing.T) {
	Require(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.pcap")
	fr, err := UDPFrame(netip.MustParseAddrPort("192.0.2.1:57345"), netip.MustParseAddrPort("203.0.113.10:4342"), mustHex(t, mapRequestHex))
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(good, LinkTypeEthernet, [][]byte{fr}); err != nil {
		t.Fatal(err)
	}
	Check(t, good)
	rows := Fields(t, good, "lisp", []string{"frame.number", "lisp.nonce", "lisp.irc", "frame.number"})
	if len(rows) != 1 || rows[0][0] != "1" || rows[0][1] != "0x0102030405060708" || rows[0][2] != "1" || rows[0][3] != "1" {
		t.Errorf("Fields rows = %q", rows)
	}

	// A frame with trailing bytes after the Map-Request, and one with a bad
	// UDP checksum, must both be flagged.
	trailing, _ := UDPFrame(netip.MustParseAddrPort("192.0.2.1:57345"), netip.MustParseAddrPort("203.0.113.10:4342"), append(mustHex(t, mapRequestHex), 0xde, 0xad))
	badsum := append([]byte(nil), fr...)
	badsum[14+20+6] ^= 0xff
	bad := filepath.Join(dir, "bad.pcap")
	if err := WriteFile(bad, LinkTypeEthernet, [][]byte{fr, trailing, badsum}); err != nil {
		t.Fatal(err)
	}
	rows = Fields(t, bad, CheckFilter, []string{"frame.number"})
	if len(rows) != 2 || rows[0][0] != "2" || rows[1][0] != "3" {
		t.Errorf("check filter flagged %q, want frames 2 and 3", rows)
	}
	ft := &fakeTB{TB: t}
	Check(ft, bad)
	if !ft.failed {
		t.Error("Check did not fail on a bad capture")
	}
}

// fakeTB records failures instead of failing the real test.
type fakeTB struct {
	testing.TB
	failed bool
}

func (f *fakeTB) Helper()                           {}
func (f *fakeTB) Errorf(format string, args ...any) { f.failed = true }
