// Package tomlx reads TOML 1.0 documents into plain Go values and writes Go
// structs as TOML, for lispd's configuration. It replaces
// github.com/BurntSushi/toml in the binary (about 200 KB of the MIPS build
// with the reflection its decoder needs); conf keeps doing the schema
// decoding, with its own located messages, on the tree Parse returns.
//
// Parse gives tables as map[string]any, arrays of tables as
// []map[string]any, arrays as []any, and strings, int64, float64, bool and
// time.Time (offset or local date-times, dates and times) as themselves.
// Errors are *ParseError with the 1-based line and column.
package tomlx
