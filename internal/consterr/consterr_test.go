package consterr

import (
	"errors"
	"fmt"
	"testing"
)

const (
	errA = Error("a failed")
	errB = Error("b failed")
)

func TestError(t *testing.T) {
	wrapped := fmt.Errorf("context: %w", errA)
	for _, tc := range []struct {
		err, target error
		want        bool
	}{
		{errA, errA, true},
		{wrapped, errA, true},
		{wrapped, errB, false},
		{errA, errors.New("a failed"), false}, // another type, same message
	} {
		if got := errors.Is(tc.err, tc.target); got != tc.want {
			t.Errorf("errors.Is(%v, %v) = %v, want %v", tc.err, tc.target, got, tc.want)
		}
	}
	if wrapped.Error() != "context: a failed" {
		t.Errorf("message %q", wrapped.Error())
	}
}
