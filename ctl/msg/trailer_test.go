package msg

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// unhexSpaced decodes hex written with spaces and newlines.
func unhexSpaced(t testing.TB, s string) []byte {
	return unhex(t, strings.Join(strings.Fields(s), ""))
}

// subscribeRequest is a Map-Request as a Cisco IOS-XE xTR sends it to
// subscribe (RFC 9437): I bit (second byte 0x10), Source-EID 10.2.0.1 in
// instance 4100, one ITR-RLOC, one EID-record with the N bit
// (notification requested) in its reserved byte, then the xTR-ID and the
// site-ID. Written by hand from the RFC's figure, not by our encoder.
const subscribeRequest = `
	10 10 00 01  01 02 03 04 05 06 07 08
	40 03 00 00 02 00 00 0a 00 00 10 04 00 01 0a 02 00 01
	00 01 c0 00 02 01
	80 18 40 03 00 00 02 00 00 0a 00 00 10 04 00 01 0a 01 00 00
	00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff
	00 00 00 00 00 00 00 07`

func TestMapRequestXTRID(t *testing.T) {
	b := unhexSpaced(t, subscribeRequest)
	var m MapRequest
	if err := m.Decode(b); err != nil {
		t.Fatalf("subscribe Map-Request: %v", err)
	}
	wantID := [XTRIDLen]byte{0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
	if !m.HasXTRID || m.XTRID != wantID || m.SiteID != 7 {
		t.Errorf("xTR-ID %v %x site-ID %d", m.HasXTRID, m.XTRID, m.SiteID)
	}
	if len(m.EIDs) != 1 || m.EIDs[0].IID != 4100 || m.EIDs[0].Prefix != pfx("10.1.0.0/24") || m.SourceEID.IID != 4100 || len(m.ITRRLOCs) != 1 || m.ITRRLOCs[0].IP != ip("192.0.2.1") {
		t.Errorf("decoded %+v", m)
	}
	// Our encoder writes it back the same, but for the N bit (not kept).
	want := append([]byte(nil), b...)
	want[36] = 0
	if got := m.Append(nil); !bytes.Equal(got, want) {
		t.Errorf("re-encoded\n%x\nwant\n%x", got, want)
	}
	// Without the I bit the IDs are trailing bytes; a cut one is truncated.
	noI := append([]byte(nil), b...)
	noI[1] = 0
	if err := m.Decode(noI); !errors.Is(err, ErrTrailing) {
		t.Errorf("without I bit: %v, want ErrTrailing", err)
	}
	if err := m.Decode(b[:len(b)-1]); !errors.Is(err, ErrTruncated) {
		t.Errorf("cut site-ID: %v, want ErrTruncated", err)
	}
	// Decoding into a used struct clears the IDs.
	plain := MapRequest{Nonce: 1, ITRRLOCs: addrs("192.0.2.1"), EIDs: []EID{eid(0, "10.1.0.0/24")}}
	m.Decode(b)
	if err := m.Decode(plain.Append(nil)); err != nil || m.HasXTRID || m.SiteID != 0 || m.XTRID != ([XTRIDLen]byte{}) {
		t.Errorf("reused: %v %+v", err, m)
	}
}

// notifyRTR is a Map-Notify with the I and R bits (NAT traversal: built for
// an RTR), SHA-1 authentication zeroed, one record, xTR-ID, site-ID and the
// MS-RTR authentication trailer (its Key ID 1, 20 bytes of data).
func notifyRTR(t testing.TB, adType bool) []byte {
	t.Helper()
	n := MapNotify{ForRTR: true, Nonce: 0x1122334455667791, Alg: AlgHMACSHA1, Records: registered(eid(0, "10.1.0.0/24")), HasXTRID: true, XTRID: [XTRIDLen]byte{1}, SiteID: 7}
	n.ForRTR = false // our encoder's part: header to xTR-ID
	b := n.Append(nil)
	b[0] |= 0x04
	if adType {
		b = append(b, adTypeRTRAuth<<3, 0, 0, 0)
	}
	b = append(b, 0x00, 0x01, 0x00, 20)
	return append(b, bytes.Repeat([]byte{0xab}, 20)...)
}

func TestMapNotifyRTRTrailer(t *testing.T) {
	plain := MapNotify{ForRTR: true, Nonce: 1, Alg: AlgHMACSHA1, Records: registered(eid(0, "10.1.0.0/24"))}
	noTrailer := plain.Append(nil)
	noTrailer = noTrailer[:len(noTrailer)-4] // an R bit with nothing after the records
	tests := []struct {
		name    string
		b       []byte
		keyID   uint16
		authLen int
	}{
		{"draft (Wireshark) form", notifyRTR(t, false), 1, 20},
		{"AD-Type header (OOR) form", notifyRTR(t, true), 1, 20},
		{"R bit without trailer", noTrailer, 0, 0},
	}
	for _, tt := range tests {
		var m MapNotify
		if err := m.Decode(tt.b); err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !m.ForRTR || m.MSRTRKeyID != tt.keyID || len(m.MSRTRAuth) != tt.authLen || len(m.Records) != 1 {
			t.Errorf("%s: decoded %+v", tt.name, m)
		}
		// Our encoding (the draft form) decodes to the same.
		var m2 MapNotify
		if err := m2.Decode(m.Append(nil)); err != nil || m2.MSRTRKeyID != m.MSRTRKeyID || !bytes.Equal(m2.MSRTRAuth, m.MSRTRAuth) || m2.XTRID != m.XTRID {
			t.Errorf("%s: round trip %v %+v", tt.name, err, m2)
		}
	}
	if got := notifyRTR(t, false); !bytes.Equal(func() []byte { var m MapNotify; m.Decode(got); return m.Append(nil) }(), got) {
		t.Error("draft form does not round-trip byte for byte")
	}
	// A trailer that does not add up is an error, not silently ignored.
	bad := notifyRTR(t, false)
	if err := new(MapNotify).Decode(bad[:len(bad)-1]); !errors.Is(err, ErrTruncated) {
		t.Errorf("cut MS-RTR data: %v, want ErrTruncated", err)
	}
	if err := new(MapNotify).Decode(append(bad, 0)); !errors.Is(err, ErrTrailing) {
		t.Errorf("byte after MS-RTR data: %v, want ErrTrailing", err)
	}
	// Without the R bit, the same bytes are trailing.
	bad[0] &^= 0x04
	if err := new(MapNotify).Decode(bad); !errors.Is(err, ErrTrailing) {
		t.Errorf("no R bit: %v, want ErrTrailing", err)
	}
}
