package policy_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	policyfile "github.com/lanyardhq/lanyard/policy"
	"github.com/lanyardhq/lanyard/shared/policy"
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
	sum := sha256.Sum256(policyfile.JSON())
	if want := "sha256:" + hex.EncodeToString(sum[:]); p.Digest() != want {
		t.Errorf("digest %s, want %s", p.Digest(), want)
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
		got, ok := p.TierForAccount(tt.account)
		if got != tt.tier || ok != tt.ok {
			t.Errorf("TierForAccount(%q) = %q, %v; want %q, %v", tt.account, got, ok, tt.tier, tt.ok)
		}
	}
}

func TestDurationsAndLimits(t *testing.T) {
	t.Parallel()
	p := mustParse(t, policyfile.JSON())
	if got := p.Authorizer.Staleness(); got != 5*time.Minute+30*time.Second {
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
