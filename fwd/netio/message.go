package netio

import (
	"net/netip"

	"github.com/lispd/lispd/internal/consterr"
)

// Message is one datagram of a batch for UDPConn.ReadBatch and
// UDPConn.WriteBatch. Its buffer belongs to the caller; the conn keeps no
// reference to it after the call returns. The zero values of TOS, TTL and
// Src send nothing extra, so a plain datagram costs no control data.
type Message struct {
	// Buf is, for ReadBatch, the buffer a datagram is received into (its
	// whole length is offered to the kernel); for WriteBatch, the datagram's
	// payload (all of Buf is sent).
	Buf []byte
	// N is the number of bytes received (ReadBatch) or sent (WriteBatch).
	N int
	// Addr is the source of a received datagram or the destination of one to
	// send.
	Addr netip.AddrPort
	// TOS is the IPv4 TOS / IPv6 traffic class byte (DSCP and ECN).
	// WriteBatch: sent as IP_TOS / IPV6_TCLASS control data, so that the
	// outer header carries the inner packet's DSCP and ECN; 0 sends the
	// socket's default (0). ReadBatch: the received packet's byte when the
	// conn receives TOS (ListenConfig.RecvTOSTTL), else 0.
	TOS uint8
	// TTL is the IPv4 TTL / IPv6 hop limit. WriteBatch: sent as IP_TTL /
	// IPV6_HOPLIMIT control data; 0 means the socket's default. ReadBatch:
	// the received packet's TTL when the conn receives it, else 0.
	TTL uint8
	// Src is, for WriteBatch, the source address to send from (IP_PKTINFO /
	// IPV6_PKTINFO; for a conn bound to a wildcard address); the zero Addr
	// lets the kernel choose. ReadBatch leaves it unchanged.
	Src netip.Addr
	// IfIndex is, for WriteBatch, the interface to send through (the
	// ifindex of IP_PKTINFO / IPV6_PKTINFO; with Src, the uplink of one
	// local locator); 0 lets the route decide. ReadBatch leaves it
	// unchanged.
	IfIndex int
	// GSOSize is, for ReadBatch on a conn with EnableGRO, the size of each
	// datagram the kernel coalesced into Buf (the last may be shorter); 0
	// means Buf holds one datagram. WriteBatch ignores it.
	GSOSize int
	// Err is the error of this message: for WriteBatch, why it was not sent
	// (for example unix.EMSGSIZE, see IsMsgSize), nil if it was; for
	// ReadBatch, ErrTruncated when the datagram did not fit Buf.
	Err error
}

// ErrTruncated marks a received datagram that was larger than its buffer;
// Message.N is then the length of the part that was kept.
const ErrTruncated = consterr.Error("datagram truncated: larger than its buffer")

// ErrAddrFamily marks a message whose address family does not match the
// socket's (an IPv6 destination on an IPv4 socket, or the reverse).
const ErrAddrFamily = consterr.Error("address family does not match the socket")
