package onboarding

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
	"github.com/lanyardhq/lanyard/shared/stores/idempotency"
	"github.com/lanyardhq/lanyard/shared/stores/onboardings"
)

// goldenZone is not UTC: the codecs must store times in UTC.
var goldenZone = time.FixedZone("UTC+1", 3600)

func goldenAt(d time.Duration) time.Time {
	return time.Date(2026, 3, 14, 10, 26, 53, 589793000, goldenZone).Add(d)
}

// recordingDB records the single writes made through it and makes them on db.
type recordingDB struct {
	*dynamodbtest.DynamoDB
	writes []any
}

func (r *recordingDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	r.writes = append(r.writes, in)
	return r.DynamoDB.PutItem(ctx, in, opts...)
}

func (r *recordingDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	r.writes = append(r.writes, in)
	return r.DynamoDB.UpdateItem(ctx, in, opts...)
}

// TestIdempotencyWrites holds the single writes of an idempotency claim — the claim's put,
// the take-over of a claim whose lease ran out, and the release — to the store's writes (held
// to their goldens in stores/idempotency).
func TestIdempotencyWrites(t *testing.T) {
	db := &recordingDB{DynamoDB: dynamodbtest.NewDynamoDB()}
	db.CreateTable("idempotency", dynamodbtest.KeyAttr{Name: IdempotencyPartitionKey, Type: types.ScalarAttributeTypeS}, nil)
	s := idempotencyTable{db: db, table: "idempotency", lease: DefaultLease}
	key := inviteScope(secret.New("lnyd_inv_x")).recordKey(IdempotencyKeyPrefix, secret.New("key-1"))
	hash := "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	ids := func() (string, string, error) {
		return "p-abcdefghijklmnopqrstuvwxyz", "3f1d2c4b-5a6e-4f70-8192-a3b4c5d6e7f8", nil
	}
	first, err := s.claim(t.Context(), key, hash, goldenAt(0), ids)
	if err != nil || first.Claim == nil {
		t.Fatalf("claim: %+v, %v", first, err)
	}
	second, err := s.claim(t.Context(), key, hash, goldenAt(2*DefaultLease), ids)
	if err != nil || second.Claim == nil || !second.Claim.TakenOver {
		t.Fatalf("take over: %+v, %v", second, err)
	}
	if err := s.release(t.Context(), second.Claim); err != nil {
		t.Fatal(err)
	}
	release := idempotency.Release("idempotency", second.Claim.record)
	want := []any{
		mustClaim(t, "idempotency", first.Claim.record, goldenAt(0)),
		// the second claim's put fails: the record is in flight
		mustClaim(t, "idempotency", record{
			Key: key, RequestHash: hash, State: stateInFlight, LeaseUntil: goldenAt(3 * DefaultLease).UnixMilli(),
			PartnerID: "p-abcdefghijklmnopqrstuvwxyz", SecretVersionID: "3f1d2c4b-5a6e-4f70-8192-a3b4c5d6e7f8",
			CreatedAt: goldenAt(2 * DefaultLease), PurgeAt: goldenAt(2*DefaultLease + RecordLifetime).Unix(),
		}, goldenAt(2*DefaultLease)),
		idempotency.TakeOver("idempotency", first.Claim.record, goldenAt(3*DefaultLease).UnixMilli()),
		&dynamodb.UpdateItemInput{
			TableName: release.TableName, Key: release.Key, UpdateExpression: release.UpdateExpression,
			ConditionExpression: release.ConditionExpression, ExpressionAttributeNames: release.ExpressionAttributeNames,
			ExpressionAttributeValues: release.ExpressionAttributeValues,
		},
	}
	if len(db.writes) != len(want) {
		t.Fatalf("%d writes, want %d", len(db.writes), len(want))
	}
	for i := range want {
		got, err := itemtest.Write(db.writes[i])
		if err != nil {
			t.Fatal(err)
		}
		w, err := itemtest.Write(want[i])
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("write %d is %v, want %v", i, got, w)
		}
	}
}

func mustClaim(t *testing.T, table string, r record, now time.Time) *dynamodb.PutItemInput {
	t.Helper()
	put, err := idempotency.Claim(table, r, now)
	if err != nil {
		t.Fatal(err)
	}
	return put
}

// TestSealExpiredWrites holds the update that seals an expired approved onboarding to the
// store's (held to its golden in stores/onboardings).
func TestSealExpiredWrites(t *testing.T) {
	db := &recordingDB{DynamoDB: dynamodbtest.NewDynamoDB()}
	db.CreateTable("onboardings", dynamodbtest.KeyAttr{Name: OnboardingsPartitionKey, Type: types.ScalarAttributeTypeS}, nil)
	o := Onboarding{
		ID: "onb-abcdefghijklmnopqrstuvwxyz", PartnerID: "p-abcdefghijklmnopqrstuvwxyz", SecretVersionID: "v",
		PartnerName: "Acme", Tier: "gold", Scopes: []string{}, IdentityMethod: "sts", AccountID: "123456789012",
		ARN: "arn:aws:iam::123456789012:role/partner", PickupTokenHash: "sha256:x", Status: StatusApproved,
		CreatedAt: goldenAt(0), ExpiresAt: goldenAt(PendingLifetime).Truncate(time.Millisecond),
	}
	if _, err := db.DynamoDB.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String("onboardings"), Item: itemtest.Must(o.Item())(t)}); err != nil {
		t.Fatal(err)
	}
	now := goldenAt(PendingLifetime + time.Hour)
	if sealed, err := sealExpired(t.Context(), db, "onboardings", o, now); err != nil || !sealed {
		t.Fatalf("seal: %v, %v", sealed, err)
	}
	if len(db.writes) != 1 {
		t.Fatalf("%d writes, want 1", len(db.writes))
	}
	got, err := itemtest.Write(db.writes[0])
	if err != nil {
		t.Fatal(err)
	}
	want, err := itemtest.Write(onboardings.SealExpired("onboardings", o.ID, now))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("write %v, want %v", got, want)
	}
}
