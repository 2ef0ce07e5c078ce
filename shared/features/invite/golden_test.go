package invite_test

import (
	"context"
	"errors"
	"flag"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/features/invite"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/golden/*.json")

// goldenZone is not UTC: the codec must store times in UTC.
var goldenZone = time.FixedZone("UTC+1", 3600)

func goldenInvites() map[string]invite.Invite {
	issued := invite.Invite{
		Hash: "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		ID:   "inv-abcdefghijklmnopqrstuvwxyz", PartnerName: "Acme Ünïcode", Tier: "standard",
		Status:    invite.StatusIssued,
		ExpiresAt: time.Date(2026, 3, 21, 10, 26, 53, 0, goldenZone),
		CreatedAt: time.Date(2026, 3, 14, 10, 26, 53, 589793000, goldenZone),
		CreatedBy: "arn:aws:iam::123456789012:role/ops",
	}
	redeemed := issued
	redeemed.Status = invite.StatusRedeemed
	redeemed.RedeemedBy = "p-abcdefghijklmnopqrstuvwxyz"
	redeemed.RedeemedAt = time.Date(2026, 3, 15, 10, 0, 0, 120000000, goldenZone)
	return map[string]invite.Invite{"issued": issued, "redeemed": redeemed}
}

// TestInviteItemGolden holds the invite item to its attribute maps in testdata/golden, and
// each golden item reads back as the invite it was made from.
func TestInviteItemGolden(t *testing.T) {
	for name, inv := range goldenInvites() {
		t.Run(name, func(t *testing.T) {
			stored := itemtest.GoldenItem(t, "golden/invite-"+name, inv.Item(), *updateGolden)
			back, err := invite.FromItem(stored)
			if err != nil {
				t.Fatal(err)
			}
			if want := itemtest.InUTC(inv); !reflect.DeepEqual(back, want) {
				t.Errorf("reads back as %+v, want %+v", back, want)
			}
		})
	}
	itemtest.GoldenTransactItems(t, "golden/tx-invite-redeem", *updateGolden,
		invite.Redeem("invites", goldenInvites()["issued"], "p-abcdefghijklmnopqrstuvwxyz", time.Date(2026, 3, 15, 10, 0, 0, 120000000, goldenZone)))
}

// putRecorder records the puts made through it and answers them.
type putRecorder struct{ puts []*dynamodb.PutItemInput }

func (r *putRecorder) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	r.puts = append(r.puts, in)
	return &dynamodb.PutItemOutput{}, nil
}

func (r *putRecorder) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return nil, errors.New("no reads here")
}

// TestIssuePutGolden holds the put with which Issue writes a new invite to testdata/golden; the
// random hash and id of the invite are replaced by the golden invite's.
func TestIssuePutGolden(t *testing.T) {
	want := goldenInvites()["issued"]
	db := &putRecorder{}
	s := &invite.Store{DB: db, Table: "invites", Now: func() time.Time { return want.CreatedAt }}
	if _, _, err := s.Issue(t.Context(), want.PartnerName, want.Tier, 7*24*time.Hour, want.CreatedBy); err != nil {
		t.Fatal(err)
	}
	put := db.puts[0]
	put.Item[invite.PartitionKey] = &types.AttributeValueMemberS{Value: want.Hash}
	put.Item["inviteId"] = &types.AttributeValueMemberS{Value: want.ID}
	itemtest.GoldenWrites(t, "golden/invite-issue-put", *updateGolden, put)
}
