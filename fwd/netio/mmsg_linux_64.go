//go:build linux && !(386 || arm || mips || mipsle)

package netio

import "golang.org/x/sys/unix"

// mmsghdr is struct mmsghdr on 64-bit Linux: a 56-byte msghdr, the 4-byte
// msg_len and 4 bytes of padding to keep the array 8-byte aligned.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

const sizeofMmsghdr = 64
