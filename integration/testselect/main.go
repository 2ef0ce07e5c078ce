// Command testselect names the tests that only a build tag brings into a package, so that a run
// with that tag runs those tests alone and not again the untagged ones `make unit` already ran.
//
//	go run ./integration/testselect [-tag integration] packages...
//
// prints the go test arguments, one a line: -run=^(TestA|TestB|…)$, then each package holding
// such a test. Which files a tag brings in is go list's answer (the go command's own reading of
// build constraints), so a new test in a tagged file is selected whatever its constraint says;
// the tests are read from those files' syntax (Test, Fuzz and Example functions as the testing
// package recognises them). A run pattern is one for all packages: a tagged test named like an
// untagged test of a selected package would run that one too, so the command refuses it.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

func main() {
	tag := flag.String("tag", "integration", "the build tag whose tests to select")
	flag.Parse()
	sel, err := Select(*tag, flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "testselect:", err)
		os.Exit(1)
	}
	for _, a := range sel.Args() {
		fmt.Println(a)
	}
}

// Selection is what a tagged run takes: the tests the tag brings in, by package.
type Selection struct {
	// Tests maps an import path to the names of its tagged tests, sorted.
	Tests map[string][]string
}

// Packages are the import paths holding a tagged test, sorted.
func (s Selection) Packages() []string {
	var out []string
	for p := range s.Tests {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Pattern is the -run pattern matching exactly the tagged tests (their subtests all run).
func (s Selection) Pattern() string {
	var names []string
	for _, ns := range s.Tests {
		names = append(names, ns...)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	for i, n := range names {
		names[i] = regexp.QuoteMeta(n)
	}
	return "^(" + strings.Join(names, "|") + ")$"
}

// Args are the go test arguments: the -run flag, then the packages. An empty selection is an
// error: a tagged run that selects nothing would pass having tested nothing.
func (s Selection) Args() []string {
	return append([]string{"-run=" + s.Pattern()}, s.Packages()...)
}

type listed struct {
	ImportPath   string
	Dir          string
	TestGoFiles  []string
	XTestGoFiles []string
	Error        *struct{ Err string }
}

func list(tags string, patterns []string) (map[string]listed, error) {
	args := []string{"list", "-json=ImportPath,Dir,TestGoFiles,XTestGoFiles,Error"}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	cmd := exec.Command("go", append(args, patterns...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list %s: %w: %s", strings.Join(patterns, " "), err, strings.TrimSpace(stderr.String()))
	}
	pkgs := map[string]listed{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listed
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("read go list's answer: %w", err)
		}
		if p.Error != nil {
			return nil, fmt.Errorf("go list %s: %s", p.ImportPath, p.Error.Err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs, nil
}

// Select lists patterns with and without tag and reads the tests of the files only the tag
// brings in.
func Select(tag string, patterns []string) (Selection, error) {
	with, err := list(tag, patterns)
	if err != nil {
		return Selection{}, err
	}
	without, err := list("", patterns)
	if err != nil {
		return Selection{}, err
	}
	sel := Selection{Tests: map[string][]string{}}
	untagged := map[string][]string{} // test name → packages where it runs untagged
	for path, p := range with {
		plain := without[path]
		base := map[string]bool{}
		for _, f := range append(slices.Clone(plain.TestGoFiles), plain.XTestGoFiles...) {
			base[f] = true
		}
		var tagged []string
		for _, f := range append(slices.Clone(p.TestGoFiles), p.XTestGoFiles...) {
			names, err := testsIn(filepath.Join(p.Dir, f))
			if err != nil {
				return Selection{}, err
			}
			if base[f] {
				for _, n := range names {
					untagged[n] = append(untagged[n], path)
				}
				continue
			}
			tagged = append(tagged, names...)
		}
		if len(tagged) > 0 {
			slices.Sort(tagged)
			sel.Tests[path] = tagged
		}
	}
	if len(sel.Tests) == 0 {
		return Selection{}, fmt.Errorf("no test under %s is built only with the %s tag", strings.Join(patterns, " "), tag)
	}
	var clashes []string
	for path, names := range sel.Tests {
		for _, n := range names {
			for _, other := range untagged[n] {
				if _, ok := sel.Tests[other]; ok {
					clashes = append(clashes, fmt.Sprintf("%s (tagged in %s, untagged in %s)", n, path, other))
				}
			}
		}
	}
	if len(clashes) > 0 {
		sort.Strings(clashes)
		return Selection{}, fmt.Errorf("a tagged test shares its name with an untagged one, so one -run pattern would run both; rename: %s", strings.Join(clashes, "; "))
	}
	return sel, nil
}

// testsIn names the top-level Test, Fuzz and Example functions of a test file.
func testsIn(file string) ([]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", file, err)
	}
	var names []string
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Recv != nil {
			continue
		}
		n := fn.Name.Name
		if n == "TestMain" {
			continue
		}
		for _, prefix := range []string{"Test", "Fuzz", "Example"} {
			if isTest(n, prefix) {
				names = append(names, n)
				break
			}
		}
	}
	return names, nil
}

// isTest is the testing package's rule: the prefix, then nothing or a rune that is not a
// lower-case letter.
func isTest(name, prefix string) bool {
	if !strings.HasPrefix(name, prefix) {
		return false
	}
	if len(name) == len(prefix) {
		return true
	}
	r, _ := utf8.DecodeRuneInString(name[len(prefix):])
	return !unicode.IsLower(r)
}
