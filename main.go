// Command lispd is a LISP tunnel router (RFC 9300 data plane, RFC 9301
// control plane) for OpenWrt routers: one static binary with subcommands.
//
//	lispd run [-c FILE]      the daemon
//	lispd check [-c FILE]    validate a configuration
//	lispd version            version, commit, Go version, platform
//
// Exit codes, for every subcommand:
//
//	0  success
//	1  the configuration is invalid, or the operation failed
//	2  usage error (unknown subcommand, bad flag or argument)
package main

import "os"

// Exit codes shared by every subcommand.
const (
	exitOK    = 0 // success
	exitFail  = 1 // invalid configuration or failed operation
	exitUsage = 2 // bad command line
)

func main() {
	os.Exit(dispatch(os.Args[1:]))
}
