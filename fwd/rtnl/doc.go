// Package rtnl is lispd's rtnetlink client: links (state, MTU, queue
// length, addresses, and a watcher of their changes), routes, the policy
// rules and table of the TUN's EID space, and the kernel's path MTU to a
// destination.
//
// It is set-up and event code, apart from the per-packet path: the release
// build compiles it without inlining (fwd and fwd/netio keep theirs), which
// keeps its ~1,100 lines out of the OpenWrt package's size budget.
package rtnl
