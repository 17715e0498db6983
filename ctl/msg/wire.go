package msg

import (
	"encoding/binary"
	"errors"
)

// reader walks a message, producing *Error values that name the message,
// the field and the offset.
type reader struct {
	b   []byte
	off int
	msg string
}

func (r *reader) fail(field string, off int, err error) error {
	return &Error{Message: r.msg, Field: field, Offset: off, Err: err}
}

// need returns an ErrTruncated error unless n more bytes remain.
func (r *reader) need(n int, field string) error {
	if n < 0 || len(r.b)-r.off < n {
		return r.fail(field, r.off, ErrTruncated)
	}
	return nil
}

func (r *reader) u16(field string) (uint16, error) {
	if err := r.need(2, field); err != nil {
		return 0, err
	}
	v := binary.BigEndian.Uint16(r.b[r.off:])
	r.off += 2
	return v, nil
}

func (r *reader) u32(field string) (uint32, error) {
	if err := r.need(4, field); err != nil {
		return 0, err
	}
	v := binary.BigEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v, nil
}

func (r *reader) u64(field string) (uint64, error) {
	if err := r.need(8, field); err != nil {
		return 0, err
	}
	v := binary.BigEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v, nil
}

func (r *reader) bytes(n int, field string) ([]byte, error) {
	if err := r.need(n, field); err != nil {
		return nil, err
	}
	v := r.b[r.off : r.off+n]
	r.off += n
	return v, nil
}

// end fails with ErrTrailing when bytes remain.
func (r *reader) end() error {
	if r.off != len(r.b) {
		return r.fail("end of message", r.off, ErrTrailing)
	}
	return nil
}

func appendU16(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }
func appendU32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }
func appendU64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

func boolBit(v bool, bit uint8) uint8 {
	if v {
		return bit
	}
	return 0
}

func clamp255(n int) int {
	if n > 255 {
		return 255
	}
	return n
}

// wrapField prepends prefix to the field name of an *Error (error path only).
func wrapField(err error, prefix string) error {
	var e *Error
	if prefix != "" && errors.As(err, &e) {
		e.Field = prefix + " " + e.Field
	}
	return err
}
