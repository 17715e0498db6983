// Package msg encodes and decodes LISP control-plane messages byte-exactly:
// every message of RFC 9301 section 5 (Map-Request, Map-Reply, Map-Register,
// Map-Notify, Map-Notify-Ack, Encapsulated Control Message) plus the
// Info-Request and Info-Reply of draft-ermagan-lisp-nat-traversal.
//
// Each message is a struct with Decode(b []byte) error, which fills the
// struct from the UDP payload b (a struct may be reused: its slices are
// resliced, so steady-state decoding allocates little), and
// Append(b []byte) []byte, which appends the encoding to the caller's buffer.
// Decoders never panic and never read past b; they return an *Error naming
// the field and its byte offset. Trailing bytes after a complete message are
// rejected (ErrTrailing).
//
// Addresses are AFI 0 (none), 1 (IPv4), 2 (IPv6) and LCAF (AFI 16387) of
// types AFI-List (1), Instance-ID (2) and NAT-Traversal (7). An LCAF of
// another type is not rejected: it is kept verbatim (Address.Raw, EID.Raw)
// and skipped by its length. EIDs are (instance-id, netip.Prefix); a non-zero
// instance-id is encoded as an Instance-ID LCAF. Record TTLs are minutes.
//
// Authentication (Sign, Verify) is HMAC-SHA-1 (algorithm 1) or HMAC-SHA-256
// (algorithm 2) over the whole message with the authentication data zeroed,
// with the full digest on the wire (20 or 32 bytes), as lispers.net, OOR and
// OpenDaylight send and expect.
package msg
