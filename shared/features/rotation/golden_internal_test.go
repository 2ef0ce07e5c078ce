package rotation

import (
	"flag"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/features/partner"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/golden/*.json")

// TestPartnerTransactionItemsGolden holds rotation's writes of the partners table to
// testdata/golden.
func TestPartnerTransactionItemsGolden(t *testing.T) {
	const p = "p-abcdefghijklmnopqrstuvwxyz"
	itemtest.GoldenTransactItems(t, "golden/tx-partner-set-pending", *updateGolden, setPending("partners", p, "kcurrentcurrentcurren", "kpendingpendingpendin"))
	itemtest.GoldenTransactItems(t, "golden/tx-partner-promote-first", *updateGolden, promote("partners", p, "kcurrentcurrentcurren", "kpendingpendingpendin", ""))
	itemtest.GoldenTransactItems(t, "golden/tx-partner-promote", *updateGolden, promote("partners", p, "kcurrentcurrentcurren", "kpendingpendingpendin", "kpreviouspreviousprev"))
	itemtest.GoldenTransactItems(t, "golden/tx-partner-failure-marker", *updateGolden, failureMarker("partners", p, "createSecret", "3f1d2c4b-5a6e-4f70-8192-a3b4c5d6e7f8")...)
}

// TestRotatedPartnerItemGolden holds a partner item as a rotation leaves it (previousKeyId,
// pendingKeyId, a failure marker) to testdata/golden, read back by readPartner.
func TestRotatedPartnerItemGolden(t *testing.T) {
	const id = "p-abcdefghijklmnopqrstuvwxyz"
	db := dynamodbtest.NewDynamoDB()
	db.CreateTable("partners", dynamodbtest.KeyAttr{Name: partner.PartitionKey, Type: types.ScalarAttributeTypeS}, nil)
	p := partner.Partner{
		PartnerID: id, PartnerName: "Acme", Tier: "standard", Scopes: []string{"orders:read"},
		Status: partner.StatusActive, KeyID: "kcurrentcurrentcurren", SecretARN: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x",
		IdentityMethod: partner.IdentityMethodInvite, InviteID: "inv-abcdefghijklmnopqrstuvwxyz", Justification: "within tier",
		PolicyRevision: 2, CreatedAt: time.Date(2026, 3, 14, 9, 26, 53, 589793000, time.UTC),
	}
	for _, items := range [][]types.TransactWriteItem{
		{partner.PutNew("partners", p)},
		{setPending("partners", id, "kcurrentcurrentcurren", "kpendingpendingpendin")},
		{promote("partners", id, "kcurrentcurrentcurren", "kpendingpendingpendin", "")},
		{setPending("partners", id, "kpendingpendingpendin", "knextnextnextnextnext")},
		failureMarker("partners", id, "testSecret", "3f1d2c4b-5a6e-4f70-8192-a3b4c5d6e7f8"),
	} {
		if _, err := db.TransactWriteItems(t.Context(), &dynamodb.TransactWriteItemsInput{TransactItems: items}); err != nil {
			t.Fatal(err)
		}
	}
	itemtest.GoldenItem(t, "golden/partner-rotated", db.Items("partners")[0], *updateGolden)
	h := &Handler{DB: db, Tables: Tables{Partners: "partners"}}
	got, err := h.readPartner(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	p.KeyID = "kpendingpendingpendin"
	want := partnerState{Partner: p, PreviousKeyID: "kcurrentcurrentcurren", PendingKeyID: "knextnextnextnextnext"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("readPartner = %+v, want %+v", got, want)
	}
}
