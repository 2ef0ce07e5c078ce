package idempotency

import (
	"flag"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/golden/*.json")

// goldenZone is not UTC: the codecs must store times in UTC.
var goldenZone = time.FixedZone("UTC+1", 3600)

func goldenAt(d time.Duration) time.Time {
	return time.Date(2026, 3, 14, 10, 26, 53, 589793000, goldenZone).Add(d)
}

// goldenKeys are record keys as the onboarding feature makes them: an onboarding's under an
// invite, and one under an AWS account.
var goldenKeys = []string{
	"createPartner#invite#sha256:be63adbeb69a75d389e0f2a7bf774b969d56d5880358adf9854b0e154b56efa2#sha256:be2974546978e3739e6d6da85c4be9f334ce32df2b9fd4b6ff1b55c0d57e9d44",
	"createPartner#account#123456789012#sha256:7c36b0a9dedde119c75165957c6c9c187e65df1ee5db87c4c58ad503ad88cbe3",
}

func goldenFresh() Record {
	return Record{
		Key:         goldenKeys[0],
		RequestHash: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		State:       StateInFlight, LeaseUntil: goldenAt(time.Minute).UnixMilli(),
		PartnerID: "p-abcdefghijklmnopqrstuvwxyz", SecretVersionID: "3f1d2c4b-5a6e-4f70-8192-a3b4c5d6e7f8",
		CreatedAt: goldenAt(0), PurgeAt: goldenAt(24 * time.Hour).Unix(),
	}
}

// TestIdempotencyRecordGolden holds the idempotency record to its attribute maps in
// testdata/golden (a record is put in flight; its completion is an update), each golden item
// reading back as the record it was made from.
func TestIdempotencyRecordGolden(t *testing.T) {
	fresh := Record{
		Key:         goldenKeys[0],
		RequestHash: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		State:       StateInFlight, LeaseUntil: goldenAt(time.Minute).UnixMilli(),
		PartnerID: "p-abcdefghijklmnopqrstuvwxyz", SecretVersionID: "3f1d2c4b-5a6e-4f70-8192-a3b4c5d6e7f8",
		CreatedAt: goldenAt(0), PurgeAt: goldenAt(24 * time.Hour).Unix(),
	}
	stored := itemtest.GoldenItem(t, "golden/idempotency-in-flight", mustItem(t, fresh), *updateGolden)
	back, err := FromItem(stored)
	if err != nil {
		t.Fatal(err)
	}
	if want := itemtest.InUTC(fresh); !reflect.DeepEqual(back, want) {
		t.Errorf("reads back as %+v, want %+v", back, want)
	}
	itemtest.GoldenTransactItems(t, "golden/tx-idempotency-complete-created", *updateGolden,
		types.TransactWriteItem{Update: Completion("idempotency", fresh, goldenAt(time.Second), 201, `{"partnerId":"p-abcdefghijklmnopqrstuvwxyz"}`, "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x")})
	itemtest.GoldenTransactItems(t, "golden/tx-idempotency-complete-refused", *updateGolden,
		types.TransactWriteItem{Update: Completion("idempotency", fresh, goldenAt(time.Second), 409, `{"type":"x"}`, "")})
}

// TestIdempotencyCompletedRecordGolden holds a record as its completion leaves it to
// testdata/golden, reading back as the completed record.
func TestIdempotencyCompletedRecordGolden(t *testing.T) {
	db := dynamodbtest.NewDynamoDB()
	db.CreateTable("idempotency", dynamodbtest.KeyAttr{Name: PartitionKey, Type: types.ScalarAttributeTypeS}, nil)
	fresh := Record{
		Key:         goldenKeys[1],
		RequestHash: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		State:       StateInFlight, LeaseUntil: goldenAt(time.Minute).UnixMilli(),
		PartnerID: "p-abcdefghijklmnopqrstuvwxyz", SecretVersionID: "3f1d2c4b-5a6e-4f70-8192-a3b4c5d6e7f8",
		CreatedAt: goldenAt(0), PurgeAt: goldenAt(24 * time.Hour).Unix(),
	}
	if _, err := db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String("idempotency"), Item: mustItem(t, fresh)}); err != nil {
		t.Fatal(err)
	}
	u := Completion("idempotency", fresh, goldenAt(time.Second), 201, `{"partnerId":"p-abcdefghijklmnopqrstuvwxyz"}`, "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x")
	if _, err := db.UpdateItem(t.Context(), &dynamodb.UpdateItemInput{
		TableName: u.TableName, Key: u.Key, UpdateExpression: u.UpdateExpression, ConditionExpression: u.ConditionExpression,
		ExpressionAttributeNames: u.ExpressionAttributeNames, ExpressionAttributeValues: u.ExpressionAttributeValues,
	}); err != nil {
		t.Fatal(err)
	}
	stored := itemtest.GoldenItem(t, "golden/idempotency-completed", db.Items("idempotency")[0], *updateGolden)
	back, err := FromItem(stored)
	if err != nil {
		t.Fatal(err)
	}
	want := itemtest.InUTC(fresh)
	want.State, want.StatusCode, want.ResponseBody = StateCompleted, 201, `{"partnerId":"p-abcdefghijklmnopqrstuvwxyz"}`
	want.SecretARN, want.CompletedAt = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x", goldenAt(time.Second).Truncate(time.Millisecond).UTC()
	if !reflect.DeepEqual(back, want) {
		t.Errorf("reads back as %+v, want %+v", back, want)
	}
}

// TestIdempotencyWritesGolden holds the single writes of an idempotency claim to
// testdata/golden: the claim's put, the take-over of the claim once its lease ran out, and the
// release of the claim taken over.
func TestIdempotencyWritesGolden(t *testing.T) {
	fresh := goldenFresh()
	itemtest.GoldenWrites(t, "golden/idempotency-claim", *updateGolden, mustClaim(t, "idempotency", fresh, goldenAt(0)))
	taken := fresh
	taken.LeaseUntil = goldenAt(3 * time.Minute).UnixMilli()
	itemtest.GoldenWrites(t, "golden/idempotency-take-over", *updateGolden, TakeOver("idempotency", fresh, taken.LeaseUntil))
	u := Release("idempotency", taken)
	itemtest.GoldenWrites(t, "golden/idempotency-release", *updateGolden, &dynamodb.UpdateItemInput{
		TableName: u.TableName, Key: u.Key, UpdateExpression: u.UpdateExpression, ConditionExpression: u.ConditionExpression,
		ExpressionAttributeNames: u.ExpressionAttributeNames, ExpressionAttributeValues: u.ExpressionAttributeValues,
	})
}
