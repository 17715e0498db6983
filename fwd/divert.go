package fwd

// NATInstanceID is the instance-id of a LISP data header that carries a
// control message instead of traffic: the Data-Map-Notify an RTR sends to
// an xTR behind a NAT (draft-ermagan-lisp-nat-traversal).
const NATInstanceID = 0xFFFFFF

// IsControlDatagram reports whether a datagram received on the data port is
// for the control plane: an Info message (type 7: the Info-Reply to an
// Info-Request sent from the data port — its first nibble, 0111, would be a
// data header with E set and N clear, which is invalid) or a LISP data
// header with the I bit and instance-id 0xFFFFFF (a Data-Map-Notify).
func IsControlDatagram(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	if b[0]>>4 == 7 {
		return true
	}
	return len(b) >= HeaderLen && b[0]&0x08 != 0 && b[4] == 0xff && b[5] == 0xff && b[6] == 0xff
}
