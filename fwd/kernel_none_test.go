//go:build nokernelpath

package fwd

import (
	"strings"
	"testing"
)

// A build without the kernel path falls back when asked for it, and says
// why.
func TestKernelNotBuiltIn(t *testing.T) {
	p := &Plane{opts: Options{KernelPath: true, TUNIndex: 1}, cache: NewMapCache(16)}
	p.setupKernel()
	s := p.KernelPath()
	if p.kern != nil || s.State != KernelFallback || !strings.Contains(s.Reason, "nokernelpath") {
		t.Fatalf("KernelPath() = %+v, kern %v; want a fallback naming the build tag", s, p.kern)
	}
	p = &Plane{opts: Options{}, cache: NewMapCache(16)}
	p.setupKernel()
	if s := p.KernelPath(); s.State != KernelOff {
		t.Fatalf("not asked for: KernelPath() = %+v, want off", s)
	}
}
