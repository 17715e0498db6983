// Package jsonx encodes and decodes JSON for the control socket without
// encoding/json, whose reflection-driven encoder and decoder cost lispd's
// router binary a hundred kilobytes and more.
//
// It follows encoding/json's rules for what lispd's protocol types use:
// struct fields by their `json:"name,omitempty,omitzero"` tags (untagged
// exported fields by name, "-" skipped, embedded structs flattened), nil
// slices, maps, pointers and interfaces as null, map keys sorted, values
// with MarshalText/UnmarshalText methods (time, net/netip) as strings
// through them, RawMessage as is, HTML-safe string escaping and the same
// float formatting; object keys match fields case-insensitively when no
// exact match exists, and unknown keys are ignored. So Marshal's output is
// byte for byte what encoding/json writes for these types, and
// encoding/json reads it back.
//
// MarshalJSON and UnmarshalJSON methods are deliberately not called: an
// interface call of them would keep every such method in the binary, and
// with github.com/gaissmai/bart's, encoding/json itself. Not supported:
// arrays, []byte as base64, the ",string" option, non-string map keys,
// channels, functions and complex numbers (an error says so).
//
// The decoder is strict: one JSON value, nothing after it but white space,
// depth at most MaxDepth, and errors that name the offset.
package jsonx
