package main

import (
	"go/build/constraint"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// The fixture module's tagged tests are selected, whatever their form, and nothing else.
func TestSelectTakesOnlyTheTaggedTests(t *testing.T) {
	t.Chdir(filepath.Join("testdata", "mod"))
	sel, err := Select("integration", []string{"./..."})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"example.com/fixture/a": {"ExampleServers", "FuzzServers", "Test", "TestAgainstServers", "TestFromTheExternalPackage"},
	}
	if !reflect.DeepEqual(sel.Tests, want) {
		t.Errorf("selected %v, want %v", sel.Tests, want)
	}
	wantArgs := []string{"-run=^(ExampleServers|FuzzServers|Test|TestAgainstServers|TestFromTheExternalPackage)$", "example.com/fixture/a"}
	if got := sel.Args(); !slices.Equal(got, wantArgs) {
		t.Errorf("args %q, want %q", got, wantArgs)
	}
}

// A selection of nothing is an error, not a run that passes having tested nothing.
func TestSelectRefusesAnEmptySelection(t *testing.T) {
	t.Chdir(filepath.Join("testdata", "mod"))
	if _, err := Select("integration", []string{"./b/..."}); err == nil || !strings.Contains(err.Error(), "no test") {
		t.Errorf("selecting from a package without tagged tests: %v, want an error", err)
	}
}

// Every test function of every repository test file that only the integration tag builds is
// in the selection scripts/integration.sh runs: the check reads the build constraints itself,
// independently of go list, so a tagged test the selection missed fails here.
func TestEveryIntegrationTestOfTheRepositoryIsSelected(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(root)
	sel, err := Select("integration", []string{"./integration/...", "./local/...", "./shared/...", "./cmd/..."})
	if err != nil {
		t.Fatal(err)
	}
	selected := map[string]bool{}
	for _, names := range sel.Tests {
		for _, n := range names {
			selected[n] = true
		}
	}
	found := 0
	for _, top := range []string{"integration", "local", "shared", "cmd"} {
		err := filepath.WalkDir(top, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
				return nil
			}
			if !onlyWith(t, path, "integration") {
				return nil
			}
			names, err := testsIn(path)
			if err != nil {
				return err
			}
			for _, n := range names {
				found++
				if !selected[n] {
					t.Errorf("%s: %s is built only with the integration tag but not selected", path, n)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if found == 0 {
		t.Fatal("found no integration test in the repository: the check checks nothing")
	}
}

// onlyWith reports whether the file's build constraint holds with tag and not without it.
func onlyWith(t *testing.T, path, tag string) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "package ") {
			return false
		}
		if !constraint.IsGoBuild(line) {
			continue
		}
		expr, err := constraint.Parse(line)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		platform := func(x string) bool { return x == runtime.GOOS || x == runtime.GOARCH || x == "gc" || x == "unix" }
		return expr.Eval(func(x string) bool { return x == tag || platform(x) }) && !expr.Eval(platform)
	}
	return false
}
