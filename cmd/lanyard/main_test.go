package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		args        []string
		code        int
		out, errOut string
	}{
		{"version", []string{"version"}, 0, "lanyard dev\n", ""},
		{"version json", []string{"version", "--output", "json"}, 0, `"version": "dev"`, ""},
		{"help", []string{"--help"}, 0, "Usage:", ""},
		{"help of a command", []string{"version", "--help"}, 0, "Print the build version", ""},
		{"bad output", []string{"version", "-o", "yaml"}, 2, "", "lanyard: --output must be table or json, not \"yaml\"\n"},
		{"unknown command", []string{"frobnicate"}, 2, "", "lanyard: unknown command \"frobnicate\" for \"lanyard\"\n"},
		{"unknown flag", []string{"version", "--colour"}, 2, "", "lanyard: unknown flag: --colour\n"},
		{"stray argument", []string{"version", "extra"}, 2, "", "lanyard: unknown command \"extra\" for \"lanyard version\"\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			code := run(context.Background(), c.args, &out, &errOut)
			if code != c.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, c.code, errOut.String())
			}
			if !strings.Contains(out.String(), c.out) {
				t.Errorf("stdout %q lacks %q", out.String(), c.out)
			}
			if c.errOut == "" && errOut.Len() != 0 || c.errOut != "" && errOut.String() != c.errOut {
				t.Errorf("stderr %q, want %q", errOut.String(), c.errOut)
			}
			if strings.Count(errOut.String(), "\n") > 1 {
				t.Errorf("error is not one line: %q", errOut.String())
			}
		})
	}
}

func TestVersionJSONIsValid(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if code := run(context.Background(), []string{"version", "-o", "json"}, &out, &bytes.Buffer{}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	var v map[string]string
	if err := json.Unmarshal(out.Bytes(), &v); err != nil || v["version"] == "" {
		t.Fatalf("not JSON with a version: %q %v", out.String(), err)
	}
}
