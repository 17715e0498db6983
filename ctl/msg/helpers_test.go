package msg

import (
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"os"
	"testing"
)

// key is the authentication key of the vectors (vectors.json "key").
var key = []byte("secret")

type vector struct {
	Name    string `json:"name"`
	Src     string `json:"src"`
	Dst     string `json:"dst"`
	Sport   uint16 `json:"sport"`
	Dport   uint16 `json:"dport"`
	Payload string `json:"udp_payload_hex"`
	Frame   string `json:"frame_hex"`
	HMAC    string `json:"hmac_hex"`
}

type vectorFile struct {
	Key      string   `json:"key"`
	Positive []vector `json:"positive"`
	Negative []vector `json:"negative"`
}

func loadVectors(t testing.TB) vectorFile {
	t.Helper()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vf vectorFile
	if err := json.Unmarshal(b, &vf); err != nil {
		t.Fatal(err)
	}
	if vf.Key != string(key) {
		t.Fatalf("vectors key %q, tests use %q", vf.Key, key)
	}
	return vf
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pfx(s string) netip.Prefix    { return netip.MustParsePrefix(s) }
func ip(s string) netip.Addr       { return netip.MustParseAddr(s) }
func ap(s string) netip.AddrPort   { return netip.MustParseAddrPort(s) }
func eid(iid uint32, p string) EID { return EID{IID: iid, Prefix: pfx(p)} }
func srcEID(a string) EID          { x := ip(a); return EID{Prefix: netip.PrefixFrom(x, x.BitLen())} }
func addrs(ss ...string) []Address {
	var out []Address
	for _, s := range ss {
		out = append(out, AddrOf(ip(s)))
	}
	return out
}

// standard locator of the vectors: priority 1, weight w, M priority 255,
// M weight 0.
func loc(a string, prio, weight uint8, local bool) Locator {
	return Locator{Priority: prio, Weight: weight, MPriority: 255, Local: local, Reachable: true, Addr: AddrOf(ip(a))}
}

// registered is the record of the Map-Register / Map-Notify vectors.
func registered(e EID) []Record {
	return []Record{{TTL: 1440, Authoritative: true, EID: e, Locators: []Locator{loc("198.51.100.1", 1, 100, true)}}}
}
