package msg

import "fmt"

// Info is an Info-Request (Reply false) or Info-Reply (Reply true), type 7
// of draft-ermagan-lisp-nat-traversal: an ETR asks a Map-Server how it is
// seen from outside its NAT. Both are authenticated like a Map-Register.
type Info struct {
	Reply    bool // R: Info-Reply
	Nonce    uint64
	KeyID    uint8
	Alg      Alg
	AuthData []byte // see MapRegister.AuthData
	TTL      uint32 // minutes the RTR information may be kept
	EID      EID
	// NAT is the Info-Reply's NAT-Traversal LCAF; an Info-Request carries
	// AFI 0 instead and ignores it.
	NAT NATTraversal
}

// Type returns TypeInfo.
func (m *Info) Type() Type { return TypeInfo }

// Decode fills m from the Info-Request or Info-Reply in b. It does not check
// the authentication data: use Verify on b.
func (m *Info) Decode(b []byte) error {
	r := reader{b: b, msg: "Info-Request"}
	if err := r.need(16, "header"); err != nil {
		return err
	}
	if t := Type(b[0] >> 4); t != TypeInfo {
		return r.fail("Type", 0, fmt.Errorf("%w: %v", ErrWrongType, t))
	}
	m.Reply = b[0]&0x08 != 0
	if m.Reply {
		r.msg = "Info-Reply"
	}
	r.off = 4
	m.Nonce, _ = r.u64("Nonce")
	if err := r.decodeAuth(&m.KeyID, &m.Alg, &m.AuthData); err != nil {
		return err
	}
	var err error
	if m.TTL, err = r.u32("TTL"); err != nil {
		return err
	}
	if err := r.need(2, "EID mask-len"); err != nil {
		return err
	}
	maskOff := r.off + 1
	maskLen := int(r.b[maskOff])
	r.off += 2
	if err := r.decodeEID(&m.EID, maskLen, maskOff, "EID-Prefix"); err != nil {
		return err
	}
	afiOff := r.off
	afi, err := r.u16("AFI")
	if err != nil {
		return err
	}
	rtrs := m.NAT.RTRs[:0]
	m.NAT = NATTraversal{RTRs: rtrs}
	if !m.Reply {
		if afi != AFINone {
			return r.fail("AFI", afiOff, fmt.Errorf("%w: Info-Request carries AFI %d, want 0", ErrInvalid, afi))
		}
		return r.end()
	}
	if afi != AFILCAF {
		return r.fail("AFI", afiOff, fmt.Errorf("%w: Info-Reply carries AFI %d, want LCAF %d", ErrInvalid, afi, AFILCAF))
	}
	typ, body, err := r.lcafHeader()
	if err != nil {
		return err
	}
	if typ != LCAFNATTraversal {
		return r.fail("LCAF Type", afiOff+4, fmt.Errorf("%w: Info-Reply LCAF type %d, want NAT-Traversal (7)", ErrInvalid, typ))
	}
	ok, err := body.decodeNAT(&m.NAT)
	if err != nil {
		return err
	}
	if !ok {
		return r.fail("NAT-Traversal LCAF", afiOff, fmt.Errorf("%w: address family other than 0, 1, 2", ErrUnknownAFI))
	}
	return r.end()
}

// Append appends the encoded Info-Request or Info-Reply to b.
func (m *Info) Append(b []byte) []byte {
	b = append(b, uint8(TypeInfo)<<4|boolBit(m.Reply, 0x08), 0, 0, 0)
	b = appendU64(b, m.Nonce)
	b = appendAuth(b, m.KeyID, m.Alg, m.AuthData)
	b = appendU32(b, m.TTL)
	b = append(b, 0, m.EID.maskLen())
	b = appendEID(b, &m.EID)
	if !m.Reply {
		return appendU16(b, AFINone)
	}
	return appendNAT(b, &m.NAT)
}
