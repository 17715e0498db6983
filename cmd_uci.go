package main

import (
	"os"

	"github.com/lispd/lispd/conf/uci"
)

// uci-render is the OpenWrt init script's renderer: `uci export lispd` in,
// the daemon's TOML out. The logic lives in conf/uci.
func init() {
	register(&command{
		name:    "uci-render",
		args:    "[-i FILE] [-o FILE] [--device IFACE=DEV]...",
		summary: "render OpenWrt's /etc/config/lispd (uci export lispd) into the daemon's TOML",
		run:     func(args []string) int { return uci.Command(args, os.Stdin, stdout, stderr) },
	})
}
