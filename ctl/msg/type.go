package msg

import (
	"fmt"
	"strconv"
)

// Type is the 4-bit LISP control message type.
type Type uint8

// Control message types (RFC 9301 section 5.2, draft-ermagan-lisp-nat-traversal).
const (
	TypeMapRequest   Type = 1
	TypeMapReply     Type = 2
	TypeMapRegister  Type = 3
	TypeMapNotify    Type = 4
	TypeMapNotifyAck Type = 5
	TypeMapReferral  Type = 6
	TypeInfo         Type = 7 // Info-Request (R=0) and Info-Reply (R=1)
	TypeECM          Type = 8
)

// ControlPort is the UDP port of the LISP control plane.
const ControlPort = 4342

var typeNames = [...]string{
	TypeMapRequest:   "Map-Request",
	TypeMapReply:     "Map-Reply",
	TypeMapRegister:  "Map-Register",
	TypeMapNotify:    "Map-Notify",
	TypeMapNotifyAck: "Map-Notify-Ack",
	TypeMapReferral:  "Map-Referral",
	TypeInfo:         "Info",
	TypeECM:          "Encapsulated-Control-Message",
}

// String returns the message type's name.
func (t Type) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return "Type-" + strconv.Itoa(int(t))
}

// PeekType returns the type of the control message in b without decoding it.
func PeekType(b []byte) (Type, error) {
	if len(b) < 1 {
		return 0, &Error{Message: "LISP control message", Field: "Type", Offset: 0, Err: ErrTruncated}
	}
	return Type(b[0] >> 4), nil
}

// Message is implemented by every control message struct.
type Message interface {
	// Type returns the message type Append encodes.
	Type() Type
	// Decode fills the message from b, reusing its slices.
	Decode(b []byte) error
	// Append appends the encoded message to b.
	Append(b []byte) []byte
}

// New returns an empty message struct for type t, for dispatch on PeekType.
func New(t Type) (Message, error) {
	switch t {
	case TypeMapRequest:
		return new(MapRequest), nil
	case TypeMapReply:
		return new(MapReply), nil
	case TypeMapRegister:
		return new(MapRegister), nil
	case TypeMapNotify:
		return new(MapNotify), nil
	case TypeMapNotifyAck:
		return &MapNotify{Ack: true}, nil
	case TypeInfo:
		return new(Info), nil
	case TypeECM:
		return new(ECM), nil
	}
	return nil, fmt.Errorf("lisp: unsupported control message type %d (%v)", t, t)
}
