package conf

import "testing"

func TestScanPositions(t *testing.T) {
	src := `# comment with [brackets] and = signs
title = "a [b] # c"   # trailing
"quoted.key" = 1
dotted.inner = 2
multi = """
[not_a_table]
x = 1 \"""
"""
lit = '''
[[nope]]'''
arr = [
  1, # comment ]
  [2, 3],
  { a = 1, b = { c = 2 } },
]

[t]
k = 'v'

[[t.arr]]
x = 1
[[t.arr]]
  x = 2
[[t.arr.sub]]
y = 3
[t.arr.tab]
z = 4

[[t.arr]]
inline = [{ p = 1 }, { p = 2, q = "}" }]
`
	ps := scanPositions([]byte(src))
	want := map[string]position{
		"title":                {2, 1},
		`"quoted.key"`:         {3, 1},
		"dotted":               {4, 1},
		"dotted.inner":         {4, 1},
		"multi":                {5, 1},
		"lit":                  {9, 1},
		"arr":                  {11, 1},
		"arr[0]":               {12, 3},
		"arr[1]":               {13, 3},
		"arr[1][1]":            {13, 7},
		"arr[2]":               {14, 3},
		"arr[2].a":             {14, 5},
		"arr[2].b.c":           {14, 18},
		"t":                    {17, 2},
		"t.k":                  {18, 1},
		"t.arr[0]":             {20, 3},
		"t.arr[0].x":           {21, 1},
		"t.arr[1]":             {22, 3},
		"t.arr[1].x":           {23, 3},
		"t.arr[1].sub[0]":      {24, 3},
		"t.arr[1].sub[0].y":    {25, 1},
		"t.arr[1].tab":         {26, 2},
		"t.arr[1].tab.z":       {27, 1},
		"t.arr[2].inline[0].p": {30, 13},
		"t.arr[2].inline[1].q": {30, 31},
		"t.arr[2].inline[1]":   {30, 22},
		"t.arr[2].inline":      {30, 1},
	}
	for k, w := range want {
		if got, ok := ps.at[k]; !ok || got != w {
			t.Errorf("%s: got %v (found %v), want %v", k, got, ok, w)
		}
	}
	for _, bogus := range []string{"not_a_table", "nope", "x"} {
		if _, ok := ps.at[bogus]; ok {
			t.Errorf("%s indexed from inside a string", bogus)
		}
	}
	// Fallback to the nearest ancestor written in the file.
	if got := ps.find("t.arr[1].sub[0].missing"); got != (position{24, 3}) {
		t.Errorf("fallback: got %v", got)
	}
	if got := ps.find("nothing.here"); got != (position{1, 1}) {
		t.Errorf("fallback to file start: got %v", got)
	}
}

func TestParentPath(t *testing.T) {
	cases := map[string]string{
		"a.b[2]": "a.b", "a.b": "a", "a": "", `a."x.y"`: "a", `"x.y"`: "", "a[0][1]": "a[0]", "": "",
	}
	for in, want := range cases {
		if got := parentPath(in); got != want {
			t.Errorf("parentPath(%q) = %q, want %q", in, got, want)
		}
	}
}
