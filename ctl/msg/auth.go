package msg

import (
	"encoding/binary"
	"fmt"
	"hash"

	"github.com/lispd/lispd/internal/sha"
)

// Alg is an authentication algorithm ID (RFC 9301 section 5.6: the 8-bit
// Algorithm ID after the 8-bit Key ID).
type Alg uint8

// Authentication algorithms. Whatever the registry names say (HMAC-SHA-1-96,
// HMAC-SHA-256-128), the full digest goes on the wire: 20 and 32 bytes.
const (
	AlgNone       Alg = 0
	AlgHMACSHA1   Alg = 1
	AlgHMACSHA256 Alg = 2
)

// authOffset is where Key ID sits in Map-Register, Map-Notify(-Ack) and
// Info-Request/Reply: after the 4-byte type word and the 8-byte nonce.
const authOffset = 12

// DigestLen returns the authentication data length for a: 0, 20 or 32
// (and -1 for unknown algorithms).
func (a Alg) DigestLen() int {
	switch a {
	case AlgNone:
		return 0
	case AlgHMACSHA1:
		return sha.SHA1Size
	case AlgHMACSHA256:
		return sha.SHA256Size
	}
	return -1
}

// String returns the config key type name ("sha1", "sha256", "none").
func (a Alg) String() string {
	switch a {
	case AlgNone:
		return "none"
	case AlgHMACSHA1:
		return "sha1"
	case AlgHMACSHA256:
		return "sha256"
	}
	return fmt.Sprintf("alg-%d", uint8(a))
}

// AlgByName maps a config key_type ("sha1", "sha256") to its Alg.
func AlgByName(name string) (Alg, error) {
	switch name {
	case "sha1":
		return AlgHMACSHA1, nil
	case "sha256":
		return AlgHMACSHA256, nil
	}
	return AlgNone, fmt.Errorf("lisp: unknown key type %q (want sha1 or sha256)", name)
}

func (a Alg) newMAC(key []byte) hash.Hash {
	if a == AlgHMACSHA1 {
		return sha.NewHMAC(sha.NewSHA1, key)
	}
	return sha.NewHMAC(sha.NewSHA256, key)
}

// authField locates the authentication data in an encoded Map-Register,
// Map-Notify, Map-Notify-Ack or Info message and checks that its length is
// the algorithm's full digest length.
func authField(m []byte) (Alg, int, error) {
	r := reader{b: m, msg: "authenticated message"}
	if err := r.need(authOffset+4, "authentication header"); err != nil {
		return 0, 0, err
	}
	switch t := Type(m[0] >> 4); t {
	case TypeMapRegister, TypeMapNotify, TypeMapNotifyAck, TypeInfo:
		r.msg = t.String()
	default:
		return 0, 0, r.fail("Type", 0, fmt.Errorf("%w: %v carries no authentication data", ErrWrongType, t))
	}
	alg := Alg(m[authOffset+1])
	n := int(binary.BigEndian.Uint16(m[authOffset+2:]))
	if alg != AlgHMACSHA1 && alg != AlgHMACSHA256 {
		return 0, 0, r.fail("Algorithm ID", authOffset+1, fmt.Errorf("%w %d", ErrAuthAlgorithm, alg))
	}
	if n != alg.DigestLen() {
		return 0, 0, r.fail("Authentication Data Length", authOffset+2,
			fmt.Errorf("%w: %d bytes for %v, want the full %d-byte digest", ErrAuthLength, n, alg, alg.DigestLen()))
	}
	r.off = authOffset + 4
	if err := r.need(n, "Authentication Data"); err != nil {
		return 0, 0, err
	}
	return alg, n, nil
}

var zeros [sha.SHA256Size]byte

// sum computes the HMAC over m with its n-byte authentication data zeroed,
// without modifying m.
func sum(alg Alg, key, m []byte, n int, out []byte) []byte {
	mac := alg.newMAC(key)
	mac.Write(m[:authOffset+4])
	mac.Write(zeros[:n])
	mac.Write(m[authOffset+4+n:])
	return mac.Sum(out)
}

// Sign computes the HMAC of the encoded message m (a Map-Register,
// Map-Notify, Map-Notify-Ack, Info-Request or Info-Reply whose Key ID,
// Algorithm ID and Authentication Data Length are set, as Append does) over
// the whole message with the authentication data zeroed, and writes it into
// the authentication data in place.
func Sign(m, key []byte) error {
	alg, n, err := authField(m)
	if err != nil {
		return err
	}
	var buf [sha.SHA256Size]byte
	copy(m[authOffset+4:authOffset+4+n], sum(alg, key, m, n, buf[:0]))
	return nil
}

// Verify checks the authentication data of the encoded message m against
// key in constant time. The authentication data must be the algorithm's
// full digest (20 bytes for HMAC-SHA-1, 32 for HMAC-SHA-256); a truncated
// digest (such as the RFC 4868 16-byte HMAC-SHA-256-128) fails with
// ErrAuthLength, as lispers.net rejects it. A wrong digest fails with
// ErrAuthFailed.
func Verify(m, key []byte) error {
	alg, n, err := authField(m)
	if err != nil {
		return err
	}
	var buf [sha.SHA256Size]byte
	if !sha.Equal(sum(alg, key, m, n, buf[:0]), m[authOffset+4:authOffset+4+n]) {
		return &Error{Message: Type(m[0] >> 4).String(), Field: "Authentication Data", Offset: authOffset + 4, Err: ErrAuthFailed}
	}
	return nil
}

// decodeAuth reads Key ID, Algorithm ID, Authentication Data Length and the
// authentication data (copied into *data, reusing its storage).
func (r *reader) decodeAuth(keyID *uint8, alg *Alg, data *[]byte) error {
	if err := r.need(4, "Key ID"); err != nil {
		return err
	}
	*keyID, *alg = r.b[r.off], Alg(r.b[r.off+1])
	n := int(binary.BigEndian.Uint16(r.b[r.off+2:]))
	r.off += 4
	d, err := r.bytes(n, "Authentication Data")
	if err != nil {
		return err
	}
	*data = append((*data)[:0], d...)
	return nil
}

// appendAuth appends the authentication header and data. Without data, a
// zeroed field of the algorithm's digest length is written for Sign to fill.
func appendAuth(b []byte, keyID uint8, alg Alg, data []byte) []byte {
	n := len(data)
	if n == 0 && alg.DigestLen() > 0 {
		n = alg.DigestLen()
	}
	if n > 0xffff {
		n, data = 0xffff, data[:0xffff]
	}
	b = append(b, keyID, uint8(alg))
	b = appendU16(b, uint16(n))
	if len(data) == 0 {
		return append(b, zeros[:n]...)
	}
	return append(b, data...)
}
