package entropy

import (
	"bytes"
	"testing"
)

func TestReadFillsAndDiffers(t *testing.T) {
	a, b := make([]byte, 64), make([]byte, 64)
	Read(a)
	Read(b)
	if bytes.Equal(a, b) || bytes.Equal(a, make([]byte, 64)) {
		t.Fatalf("two reads gave %x and %x", a, b)
	}
	// Every byte value position is touched: 64 zero bytes by chance is
	// 2^-512; a short read would leave the tail zero.
	if bytes.Equal(a[32:], make([]byte, 32)) {
		t.Fatal("tail of the buffer not filled")
	}
}

func TestReadFileFallback(t *testing.T) {
	a := make([]byte, 32)
	if err := readFile(a); err != nil {
		t.Skipf("no /dev/urandom: %v", err)
	}
	if bytes.Equal(a, make([]byte, 32)) {
		t.Fatal("/dev/urandom read left the buffer zero")
	}
}
