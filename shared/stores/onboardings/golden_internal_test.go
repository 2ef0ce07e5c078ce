package onboardings

import (
	"flag"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/golden/*.json")

// goldenZone is not UTC: the codec must store times in UTC.
var goldenZone = time.FixedZone("UTC+1", 3600)

func goldenAt(d time.Duration) time.Time {
	return time.Date(2026, 3, 14, 10, 26, 53, 589793000, goldenZone).Add(d)
}

func goldenOnboardings() map[string]Onboarding {
	pending := Onboarding{
		ID: "onb-abcdefghijklmnopqrstuvwxyz", PartnerID: "p-abcdefghijklmnopqrstuvwxyz",
		SecretVersionID: "3f1d2c4b-5a6e-4f70-8192-a3b4c5d6e7f8", PartnerName: "Acme Ünïcode", Tier: "gold",
		Scopes: []string{"orders:write", "orders:read"}, IdentityMethod: events.ProofInvite,
		InviteID:        "inv-abcdefghijklmnopqrstuvwxyz",
		PickupTokenHash: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		Status:          StatusPending, Justification: "needs approval", PolicyRevision: 3,
		CreatedAt: goldenAt(0), ExpiresAt: goldenAt(7 * 24 * time.Hour).Truncate(time.Millisecond),
	}
	approved := pending
	approved.IdentityMethod = events.ProofSTS
	approved.InviteID = ""
	approved.AccountID = "123456789012"
	approved.ARN = "arn:aws:iam::123456789012:role/partner"
	approved.Status = StatusApproved
	approved.DecidedBy = "arn:aws:iam::123456789012:role/ops"
	approved.DecidedAt = goldenAt(time.Hour)
	approved.Scopes = []string{}
	denied := pending
	denied.Status = StatusDenied
	denied.DecidedBy = "arn:aws:iam::123456789012:role/ops"
	denied.DecidedAt = goldenAt(time.Hour).Truncate(time.Second)
	denied.Reason = "unknown company"
	collected := approved
	collected.Status = StatusCollected
	collected.CollectedAt = goldenAt(2 * time.Hour)
	return map[string]Onboarding{"pending": pending, "approved": approved, "denied": denied, "collected": collected}
}

// TestOnboardingItemGolden holds the onboarding item to its attribute maps in testdata/golden,
// each golden item reading back as the onboarding it was made from, and the transaction items
// that write the onboardings table.
func TestOnboardingItemGolden(t *testing.T) {
	for name, o := range goldenOnboardings() {
		t.Run(name, func(t *testing.T) {
			stored := itemtest.GoldenItem(t, "golden/onboarding-"+name, mustItem(t, o), *updateGolden)
			back, err := FromItem(stored)
			if err != nil {
				t.Fatal(err)
			}
			want := itemtest.InUTC(o)
			if len(o.Scopes) > 0 {
				want.Scopes = []string{"orders:read", "orders:write"}
			}
			if !reflect.DeepEqual(back, want) {
				t.Errorf("reads back as %+v, want %+v", back, want)
			}
		})
	}
	o := goldenOnboardings()["approved"]
	itemtest.GoldenTransactItems(t, "golden/tx-onboarding-put-pending", *updateGolden, mustPutPending(t, "onboardings", goldenOnboardings()["pending"]))
	itemtest.GoldenTransactItems(t, "golden/tx-onboarding-approve", *updateGolden, types.TransactWriteItem{Update: Decide("onboardings", o.ID, StatusApproved, o.DecidedBy, "", goldenAt(time.Hour))})
	itemtest.GoldenTransactItems(t, "golden/tx-onboarding-deny", *updateGolden, types.TransactWriteItem{Update: Decide("onboardings", o.ID, StatusDenied, o.DecidedBy, "unknown company", goldenAt(time.Hour))})
	itemtest.GoldenTransactItems(t, "golden/tx-onboarding-collect", *updateGolden, Collect("onboardings", o, goldenAt(2*time.Hour)))
}

// TestSealExpiredGolden holds the update that seals an expired approved onboarding to
// testdata/golden.
func TestSealExpiredGolden(t *testing.T) {
	o := goldenOnboardings()["approved"]
	itemtest.GoldenWrites(t, "golden/onboarding-seal-expired", *updateGolden, SealExpired("onboardings", o.ID, goldenAt(7*24*time.Hour+time.Hour)))
}
