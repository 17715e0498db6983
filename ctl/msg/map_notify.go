package msg

import "fmt"

// MapNotify is a Map-Notify (type 4) or, with Ack set, a Map-Notify-Ack
// (type 5) (RFC 9301 section 5.7). Both carry the records of the
// Map-Register they acknowledge and are authenticated like it.
type MapNotify struct {
	Ack bool // type 5 (Map-Notify-Ack) instead of 4
	// ForRTR is the R bit: built for an RTR (NAT traversal).
	ForRTR bool
	// WantMapNotify is the M bit at its Map-Register position (third byte,
	// 0x01): RFC 6830 Map-Notifies "have the same contents as a
	// Map-Register", and implementations such as OOR copy it.
	WantMapNotify bool
	Nonce         uint64
	KeyID         uint8
	Alg           Alg
	AuthData      []byte // see MapRegister.AuthData
	Records       []Record
	// HasXTRID (the I bit, as tcpdump and Wireshark decode it) says XTRID
	// and SiteID follow the records.
	HasXTRID bool
	XTRID    [XTRIDLen]byte
	SiteID   uint64
}

// Type returns TypeMapNotify, or TypeMapNotifyAck when Ack is set.
func (m *MapNotify) Type() Type {
	if m.Ack {
		return TypeMapNotifyAck
	}
	return TypeMapNotify
}

// Decode fills m from the Map-Notify or Map-Notify-Ack in b. It does not
// check the authentication data: use Verify on b.
func (m *MapNotify) Decode(b []byte) error {
	r := reader{b: b, msg: "Map-Notify"}
	if err := r.need(16, "header"); err != nil {
		return err
	}
	switch t := Type(b[0] >> 4); t {
	case TypeMapNotify:
		m.Ack = false
	case TypeMapNotifyAck:
		m.Ack = true
		r.msg = "Map-Notify-Ack"
	default:
		return r.fail("Type", 0, fmt.Errorf("%w: %v", ErrWrongType, t))
	}
	m.HasXTRID = b[0]&0x08 != 0
	m.ForRTR = b[0]&0x04 != 0
	m.WantMapNotify = b[2]&0x01 != 0
	n := int(b[3])
	r.off = 4
	m.Nonce, _ = r.u64("Nonce")
	if err := r.decodeAuth(&m.KeyID, &m.Alg, &m.AuthData); err != nil {
		return err
	}
	var err error
	if m.Records, err = r.decodeRecords(m.Records, n); err != nil {
		return err
	}
	if err := r.decodeXTRID(m.HasXTRID, &m.XTRID, &m.SiteID); err != nil {
		return err
	}
	return r.end()
}

// Append appends the encoded Map-Notify (or Map-Notify-Ack) to b.
func (m *MapNotify) Append(b []byte) []byte {
	b = append(b, uint8(m.Type())<<4|boolBit(m.HasXTRID, 0x08)|boolBit(m.ForRTR, 0x04), 0, boolBit(m.WantMapNotify, 0x01), uint8(clamp255(len(m.Records))))
	b = appendU64(b, m.Nonce)
	b = appendAuth(b, m.KeyID, m.Alg, m.AuthData)
	b = appendRecords(b, m.Records)
	return appendXTRID(b, m.HasXTRID, &m.XTRID, m.SiteID)
}
