package msg

import "fmt"

// MapRequest is a Map-Request (type 1, RFC 9301 section 5.2).
type MapRequest struct {
	Authoritative bool // A
	Probe         bool // P: RLOC-probe
	SMR           bool // S: Solicit-Map-Request
	PITR          bool // p: sent by a Proxy-ITR
	SMRInvoked    bool // s: sent in response to an SMR
	LocalXTR      bool // L: sent by an xTR to a local Map-Server (RFC 9301)
	DontMapReply  bool // D: do not send a Map-Reply (RFC 9301)
	Nonce         uint64
	// SourceEID is the EID of the packet that triggered the request
	// (zero EID = AFI 0). Its prefix length is the full address length.
	SourceEID EID
	// ITRRLOCs are where the Map-Reply may be sent; IRC on the wire is
	// len(ITRRLOCs)-1 (1 to 32 entries; Append sends one AFI-0 entry when
	// empty).
	ITRRLOCs []Address
	// EIDs are the requested EID-prefixes (the EID-records).
	EIDs []EID
	// MapReply is the optional Map-Reply record; the M bit is set when it
	// is non-nil.
	MapReply *Record
	// HasXTRID is the I bit of RFC 9437 (PubSub, second byte 0x10): the
	// requester's XTRID and SiteID follow everything else, as a Cisco
	// IOS-XE xTR's subscribe Map-Request carries them.
	HasXTRID bool
	XTRID    [XTRIDLen]byte
	SiteID   uint64
}

// Type returns TypeMapRequest.
func (m *MapRequest) Type() Type { return TypeMapRequest }

// Decode fills m from the Map-Request in b.
func (m *MapRequest) Decode(b []byte) error {
	r := reader{b: b, msg: "Map-Request"}
	if err := r.need(12, "header"); err != nil {
		return err
	}
	if t := Type(b[0] >> 4); t != TypeMapRequest {
		return r.fail("Type", 0, fmt.Errorf("%w: %v", ErrWrongType, t))
	}
	m.Authoritative = b[0]&0x08 != 0
	mapDataPresent := b[0]&0x04 != 0
	m.Probe = b[0]&0x02 != 0
	m.SMR = b[0]&0x01 != 0
	m.PITR = b[1]&0x80 != 0
	m.SMRInvoked = b[1]&0x40 != 0
	m.HasXTRID = b[1]&0x10 != 0
	m.LocalXTR = b[2]&0x40 != 0
	m.DontMapReply = b[2]&0x20 != 0
	itrCount := int(b[2]&0x1f) + 1
	recCount := int(b[3])
	r.off = 4
	m.Nonce, _ = r.u64("Nonce")
	if err := r.decodeEID(&m.SourceEID, -1, 0, "Source-EID"); err != nil {
		return err
	}
	m.ITRRLOCs = m.ITRRLOCs[:0]
	for i := 0; i < itrCount; i++ {
		if len(m.ITRRLOCs) < cap(m.ITRRLOCs) {
			m.ITRRLOCs = m.ITRRLOCs[:len(m.ITRRLOCs)+1]
		} else {
			m.ITRRLOCs = append(m.ITRRLOCs, Address{})
		}
		if err := r.decodeAddress(&m.ITRRLOCs[i], ""); err != nil {
			return prefixField(err, "ITR-RLOC ", i+1)
		}
	}
	m.EIDs = m.EIDs[:0]
	for i := 0; i < recCount; i++ {
		if len(m.EIDs) < cap(m.EIDs) {
			m.EIDs = m.EIDs[:len(m.EIDs)+1]
		} else {
			m.EIDs = append(m.EIDs, EID{})
		}
		if err := r.need(2, "EID-record header"); err != nil {
			return prefixField(err, "Record ", i)
		}
		maskOff := r.off + 1
		maskLen := int(r.b[maskOff])
		r.off += 2
		if err := r.decodeEID(&m.EIDs[i], maskLen, maskOff, "EID-Prefix"); err != nil {
			return prefixField(err, "Record ", i)
		}
	}
	if mapDataPresent {
		if m.MapReply == nil {
			m.MapReply = new(Record)
		}
		if err := r.decodeRecord(m.MapReply); err != nil {
			return wrapField(err, "Map-Reply Record")
		}
	} else {
		m.MapReply = nil
	}
	if err := r.decodeXTRID(m.HasXTRID, &m.XTRID, &m.SiteID); err != nil {
		return err
	}
	return r.end()
}

// Append appends the encoded Map-Request to b.
func (m *MapRequest) Append(b []byte) []byte {
	itrs := m.ITRRLOCs
	if len(itrs) > 32 {
		itrs = itrs[:32]
	}
	irc := len(itrs) - 1
	if irc < 0 {
		irc = 0
	}
	eids := m.EIDs[:clamp255(len(m.EIDs))]
	b = append(b,
		uint8(TypeMapRequest)<<4|boolBit(m.Authoritative, 0x08)|boolBit(m.MapReply != nil, 0x04)|boolBit(m.Probe, 0x02)|boolBit(m.SMR, 0x01),
		boolBit(m.PITR, 0x80)|boolBit(m.SMRInvoked, 0x40)|boolBit(m.HasXTRID, 0x10),
		boolBit(m.LocalXTR, 0x40)|boolBit(m.DontMapReply, 0x20)|uint8(irc),
		uint8(len(eids)))
	b = appendU64(b, m.Nonce)
	b = appendEID(b, &m.SourceEID)
	if len(itrs) == 0 {
		b = appendU16(b, AFINone)
	}
	for i := range itrs {
		b = appendAddress(b, &itrs[i])
	}
	for i := range eids {
		b = append(b, 0, eids[i].maskLen())
		b = appendEID(b, &eids[i])
	}
	if m.MapReply != nil {
		b = appendRecord(b, m.MapReply)
	}
	return appendXTRID(b, m.HasXTRID, &m.XTRID, m.SiteID)
}
