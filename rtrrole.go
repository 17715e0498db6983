package main

import "github.com/lispd/lispd/conf"

// rtrNotRunning is what `show rtr` says when the daemon runs no RTR: the
// role is off in the configuration, or, in a build without it (-tags
// nortr, conf.RTRBuilt false), not in the binary at all.
func rtrNotRunning() string {
	if !conf.RTRBuilt {
		return "This lispd is built without the RTR role (-tags nortr; on OpenWrt the package option LISPD_RTR builds it in)."
	}
	return "The RTR role is not enabled ([rtr] enabled = false)."
}
