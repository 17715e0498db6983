package msg

import (
	"encoding/binary"
	"fmt"
)

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
	// MSRTRKeyID and MSRTRAuth are the MS-RTR authentication that follows
	// (after the xTR-ID) when ForRTR is set (draft-ermagan-lisp-nat-
	// traversal, as Wireshark dissects it: a 16-bit MS-RTR Key ID, a
	// 16-bit length and the data). Decode also takes the variant with a
	// 4-byte AD-Type header before the Key ID (OOR), and an R bit with no
	// trailer at all; Append writes the draft's form whenever ForRTR is
	// set.
	MSRTRKeyID uint16
	MSRTRAuth  []byte
}

// adTypeRTRAuth is the AD Type (first 5 bits) OOR puts before the MS-RTR
// authentication of a Map-Notify with the R bit.
const adTypeRTRAuth = 2

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
	m.MSRTRKeyID, m.MSRTRAuth = 0, m.MSRTRAuth[:0]
	if m.ForRTR {
		if err := r.decodeMSRTRAuth(&m.MSRTRKeyID, &m.MSRTRAuth); err != nil {
			return err
		}
	}
	return r.end()
}

// decodeMSRTRAuth reads the MS-RTR authentication trailer of a Map-Notify
// with the R bit: nothing (older senders), Key ID, length and data, or the
// same behind a 4-byte AD-Type header. It must end the message.
func (r *reader) decodeMSRTRAuth(keyID *uint16, data *[]byte) error {
	rest := len(r.b) - r.off
	if rest == 0 {
		return nil
	}
	if err := r.need(4, "MS-RTR Key ID"); err != nil {
		return err
	}
	if n := int(binary.BigEndian.Uint16(r.b[r.off+2:])); 4+n != rest && rest >= 8 && r.b[r.off]>>3 == adTypeRTRAuth &&
		8+int(binary.BigEndian.Uint16(r.b[r.off+6:])) == rest {
		r.off += 4 // AD Type and reserved bits
	}
	*keyID = binary.BigEndian.Uint16(r.b[r.off:])
	n := int(binary.BigEndian.Uint16(r.b[r.off+2:]))
	r.off += 4
	d, err := r.bytes(n, "MS-RTR Authentication Data")
	if err != nil {
		return err
	}
	*data = append((*data)[:0], d...)
	return nil
}

// Append appends the encoded Map-Notify (or Map-Notify-Ack) to b.
func (m *MapNotify) Append(b []byte) []byte {
	b = append(b, uint8(m.Type())<<4|boolBit(m.HasXTRID, 0x08)|boolBit(m.ForRTR, 0x04), 0, boolBit(m.WantMapNotify, 0x01), uint8(clamp255(len(m.Records))))
	b = appendU64(b, m.Nonce)
	b = appendAuth(b, m.KeyID, m.Alg, m.AuthData)
	b = appendRecords(b, m.Records)
	b = appendXTRID(b, m.HasXTRID, &m.XTRID, m.SiteID)
	if m.ForRTR {
		auth := m.MSRTRAuth[:min(len(m.MSRTRAuth), 0xffff)]
		b = appendU16(b, m.MSRTRKeyID)
		b = appendU16(b, uint16(len(auth)))
		b = append(b, auth...)
	}
	return b
}
