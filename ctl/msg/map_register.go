package msg

import "fmt"

// XTRIDLen is the length of an xTR-ID (128 bits).
const XTRIDLen = 16

// MapRegister is a Map-Register (type 3, RFC 9301 section 5.6).
type MapRegister struct {
	ProxyReply    bool // P: the Map-Server answers Map-Requests for the ETR
	Security      bool // S: LISP-SEC capable
	ForRTR        bool // R (first byte): built for an RTR (NAT traversal)
	EIDNotify     bool // E: EID-notify from a first-hop router
	UseTTL        bool // T: time out the registration by the record TTL
	MergeRequest  bool // a: merge RLOC-records of several xTRs
	WantMapNotify bool // M: acknowledge with a Map-Notify
	Nonce         uint64
	KeyID         uint8
	Alg           Alg
	// AuthData is the authentication data. Append writes a zeroed field of
	// Alg's digest length when it is empty, for Sign to fill.
	AuthData []byte
	Records  []Record
	// HasXTRID (the I bit) says XTRID and SiteID follow the records.
	HasXTRID bool
	XTRID    [XTRIDLen]byte
	SiteID   uint64
}

// Type returns TypeMapRegister.
func (m *MapRegister) Type() Type { return TypeMapRegister }

// Decode fills m from the Map-Register in b. It does not check the
// authentication data: use Verify on b.
func (m *MapRegister) Decode(b []byte) error {
	r := reader{b: b, msg: "Map-Register"}
	if err := r.need(16, "header"); err != nil {
		return err
	}
	if t := Type(b[0] >> 4); t != TypeMapRegister {
		return r.fail("Type", 0, fmt.Errorf("%w: %v", ErrWrongType, t))
	}
	m.ProxyReply = b[0]&0x08 != 0
	m.Security = b[0]&0x04 != 0
	m.HasXTRID = b[0]&0x02 != 0
	m.ForRTR = b[0]&0x01 != 0
	m.EIDNotify = b[2]&0x10 != 0
	m.UseTTL = b[2]&0x08 != 0
	m.MergeRequest = b[2]&0x04 != 0
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

// Append appends the encoded Map-Register to b.
func (m *MapRegister) Append(b []byte) []byte {
	b = append(b,
		uint8(TypeMapRegister)<<4|boolBit(m.ProxyReply, 0x08)|boolBit(m.Security, 0x04)|boolBit(m.HasXTRID, 0x02)|boolBit(m.ForRTR, 0x01),
		0,
		boolBit(m.EIDNotify, 0x10)|boolBit(m.UseTTL, 0x08)|boolBit(m.MergeRequest, 0x04)|boolBit(m.WantMapNotify, 0x01),
		uint8(clamp255(len(m.Records))))
	b = appendU64(b, m.Nonce)
	b = appendAuth(b, m.KeyID, m.Alg, m.AuthData)
	b = appendRecords(b, m.Records)
	return appendXTRID(b, m.HasXTRID, &m.XTRID, m.SiteID)
}

func (r *reader) decodeXTRID(has bool, id *[XTRIDLen]byte, site *uint64) error {
	if !has {
		*id, *site = [XTRIDLen]byte{}, 0
		return nil
	}
	x, err := r.bytes(XTRIDLen, "xTR-ID")
	if err != nil {
		return err
	}
	*id = [XTRIDLen]byte(x)
	*site, err = r.u64("Site-ID")
	return err
}

func appendXTRID(b []byte, has bool, id *[XTRIDLen]byte, site uint64) []byte {
	if !has {
		return b
	}
	b = append(b, id[:]...)
	return appendU64(b, site)
}
