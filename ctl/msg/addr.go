package msg

import (
	"fmt"
	"net/netip"
)

// Address Family Identifiers used by LISP (IANA address family numbers).
const (
	AFINone uint16 = 0     // no address
	AFIIPv4 uint16 = 1     // IPv4, 4 bytes
	AFIIPv6 uint16 = 2     // IPv6, 16 bytes
	AFILCAF uint16 = 16387 // LISP Canonical Address Format, RFC 8060
)

// Address is an AFI-encoded locator address (a locator, an ITR-RLOC, a
// NAT-Traversal RLOC). Set exactly one of its fields; the zero Address is
// AFI 0 (no address).
type Address struct {
	// IP is a plain IPv4 (AFI 1) or IPv6 (AFI 2) address. An IPv4-mapped
	// IPv6 address stays AFI 2.
	IP netip.Addr
	// List holds the addresses of an AFI-List LCAF (type 1) when non-empty.
	List []netip.Addr
	// NAT holds a NAT-Traversal LCAF (type 7) when non-nil.
	NAT *NATTraversal
	// Raw holds, verbatim from its AFI field on, an LCAF this codec does not
	// interpret (another type, or a list holding non-IP items). It is
	// re-encoded as is.
	Raw []byte
}

// AddrOf returns the Address for a plain IP address (AFI 0 when invalid).
func AddrOf(ip netip.Addr) Address { return Address{IP: ip} }

// String formats the address for logs.
func (a Address) String() string {
	switch {
	case len(a.Raw) > 0:
		return fmt.Sprintf("lcaf(%x)", a.Raw)
	case a.NAT != nil:
		return a.NAT.String()
	case len(a.List) > 0:
		return fmt.Sprint(a.List)
	case !a.IP.IsValid():
		return "none"
	}
	return a.IP.String()
}

// EID is an endpoint identifier prefix in an instance (virtual network).
// The zero EID is AFI 0 (no EID).
type EID struct {
	// IID is the 24-bit instance ID; non-zero IIDs are encoded as an
	// Instance-ID LCAF (type 2) around the prefix.
	IID uint32
	// Prefix is the EID prefix. Host bits are kept as received (some
	// implementations send them); the zero Prefix is AFI 0. For a
	// Map-Request's source EID the prefix length is the full address length.
	Prefix netip.Prefix
	// Raw holds, verbatim from its AFI field on, an LCAF EID this codec does
	// not interpret; RawMaskLen is then the record's EID mask-len.
	Raw        []byte
	RawMaskLen uint8
}

// EIDOf returns the EID for prefix p in instance iid.
func EIDOf(iid uint32, p netip.Prefix) EID { return EID{IID: iid, Prefix: p} }

// String formats the EID as "[iid]prefix".
func (e EID) String() string {
	switch {
	case len(e.Raw) > 0:
		return fmt.Sprintf("lcaf(%x)/%d", e.Raw, e.RawMaskLen)
	case !e.Prefix.IsValid() && e.IID == 0:
		return "none"
	case e.IID != 0:
		return fmt.Sprintf("[%d]%v", e.IID, e.Prefix)
	}
	return e.Prefix.String()
}

func (e *EID) maskLen() uint8 {
	switch {
	case len(e.Raw) > 0:
		return e.RawMaskLen
	case e.Prefix.IsValid():
		return uint8(e.Prefix.Bits())
	}
	return 0
}

func (e *EID) reset() {
	e.IID, e.Prefix, e.Raw, e.RawMaskLen = 0, netip.Prefix{}, e.Raw[:0], 0
}

// ipLen returns the address length for AFI 1/2, or -1.
func ipLen(afi uint16) int {
	switch afi {
	case AFIIPv4:
		return 4
	case AFIIPv6:
		return 16
	}
	return -1
}

// readIP reads the address of a plain AFI (0, 1, 2) whose AFI field was at
// afiOff. ok is false for other AFIs (nothing consumed).
func (r *reader) readIP(afi uint16, field string) (ip netip.Addr, ok bool, err error) {
	switch afi {
	case AFINone:
		return netip.Addr{}, true, nil
	case AFIIPv4:
		b, err := r.bytes(4, field)
		if err != nil {
			return ip, true, err
		}
		return netip.AddrFrom4([4]byte(b)), true, nil
	case AFIIPv6:
		b, err := r.bytes(16, field)
		if err != nil {
			return ip, true, err
		}
		return netip.AddrFrom16([16]byte(b)), true, nil
	}
	return ip, false, nil
}

// appendIP appends AFI + address (AFI 0 for an invalid address).
func appendIP(b []byte, ip netip.Addr) []byte {
	switch {
	case !ip.IsValid():
		return appendU16(b, AFINone)
	case ip.Is4():
		a := ip.As4()
		return append(appendU16(b, AFIIPv4), a[:]...)
	}
	a := ip.As16()
	return append(appendU16(b, AFIIPv6), a[:]...)
}

func ipWireLen(ip netip.Addr) int {
	switch {
	case !ip.IsValid():
		return 2
	case ip.Is4():
		return 6
	}
	return 18
}

// decodeAddress reads an AFI-encoded locator address into a.
func (r *reader) decodeAddress(a *Address, field string) (err error) {
	defer func() {
		if err != nil {
			err = wrapField(err, field)
		}
	}()
	start := r.off
	afi, err := r.u16("AFI")
	if err != nil {
		return err
	}
	a.List, a.Raw, a.NAT = a.List[:0], a.Raw[:0], nil
	ip, ok, err := r.readIP(afi, "address")
	if err != nil {
		return err
	}
	if ok {
		a.IP = ip
		return nil
	}
	a.IP = netip.Addr{}
	if afi != AFILCAF {
		return r.fail("AFI", start, fmt.Errorf("%w %d", ErrUnknownAFI, afi))
	}
	return r.decodeLCAFAddress(a, start)
}

// appendAddress appends the encoding of a.
func appendAddress(b []byte, a *Address) []byte {
	switch {
	case len(a.Raw) > 0:
		return append(b, a.Raw...)
	case a.NAT != nil:
		return appendNAT(b, a.NAT)
	case len(a.List) > 0:
		return appendAFIList(b, a.List)
	}
	return appendIP(b, a.IP)
}

// decodeEID reads an AFI-encoded EID into e. maskLen < 0 means the field
// has no mask-len (source EID): the prefix gets the full address length.
// maskOff is the offset of the mask-len byte for error reports.
func (r *reader) decodeEID(e *EID, maskLen, maskOff int, field string) (err error) {
	defer func() {
		if err != nil {
			err = wrapField(err, field)
		}
	}()
	start := r.off
	afi, err := r.u16("AFI")
	if err != nil {
		return err
	}
	e.reset()
	ip, ok, err := r.readIP(afi, "address")
	if err != nil {
		return err
	}
	if ok {
		return r.setPrefix(e, ip, maskLen, maskOff)
	}
	if afi != AFILCAF {
		return r.fail("AFI", start, fmt.Errorf("%w %d", ErrUnknownAFI, afi))
	}
	return r.decodeLCAFEID(e, start, maskLen, maskOff)
}

func (r *reader) setPrefix(e *EID, ip netip.Addr, maskLen, maskOff int) error {
	if !ip.IsValid() {
		return nil // AFI 0: mask-len is meaningless
	}
	if maskLen < 0 {
		maskLen = ip.BitLen()
	}
	if maskLen > ip.BitLen() {
		return r.fail("mask-len", maskOff, fmt.Errorf("%w: %d > %d", ErrInvalid, maskLen, ip.BitLen()))
	}
	e.Prefix = netip.PrefixFrom(ip, maskLen)
	return nil
}

// appendEID appends the AFI-encoded EID (without mask-len).
func appendEID(b []byte, e *EID) []byte {
	switch {
	case len(e.Raw) > 0:
		return append(b, e.Raw...)
	case e.IID != 0:
		ip := e.Prefix.Addr()
		b = appendLCAFHeader(b, LCAFInstanceID, 0, 4+ipWireLen(ip))
		b = appendU32(b, e.IID)
		return appendIP(b, ip)
	}
	return appendIP(b, e.Prefix.Addr())
}
