package msg

import (
	"fmt"

	"github.com/lispd/lispd/internal/consterr"
	"github.com/lispd/lispd/internal/nocmp"
)

// Sentinel errors wrapped by *Error; test with errors.Is.
const (
	// ErrTruncated means the message ended inside a field.
	ErrTruncated = consterr.Error("truncated")
	// ErrInvalid means a field holds a value the format does not allow.
	ErrInvalid = consterr.Error("invalid value")
	// ErrUnknownAFI means an address family this codec cannot size.
	ErrUnknownAFI = consterr.Error("unsupported address family")
	// ErrTrailing means bytes follow a complete message.
	ErrTrailing = consterr.Error("trailing bytes after message")
	// ErrWrongType means the type field is not the one the decoder handles.
	ErrWrongType = consterr.Error("wrong message type")
	// ErrAuthAlgorithm means an unknown or unsupported authentication algorithm.
	ErrAuthAlgorithm = consterr.Error("unsupported authentication algorithm")
	// ErrAuthLength means the authentication data length does not match the
	// algorithm's full digest length.
	ErrAuthLength = consterr.Error("authentication data length does not match algorithm")
	// ErrAuthFailed means the authentication data does not verify.
	ErrAuthFailed = consterr.Error("authentication failed")
)

// Error describes a malformed message: which field of which message was
// wrong at which byte offset (from the start of the buffer given to Decode).
type Error struct {
	_ nocmp.DoNotCompare

	Message string // message kind, e.g. "Map-Request"
	Field   string // field name, e.g. "ITR-RLOC AFI"
	Offset  int    // byte offset of the field
	Err     error  // one of the sentinel errors, possibly wrapped with detail
}

// Error implements error.
func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s at offset %d: %v", e.Message, e.Field, e.Offset, e.Err)
}

// Unwrap returns the underlying sentinel error.
func (e *Error) Unwrap() error { return e.Err }
