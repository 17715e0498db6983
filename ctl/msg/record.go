package msg

import (
	"errors"
	"fmt"
)

// prefixField prepends "what N " to the field name of an *Error (only on
// the error path, so decoding does not format strings).
func prefixField(err error, what string, n int) error {
	var e *Error
	if errors.As(err, &e) {
		e.Field = fmt.Sprintf("%s%d %s", what, n, e.Field)
	}
	return err
}

// Action is a Map-Reply action (ACT), what an ITR does with packets for a
// negative (locator-less) mapping (RFC 9301 section 5.4).
type Action uint8

// Map-Reply actions.
const (
	ActNoAction       Action = 0
	ActNativelyFwd    Action = 1
	ActSendMapRequest Action = 2
	ActDrop           Action = 3 // Drop/No-Reason
	ActDropPolicy     Action = 4 // Drop/Policy-Denied
	ActDropAuth       Action = 5 // Drop/Authentication-Failure
)

var actNames = [...]string{"No-Action", "Natively-Forward", "Send-Map-Request", "Drop/No-Reason", "Drop/Policy-Denied", "Drop/Auth-Failure"}

// String returns the action's name.
func (a Action) String() string {
	if int(a) < len(actNames) {
		return actNames[a]
	}
	return fmt.Sprintf("Action-%d", a)
}

// Locator flags in the low bits of the 16-bit locator flags field.
const (
	locFlagLocal     = 0x4 // L
	locFlagProbed    = 0x2 // p
	locFlagReachable = 0x1 // R
)

// Locator is one RLOC of a mapping record.
type Locator struct {
	Priority  uint8 // unicast priority; 255 = not for unicast
	Weight    uint8 // unicast weight
	MPriority uint8 // multicast priority
	MWeight   uint8 // multicast weight
	Local     bool  // L: the locator is local to the sender
	Probed    bool  // p: the locator is the one probed (RLOC-probe reply)
	Reachable bool  // R: the locator is reachable
	Addr      Address
}

// Record is a mapping (EID-)record of a Map-Reply, Map-Register or
// Map-Notify: an EID prefix and its locators.
type Record struct {
	TTL           uint32 // minutes
	Action        Action // 3 bits
	Authoritative bool   // A
	MapVersion    uint16 // 12 bits
	EID           EID
	Locators      []Locator
}

// nextRecord extends rs by one record, reusing storage from a previous
// decode when there is any.
func nextRecord(rs []Record) ([]Record, *Record) {
	if len(rs) < cap(rs) {
		rs = rs[:len(rs)+1]
	} else {
		rs = append(rs, Record{})
	}
	return rs, &rs[len(rs)-1]
}

func nextLocator(ls []Locator) ([]Locator, *Locator) {
	if len(ls) < cap(ls) {
		ls = ls[:len(ls)+1]
	} else {
		ls = append(ls, Locator{})
	}
	return ls, &ls[len(ls)-1]
}

// decodeRecords reads n mapping records into rs.
func (r *reader) decodeRecords(rs []Record, n int) ([]Record, error) {
	rs = rs[:0]
	for i := 0; i < n; i++ {
		var rec *Record
		rs, rec = nextRecord(rs)
		if err := r.decodeRecord(rec); err != nil {
			return rs, prefixField(err, "Record ", i)
		}
	}
	return rs, nil
}

func (r *reader) decodeRecord(rec *Record) error {
	var err error
	if rec.TTL, err = r.u32("TTL"); err != nil {
		return err
	}
	if err = r.need(4, "header"); err != nil {
		return err
	}
	locCount := int(r.b[r.off])
	maskOff := r.off + 1
	maskLen := int(r.b[maskOff])
	flags := uint16(r.b[r.off+2])<<8 | uint16(r.b[r.off+3])
	r.off += 4
	rec.Action = Action(flags >> 13)
	rec.Authoritative = flags&0x1000 != 0
	ver, err := r.u16("Map-Version")
	if err != nil {
		return err
	}
	rec.MapVersion = ver & 0x0fff
	if err := r.decodeEID(&rec.EID, maskLen, maskOff, "EID-Prefix"); err != nil {
		return err
	}
	rec.Locators = rec.Locators[:0]
	for j := 0; j < locCount; j++ {
		var l *Locator
		rec.Locators, l = nextLocator(rec.Locators)
		if err := r.need(6, "header"); err != nil {
			return prefixField(err, "Locator ", j)
		}
		l.Priority, l.Weight, l.MPriority, l.MWeight = r.b[r.off], r.b[r.off+1], r.b[r.off+2], r.b[r.off+3]
		f := r.b[r.off+5]
		l.Local, l.Probed, l.Reachable = f&locFlagLocal != 0, f&locFlagProbed != 0, f&locFlagReachable != 0
		r.off += 6
		if err := r.decodeAddress(&l.Addr, ""); err != nil {
			return prefixField(err, "Locator ", j)
		}
	}
	return nil
}

// appendRecord appends one mapping record (at most 255 locators).
func appendRecord(b []byte, rec *Record) []byte {
	b = appendU32(b, rec.TTL)
	n := clamp255(len(rec.Locators))
	b = append(b, uint8(n), rec.EID.maskLen())
	flags := uint16(rec.Action&7)<<13 | uint16(boolBit(rec.Authoritative, 1))<<12
	b = appendU16(b, flags)
	b = appendU16(b, rec.MapVersion&0x0fff)
	b = appendEID(b, &rec.EID)
	for i := range rec.Locators[:n] {
		l := &rec.Locators[i]
		b = append(b, l.Priority, l.Weight, l.MPriority, l.MWeight, 0,
			boolBit(l.Local, locFlagLocal)|boolBit(l.Probed, locFlagProbed)|boolBit(l.Reachable, locFlagReachable))
		b = appendAddress(b, &l.Addr)
	}
	return b
}

func appendRecords(b []byte, rs []Record) []byte {
	for i := range rs[:clamp255(len(rs))] {
		b = appendRecord(b, &rs[i])
	}
	return b
}
