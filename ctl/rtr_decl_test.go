package ctl

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"testing"
)

// The build without the RTR role (-tags nortr, rtr_none.go) declares the
// role's exported types and constants as rtr.go does, doc comments and
// all, so that code using them means the same in either build; and it
// stubs only functions the role has (rtr.go, rtr_carry.go).
func TestRTRNoneDeclarations(t *testing.T) {
	full, fullFuncs := rtrDecls(t, "rtr.go", "rtr_carry.go")
	none, noneFuncs := rtrDecls(t, "rtr_none.go")
	for _, name := range []string{"DefaultDataPort", "RTROptions", "RTRBinding", "RTRStats"} {
		switch {
		case full[name] == "":
			t.Errorf("rtr.go does not declare %s", name)
		case none[name] != full[name]:
			t.Errorf("rtr_none.go's %s differs from rtr.go's:\n%s\nwant\n%s", name, none[name], full[name])
		}
	}
	for name := range none {
		if _, ok := full[name]; !ok && ast.IsExported(name) {
			t.Errorf("rtr_none.go declares %s, which rtr.go does not", name)
		}
	}
	if len(noneFuncs) == 0 {
		t.Fatal("rtr_none.go declares no function: cannot check")
	}
	for name := range noneFuncs {
		if !fullFuncs[name] {
			t.Errorf("rtr_none.go stubs %s, which the RTR role does not have", name)
		}
	}
}

// rtrDecls returns the exported constants and types the files declare,
// each printed with its doc comment, and their functions by name
// (receiver type.name for methods).
func rtrDecls(t *testing.T, files ...string) (map[string]string, map[string]bool) {
	t.Helper()
	decls, funcs := map[string]string{}, map[string]bool{}
	for _, file := range files {
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, file, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				name := d.Name.Name
				if d.Recv != nil {
					var b bytes.Buffer
					printer.Fprint(&b, fset, d.Recv.List[0].Type)
					name = b.String() + "." + name
				}
				funcs[name] = true
			case *ast.GenDecl:
				if d.Tok != token.CONST && d.Tok != token.TYPE {
					continue
				}
				for _, s := range d.Specs {
					var id *ast.Ident
					switch s := s.(type) {
					case *ast.TypeSpec:
						id = s.Name
					case *ast.ValueSpec:
						id = s.Names[0]
					}
					if !id.IsExported() {
						continue
					}
					var b bytes.Buffer
					node := any(s)
					if len(d.Specs) == 1 {
						node = d // with the declaration's doc comment
					}
					if err := printer.Fprint(&b, fset, &printer.CommentedNode{Node: node, Comments: f.Comments}); err != nil {
						t.Fatal(err)
					}
					decls[id.Name] = b.String()
				}
			}
		}
	}
	return decls, funcs
}
