package msg

import "fmt"

// MapReply is a Map-Reply (type 2, RFC 9301 section 5.4). A negative
// Map-Reply is one whose records have no locators (see Record.Action).
type MapReply struct {
	Probe     bool // P: reply to an RLOC-probe
	EchoNonce bool // E: echo-nonce locator reachability algorithm enabled
	Security  bool // S: LISP-SEC capable
	Nonce     uint64
	Records   []Record
}

// Type returns TypeMapReply.
func (m *MapReply) Type() Type { return TypeMapReply }

// Decode fills m from the Map-Reply in b.
func (m *MapReply) Decode(b []byte) error {
	r := reader{b: b, msg: "Map-Reply"}
	if err := r.need(12, "header"); err != nil {
		return err
	}
	if t := Type(b[0] >> 4); t != TypeMapReply {
		return r.fail("Type", 0, fmt.Errorf("%w: %v", ErrWrongType, t))
	}
	m.Probe = b[0]&0x08 != 0
	m.EchoNonce = b[0]&0x04 != 0
	m.Security = b[0]&0x02 != 0
	n := int(b[3])
	r.off = 4
	m.Nonce, _ = r.u64("Nonce")
	var err error
	if m.Records, err = r.decodeRecords(m.Records, n); err != nil {
		return err
	}
	return r.end()
}

// Append appends the encoded Map-Reply to b.
func (m *MapReply) Append(b []byte) []byte {
	b = append(b, uint8(TypeMapReply)<<4|boolBit(m.Probe, 0x08)|boolBit(m.EchoNonce, 0x04)|boolBit(m.Security, 0x02),
		0, 0, uint8(clamp255(len(m.Records))))
	b = appendU64(b, m.Nonce)
	return appendRecords(b, m.Records)
}
