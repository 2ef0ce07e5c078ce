package topology_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/lanyardhq/lanyard/topology"
)

// Each function's configuration struct is an unexported type of its main package, which no
// other package can import; so each main package's own test checks it against the topology
// (topologytest.CheckConfig), and this test makes sure every declared function has that test,
// naming itself.
func TestEveryFunctionChecksItsConfig(t *testing.T) {
	t.Parallel()
	for _, f := range topology.Lanyard().Functions {
		if !checksConfig(t, filepath.Join("..", f.Main), f.Name) {
			t.Errorf("function %s: no test in %s calls topologytest.CheckConfig(t, topology.Lanyard(), %q, config{})", f.Name, f.Main, f.Name)
		}
	}
}

func checksConfig(t *testing.T, dir, name string) bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, path := range files {
		file, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			t.Fatalf("parse %s: %v", path, err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 4 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "CheckConfig" {
				return true
			}
			if lit, ok := call.Args[2].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && s == name {
					found = true
				}
			}
			return true
		})
	}
	return found
}
