package partners_test

import (
	"flag"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/golden/*.json")

// goldenZone is not UTC: the codec must store times in UTC.
var goldenZone = time.FixedZone("UTC+1", 3600)

func goldenPartners() map[string]partners.Partner {
	invite := partners.Partner{
		PartnerID: "p-abcdefghijklmnopqrstuvwxyz", PartnerName: "Acme Ünïcode", Tier: "standard",
		Scopes: []string{"orders:write", "orders:read"}, Status: partners.StatusActive, KeyID: "kabcdefghijklmnopqrst",
		SecretARN:      "arn:aws:secretsmanager:eu-west-1:123456789012:secret:lanyard/partner/p-abcdefghijklmnopqrstuvwxyz-AbCdEf",
		IdentityMethod: partners.IdentityMethodInvite, InviteID: "inv-abcdefghijklmnopqrstuvwxyz",
		Justification: "within tier", PolicyRevision: 7,
		CreatedAt: time.Date(2026, 3, 14, 10, 26, 53, 589793000, goldenZone),
	}
	sts := invite
	sts.IdentityMethod = partners.IdentityMethodSTS
	sts.InviteID = ""
	sts.AccountID = "123456789012"
	sts.ARN = "arn:aws:iam::123456789012:role/partner"
	sts.Scopes = []string{}
	sts.Justification = ""
	sts.PolicyRevision = 0
	sts.CreatedAt = time.Date(2026, 3, 14, 10, 26, 53, 0, goldenZone)
	return map[string]partners.Partner{"invite": invite, "sts": sts}
}

// TestPartnerItemGolden holds the partner item to its attribute maps in testdata/golden, and
// each golden item reads back as the partner it was made from.
func TestPartnerItemGolden(t *testing.T) {
	for name, p := range goldenPartners() {
		t.Run(name, func(t *testing.T) {
			stored := itemtest.GoldenItem(t, "golden/partner-"+name, itemtest.Must(p.Item())(t), *updateGolden)
			back, err := partners.FromItem(stored)
			if err != nil {
				t.Fatal(err)
			}
			want := itemtest.InUTC(p)
			if len(p.Scopes) > 0 {
				want.Scopes = []string{"orders:read", "orders:write"}
			}
			if !reflect.DeepEqual(back, want) {
				t.Errorf("reads back as %+v, want %+v", back, want)
			}
			itemtest.GoldenTransactItems(t, "golden/tx-partner-put-new-"+name, *updateGolden, itemtest.Must(partners.PutNew("partners", p))(t))
		})
	}
}

// TestRotationTransactionItemsGolden holds rotation's and rollover's writes of the partners
// table to testdata/golden.
func TestRotationTransactionItemsGolden(t *testing.T) {
	const p = "p-abcdefghijklmnopqrstuvwxyz"
	itemtest.GoldenTransactItems(t, "golden/tx-partner-set-pending", *updateGolden, partners.SetPending("partners", p, "kcurrentcurrentcurren", "kpendingpendingpendin"))
	itemtest.GoldenTransactItems(t, "golden/tx-partner-promote-first", *updateGolden, partners.Promote("partners", p, "kcurrentcurrentcurren", "kpendingpendingpendin", ""))
	itemtest.GoldenTransactItems(t, "golden/tx-partner-promote", *updateGolden, partners.Promote("partners", p, "kcurrentcurrentcurren", "kpendingpendingpendin", "kpreviouspreviousprev"))
	itemtest.GoldenTransactItems(t, "golden/tx-partner-failure-marker", *updateGolden, partners.FailureMarker("partners", p, "createSecret", "3f1d2c4b-5a6e-4f70-8192-a3b4c5d6e7f8"))
	itemtest.GoldenTransactItems(t, "golden/tx-partner-clear-previous", *updateGolden, partners.ClearPrevious("partners", p, "kpreviouspreviousprev"))
	itemtest.GoldenTransactItems(t, "golden/tx-partner-still-pair", *updateGolden, partners.StillPair("partners", p, "kcurrentcurrentcurren", "kpreviouspreviousprev"))
}

// TestRotatedPartnerItemGolden holds a partner item as a rotation leaves it (previousKeyId,
// pendingKeyId, a failure marker) to testdata/golden, read back by GetState.
func TestRotatedPartnerItemGolden(t *testing.T) {
	const id = "p-abcdefghijklmnopqrstuvwxyz"
	db := dynamodbtest.NewDynamoDB()
	db.CreateTable("partners", dynamodbtest.KeyAttr{Name: partners.PartitionKey, Type: types.ScalarAttributeTypeS}, nil)
	p := partners.Partner{
		PartnerID: id, PartnerName: "Acme", Tier: "standard", Scopes: []string{"orders:read"},
		Status: partners.StatusActive, KeyID: "kcurrentcurrentcurren", SecretARN: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x",
		IdentityMethod: partners.IdentityMethodInvite, InviteID: "inv-abcdefghijklmnopqrstuvwxyz", Justification: "within tier",
		PolicyRevision: 2, CreatedAt: time.Date(2026, 3, 14, 9, 26, 53, 589793000, time.UTC),
	}
	for _, item := range []types.TransactWriteItem{
		itemtest.Must(partners.PutNew("partners", p))(t),
		partners.SetPending("partners", id, "kcurrentcurrentcurren", "kpendingpendingpendin"),
		partners.Promote("partners", id, "kcurrentcurrentcurren", "kpendingpendingpendin", ""),
		partners.SetPending("partners", id, "kpendingpendingpendin", "knextnextnextnextnext"),
		partners.FailureMarker("partners", id, "testSecret", "3f1d2c4b-5a6e-4f70-8192-a3b4c5d6e7f8"),
	} {
		if _, err := db.TransactWriteItems(t.Context(), &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{item}}); err != nil {
			t.Fatal(err)
		}
	}
	itemtest.GoldenItem(t, "golden/partner-rotated", db.Items("partners")[0], *updateGolden)
	got, err := (&partners.Store{DB: db, Table: "partners"}).GetState(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	p.KeyID = "kpendingpendingpendin"
	want := partners.State{Partner: p, PreviousKeyID: "kcurrentcurrentcurren", PendingKeyID: "knextnextnextnextnext"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GetState = %+v, want %+v", got, want)
	}
}

// TestAccountClaimItemsGolden holds the account claims' transaction items on the partners
// table to testdata/golden.
func TestAccountClaimItemsGolden(t *testing.T) {
	at := time.Date(2026, 3, 14, 10, 26, 53, 589793000, goldenZone)
	c := partners.AccountClaim{AccountID: "123456789012", PartnerID: "p-abcdefghijklmnopqrstuvwxyz", ARN: "arn:aws:iam::123456789012:role/partner", CreatedAt: at}
	itemtest.GoldenTransactItems(t, "golden/tx-account-claim-onboarded", *updateGolden, partners.ClaimAccount("partners", c, at))
	c.OnboardingID = "onb-abcdefghijklmnopqrstuvwxyz"
	c.ExpiresAt = at.Add(7 * 24 * time.Hour)
	itemtest.GoldenTransactItems(t, "golden/tx-account-claim-pending", *updateGolden, partners.ClaimAccount("partners", c, at))
	itemtest.GoldenTransactItems(t, "golden/tx-account-settle", *updateGolden, partners.SettleAccount("partners", c.AccountID, c.PartnerID))
	itemtest.GoldenTransactItems(t, "golden/tx-account-release", *updateGolden, partners.ReleaseAccount("partners", c.AccountID, c.PartnerID))
}
