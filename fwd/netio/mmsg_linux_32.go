//go:build linux && (386 || arm || mips || mipsle)

package netio

import "golang.org/x/sys/unix"

// mmsghdr is struct mmsghdr on 32-bit Linux: a 28-byte msghdr followed by
// the 4-byte msg_len, no padding.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

const sizeofMmsghdr = 32
