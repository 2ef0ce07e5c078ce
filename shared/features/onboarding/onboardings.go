package onboarding

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/domain/pickuptoken"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
	"github.com/lanyardhq/lanyard/shared/stores/onboardings"
)

// The onboardings table's key and TTL attribute (package stores/onboardings keeps the table).
const (
	OnboardingsPartitionKey = onboardings.PartitionKey
	OnboardingsTTLAttribute = onboardings.TTLAttribute
)

// PendingLifetime is how long an onboarding that needs an ops approval waits: ops approve or
// deny it, and the partner collects its key, before createdAt + PendingLifetime. A constant, not
// a policy setting: the policy file says whether a tier needs an approval, not how fast ops
// answer.
const PendingLifetime = 7 * 24 * time.Hour

// OnboardingPurgeAfter is how long an onboarding item is kept past its expiry.
const OnboardingPurgeAfter = onboardings.PurgeAfter

// OnboardingIDPrefix starts every onboarding id.
const OnboardingIDPrefix = "onb-"

// PickupTokenPrefix starts every pick-up token; secret scanners can match it.
const PickupTokenPrefix = pickuptoken.Prefix

// Status is the state of an onboarding.
type Status = onboardings.Status

// The states of an onboarding (see stores/onboardings).
const (
	StatusPending   = onboardings.StatusPending
	StatusApproved  = onboardings.StatusApproved
	StatusDenied    = onboardings.StatusDenied
	StatusCollected = onboardings.StatusCollected
	StatusExpired   = onboardings.StatusExpired
)

// Statuses lists every status an onboarding may show, in its life's order.
func Statuses() []Status { return onboardings.Statuses() }

// Onboarding is one onboarding that needed an ops approval, as the onboardings table holds it.
type Onboarding = onboardings.Onboarding

// NewOnboardingID returns a new onboarding id: "onb-" and 26 lowercase base32 characters (128
// bits) from crypto/rand.
func NewOnboardingID() string { return OnboardingIDPrefix + strings.ToLower(rand.Text()) }

// ValidOnboardingID reports whether id has the shape NewOnboardingID gives.
func ValidOnboardingID(id string) bool {
	rest, ok := strings.CutPrefix(id, OnboardingIDPrefix)
	if !ok || len(rest) != 26 {
		return false
	}
	for _, c := range rest {
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// newPickupToken returns a new pick-up token (shared/domain/pickuptoken) from r.
func newPickupToken(r io.Reader) (secret.Value, error) { return pickuptoken.New(r) }

// PickupTokenHash is what the table keeps of a pick-up token: "sha256:" and the lowercase hex
// SHA-256 of the whole token (pickuptoken.Hash).
func PickupTokenHash(token secret.Value) string { return pickuptoken.Hash(token) }

// tokenMatches says, in constant time, whether token is the one whose hash o keeps.
func tokenMatches(o Onboarding, token secret.Value) bool {
	return pickuptoken.Matches(o.PickupTokenHash, token)
}

// sealExpired marks an approved onboarding past its expiry expired, so that no pick-up can
// collect it any more, whatever its clock says. It reports whether the onboarding is now
// sealed (by this call or an earlier one) or denied: then nothing will ever use a secret made
// for it.
func sealExpired(ctx context.Context, db DynamoDBAPI, table string, o Onboarding, now time.Time) (bool, error) {
	_, err := db.UpdateItem(ctx, onboardings.SealExpired(table, o.ID, now))
	if err == nil {
		return true, nil
	}
	var failed *types.ConditionalCheckFailedException
	if !errors.As(err, &failed) {
		return false, fmt.Errorf("seal expired onboarding %s: %w", o.ID, err)
	}
	cur, found, err := onboardings.Get(ctx, db, table, o.ID)
	if err != nil {
		return false, fmt.Errorf("seal expired onboarding %s: %w", o.ID, err)
	}
	return found && (cur.Status == StatusExpired || cur.Status == StatusDenied), nil
}
