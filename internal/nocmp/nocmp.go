// Package nocmp marks struct types that are never compared.
//
// The Go compiler writes an equality function for every comparable struct
// type whose fields are not all plain memory (strings, interfaces, floats,
// padding), and the linker keeps it with the type's descriptor whenever
// the type can reach an interface, even if no == ever runs. A zero-size
// field of a non-comparable type makes the struct non-comparable: no
// function, and ~300 bytes of mips code and tables less per type (issue 6:
// the package's ~60 marked types take 20 KB off the mips binary and 6.5 KB
// off its ipk). protobuf-go marks its messages the same way.
//
// The compiler rejects == on a marked type, so a mark cannot hide a bug:
// a type that needs == (a map key, a value compared in code) drops it.
package nocmp

// DoNotCompare, as a struct's first field (`_ nocmp.DoNotCompare`), makes
// the struct non-comparable without changing its size or layout.
type DoNotCompare [0]func()
