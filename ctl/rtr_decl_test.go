package ctl

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"testing"
)

// The build without the RTR role (-tags nortr, rtr_none.go) stubs only
// functions the role has (rtr.go, rtr_carry.go), and declares no exported
// name of its own: the role's exported types are shared (rtr_types.go).
func TestRTRNoneDeclarations(t *testing.T) {
	fullFuncs, _ := rtrDecls(t, "rtr.go", "rtr_carry.go")
	noneFuncs, noneExported := rtrDecls(t, "rtr_none.go")
	if len(noneFuncs) == 0 {
		t.Fatal("rtr_none.go declares no function: cannot check")
	}
	for name := range noneFuncs {
		if !fullFuncs[name] {
			t.Errorf("rtr_none.go stubs %s, which the RTR role does not have", name)
		}
	}
	for _, name := range noneExported {
		t.Errorf("rtr_none.go declares %s: exported RTR names belong in rtr_types.go", name)
	}
}

// rtrDecls returns the functions the files declare, by name (receiver
// type.name for methods), and their exported constants and types.
func rtrDecls(t *testing.T, files ...string) (funcs map[string]bool, exported []string) {
	t.Helper()
	funcs = map[string]bool{}
	for _, file := range files {
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, file, nil, 0)
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
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() {
							exported = append(exported, s.Name.Name)
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() {
								exported = append(exported, n.Name)
							}
						}
					}
				}
			}
		}
	}
	return funcs, exported
}
