package main

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/lispd/lispd/conf"
)

// deepSameDataPlane and deepSameNode are sameDataPlane and sameNode as
// they were written with reflect.DeepEqual: the oracle the versions that
// compare encodings must agree with.
func deepSameDataPlane(a, b *conf.XTR) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, y := *a, *b
	for _, c := range []*conf.XTR{&x, &y} {
		c.MapCache = nil
		c.MapServers = nil
		c.MapResolvers = nil
		c.RegisterInterval, c.MapRequestTimeout, c.RecordTTL = conf.Duration{}, conf.Duration{}, conf.Duration{}
		c.MapRequestRetries, c.MapRequestRate = 0, 0
		c.ProbeInterval, c.ProbeRetries, c.IdleTimeout = conf.Duration{}, 0, conf.Duration{}
		c.NATKeepalive = conf.Duration{}
		c.DecapAllow = nil
		c.RLOCs = withoutPriorities(c.RLOCs)
		c.PendingPackets, c.PendingTotal = 0, 0
		if c.KernelPath != "auto" {
			c.MapCacheLimit = 0
		}
	}
	return reflect.DeepEqual(x, y)
}

func deepSameNode(a, b *conf.Config) bool {
	strip := func(c *conf.Config) conf.Config {
		v := *c
		v.LogLevel, v.ControlSocket, v.Path = "", "", ""
		if v.XTR != nil {
			x := *v.XTR
			x.MapCache = nil
			x.MapCacheLimit, x.PendingPackets, x.PendingTotal = 0, 0, 0
			x.RLOCs = withoutPriorities(x.RLOCs)
			x.DecapAllow = nil
			v.XTR = &x
		}
		return v
	}
	return reflect.DeepEqual(strip(a), strip(b))
}

// TestSameAsDeepEqual changes one value anywhere in a random Config (each
// field of each section in turn, then anywhere at random: a leaf, a list
// made nil, empty or longer, a pointer made nil or set) and checks that
// sameDataPlane and sameNode answer as the DeepEqual versions do. Fields are
// found by reflection, so a field added to the schema later and not encoded
// makes this fail. Prefixes are valid or zero, as in every Config that
// passed validation.
func TestSameAsDeepEqual(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 6))
	var differ, same [2]int
	check := func(what string, a, b *conf.Config) {
		t.Helper()
		for _, p := range [][2]*conf.Config{{a, b}, {b, a}} {
			if got, want := sameDataPlane(p[0].XTR, p[1].XTR), deepSameDataPlane(p[0].XTR, p[1].XTR); got != want {
				t.Fatalf("%s: sameDataPlane = %v, DeepEqual version %v\na %+v\nb %+v", what, got, want, p[0].XTR, p[1].XTR)
			}
			got, want := sameNode(p[0], p[1]), deepSameNode(p[0], p[1])
			if got != want {
				t.Fatalf("%s: sameNode = %v, DeepEqual version %v\na %+v\nb %+v", what, got, want, p[0], p[1])
			}
			if got {
				same[1]++
			} else {
				differ[1]++
			}
		}
		if sameDataPlane(a.XTR, b.XTR) {
			same[0]++
		} else {
			differ[0]++
		}
	}
	random := func() *conf.Config {
		c := &conf.Config{XTR: &conf.XTR{}, MapServer: &conf.MapServer{}, RTR: &conf.RTR{}}
		fillSmall(r, reflect.ValueOf(c.XTR).Elem())
		fillSmall(r, reflect.ValueOf(c.MapServer).Elem())
		fillSmall(r, reflect.ValueOf(c.RTR).Elem())
		c.LogLevel, c.ControlSocket = "info", "/run/x"
		return c
	}
	for range 200 {
		a := random()
		check("clone", a, a.DeepCopy())
		for _, sec := range []reflect.Value{reflect.ValueOf(a).Elem(), reflect.ValueOf(a.XTR).Elem(), reflect.ValueOf(a.MapServer).Elem(), reflect.ValueOf(a.RTR).Elem()} {
			for i := range sec.NumField() {
				if !sec.Type().Field(i).IsExported() {
					continue // nocmp.DoNotCompare
				}
				b := a.DeepCopy()
				bv := reflect.ValueOf(b).Elem()
				switch sec.Type() {
				case reflect.TypeFor[conf.XTR]():
					bv = reflect.ValueOf(b.XTR).Elem()
				case reflect.TypeFor[conf.MapServer]():
					bv = reflect.ValueOf(b.MapServer).Elem()
				case reflect.TypeFor[conf.RTR]():
					bv = reflect.ValueOf(b.RTR).Elem()
				}
				mutate(r, bv.Field(i))
				check(sec.Type().Field(i).Name, a, b)
			}
		}
		for range 20 {
			b := a.DeepCopy()
			mutate(r, reflect.ValueOf(b).Elem())
			check("random change", a, b)
		}
	}
	if same[0] == 0 || differ[0] == 0 || same[1] == 0 || differ[1] == 0 {
		t.Fatalf("one-sided test: data plane same %d differ %d, node same %d differ %d", same[0], differ[0], same[1], differ[1])
	}
}

// fillSmall sets every field of v from small domains, so that a change
// often lands back on the same value.
func fillSmall(r *rand.Rand, v reflect.Value) {
	switch v.Interface().(type) {
	case netip.Addr:
		as := []netip.Addr{{}, netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("fe80::1%eth0")}
		v.Set(reflect.ValueOf(as[r.IntN(len(as))]))
		return
	case netip.Prefix:
		ps := []netip.Prefix{{}, netip.MustParsePrefix("198.51.100.0/25"), netip.MustParsePrefix("2001:db8::/32")}
		v.Set(reflect.ValueOf(ps[r.IntN(len(ps))]))
		return
	case conf.Duration:
		v.Set(reflect.ValueOf(conf.Duration{Duration: time.Duration(r.IntN(2)) * time.Second}))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString([]string{"", "a", "b"}[r.IntN(3)])
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 1)
	case reflect.Int, reflect.Uint32:
		if v.Kind() == reflect.Int {
			v.SetInt(int64(r.IntN(2)))
		} else {
			v.SetUint(uint64(r.IntN(2)))
		}
	case reflect.Pointer:
		if r.IntN(3) == 0 {
			v.SetZero()
			return
		}
		p := reflect.New(v.Type().Elem())
		fillSmall(r, p.Elem())
		v.Set(p)
	case reflect.Slice:
		switch r.IntN(4) {
		case 0:
			v.SetZero()
			return
		case 1:
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
			return
		}
		s := reflect.MakeSlice(v.Type(), 1+r.IntN(2), 2)
		for i := range s.Len() {
			fillSmall(r, s.Index(i))
		}
		v.Set(s)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillSmall(r, v.Field(i))
			}
		}
	default:
		panic("fillSmall: no values for " + v.Type().String())
	}
}

// mutate changes one value somewhere under v (possibly to the value it
// had). Lists are copied before an element changes: a DeepCopy may share
// nothing, but the test must not depend on it.
func mutate(r *rand.Rand, v reflect.Value) {
	switch v.Interface().(type) {
	case netip.Addr, netip.Prefix, conf.Duration:
		fillSmall(r, v)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() || r.IntN(3) == 0 {
			fillSmall(r, v)
			return
		}
		p := reflect.New(v.Type().Elem())
		p.Elem().Set(v.Elem())
		mutate(r, p.Elem())
		v.Set(p)
	case reflect.Slice:
		switch n := v.Len(); {
		case r.IntN(4) == 0:
			fillSmall(r, v)
		case n > 0 && r.IntN(2) == 0:
			c := reflect.AppendSlice(reflect.MakeSlice(v.Type(), 0, n), v)
			mutate(r, c.Index(r.IntN(n)))
			v.Set(c)
		default:
			e := reflect.New(v.Type().Elem()).Elem()
			fillSmall(r, e)
			v.Set(reflect.Append(reflect.AppendSlice(reflect.MakeSlice(v.Type(), 0, n+1), v), e))
		}
	case reflect.Struct:
		var exported []int
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				exported = append(exported, i)
			}
		}
		mutate(r, v.Field(exported[r.IntN(len(exported))]))
	default:
		fillSmall(r, v)
	}
}
