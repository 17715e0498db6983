package main

import (
	"fmt"
	"runtime"
)

// Set at build time: go build -ldflags "-X main.version=v1.0.0 -X main.commit=abc1234".
var (
	version = "dev"
	commit  = "none"
)

func init() {
	register(&command{
		name:    "version",
		summary: "print the version, commit, Go version and platform",
		run:     runVersion,
	})
}

func runVersion(args []string) int {
	fs := newFlagSet(commands["version"])
	pos, code, stop := parseFlags(fs, args)
	if stop {
		return code
	}
	if len(pos) > 0 {
		return usageError(fs, "unexpected argument %q", pos[0])
	}
	fmt.Fprintf(stdout, "lispd %s\ncommit:   %s\ngo:       %s\nplatform: %s/%s\n",
		version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return exitOK
}
