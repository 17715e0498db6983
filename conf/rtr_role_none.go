//go:build nortr

package conf

// RTRBuilt reports whether this binary has the RTR role, so that [rtr]
// may be enabled: false in this build (-tags nortr, the OpenWrt package's
// default), where validation refuses rtr.enabled = true.
const RTRBuilt = false
