package policy_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	policyfile "github.com/lanyardhq/lanyard/policy"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
)

// The build gate: the production policy embedded in every function is valid. If this test
// fails, so does `make build` (policycheck) — before any function is compiled.
func TestProductionPolicyIsValid(t *testing.T) {
	t.Parallel()
	p, err := policy.Default()
	if err != nil {
		t.Fatalf("policy/policy.json is invalid:\n%v", err)
	}
	if p.Version != policy.SchemaVersion || p.Revision < 1 {
		t.Errorf("version %d revision %d", p.Version, p.Revision)
	}
	var names []string
	for _, tier := range p.Tiers {
		names = append(names, tier.Name)
	}
	if want := []string{"sandbox", "standard", "premium"}; !slices.Equal(names, want) {
		t.Errorf("tiers %v, want %v", names, want)
	}
}

// The Go types hold every field of the file: parsed and marshaled again, the production
// policy is the same document, and parses to the same Policy.
func TestProductionPolicyRoundTrips(t *testing.T) {
	t.Parallel()
	p := mustParse(t, policyfile.JSON())
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var got, want any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(policyfile.JSON(), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("marshaled policy differs from policy.json:\n%s", b)
	}
	again := mustParse(t, b)
	if !reflect.DeepEqual(again.Tiers, p.Tiers) || !reflect.DeepEqual(again.Anomalies, p.Anomalies) || again.Authorizer != p.Authorizer {
		t.Error("re-parsed policy differs")
	}
}

// Default hands out copies: one caller's change is invisible to the next.
func TestDefaultReturnsCopies(t *testing.T) {
	t.Parallel()
	a, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	a.Tiers[0].Scopes[0] = "changed:by-a-caller"
	a.Tiers[0].Name = "changed"
	a.Scopes = nil
	b, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	if b.Tiers[0].Name != "sandbox" || b.Tiers[0].Scopes[0] == "changed:by-a-caller" || len(b.Scopes) == 0 {
		t.Error("a change to one Default() result reached another")
	}
	tier, _ := b.Tier("standard")
	tier.Scopes[0] = "changed:by-a-caller"
	again, _ := b.Tier("standard")
	if again.Scopes[0] == "changed:by-a-caller" {
		t.Error("Tier returned the policy's own slice")
	}
}

func TestTierLookups(t *testing.T) {
	t.Parallel()
	p := mustParse(t, apply(t, production(t),
		set("/accounts/-", account("111122223333", "standard")),
		set("/accounts/-", account("444455556666", "premium")),
	))
	tier, ok := p.Tier("premium")
	if !ok || !tier.ApprovalRequired || tier.Rotation.IntervalDays != 30 {
		t.Errorf("Tier(premium) = %+v, %v", tier, ok)
	}
	if _, ok := p.Tier("gold"); ok {
		t.Error("Tier(gold) found")
	}
	for _, tt := range []struct {
		account, tier string
		ok            bool
	}{
		{"111122223333", "standard", true},
		{"444455556666", "premium", true},
		{"999999999999", "", false},
		{"", "", false},
		{"11112222333", "", false},
	} {
		got, ok := p.AccountEntry(tt.account)
		if got.Tier != tt.tier || ok != tt.ok || (ok && got.AccountID != tt.account) {
			t.Errorf("AccountEntry(%q) = %+v, %v; want tier %q, %v", tt.account, got, ok, tt.tier, tt.ok)
		}
	}
	a, _ := p.AccountEntry("111122223333")
	a.Principals[0] = "changed"
	if again, _ := p.AccountEntry("111122223333"); again.Principals[0] == "changed" {
		t.Error("AccountEntry returned the policy's own slice")
	}
}

// An entry admits the principals its patterns name and nothing else of its account: a role
// pattern matches the role's sessions by the role's name (GetCallerIdentity's ARN carries no
// path), a user pattern the user's ARN; root, federated users, other accounts and other
// partitions never.
func TestAccountAdmits(t *testing.T) {
	t.Parallel()
	entry := policy.Account{AccountID: "444455556666", Tier: "standard", Description: "x", Principals: []string{
		"arn:aws:iam::444455556666:role/lanyard-onboarding",
		"arn:aws:iam::444455556666:role/ci-deploy-*",
		"arn:aws:iam::444455556666:user/partners/lanyard",
		"arn:aws:iam::444455556666:user/integrations/*",
	}}
	for _, tt := range []struct {
		arn  string
		want bool
	}{
		{"arn:aws:sts::444455556666:assumed-role/lanyard-onboarding/alice", true},
		{"arn:aws:sts::444455556666:assumed-role/lanyard-onboarding/i-0abc123", true},
		{"arn:aws:sts::444455556666:assumed-role/ci-deploy-prod/build-42", true},
		{"arn:aws:sts::444455556666:assumed-role/ci-deploy-/s", true},
		{"arn:aws:iam::444455556666:user/partners/lanyard", true},
		{"arn:aws:iam::444455556666:user/integrations/bob", true},
		{"arn:aws:iam::444455556666:user/integrations/eu/carol", true},

		{"arn:aws:iam::444455556666:root", false},
		{"arn:aws:sts::444455556666:assumed-role/lanyard-onboarding-admin/s", false},
		{"arn:aws:sts::444455556666:assumed-role/Lanyard-Onboarding/s", false},
		{"arn:aws:sts::444455556666:assumed-role/admin/lanyard-onboarding", false},
		{"arn:aws:sts::444455556666:assumed-role/lanyard-onboarding", false},
		{"arn:aws:sts::444455556666:assumed-role/lanyard-onboarding/", false},
		{"arn:aws:iam::444455556666:role/lanyard-onboarding", false},
		{"arn:aws:sts::444455556666:assumed-role/ci-deplo/s", false},
		{"arn:aws:sts::444455556666:federated-user/lanyard-onboarding", false},
		{"arn:aws:iam::444455556666:user/lanyard", false},
		{"arn:aws:iam::444455556666:user/partners/lanyard2", false},
		{"arn:aws:iam::444455556666:user/partners/", false},
		{"arn:aws:iam::444455556666:user/integrations/", false},
		{"arn:aws:iam::444455556666:user/integration/bob", false},
		{"arn:aws:sts::444455556666:user/partners/lanyard", false},
		{"arn:aws:sts::999988887777:assumed-role/lanyard-onboarding/s", false},
		{"arn:aws-cn:sts::444455556666:assumed-role/lanyard-onboarding/s", false},
		{"arn:aws:sts:us-east-1:444455556666:assumed-role/lanyard-onboarding/s", false},
		{"lanyard-onboarding", false},
		{"", false},
	} {
		if got := entry.Admits(tt.arn); got != tt.want {
			t.Errorf("Admits(%q) = %v, want %v", tt.arn, got, tt.want)
		}
	}
	// An invalid pattern admits nothing, even what it seems to name.
	bad := policy.Account{AccountID: "444455556666", Principals: []string{
		"arn:aws:iam::444455556666:root", "arn:aws:iam::999988887777:role/x", "arn:aws:iam::444455556666:role/partners/x",
	}}
	for _, arn := range []string{"arn:aws:iam::444455556666:root", "arn:aws:sts::999988887777:assumed-role/x/s", "arn:aws:sts::444455556666:assumed-role/x/s"} {
		if bad.Admits(arn) {
			t.Errorf("an invalid pattern admits %s", arn)
		}
	}
}

func TestDurationsAndLimits(t *testing.T) {
	t.Parallel()
	p := mustParse(t, policyfile.JSON())
	if got := p.Authorizer.Staleness(); got != 5*time.Minute {
		t.Errorf("staleness %s", got)
	}
	if got := p.Onboarding.ReplayWindow.Std(); got != 10*time.Minute {
		t.Errorf("onboarding replay window %s, want 10m", got)
	}
	std, _ := p.Tier("standard")
	if std.Rotation.Interval() != 30*24*time.Hour || std.KeyLifetime.Std() != 90*24*time.Hour {
		t.Errorf("standard: interval %s, lifetime %s", std.Rotation.Interval(), std.KeyLifetime)
	}
	for _, tier := range p.Tiers {
		if tier.Rotation.DrainWindow.Std() < p.Authorizer.Staleness() {
			t.Errorf("%s: drain %s under the authorizer's staleness", tier.Name, tier.Rotation.DrainWindow)
		}
	}
	l := policy.Limit{Count: 3, Window: policy.Duration(time.Hour)}
	if l.Reached(2) || !l.Reached(3) || !l.Reached(4) {
		t.Error("Reached: the count-th event within a window raises the signal")
	}
}
