package msg_test

import (
	"fmt"
	"net/netip"

	"github.com/lispd/lispd/ctl/msg"
)

// An ETR builds, signs and sends a Map-Register; the Map-Server decodes and
// verifies it.
func Example() {
	key := []byte("secret")
	alg, _ := msg.AlgByName("sha256")
	reg := msg.MapRegister{
		WantMapNotify: true,
		Nonce:         0x1122334455667788,
		Alg:           alg,
		Records: []msg.Record{{
			TTL:           1440, // minutes
			Authoritative: true,
			EID:           msg.EIDOf(0, netip.MustParsePrefix("10.1.0.0/24")),
			Locators: []msg.Locator{{
				Priority: 1, Weight: 100, MPriority: 255, Local: true, Reachable: true,
				Addr: msg.AddrOf(netip.MustParseAddr("198.51.100.1")),
			}},
		}},
	}
	wire := reg.Append(make([]byte, 0, 1500))
	if err := msg.Sign(wire, key); err != nil {
		panic(err)
	}

	// Map-Server side.
	typ, _ := msg.PeekType(wire)
	var got msg.MapRegister
	if err := got.Decode(wire); err != nil {
		panic(err)
	}
	fmt.Println(typ, got.Records[0].EID, got.Records[0].Locators[0].Addr, msg.Verify(wire, key) == nil)
	// Output: Map-Register 10.1.0.0/24 198.51.100.1 true
}
