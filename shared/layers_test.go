package shared_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the README's layer diagram")

const module = "github.com/lanyardhq/lanyard"

// Layers, lowest first. A package may import (outside its tests) only packages of its own layer
// or a lower one; fakes are imported only by tests and by other fakes; above is everything
// built on shared/ (api/, topology/, infra/, local/, cmd/, functions/, integration/).
const (
	leaf = iota // events/ and policy/: contracts every layer may read
	platform
	domain
	stores
	features
	fakes
	above
)

var layerNames = []string{"leaf", "platform", "domain", "stores", "features", "fakes", "above"}

// layer says which layer a package of the module (its path inside the module) belongs to.
func layer(pkg string) int {
	first, rest, _ := strings.Cut(pkg, "/")
	switch {
	case pkg == "events" || pkg == "policy":
		return leaf
	case first != "shared" || pkg == "shared": // shared itself holds only this test
		return above
	}
	switch group, _, _ := strings.Cut(rest, "/"); group {
	case "platform":
		return platform
	case "domain":
		return domain
	case "stores":
		return stores
	case "features":
		return features
	case "fakes":
		return fakes
	}
	return -1
}

// node is the diagram's box a package is drawn in: its layer's folder, and each top-level
// folder above shared/ on its own (policy/'s command apart from the leaf).
func node(pkg string) string {
	if strings.HasPrefix(pkg, "policy/cmd/") {
		return "policy/cmd"
	}
	first, rest, _ := strings.Cut(pkg, "/")
	if first == "shared" {
		group, _, _ := strings.Cut(rest, "/")
		return "shared/" + group
	}
	return first
}

// pkgImports is one package's imports inside the module, its own and its tests'.
type pkgImports struct {
	Path    string // inside the module: "shared/features/token"
	Imports []string
	Tests   []string
}

// allowedUp are imports allowed to run up, each until the change that removes it (none today).
// TestImportsRunDownward fails when one of them is gone, so that its entry goes too.
var allowedUp = []string{}

// violations lists every import that runs back up, one line each, but those in allowed.
func violations(pkgs []pkgImports, allowed ...string) []string {
	var out []string
	for _, p := range pkgs {
		from := layer(p.Path)
		if from < 0 {
			out = append(out, fmt.Sprintf("%s: in no layer (shared/ holds platform/, domain/, stores/, features/, fakes/)", p.Path))
			continue
		}
		for _, imp := range p.Imports {
			if slices.Contains(allowed, p.Path+" -> "+imp) {
				continue
			}
			to := layer(imp)
			switch {
			case to == fakes && from != fakes:
				out = append(out, fmt.Sprintf("%s imports %s: fakes are for tests and other fakes", p.Path, imp))
			case to > from && from != fakes:
				out = append(out, fmt.Sprintf("%s (%s) imports %s (%s): imports run downward only", p.Path, layerNames[from], imp, layerNames[to]))
			case from == fakes && to == above:
				out = append(out, fmt.Sprintf("%s (fakes) imports %s (above): imports run downward only", p.Path, imp))
			}
		}
	}
	return out
}

// listPackages reads every package of the module with `go list`, with and without the build
// tags some files carry, and keeps the imports inside the module.
func listPackages(t *testing.T) []pkgImports {
	t.Helper()
	byPath := map[string]*pkgImports{}
	var order []string
	for _, tags := range []string{"", "integration,faultinject,lanyardlocal"} {
		cmd := exec.Command("go", "list", "-e", "-json", "-tags", tags, "./...")
		cmd.Dir = ".."
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -tags %q: %v\n%s", tags, err, stderr.String())
		}
		dec := json.NewDecoder(bytes.NewReader(out))
		for {
			var p struct {
				ImportPath   string
				Imports      []string
				TestImports  []string
				XTestImports []string
			}
			if err := dec.Decode(&p); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("go list output: %v", err)
			}
			path, ok := inModule(p.ImportPath)
			if !ok {
				continue
			}
			e := byPath[path]
			if e == nil {
				e = &pkgImports{Path: path}
				byPath[path] = e
				order = append(order, path)
			}
			e.Imports = merge(e.Imports, p.Imports, path)
			e.Tests = merge(e.Tests, append(p.TestImports, p.XTestImports...), path)
		}
	}
	slices.Sort(order)
	pkgs := make([]pkgImports, 0, len(order))
	for _, path := range order {
		pkgs = append(pkgs, *byPath[path])
	}
	return pkgs
}

func inModule(importPath string) (string, bool) {
	if importPath == module {
		return "", true
	}
	return strings.CutPrefix(importPath, module+"/")
}

// merge adds the imports inside the module (but self) to have, sorted, each once.
func merge(have, imports []string, self string) []string {
	for _, imp := range imports {
		if p, ok := inModule(imp); ok && p != self && !slices.Contains(have, p) {
			have = append(have, p)
		}
	}
	slices.Sort(have)
	return have
}

func TestImportsRunDownward(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages of the module", len(pkgs))
	}
	for _, v := range violations(pkgs, allowedUp...) {
		t.Error(v)
	}
	for _, a := range allowedUp {
		from, to, _ := strings.Cut(a, " -> ")
		if i := slices.IndexFunc(pkgs, func(p pkgImports) bool { return p.Path == from }); i < 0 || !slices.Contains(pkgs[i].Imports, to) {
			t.Errorf("%s no longer runs up: remove it from allowedUp", a)
		}
	}
	// The leaves import nothing of the module but each other.
	for _, p := range pkgs {
		if layer(p.Path) != leaf {
			continue
		}
		for _, imp := range p.Imports {
			if layer(imp) != leaf {
				t.Errorf("%s is a leaf and imports %s", p.Path, imp)
			}
		}
	}
}

func TestViolationsNameEveryImportThatRunsUp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		pkg  pkgImports
		bad  bool
	}{
		{"feature on platform, domain, stores", pkgImports{Path: "shared/features/token", Imports: []string{"shared/platform/problem", "shared/domain/policy", "shared/stores/registry", "events"}}, false},
		{"feature on feature", pkgImports{Path: "shared/features/rollover", Imports: []string{"shared/features/partner"}}, false},
		{"test on fakes and topology", pkgImports{Path: "shared/features/token", Tests: []string{"shared/fakes/dynamodbtest", "topology"}}, false},
		{"fake on fake and store", pkgImports{Path: "shared/fakes/outboxtest", Imports: []string{"shared/fakes/dynamodbtest", "shared/stores/outbox"}}, false},
		{"above on everything but fakes", pkgImports{Path: "local/front", Imports: []string{"topology", "shared/features/authorizer"}}, false},
		{"leaf on platform", pkgImports{Path: "events", Imports: []string{"shared/platform/jsoncheck"}}, true},
		{"platform on topology", pkgImports{Path: "shared/platform/problem", Imports: []string{"topology"}}, true},
		{"feature on api", pkgImports{Path: "shared/features/invite", Imports: []string{"api"}}, true},
		{"platform on domain", pkgImports{Path: "shared/platform/apigw", Imports: []string{"shared/domain/policy"}}, true},
		{"domain on store", pkgImports{Path: "shared/domain/credential", Imports: []string{"shared/stores/registry"}}, true},
		{"store on feature", pkgImports{Path: "shared/stores/outbox", Imports: []string{"shared/features/relay"}}, true},
		{"feature on fake", pkgImports{Path: "shared/features/relay", Imports: []string{"shared/fakes/outboxtest"}}, true},
		{"function on fake", pkgImports{Path: "functions/token", Imports: []string{"shared/fakes/secrettest"}}, true},
		{"fake on local", pkgImports{Path: "shared/fakes/dynamodbtest", Imports: []string{"local/provision"}}, true},
		{"package in no layer", pkgImports{Path: "shared/misc"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := violations([]pkgImports{tt.pkg}); (len(got) > 0) != tt.bad {
				t.Errorf("violations(%+v) = %q, want some: %t", tt.pkg, got, tt.bad)
			}
		})
	}
}

// Markers of the README's layer diagram.
const (
	diagramBegin = "<!-- layer diagram: generated by `go test ./shared -run TestREADMELayerDiagramIsCurrent -update` from the imports — do not edit -->"
	diagramEnd   = "<!-- end of layer diagram -->"
)

// mermaid draws an edge from box to box wherever a package of one imports (outside its tests)
// a package of the other.
func mermaid(pkgs []pkgImports) string {
	edges := map[[2]string]bool{}
	for _, p := range pkgs {
		for _, imp := range p.Imports {
			if a, b := node(p.Path), node(imp); a != b {
				edges[[2]string{a, b}] = true
			}
		}
	}
	keys := make([][2]string, 0, len(edges))
	for e := range edges {
		keys = append(keys, e)
	}
	slices.SortFunc(keys, func(x, y [2]string) int {
		if c := strings.Compare(x[0], y[0]); c != 0 {
			return c
		}
		return strings.Compare(x[1], y[1])
	})
	id := func(n string) string { return strings.NewReplacer("/", "_", "-", "_").Replace(n) }
	var b strings.Builder
	b.WriteString("```mermaid\nflowchart TD\n")
	for _, e := range keys {
		fmt.Fprintf(&b, "  %s[%s] --> %s[%s]\n", id(e[0]), e[0], id(e[1]), e[1])
	}
	b.WriteString("```\n")
	return b.String()
}

func TestREADMELayerDiagramIsCurrent(t *testing.T) {
	const readme = "../README.md"
	doc, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok := strings.Cut(string(doc), diagramBegin+"\n")
	_, after, ok2 := strings.Cut(rest, diagramEnd)
	if !ok || !ok2 {
		t.Fatalf("README.md lacks the layer diagram's markers %q and %q", diagramBegin, diagramEnd)
	}
	want := before + diagramBegin + "\n" + mermaid(listPackages(t)) + diagramEnd + after
	if *update {
		if err := os.WriteFile(readme, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if want != string(doc) {
		t.Fatal("the README's layer diagram is stale: run `go test ./shared -run TestREADMELayerDiagramIsCurrent -update`")
	}
}
