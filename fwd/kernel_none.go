//go:build nokernelpath

package fwd

import (
	"net/netip"

	"github.com/lispd/lispd/internal/consterr"
)

// This build leaves the in-kernel path out (-tags nokernelpath): the
// OpenWrt package's default, where fwd/kpath and the mirror would cost
// ~44 KB of the ipk for an experimental feature. xtr.kernel_path = "auto"
// then falls back to the userspace path and `show stats` says why.

// errNoKernelPath is why the kernel path does not run in this build.
const errNoKernelPath = consterr.Error("kernel path: not in this build (built with -tags nokernelpath)")

// kernelPath is empty in this build: openKernelPath never returns one.
type kernelPath struct {
	wake chan struct{}
}

func openKernelPath(tunIndex, maxEntries int, localEIDs []netip.Prefix) (*kernelPath, error) {
	return nil, errNoKernelPath
}

func (k *kernelPath) signal()                    {}
func (k *kernelPath) close() error               { return nil }
func (k *kernelPath) snapshot() KernelSnapshot   { return KernelSnapshot{State: KernelOff} }
func (p *Plane) kernelLoop(done <-chan struct{}) {}
