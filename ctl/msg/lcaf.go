package msg

import (
	"fmt"
	"net/netip"
)

// LCAF types (RFC 8060, draft-ermagan-lisp-nat-traversal) this codec
// interprets. Others are kept verbatim.
const (
	LCAFAFIList      uint8 = 1
	LCAFInstanceID   uint8 = 2
	LCAFNATTraversal uint8 = 7
)

// NATTraversal is the content of a NAT-Traversal LCAF (type 7), carried in
// an Info-Reply: what the Map-Server saw of an ETR behind a NAT.
type NATTraversal struct {
	MSPort     uint16       // Map-Server UDP port number
	ETRPort    uint16       // ETR's translated UDP port number
	GlobalETR  netip.Addr   // the ETR's global (translated) RLOC
	MS         netip.Addr   // the Map-Server's RLOC
	PrivateETR netip.Addr   // the ETR's private RLOC
	RTRs       []netip.Addr // RTR RLOCs
}

// String formats the NAT-Traversal contents for logs.
func (n *NATTraversal) String() string {
	return fmt.Sprintf("nat(global=%v:%d ms=%v:%d private=%v rtrs=%v)", n.GlobalETR, n.ETRPort, n.MS, n.MSPort, n.PrivateETR, n.RTRs)
}

func appendLCAFHeader(b []byte, typ, rsvd2 uint8, length int) []byte {
	b = appendU16(b, AFILCAF)
	b = append(b, 0, 0, typ, rsvd2)
	return appendU16(b, uint16(length))
}

// lcafHeader reads the 6 bytes after AFI 16387 and returns the LCAF type
// and a reader limited to the LCAF body (offsets stay absolute).
func (r *reader) lcafHeader() (typ uint8, body reader, err error) {
	if err = r.need(6, "LCAF header"); err != nil {
		return 0, body, err
	}
	typ = r.b[r.off+2]
	length := int(r.b[r.off+4])<<8 | int(r.b[r.off+5])
	r.off += 6
	if err = r.need(length, "LCAF body"); err != nil {
		return 0, body, err
	}
	body = reader{b: r.b[:r.off+length], off: r.off, msg: r.msg}
	r.off += length
	return typ, body, nil
}

// decodeLCAFAddress decodes an LCAF locator address whose AFI was at start.
func (r *reader) decodeLCAFAddress(a *Address, start int) error {
	typ, body, err := r.lcafHeader()
	if err != nil {
		return err
	}
	switch typ {
	case LCAFAFIList:
		ok, err := body.decodeAFIList(a)
		if err != nil || ok {
			return err
		}
		a.List = a.List[:0]
	case LCAFNATTraversal:
		n := new(NATTraversal)
		ok, err := body.decodeNAT(n)
		if err != nil {
			return err
		}
		if ok {
			a.NAT = n
			return nil
		}
	}
	a.Raw = append(a.Raw[:0], r.b[start:r.off]...)
	return nil
}

// decodeAFIList fills a.List; ok is false when an item is not AFI 1/2.
func (r *reader) decodeAFIList(a *Address) (ok bool, err error) {
	for r.off < len(r.b) {
		afi, err := r.u16("AFI-List item AFI")
		if err != nil {
			return false, err
		}
		if ipLen(afi) < 0 {
			return false, nil
		}
		ip, _, err := r.readIP(afi, "AFI-List item")
		if err != nil {
			return false, err
		}
		a.List = append(a.List, ip)
	}
	return true, nil
}

func appendAFIList(b []byte, list []netip.Addr) []byte {
	n := 0
	for _, ip := range list {
		n += ipWireLen(ip)
	}
	b = appendLCAFHeader(b, LCAFAFIList, 0, n)
	for _, ip := range list {
		b = appendIP(b, ip)
	}
	return b
}

// decodeNAT fills n from a NAT-Traversal LCAF body; ok is false when an
// address is of an AFI other than 0, 1, 2.
func (r *reader) decodeNAT(n *NATTraversal) (ok bool, err error) {
	if n.MSPort, err = r.u16("NAT-Traversal MS UDP port"); err != nil {
		return false, err
	}
	if n.ETRPort, err = r.u16("NAT-Traversal ETR UDP port"); err != nil {
		return false, err
	}
	n.GlobalETR, n.MS, n.PrivateETR, n.RTRs = netip.Addr{}, netip.Addr{}, netip.Addr{}, n.RTRs[:0]
	for i := 0; r.off < len(r.b); i++ {
		afi, err := r.u16("NAT-Traversal RLOC AFI")
		if err != nil {
			return false, prefixField(err, "item ", i)
		}
		ip, ok, err := r.readIP(afi, "NAT-Traversal RLOC")
		if err != nil || !ok {
			return false, prefixField(err, "item ", i)
		}
		switch i {
		case 0:
			n.GlobalETR = ip
		case 1:
			n.MS = ip
		case 2:
			n.PrivateETR = ip
		default:
			n.RTRs = append(n.RTRs, ip)
		}
	}
	return true, nil
}

func appendNAT(b []byte, n *NATTraversal) []byte {
	length := 4 + ipWireLen(n.GlobalETR) + ipWireLen(n.MS) + ipWireLen(n.PrivateETR)
	for _, ip := range n.RTRs {
		length += ipWireLen(ip)
	}
	b = appendLCAFHeader(b, LCAFNATTraversal, 0, length)
	b = appendU16(b, n.MSPort)
	b = appendU16(b, n.ETRPort)
	b = appendIP(b, n.GlobalETR)
	b = appendIP(b, n.MS)
	b = appendIP(b, n.PrivateETR)
	for _, ip := range n.RTRs {
		b = appendIP(b, ip)
	}
	return b
}

// decodeLCAFEID decodes an LCAF EID whose AFI was at start.
func (r *reader) decodeLCAFEID(e *EID, start, maskLen, maskOff int) error {
	typ, body, err := r.lcafHeader()
	if err != nil {
		return err
	}
	if typ == LCAFInstanceID {
		iid, err := body.u32("Instance ID")
		if err != nil {
			return err
		}
		afi, err := body.u16("AFI")
		if err != nil {
			return err
		}
		ip, ok, err := body.readIP(afi, "address")
		if err != nil {
			return err
		}
		if ok {
			if body.off != len(body.b) {
				return body.fail("LCAF length", start+6, fmt.Errorf("%w: %d bytes left in Instance-ID LCAF", ErrInvalid, len(body.b)-body.off))
			}
			e.IID = iid
			return r.setPrefix(e, ip, maskLen, maskOff)
		}
	}
	if maskLen < 0 {
		maskLen = 0
	}
	e.Raw = append(e.Raw[:0], r.b[start:r.off]...)
	e.RawMaskLen = uint8(maskLen)
	return nil
}
