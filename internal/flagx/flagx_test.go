package flagx

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"
)

// listValue is a Var flag whose zero value prints "", like lispd's own.
type listValue struct{ v *[]string }

func (l listValue) String() string {
	if l.v == nil {
		return ""
	}
	return strings.Join(*l.v, ",")
}

func (l listValue) Set(s string) error {
	if s == "bad" {
		return errors.New("bad item")
	}
	*l.v = append(*l.v, s)
	return nil
}

// definer is what both flag sets offer to define flags.
type definer interface {
	String(name, value, usage string) *string
	Bool(name string, value bool, usage string) *bool
	Int(name string, value int, usage string) *int
	Uint(name string, value uint, usage string) *uint
}

// values defines the same flags on a set and returns a function that prints
// their current values.
func values(d definer, list func(v flag.Value, name, usage string)) func() string {
	s := d.String("c", "/etc/x.toml", "configuration `FILE`")
	e := d.String("empty", "", "a string without default")
	b := d.Bool("v", false, "verbose")
	bt := d.Bool("json", true, "JSON output\nover two lines")
	n := d.Int("n", 1, "send `COUNT` requests")
	z := d.Int("zero", 0, "an int")
	u := d.Uint("iid", 0, "instance-id `N`")
	u7 := d.Uint("u7", 7, "a uint")
	var l []string
	list(listValue{&l}, "device", "IFACE=DEV (repeatable)")
	list(listValue{&[]string{"a"}}, "preset", "a list with a default")
	return func() string {
		return fmt.Sprintf("c=%q empty=%q v=%v json=%v n=%d zero=%d iid=%d u7=%d device=%q", *s, *e, *b, *bt, *n, *z, *u, *u7, l)
	}
}

// TestSameAsFlag runs the same definitions and command lines through
// package flag and flagx and compares everything a caller sees: the error,
// the arguments left, the values, what was printed, and Visit's flags.
func TestSameAsFlag(t *testing.T) {
	cases := [][]string{
		nil,
		{"-c", "a.toml", "rest", "-n", "2"},
		{"--c=a.toml", "-v", "-json=false", "--", "-n"},
		{"-n", "0x10", "-iid", "4294967295", "-zero=-3"},
		{"-device", "lan=br-lan", "-device=wan=eth0", "x"},
		{"-x"}, {"-n"}, {"-n", "abc"}, {"-n", "99999999999999999999"}, {"-iid", "-1"},
		{"-v=maybe"}, {"---x"}, {"-=x"}, {"--"}, {"-"}, {"-device", "bad"},
		{"-h"}, {"--help"}, {"-help=1"}, {"-c"}, {"-v", "true"}, {"-u7", ""},
	}
	for _, args := range cases {
		var outStd, outX bytes.Buffer
		std := flag.NewFlagSet("lispd t", flag.ContinueOnError)
		std.SetOutput(&outStd)
		valStd := values(std, std.Var)
		x := NewFlagSet("lispd t", ContinueOnError)
		x.SetOutput(&outX)
		valX := values(x, func(v flag.Value, name, usage string) { x.Var(v, name, usage) })

		errStd, errX := std.Parse(args), x.Parse(args)
		if fmt.Sprint(errStd) != fmt.Sprint(errX) || errors.Is(errStd, flag.ErrHelp) != errors.Is(errX, ErrHelp) {
			t.Errorf("%q: error %v, flag's %v", args, errX, errStd)
		}
		if fmt.Sprintf("%q", x.Args()) != fmt.Sprintf("%q", std.Args()) || x.NArg() != std.NArg() || x.Arg(0) != std.Arg(0) {
			t.Errorf("%q: args %q, flag's %q", args, x.Args(), std.Args())
		}
		if valX() != valStd() {
			t.Errorf("%q: values\n%s\nflag's\n%s", args, valX(), valStd())
		}
		// The one difference: a parse error is printed after the set's name.
		if errX != nil && !errors.Is(errX, ErrHelp) && !strings.HasPrefix(outX.String(), "lispd t: "+errX.Error()+"\n") {
			t.Errorf("%q: printed %q, want the error after the set's name", args, outX.String())
		}
		if got := strings.Replace(outX.String(), "lispd t: ", "", 1); got != outStd.String() {
			t.Errorf("%q: printed\n%s\nflag printed\n%s", args, outX.String(), outStd.String())
		}
		var setStd, setX []string
		std.Visit(func(f *flag.Flag) { setStd = append(setStd, f.Name+"="+f.Value.String()) })
		x.Visit(func(f *Flag) { setX = append(setX, f.Name+"="+f.Value.String()) })
		if fmt.Sprint(setX) != fmt.Sprint(setStd) {
			t.Errorf("%q: Visit %v, flag's %v", args, setX, setStd)
		}
	}
}

// TestPrintDefaultsSameAsFlag compares the help text, and VisitAll's order,
// with package flag's for flags defined out of order.
func TestPrintDefaultsSameAsFlag(t *testing.T) {
	var outStd, outX bytes.Buffer
	std := flag.NewFlagSet("t", flag.ContinueOnError)
	std.SetOutput(&outStd)
	values(std, std.Var)
	std.PrintDefaults()
	x := NewFlagSet("t", ContinueOnError)
	x.SetOutput(&outX)
	values(x, func(v flag.Value, name, usage string) { x.Var(v, name, usage) })
	x.PrintDefaults()
	if outX.String() != outStd.String() {
		t.Errorf("PrintDefaults:\n%s\nflag's:\n%s", outX.String(), outStd.String())
	}
	if !strings.Contains(outX.String(), `(default "/etc/x.toml")`) || !strings.Contains(outX.String(), "  -v\tverbose\n") {
		t.Errorf("PrintDefaults lacks a quoted default or the one-line bool form:\n%s", outX.String())
	}
	var all []string
	x.VisitAll(func(f *Flag) { all = append(all, f.Name) })
	var allStd []string
	std.VisitAll(func(f *flag.Flag) { allStd = append(allStd, f.Name) })
	if fmt.Sprint(all) != fmt.Sprint(allStd) {
		t.Errorf("VisitAll %v, flag's %v", all, allStd)
	}

	// No Usage function: "Usage of NAME:" and the defaults, as flag prints.
	outStd.Reset()
	outX.Reset()
	std.Parse([]string{"-h"})
	x.Parse([]string{"-h"})
	if !strings.HasPrefix(outX.String(), "Usage of t:\n") || outX.String() != outStd.String() {
		t.Errorf("default usage:\n%s\nflag's:\n%s", outX.String(), outStd.String())
	}
}

// TestRedefinePanics: a repeated name is a programming error, as in flag.
func TestRedefinePanics(t *testing.T) {
	x := NewFlagSet("t", ContinueOnError)
	x.SetOutput(&bytes.Buffer{})
	x.Bool("v", false, "")
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "t flag redefined: v") {
			t.Errorf("recovered %v", r)
		}
	}()
	x.String("v", "", "")
}
