package onboarding

import (
	"bytes"
	crand "crypto/rand"
	"strings"
	"testing"
	"time"

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

// base62 is the alphabet of a pick-up token's characters (shared/domain/pickuptoken).
const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
