package msg

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// TestTruncationAndTrailing: every strict prefix of every control vector is
// rejected with an *Error, and one extra byte is ErrTrailing.
func TestTruncationAndTrailing(t *testing.T) {
	for _, c := range benchCases(t) {
		for n := 0; n < len(c.wire); n++ {
			err := c.msg.Decode(c.wire[:n])
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%s cut to %d bytes: Decode = %v, want *Error", c.name, n, err)
			}
			if e.Offset < 0 || e.Offset > n || e.Field == "" {
				t.Errorf("%s cut to %d: bad error position: %v", c.name, n, err)
			}
		}
		err := c.msg.Decode(append(bytes.Clone(c.wire), 0))
		if !errors.Is(err, ErrTrailing) {
			t.Errorf("%s + 1 byte: Decode = %v, want ErrTrailing", c.name, err)
		}
	}
}

func TestWrongType(t *testing.T) {
	for _, c := range benchCases(t) {
		w := bytes.Clone(c.wire)
		w[0] = 0xf0 | w[0]&0x0f
		if err := c.msg.Decode(w); !errors.Is(err, ErrWrongType) {
			t.Errorf("%s with type 15: %v, want ErrWrongType", c.name, err)
		}
	}
	if _, err := PeekType(nil); err == nil {
		t.Error("PeekType(nil) succeeded")
	}
	if _, err := New(TypeMapReferral); err == nil {
		t.Error("New(Map-Referral) succeeded")
	}
}

// TestUnknownLCAFSkipped: an LCAF of an uninterpreted type (as EID and as
// locator) is skipped by its length and kept verbatim, not rejected.
func TestUnknownLCAFSkipped(t *testing.T) {
	// Geo-Coordinates (type 5) locator with 4 opaque body bytes, then a
	// plain IPv4 locator; source/dest (type 12) EID.
	geo := "4003" + "00000500" + "0004" + "deadbeef"
	srcdst := "4003" + "00000c00" + "0010" + "0000" + "1018" + "0001" + "0a000000" + "0001" + "0a010000"
	wire := unhex(t, "20000001"+"0102030405060708"+
		"0000003c"+"02"+"18"+"1000"+"0000"+srcdst+
		"01640000"+"0001"+geo+
		"01640000"+"0005"+"0001"+"c6336401")
	var m MapReply
	if err := m.Decode(wire); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	r := m.Records[0]
	if hex.EncodeToString(r.EID.Raw) != srcdst || r.EID.RawMaskLen != 24 {
		t.Errorf("EID %+v", r.EID)
	}
	if hex.EncodeToString(r.Locators[0].Addr.Raw) != geo {
		t.Errorf("locator 0 %+v", r.Locators[0].Addr)
	}
	if r.Locators[1].Addr.IP != netip.MustParseAddr("198.51.100.1") || !r.Locators[1].Local || !r.Locators[1].Reachable {
		t.Errorf("locator 1 %+v", r.Locators[1])
	}
	if enc := m.Append(nil); !bytes.Equal(enc, wire) {
		t.Errorf("re-encoded\n %x\nwant\n %x", enc, wire)
	}
	// An LCAF length running past the message is still an error.
	bad := bytes.Clone(wire)
	i := bytes.Index(bad, unhex(t, geo))
	bad[i+6], bad[i+7] = 0xff, 0xff // geo LCAF length
	if err := m.Decode(bad); err == nil {
		t.Error("LCAF length past the end accepted")
	}
}

func TestLocatorFlagsAndIPv6(t *testing.T) {
	m := &MapReply{EchoNonce: true, Security: true, Nonce: 1, Records: []Record{{
		TTL: 1, Action: ActDrop, MapVersion: 0xabc, EID: eid(0xffffff, "2001:db8:85a3::8a2e:370:7334/80"),
		Locators: []Locator{
			{Priority: 255, Weight: 0, MPriority: 1, MWeight: 2, Local: true, Probed: true, Reachable: true, Addr: AddrOf(ip("::ffff:192.0.2.1"))},
			{Probed: true, Addr: Address{NAT: &NATTraversal{MSPort: 1, ETRPort: 2, GlobalETR: ip("192.0.2.9")}}},
		},
	}}}
	wire := m.Append(nil)
	if !strings.Contains(hex.EncodeToString(wire), "ff00010200070002"+"00000000000000000000ffffc0000201") {
		t.Errorf("locator flags/IPv4-mapped AFI not as expected: %x", wire)
	}
	var got MapReply
	if err := got.Decode(wire); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&got, m) {
		t.Errorf("round trip\n %+v\nwant\n %+v", got, m)
	}
	if got.Records[0].EID.Prefix.String() != "2001:db8:85a3::8a2e:370:7334/80" {
		t.Errorf("host bits not kept: %v", got.Records[0].EID)
	}
}

func TestECMRejectsBadInnerHeaders(t *testing.T) {
	req := &MapRequest{Nonce: 9, ITRRLOCs: addrs("192.0.2.1"), EIDs: []EID{eid(0, "10.1.0.0/24")}}
	good := (&ECM{Src: ap("192.0.2.1:1000"), Dst: ap("10.1.0.5:4342"), Message: req.Append(nil)}).Append(nil)
	var e ECM
	if err := e.Decode(good); err != nil || e.TTL != 64 || e.Src.Port() != 1000 {
		t.Fatalf("good ECM: %v %+v", err, e)
	}
	for _, tc := range []struct {
		name  string
		off   int
		field string
	}{
		{"IPv4 header checksum", 4 + 10, "inner IPv4 header checksum"},
		{"UDP checksum", 4 + 20 + 6, "inner UDP checksum"},
		{"UDP length", 4 + 20 + 5, "inner UDP length"},
		{"protocol", 4 + 9, "inner IPv4 protocol"},
	} {
		bad := bytes.Clone(good)
		bad[tc.off] ^= 0x01
		err := e.Decode(bad)
		var me *Error
		if !errors.As(err, &me) || !strings.HasPrefix(me.Field, tc.field) {
			t.Errorf("%s corrupted: %v, want field %q", tc.name, err, tc.field)
		}
	}
}

func TestAlgByName(t *testing.T) {
	for name, want := range map[string]Alg{"sha1": AlgHMACSHA1, "sha256": AlgHMACSHA256} {
		if got, err := AlgByName(name); err != nil || got != want || got.String() != name {
			t.Errorf("AlgByName(%q) = %v, %v", name, got, err)
		}
	}
	if _, err := AlgByName("md5"); err == nil {
		t.Error("md5 accepted")
	}
	if AlgHMACSHA1.DigestLen() != 20 || AlgHMACSHA256.DigestLen() != 32 {
		t.Error("digest lengths")
	}
}
