package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good, err := os.ReadFile(filepath.Join("..", "..", "policy.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Revision int }
	if err := json.Unmarshal(good, &doc); err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(good), `"drainWindow": "1h"`, `"drainWindow": "1m"`, 1)
	bad = strings.Replace(bad, `"approvalRequired": true,`, ``, 1)
	bad = strings.Replace(bad, `"cacheTtl": "5m"`, `"cacheTtl": "5 minutes"`, 1)
	semantic := strings.Replace(string(good), `"drainWindow": "1h"`, `"drainWindow": "1m"`, 1)
	overlay, err := os.ReadFile(filepath.Join("..", "..", "local.json"))
	if err != nil {
		t.Fatal(err)
	}
	// The production policy admitting LocalStack's account, or an account of the overlay.
	entry := func(id string) string {
		return `{"accountId": "` + id + `", "principals": ["arn:aws:iam::` + id + `:role/lanyard-onboarding"], "tier": "sandbox", "description": "x"}`
	}
	localstack := strings.Replace(string(good), `"accounts": [],`, `"accounts": [`+entry("000000000000")+`],`, 1)
	localPartner := strings.Replace(string(good), `"accounts": [],`, `"accounts": [`+entry("000000000001")+`],`, 1)
	if localstack == string(good) {
		t.Fatal("policy.json has no empty accounts list to edit")
	}
	badOverlay := strings.Replace(string(overlay), `"tier": "sandbox"`, `"tier": "gold"`, 1)
	files := map[string]string{
		"good.json": string(good), "bad.json": bad, "semantic.json": semantic, "broken.json": "{",
		"localstack.json": localstack, "local-partner.json": localPartner, "local.json": string(overlay), "bad-local.json": badOverlay,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := func(name string) string { return filepath.Join(dir, name) }

	tests := []struct {
		name   string
		args   []string
		status int
		stdout []string // each a line prefix, in order
		stderr []string
	}{
		{"valid", []string{path("good.json")}, 0,
			[]string{path("good.json") + ": ok: version 1, revision " + strconv.Itoa(doc.Revision) + ", 3 tiers, 0 allowed accounts, sha256:"}, nil},
		{"one line per problem", []string{path("bad.json")}, 1, nil, []string{
			path("bad.json") + `: /authorizer/cacheTtl: "5 minutes" is not a duration`,
			path("bad.json") + ": /tiers/2/approvalRequired: required field missing",
		}},
		{"semantic problems once the schema passes", []string{path("semantic.json")}, 1, nil, []string{
			path("semantic.json") + ": /tiers/1/rotation/drainWindow: tier standard: 1m is shorter than the authorizer's caches",
		}},
		{"not JSON", []string{path("broken.json")}, 1, nil, []string{path("broken.json") + ": /: not valid JSON"}},
		{"missing file", []string{path("absent.json")}, 1, nil, []string{path("absent.json") + ": open "}},
		{"every file checked", []string{path("broken.json"), path("good.json")}, 1,
			[]string{path("good.json") + ": ok"}, []string{path("broken.json") + ": /: not valid JSON"}},
		{"no arguments", nil, 2, nil, []string{"usage: policycheck [-overlay LOCAL.json] FILE..."}},
		{"unknown flag", []string{"-x", path("good.json")}, 2, nil, []string{"policycheck: flag provided but not defined: -x", "usage: "}},

		// The production policy never admits a local account; the overlay applies to it.
		{"LocalStack's account in production", []string{path("localstack.json")}, 1, nil, []string{
			path("localstack.json") + ": /accounts/0/accountId: 000000000000 is LocalStack's account: the production policy never allow-lists it",
		}},
		{"an overlay account in production", []string{"-overlay", path("local.json"), path("local-partner.json")}, 1, nil, []string{
			path("local-partner.json") + ": /accounts/0/accountId: 000000000001 is an account of the local overlay",
		}},
		{"overlay applies", []string{"-overlay", path("local.json"), path("good.json")}, 0, []string{
			path("good.json") + ": ok: version 1",
			path("local.json") + ": ok: overlay of " + path("good.json") + ", 2 allowed accounts in lanyard local's builds, sha256:",
		}, nil},
		{"overlay does not apply", []string{"-overlay", path("bad-local.json"), path("good.json")}, 1,
			[]string{path("good.json") + ": ok"}, []string{path("bad-local.json") + `: /accounts/0/tier: tier "gold" is not declared in /tiers`}},
		{"overlay not valid", []string{"-overlay", path("broken.json"), path("good.json")}, 1,
			[]string{path("good.json") + ": ok"}, []string{path("broken.json") + ": /: not valid JSON"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			if got := run(tt.args, &stdout, &stderr); got != tt.status {
				t.Errorf("status %d, want %d; stderr:\n%s", got, tt.status, stderr.String())
			}
			checkLines(t, "stdout", stdout.String(), tt.stdout)
			checkLines(t, "stderr", stderr.String(), tt.stderr)
		})
	}
}

func checkLines(t *testing.T, what, out string, want []string) {
	t.Helper()
	var lines []string
	if out != "" {
		lines = strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	}
	if len(lines) != len(want) {
		t.Fatalf("%s has %d lines, want %d:\n%s", what, len(lines), len(want), out)
	}
	for i := range lines {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("%s line %d:\n  got  %s\n  want %s…", what, i, lines[i], want[i])
		}
	}
}
