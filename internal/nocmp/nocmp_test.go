package nocmp

import (
	"reflect"
	"testing"
	"unsafe"
)

type plain struct {
	A string
	B uint8
}

type marked struct {
	_ DoNotCompare
	A string
	B uint8
}

// The mark must cost nothing at run time and must make a struct
// non-comparable: otherwise it saves no equality function.
func TestDoNotCompare(t *testing.T) {
	if got, want := unsafe.Sizeof(marked{}), unsafe.Sizeof(plain{}); got != want {
		t.Errorf("marked struct is %d bytes, want %d: the mark must be first and of size zero", got, want)
	}
	if reflect.TypeOf(marked{}).Comparable() {
		t.Error("a struct with DoNotCompare is comparable")
	}
	if !reflect.TypeOf(plain{}).Comparable() {
		t.Error("the unmarked struct should be comparable")
	}
}
