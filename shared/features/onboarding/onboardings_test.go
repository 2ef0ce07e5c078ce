package onboarding

import (
	"bytes"
	crand "crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
	"github.com/lanyardhq/lanyard/topology"
)

func TestTopologyDeclaresTheOnboardingsTable(t *testing.T) {
	t.Parallel()
	tb, ok := topology.Lanyard().Table("onboardings")
	if !ok {
		t.Fatal("the production topology declares no onboardings table")
	}
	if tb.PartitionKey != (topology.Attr{Name: OnboardingsPartitionKey, Type: topology.AttrString}) || tb.SortKey != nil {
		t.Errorf("declared keys %+v / %+v, want %s (S) alone", tb.PartitionKey, tb.SortKey, OnboardingsPartitionKey)
	}
	if tb.TTLAttribute != OnboardingsTTLAttribute {
		t.Errorf("declared TTL attribute %q, want %q", tb.TTLAttribute, OnboardingsTTLAttribute)
	}
}

func TestOnboardingItemRoundTrip(t *testing.T) {
	t.Parallel()
	base := Onboarding{
		ID: NewOnboardingID(), PartnerID: "p-x", SecretVersionID: "v", PartnerName: "Acme", Tier: "premium",
		Scopes: []string{"orders:read", "shipments:write"}, IdentityMethod: events.ProofSTS, AccountID: "111122223333",
		ARN: "arn:aws:iam::111122223333:root", PickupTokenHash: "sha256:ab", Status: StatusApproved, Justification: "j",
		PolicyRevision: 2, CreatedAt: start, ExpiresAt: start.Add(PendingLifetime), DecidedBy: opsARN,
		DecidedAt: start.Add(time.Hour), Reason: "ok",
	}
	got, err := onboardingFromItem(base.Item())
	if err != nil || fmt.Sprint(got) != fmt.Sprint(base) {
		t.Fatalf("round trip: %+v, %v\nwant %+v", got, err, base)
	}
	if purge := base.Item()[OnboardingsTTLAttribute].(*types.AttributeValueMemberN).Value; purge != fmt.Sprint(base.ExpiresAt.Add(OnboardingPurgeAfter).Unix()) {
		t.Errorf("purgeAt %s", purge)
	}
	for name, mutate := range map[string]func(map[string]types.AttributeValue){
		"unknown status":          func(m map[string]types.AttributeValue) { m[attrOnbStatus] = str("maybe") },
		"no token hash":           func(m map[string]types.AttributeValue) { delete(m, attrOnbTokenHash) },
		"epoch disagrees":         func(m map[string]types.AttributeValue) { m[attrOnbExpiresAtEpoch] = num(1) },
		"sts without account":     func(m map[string]types.AttributeValue) { delete(m, attrOnbAccountID) },
		"invite without invite":   func(m map[string]types.AttributeValue) { m[attrOnbIdentityMethod] = str(events.ProofInvite) },
		"unknown identity method": func(m map[string]types.AttributeValue) { m[attrOnbIdentityMethod] = str("oidc") },
		"scopes not a list":       func(m map[string]types.AttributeValue) { m[attrOnbScopes] = str("orders:read") },
	} {
		item := base.Item()
		mutate(item)
		if _, err := onboardingFromItem(item); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestEffectiveStatus(t *testing.T) {
	t.Parallel()
	exp := start.Add(PendingLifetime)
	for _, tt := range []struct {
		stored Status
		at     time.Time
		want   Status
	}{
		{StatusPending, exp.Add(-time.Millisecond), StatusPending},
		{StatusPending, exp, StatusExpired},
		{StatusApproved, exp.Add(-time.Millisecond), StatusApproved},
		{StatusApproved, exp, StatusExpired},
		{StatusDenied, exp.Add(time.Hour), StatusDenied},
		{StatusCollected, exp.Add(time.Hour), StatusCollected},
		{StatusExpired, start, StatusExpired},
	} {
		if got := (Onboarding{Status: tt.stored, ExpiresAt: exp}).Effective(tt.at); got != tt.want {
			t.Errorf("%s at %s: %s, want %s", tt.stored, tt.at, got, tt.want)
		}
	}
}

func TestIDsAndTokens(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		id := NewOnboardingID()
		tok, err := newPickupToken(crand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if !ValidOnboardingID(id) || seen[id] || seen[tok.Reveal()] {
			t.Fatalf("onboarding id %q invalid or repeated", id)
		}
		seen[id], seen[tok.Reveal()] = true, true
		rest, ok := strings.CutPrefix(tok.Reveal(), PickupTokenPrefix)
		if !ok || len(rest) != 43 || strings.Trim(rest, base62) != "" {
			t.Fatal("a pick-up token is not lnyd_pku_ and 43 base62 characters")
		}
	}
	for _, bad := range []string{"", "onb-", "onb-ABCDEFGHIJKLMNOPQRSTUVWXYZ", "onb-abcdefghijklmnopqrstuvwxy1", "p-abcdefghijklmnopqrstuvwxyz", "onb-abcdefghijklmnopqrstuvwxyz2"} {
		if ValidOnboardingID(bad) {
			t.Errorf("ValidOnboardingID(%q)", bad)
		}
	}
	// Randomness that runs dry is an error, not a short token.
	if _, err := newPickupToken(bytes.NewReader(make([]byte, 10))); err == nil {
		t.Error("a token from 10 bytes")
	}
	if h := PickupTokenHash(secret.New("lnyd_pku_x")); !strings.HasPrefix(h, "sha256:") || len(h) != 71 {
		t.Errorf("hash %q", h)
	}
}
