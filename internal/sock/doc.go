// Package sock opens UDP and Unix-domain stream sockets without package net,
// which costs lispd's binary more than half a megabyte on MIPS.
//
// Each socket is a non-blocking descriptor wrapped in an *os.File, so the
// runtime's poller still parks a blocked read or write, deadlines work, and
// Close unblocks a pending call. Errors from a socket that was closed
// satisfy errors.Is(err, os.ErrClosed); deadlines give
// os.ErrDeadlineExceeded. SyscallConn exposes the descriptor for socket
// options and for recvmmsg/sendmmsg loops, with the same error mapping.
package sock
