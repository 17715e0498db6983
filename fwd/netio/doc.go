// Package netio is lispd's kernel I/O layer: the TUN device, batched UDP
// sockets (recvmmsg/sendmmsg), the pool of send sockets that gives every flow
// its own outer source port, path-MTU queries, and the few rtnetlink requests
// the data plane needs (link MTU/up/txqueuelen, routes into the TUN).
//
// Everything on the packet path is batch-shaped and allocation-free: buffers
// belong to the caller, the kernel structures (mmsghdr, iovec, sockaddr,
// control messages) are allocated once per socket, and goroutines park in the
// Go netpoller when there is nothing to read, never in a busy loop.
//
// The package is Linux-only; it uses golang.org/x/sys/unix for every syscall
// number, ioctl and structure layout, so it builds for mips, mipsle, arm,
// arm64 and amd64 alike.
package netio
