package invites_test

import (
	"flag"
	"reflect"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/stores/invites"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/golden/*.json")

// goldenZone is not UTC: the codec must store times in UTC.
var goldenZone = time.FixedZone("UTC+1", 3600)

func goldenInvites() map[string]invites.Invite {
	issued := invites.Invite{
		Hash: "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		ID:   "inv-abcdefghijklmnopqrstuvwxyz", PartnerName: "Acme Ünïcode", Tier: "standard",
		Status:    invites.StatusIssued,
		ExpiresAt: time.Date(2026, 3, 21, 10, 26, 53, 0, goldenZone),
		CreatedAt: time.Date(2026, 3, 14, 10, 26, 53, 589793000, goldenZone),
		CreatedBy: "arn:aws:iam::123456789012:role/ops",
	}
	redeemed := issued
	redeemed.Status = invites.StatusRedeemed
	redeemed.RedeemedBy = "p-abcdefghijklmnopqrstuvwxyz"
	redeemed.RedeemedAt = time.Date(2026, 3, 15, 10, 0, 0, 120000000, goldenZone)
	return map[string]invites.Invite{"issued": issued, "redeemed": redeemed}
}

// TestInviteItemGolden holds the invite item to its attribute maps in testdata/golden, and
// each golden item reads back as the invite it was made from.
func TestInviteItemGolden(t *testing.T) {
	for name, inv := range goldenInvites() {
		t.Run(name, func(t *testing.T) {
			stored := itemtest.GoldenItem(t, "golden/invite-"+name, mustItem(t, inv), *updateGolden)
			back, err := invites.FromItem(stored)
			if err != nil {
				t.Fatal(err)
			}
			if want := itemtest.InUTC(inv); !reflect.DeepEqual(back, want) {
				t.Errorf("reads back as %+v, want %+v", back, want)
			}
		})
	}
	itemtest.GoldenTransactItems(t, "golden/tx-invite-redeem", *updateGolden,
		invites.Redeem("invites", goldenInvites()["issued"], "p-abcdefghijklmnopqrstuvwxyz", time.Date(2026, 3, 15, 10, 0, 0, 120000000, goldenZone)))
}

// TestPutNewGolden holds the put with which the invite feature writes a new invite to
// testdata/golden.
func TestPutNewGolden(t *testing.T) {
	itemtest.GoldenWrites(t, "golden/invite-issue-put", *updateGolden, mustPutNew(t, "invites", goldenInvites()["issued"]))
}
