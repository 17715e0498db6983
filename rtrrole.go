package main

// rtrNotBuilt is what `show rtr` says in a build without the RTR role
// (-tags nortr, conf.RTRBuilt false) instead of naming the configuration
// that would enable it.
const rtrNotBuilt = "This lispd is built without the RTR role (-tags nortr; on OpenWrt the package option LISPD_RTR builds it in)."
