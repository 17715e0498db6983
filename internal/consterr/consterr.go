// Package consterr provides an error type whose values can be constants.
//
// A package-level `var ErrX = errors.New("...")` costs a call, a heap object
// and a write barrier at start-up, about 100 bytes of MIPS code per error in
// the release build (which does not inline errors.New). Declared as
// `const ErrX = consterr.Error("...")`, an error needs no start-up code at
// all, and is immutable.
package consterr

// Error is an error whose message is its value. Two Errors are equal when
// their messages are, in whatever package they are declared, so errors.Is
// and == match an Error by its message: give every Error in the binary a
// distinct one (TestMessagesDistinct checks the module).
type Error string

// Error returns the message.
func (e Error) Error() string { return string(e) }
