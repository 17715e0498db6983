package consterr

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
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

// TestMessagesDistinct: no two constant errors of the module share a
// message, so that errors.Is never takes one for the other.
func TestMessagesDistinct(t *testing.T) {
	lit := regexp.MustCompile(`consterr\.Error\(("(?:[^"\\]|\\.)*")\)`)
	seen := map[string]string{}
	n := 0
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "build" || strings.HasPrefix(d.Name(), ".")) && path != "../.." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range lit.FindAllSubmatch(b, -1) {
			n++
			msg := string(m[1])
			if other, ok := seen[msg]; ok {
				t.Errorf("%s: message %s already used in %s", path, msg, other)
			}
			seen[msg] = path
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 40 {
		t.Errorf("found %d constant errors in the module, want the 40 or more it has", n)
	}
}
