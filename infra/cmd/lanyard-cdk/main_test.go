package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/topology"
)

// The app, run where the declaration cannot be built from, prints one line naming what is
// wrong on stderr and exits 1: no stack trace, nothing on stdout.
func TestBadDeclarationIsOneLineAndExitOne(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "lanyard-cdk")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	// A repository with every function's main package but no function package built.
	mains := t.TempDir()
	for _, fn := range topology.Lanyard().Functions {
		dir := filepath.Join(mains, fn.Main)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	first := topology.Lanyard().Functions[0]

	cases := []struct {
		name string
		dir  string
		// context is the CDK context the CLI would hand the app (CDK_CONTEXT_JSON).
		context string
		want    []string
	}{
		{"functions without main packages", t.TempDir(), "", []string{
			"infra: the topology is not valid: ",
			`function "` + first.Name + `": no main package at ` + first.Main,
		}},
		{"function packages not built", mains, "", []string{
			"infra: function packages missing (run `make build` first): ",
			`function "` + first.Name + `": package bin/` + first.Name + "/function.zip: no such file",
		}},
		{"a dependent with a wildcard", mains, `{"lanyard:dependents":["arn:aws:iam::111122223333:role/*"]}`, []string{
			"infra: the topology is not valid: ",
			`dependents: principal "arn:aws:iam::111122223333:role/*"`, "no wildcards",
		}},
		{"dependents that are not ARNs", mains, `{"lanyard:dependents":{"billing":true}}`, []string{
			"infra: context lanyard:dependents: a list of ARNs or a comma-separated string",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(bin)
			cmd.Dir = c.dir
			cmd.Env = append(os.Environ(), "CDK_CONTEXT_JSON="+c.context)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("exit: %v, want exit status 1 (stderr %q)", err, stderr.String())
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
			line, rest, ok := strings.Cut(stderr.String(), "\n")
			if !ok || rest != "" {
				t.Fatalf("stderr %q, want one line", stderr.String())
			}
			if !strings.HasPrefix(line, c.want[0]) {
				t.Errorf("stderr %q does not start with %q", line, c.want[0])
			}
			for _, w := range c.want[1:] {
				if !strings.Contains(line, w) {
					t.Errorf("stderr %q does not name %q", line, w)
				}
			}
		})
	}
}
