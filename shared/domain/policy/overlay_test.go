package policy_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	policyfile "github.com/lanyardhq/lanyard/policy"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
)

// localOverlayFile is policy/local.json as committed.
func localOverlayFile(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "policy", "local.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// lines is the one-line problems of an *InvalidError.
func lines(t *testing.T, err error) []string {
	t.Helper()
	var invalid *policy.InvalidError
	if !errors.As(err, &invalid) {
		t.Fatalf("%v, want an *InvalidError", err)
	}
	return strings.Split(err.Error(), "\n")
}

func TestCheckProduction(t *testing.T) {
	t.Parallel()
	o, err := policy.ParseOverlay([]byte(`{"description": "test", "accounts": [` +
		`{"accountId": "000000000001", "principals": ["arn:aws:iam::000000000001:role/r"], "tier": "sandbox", "description": "x"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	p := mustParse(t, apply(t, production(t),
		set("/accounts/-", account("444455556666", "standard")),
		set("/accounts/-", account("000000000000", "sandbox")),
		set("/accounts/-", account("123456789012", "sandbox")),
		set("/accounts/-", account("000000000001", "sandbox")),
	))
	checkLines(t, lines(t, policy.CheckProduction(p, o)), []string{
		"/accounts/1/accountId: 000000000000 is LocalStack's account: the production policy never allow-lists it",
		"/accounts/2/accountId: 123456789012 is an example account id of AWS's documentation",
		"/accounts/3/accountId: 000000000001 is an account of the local overlay",
	})
	// Without the overlay, its account is not known to be local.
	checkLines(t, lines(t, policy.CheckProduction(p)), []string{"/accounts/1/accountId: 000000000000", "/accounts/2/accountId: 123456789012"})
	if ids := policy.ReservedAccounts(); !slices.Contains(ids, "000000000000") || !slices.IsSorted(ids) {
		t.Errorf("ReservedAccounts() = %v", ids)
	}
}

// The committed overlay applies to the production policy: its entries are valid, and the
// merged policy holds them after the production ones, with a digest of its own.
func TestLocalOverlayApplies(t *testing.T) {
	t.Parallel()
	p := mustParse(t, policyfile.JSON())
	o, err := policy.ParseOverlay(localOverlayFile(t))
	if err != nil {
		t.Fatalf("policy/local.json: %v", err)
	}
	merged, err := p.WithOverlay(o)
	if err != nil {
		t.Fatalf("policy/local.json on policy/policy.json:\n%v", err)
	}
	if len(merged.Accounts) != len(p.Accounts)+len(o.Accounts) || merged.Digest() == p.Digest() || !strings.HasPrefix(merged.Digest(), "sha256:") {
		t.Errorf("merged: %d accounts, digest %s", len(merged.Accounts), merged.Digest())
	}
	if _, ok := p.AccountEntry(o.Accounts[0].AccountID); ok {
		t.Error("WithOverlay changed the policy it was called on")
	}
	local, ok := merged.AccountEntry("000000000001")
	if !ok || !local.Admits("arn:aws:sts::000000000001:assumed-role/lanyard-onboarding/s") || local.Admits("arn:aws:iam::000000000001:root") {
		t.Errorf("the local partner account's entry: %+v, %v", local, ok)
	}
}

func TestOverlayRefusals(t *testing.T) {
	t.Parallel()
	entry := func(id, tier string) string {
		return `{"accountId": "` + id + `", "principals": ["arn:aws:iam::` + id + `:role/r"], "tier": "` + tier + `", "description": "x"}`
	}
	p := mustParse(t, apply(t, production(t), set("/accounts/-", account("444455556666", "standard"))))
	for _, tt := range []struct{ name, file, want string }{
		{"not JSON", `{`, "/: not valid JSON"},
		{"another field", `{"description": "x", "accounts": [` + entry("000000000001", "sandbox") + `], "tiers": []}`, `/: not an overlay`},
		{"repeated key", `{"description": "x", "description": "y", "accounts": [` + entry("000000000001", "sandbox") + `]}`, "/description: key repeated"},
		{"no description", `{"accounts": [` + entry("000000000001", "sandbox") + `]}`, "/description: required"},
		{"no account", `{"description": "x", "accounts": []}`, "/accounts: adds no account"},
		{"two values", `{"description": "x", "accounts": [` + entry("000000000001", "sandbox") + `]} {}`, "/: more than one JSON value"},
		{"unknown tier", `{"description": "x", "accounts": [` + entry("000000000001", "gold") + `]}`, `/accounts/0/tier: tier "gold" is not declared`},
		{"account of the policy", `{"description": "x", "accounts": [` + entry("000000000001", "sandbox") + `, ` + entry("444455556666", "sandbox") + `]}`,
			"/accounts/1/accountId: account 444455556666 listed twice"},
		{"root", `{"description": "x", "accounts": [{"accountId": "000000000001", "principals": ["arn:aws:iam::000000000001:root"], "tier": "sandbox", "description": "x"}]}`,
			`/accounts/0/principals/0: "arn:aws:iam::000000000001:root" is the account's root user`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := policy.ParseOverlay([]byte(tt.file))
			if err == nil {
				_, err = p.WithOverlay(o)
			}
			if err == nil {
				t.Fatal("accepted")
			}
			got := lines(t, err)
			if !slices.ContainsFunc(got, func(l string) bool { return strings.HasPrefix(l, tt.want) }) {
				t.Errorf("no line starts with\n  %s\ngot\n  %s", tt.want, strings.Join(got, "\n  "))
			}
		})
	}
}

// Only the lanyardlocal tag embeds the overlay: a Lambda build (scripts/build.sh lambda's tags)
// carries policy.json and its schema alone, a local build the overlay too (so the check looks
// at the right package).
func TestOnlyTheLocalTagEmbedsTheOverlay(t *testing.T) {
	t.Parallel()
	embeds := func(tags string) []string {
		t.Helper()
		out, err := exec.CommandContext(t.Context(), "go", "list", "-tags", tags, "-f", `{{join .EmbedFiles " "}}`, "github.com/lanyardhq/lanyard/policy").Output()
		if err != nil {
			t.Fatalf("go list -tags %s: %v", tags, err)
		}
		return strings.Fields(string(out))
	}
	if got := embeds("lambda.norpc"); slices.Contains(got, "local.json") || !slices.Contains(got, "policy.json") {
		t.Errorf("a Lambda build embeds %v", got)
	}
	if got := embeds("lambda.norpc,faultinject," + policy.LocalBuildTag); !slices.Contains(got, "local.json") {
		t.Errorf("a local build embeds %v, not the overlay", got)
	}
}
