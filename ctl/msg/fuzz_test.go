package msg

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/lispd/lispd/testing/tshark"
)

// seedCorpus returns every LISP control payload the tests know: the vectors
// (positive and negative), the tcpdump captures and our encoder's packets.
func seedCorpus(f *testing.F) [][]byte {
	f.Helper()
	var seeds [][]byte
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		f.Fatal(err)
	}
	var vf vectorFile
	if err := json.Unmarshal(b, &vf); err != nil {
		f.Fatal(err)
	}
	for _, v := range append(vf.Positive, vf.Negative...) {
		p, err := hex.DecodeString(v.Payload)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, p)
	}
	pcaps, _ := filepath.Glob("testdata/tcpdump/*.pcap")
	for _, p := range pcaps {
		link, pkts, err := tshark.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, pkt := range pkts {
			if d, err := tshark.ParseUDP(link, pkt.Data); err == nil {
				seeds = append(seeds, d.Payload)
			}
		}
	}
	for _, p := range encoderPackets(f) {
		seeds = append(seeds, p.payload)
	}
	// Shapes other implementations send that our encoder does not: an
	// RFC 9437 subscribe Map-Request (xTR-ID after the records) and R-bit
	// Map-Notifies with the MS-RTR authentication in both forms.
	return append(seeds, unhexSpaced(f, subscribeRequest), notifyRTR(f, false), notifyRTR(f, true))
}

// fuzzDecoder checks that decoding never panics, and that where b decodes,
// encoding is stable: decode(b) -> e1 decodes again and re-encodes to e1.
func fuzzDecoder(f *testing.F, newMsg func() Message) {
	for _, s := range seedCorpus(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m := newMsg()
		if err := m.Decode(b); err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Decode error %T is not *Error: %v", err, err)
			}
			return
		}
		_ = Verify(b, key) // must not panic either
		if e, ok := m.(*ECM); ok {
			// The inner message goes through its own decoder.
			if typ, err := PeekType(e.Message); err == nil {
				if inner, err := New(typ); err == nil {
					_ = inner.Decode(e.Message)
				}
			}
		}
		e1 := m.Append(nil)
		m2 := newMsg()
		if err := m2.Decode(e1); err != nil {
			t.Fatalf("re-decode of our encoding failed: %v\ninput %x\nenc   %x", err, b, e1)
		}
		if e2 := m2.Append(nil); !bytes.Equal(e1, e2) {
			t.Fatalf("unstable encoding\ninput %x\ne1    %x\ne2    %x", b, e1, e2)
		}
		// Reusing the first struct gives the same result as a fresh one.
		if err := m.Decode(e1); err != nil {
			t.Fatalf("reused struct: %v", err)
		}
		if e3 := m.Append(nil); !bytes.Equal(e1, e3) {
			t.Fatalf("reused struct encodes differently\ne1 %x\ne3 %x", e1, e3)
		}
	})
}

func FuzzMapRequest(f *testing.F)  { fuzzDecoder(f, func() Message { return new(MapRequest) }) }
func FuzzMapReply(f *testing.F)    { fuzzDecoder(f, func() Message { return new(MapReply) }) }
func FuzzMapRegister(f *testing.F) { fuzzDecoder(f, func() Message { return new(MapRegister) }) }
func FuzzMapNotify(f *testing.F)   { fuzzDecoder(f, func() Message { return new(MapNotify) }) }
func FuzzECM(f *testing.F)         { fuzzDecoder(f, func() Message { return new(ECM) }) }
func FuzzInfo(f *testing.F)        { fuzzDecoder(f, func() Message { return new(Info) }) }

// FuzzAuth checks Sign and Verify on arbitrary bytes: no panic, and a
// message Sign accepts then verifies.
func FuzzAuth(f *testing.F) {
	for _, s := range seedCorpus(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = Verify(b, key)
		c := append([]byte(nil), b...)
		if err := Sign(c, key); err != nil {
			return
		}
		if err := Verify(c, key); err != nil {
			t.Fatalf("Verify after Sign: %v", err)
		}
	})
}
