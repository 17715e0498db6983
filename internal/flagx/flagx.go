// Package flagx is the subset of the standard flag package that lispd's
// commands use, with the same parsing, messages and help text, in less code.
//
// Issue 6's size budget: package flag sorts its flags with a generic
// slices.SortFunc instantiation and finds zero values by reflection; with
// the parser and help printer that is ~35 KB of the MIPS binary. Here flags
// are kept sorted as they are defined and each kind knows its zero value.
// Only ContinueOnError is supported: Parse returns its errors.
package flagx

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/lispd/lispd/internal/consterr"
	"github.com/lispd/lispd/internal/nocmp"
)

// ErrHelp is the error Parse returns for -h or -help when no such flag is
// defined.
const ErrHelp = consterr.Error("flag: help requested")

// errParse and errRange are the Set errors of the built-in kinds, worded as
// package flag words them.
const (
	errParse = consterr.Error("parse error")
	errRange = consterr.Error("value out of range")
)

// ErrorHandling exists for call compatibility with package flag; only
// ContinueOnError is supported.
type ErrorHandling int

// ContinueOnError makes Parse return a descriptive error.
const ContinueOnError ErrorHandling = 0

// Value is the dynamic value of a flag. String must return "" for the
// type's zero value (help shows a default only when it differs).
type Value interface {
	String() string
	Set(string) error
}

// kind tells the built-in value types apart, for help text and parsing.
type kind uint8

const (
	kindVar kind = iota // a Value given to Var
	kindString
	kindBool
	kindInt
	kindUint
)

// Flag is one defined flag.
type Flag struct {
	_ nocmp.DoNotCompare

	Name     string // name as it appears on the command line
	Usage    string // help message
	Value    Value  // value as set
	DefValue string // default value (as text), for the help message

	kind kind
	set  bool // given on the command line
}

// FlagSet is a set of defined flags, like flag.FlagSet.
type FlagSet struct {
	// Usage is called when Parse meets -h/-help or an error; nil prints
	// "Usage of NAME:" and PrintDefaults.
	Usage func()

	name   string
	flags  []*Flag // sorted by name
	args   []string
	output io.Writer
}

// NewFlagSet returns an empty flag set with the given name. Only
// ContinueOnError is supported.
func NewFlagSet(name string, _ ErrorHandling) *FlagSet {
	return &FlagSet{name: name}
}

// Name returns the name of the flag set.
func (f *FlagSet) Name() string { return f.name }

// Output returns where usage and error messages go: os.Stderr unless set.
func (f *FlagSet) Output() io.Writer {
	if f.output == nil {
		return os.Stderr
	}
	return f.output
}

// SetOutput sets where usage and error messages go; nil means os.Stderr.
func (f *FlagSet) SetOutput(w io.Writer) { f.output = w }

// Args returns the arguments left after the flags.
func (f *FlagSet) Args() []string { return f.args }

// NArg is the number of arguments left after the flags.
func (f *FlagSet) NArg() int { return len(f.args) }

// Arg returns the i'th argument left after the flags, or "".
func (f *FlagSet) Arg(i int) string {
	if i < 0 || i >= len(f.args) {
		return ""
	}
	return f.args[i]
}

// VisitAll calls fn for every flag, in lexicographical order of names.
func (f *FlagSet) VisitAll(fn func(*Flag)) {
	for _, fl := range f.flags {
		fn(fl)
	}
}

// Visit calls fn for every flag that has been set, in lexicographical order.
func (f *FlagSet) Visit(fn func(*Flag)) {
	for _, fl := range f.flags {
		if fl.set {
			fn(fl)
		}
	}
}

// lookup returns the flag called name, or nil.
func (f *FlagSet) lookup(name string) *Flag {
	for _, fl := range f.flags {
		if fl.Name == name {
			return fl
		}
	}
	return nil
}

// Var defines a flag whose value is v; its default is v's current value.
func (f *FlagSet) Var(v Value, name, usage string) { f.define(v, name, usage, kindVar) }

// define adds a flag, keeping f.flags sorted. Like package flag it panics
// (a programming error) on a bad or repeated name.
func (f *FlagSet) define(v Value, name, usage string, k kind) {
	if strings.HasPrefix(name, "-") {
		panic(f.sprintf("flag %q begins with -", name))
	} else if strings.Contains(name, "=") {
		panic(f.sprintf("flag %q contains =", name))
	}
	if f.lookup(name) != nil {
		if f.name == "" {
			panic(f.sprintf("flag redefined: %s", name))
		}
		panic(f.sprintf("%s flag redefined: %s", f.name, name))
	}
	fl := &Flag{Name: name, Usage: usage, Value: v, DefValue: v.String(), kind: k}
	i := len(f.flags)
	for i > 0 && f.flags[i-1].Name > name {
		i--
	}
	f.flags = append(f.flags, nil)
	copy(f.flags[i+1:], f.flags[i:])
	f.flags[i] = fl
}

// StringVar defines a string flag stored in p.
func (f *FlagSet) StringVar(p *string, name, value, usage string) {
	*p = value
	f.define((*stringValue)(p), name, usage, kindString)
}

// String defines a string flag and returns where its value is stored.
func (f *FlagSet) String(name, value, usage string) *string {
	p := new(string)
	f.StringVar(p, name, value, usage)
	return p
}

// BoolVar defines a bool flag stored in p.
func (f *FlagSet) BoolVar(p *bool, name string, value bool, usage string) {
	*p = value
	f.define((*boolValue)(p), name, usage, kindBool)
}

// Bool defines a bool flag and returns where its value is stored.
func (f *FlagSet) Bool(name string, value bool, usage string) *bool {
	p := new(bool)
	f.BoolVar(p, name, value, usage)
	return p
}

// IntVar defines an int flag stored in p.
func (f *FlagSet) IntVar(p *int, name string, value int, usage string) {
	*p = value
	f.define((*intValue)(p), name, usage, kindInt)
}

// Int defines an int flag and returns where its value is stored.
func (f *FlagSet) Int(name string, value int, usage string) *int {
	p := new(int)
	f.IntVar(p, name, value, usage)
	return p
}

// UintVar defines a uint flag stored in p.
func (f *FlagSet) UintVar(p *uint, name string, value uint, usage string) {
	*p = value
	f.define((*uintValue)(p), name, usage, kindUint)
}

// Uint defines a uint flag and returns where its value is stored.
func (f *FlagSet) Uint(name string, value uint, usage string) *uint {
	p := new(uint)
	f.UintVar(p, name, value, usage)
	return p
}

// Parse parses flags from arguments (without the command name), stopping at
// the first non-flag argument or after "--". -h and -help, unless defined,
// call Usage and return ErrHelp.
func (f *FlagSet) Parse(arguments []string) error {
	f.args = arguments
	for {
		seen, err := f.parseOne()
		if !seen {
			return err
		}
	}
}

// parseOne parses one flag; seen is false at the end of the flags.
func (f *FlagSet) parseOne() (seen bool, err error) {
	if len(f.args) == 0 {
		return false, nil
	}
	s := f.args[0]
	if len(s) < 2 || s[0] != '-' {
		return false, nil
	}
	minuses := 1
	if s[1] == '-' {
		minuses++
		if len(s) == 2 { // "--" ends the flags
			f.args = f.args[1:]
			return false, nil
		}
	}
	name := s[minuses:]
	if len(name) == 0 || name[0] == '-' || name[0] == '=' {
		return false, f.failf("bad flag syntax: " + s)
	}
	f.args = f.args[1:]
	hasValue, value := false, ""
	if i := strings.IndexByte(name[1:], '='); i >= 0 { // '=' cannot be first
		name, value, hasValue = name[:i+1], name[i+2:], true
	}
	fl := f.lookup(name)
	if fl == nil {
		if name == "help" || name == "h" {
			f.usage()
			return false, ErrHelp
		}
		return false, f.failf("flag provided but not defined: -" + name)
	}
	if fl.kind == kindBool {
		if !hasValue {
			value = "true"
		}
		if err := fl.Value.Set(value); err != nil {
			if !hasValue {
				return false, f.failf("invalid boolean flag " + name + ": " + err.Error())
			}
			return false, f.failf("invalid boolean value " + strconv.Quote(value) + " for -" + name + ": " + err.Error())
		}
	} else {
		if !hasValue && len(f.args) > 0 {
			hasValue = true
			value, f.args = f.args[0], f.args[1:]
		}
		if !hasValue {
			return false, f.failf("flag needs an argument: -" + name)
		}
		if err := fl.Value.Set(value); err != nil {
			return false, f.failf("invalid value " + strconv.Quote(value) + " for flag -" + name + ": " + err.Error())
		}
	}
	fl.set = true
	return true, nil
}

// sprintf prints a formatted message and a newline to Output and returns
// the message.
func (f *FlagSet) sprintf(format string, a ...any) string {
	msg := fmt.Sprintf(format, a...)
	fmt.Fprintln(f.Output(), msg)
	return msg
}

// failf prints msg, after the set's name (unlike package flag: lispd's
// messages all start with the command), and the usage, and returns msg as
// an error.
func (f *FlagSet) failf(msg string) error {
	io.WriteString(f.Output(), f.name+": "+msg+"\n")
	f.usage()
	return errors.New(msg)
}

// usage calls Usage, or prints the default usage message.
func (f *FlagSet) usage() {
	if f.Usage != nil {
		f.Usage()
		return
	}
	if f.name == "" {
		io.WriteString(f.Output(), "Usage:\n")
	} else {
		io.WriteString(f.Output(), "Usage of "+f.name+":\n")
	}
	f.PrintDefaults()
}

// UnquoteUsage returns the name in back quotes in fl's usage (or the name
// of its value type) and the usage without the quotes: for "a `name` to
// show", ("name", "a name to show").
func UnquoteUsage(fl *Flag) (name, usage string) {
	usage = fl.Usage
	if i := strings.IndexByte(usage, '`'); i >= 0 {
		if j := strings.IndexByte(usage[i+1:], '`'); j >= 0 {
			name = usage[i+1 : i+1+j]
			return name, usage[:i] + name + usage[i+2+j:]
		}
	}
	switch fl.kind {
	case kindBool:
		return "", usage
	case kindInt:
		return "int", usage
	case kindUint:
		return "uint", usage
	case kindString:
		return "string", usage
	}
	return "value", usage
}

// zero is the text of the zero value of fl's type.
func (fl *Flag) zero() string {
	switch fl.kind {
	case kindBool:
		return "false"
	case kindInt, kindUint:
		return "0"
	}
	return ""
}

// PrintDefaults prints every flag with its usage and, when it is not the
// zero value, its default, exactly as package flag does.
func (f *FlagSet) PrintDefaults() {
	var b strings.Builder
	for _, fl := range f.flags {
		b.Reset()
		b.WriteString("  -" + fl.Name) // two spaces before -
		name, usage := UnquoteUsage(fl)
		if name != "" {
			b.WriteString(" " + name)
		}
		// A one-letter flag without a value name has its usage on the same line.
		if b.Len() <= 4 {
			b.WriteString("\t")
		} else {
			b.WriteString("\n    \t") // four spaces align for 4- and 8-space tabs
		}
		b.WriteString(strings.ReplaceAll(usage, "\n", "\n    \t"))
		if fl.DefValue != fl.zero() {
			if fl.kind == kindString {
				b.WriteString(" (default " + strconv.Quote(fl.DefValue) + ")")
			} else {
				b.WriteString(" (default " + fl.DefValue + ")")
			}
		}
		b.WriteString("\n")
		io.WriteString(f.Output(), b.String())
	}
}

// stringValue, boolValue, intValue and uintValue are the built-in kinds.
type (
	stringValue string
	boolValue   bool
	intValue    int
	uintValue   uint
)

func (s *stringValue) Set(v string) error { *s = stringValue(v); return nil }
func (s *stringValue) String() string     { return string(*s) }

func (b *boolValue) Set(v string) error {
	x, err := strconv.ParseBool(v)
	*b = boolValue(x)
	if err != nil {
		return errParse
	}
	return nil
}
func (b *boolValue) String() string { return strconv.FormatBool(bool(*b)) }

func (i *intValue) Set(v string) error {
	x, err := strconv.ParseInt(v, 0, strconv.IntSize)
	*i = intValue(x)
	return numError(err)
}
func (i *intValue) String() string { return strconv.Itoa(int(*i)) }

func (u *uintValue) Set(v string) error {
	x, err := strconv.ParseUint(v, 0, strconv.IntSize)
	*u = uintValue(x)
	return numError(err)
}
func (u *uintValue) String() string { return strconv.FormatUint(uint64(*u), 10) }

// numError words a strconv error as package flag does.
func numError(err error) error {
	if err == nil {
		return nil
	}
	if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
		return errRange
	}
	return errParse
}
