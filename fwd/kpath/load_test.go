//go:build linux

package kpath

import "testing"

// TestLoadPrograms has the kernel's verifier accept both programs.
func TestLoadPrograms(t *testing.T) {
	needBPF(t)
	e, err := NewEncap(16)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	d, err := NewDecap(4)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}
