package uci

import "strings"

// Quote writes s as a UCI value the way `uci export` does: in single quotes,
// with each ' written as '\” (close, escaped quote, reopen).
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
