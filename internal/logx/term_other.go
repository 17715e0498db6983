//go:build !linux

package logx

import "os"

// IsTerminal reports whether f is a character device, the best guess at a
// terminal off Linux.
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
