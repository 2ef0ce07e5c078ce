package onboarding

import (
	"context"
	"flag"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/golden/*.json")

// goldenZone is not UTC: the codecs must store times in UTC.
var goldenZone = time.FixedZone("UTC+1", 3600)

func goldenAt(d time.Duration) time.Time {
	return time.Date(2026, 3, 14, 10, 26, 53, 589793000, goldenZone).Add(d)
}

// TestIdempotencyRecordGolden holds the idempotency record to its attribute maps in
// testdata/golden (a record is put in flight; its completion is an update), each golden item
// reading back as the record it was made from.
func TestIdempotencyRecordGolden(t *testing.T) {
	fresh := record{
		Key:         inviteScope(secret.New("lnyd_inv_x")).recordKey(IdempotencyKeyPrefix, secret.New("key-1")),
		RequestHash: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		State:       stateInFlight, LeaseUntil: goldenAt(DefaultLease).UnixMilli(),
		PartnerID: "p-abcdefghijklmnopqrstuvwxyz", SecretVersionID: "3f1d2c4b-5a6e-4f70-8192-a3b4c5d6e7f8",
		CreatedAt: goldenAt(0), PurgeAt: goldenAt(RecordLifetime).Unix(),
	}
	stored := itemtest.GoldenItem(t, "golden/idempotency-in-flight", fresh.item(), *updateGolden)
	back, err := recordFromItem(stored)
	if err != nil {
		t.Fatal(err)
	}
	if want := itemtest.InUTC(fresh); !reflect.DeepEqual(back, want) {
		t.Errorf("reads back as %+v, want %+v", back, want)
	}
	s := idempotencyTable{table: "idempotency"}
	c := &claim{record: fresh}
	itemtest.GoldenTransactItems(t, "golden/tx-idempotency-complete-created", *updateGolden,
		types.TransactWriteItem{Update: s.completion(c, goldenAt(time.Second), 201, `{"partnerId":"p-abcdefghijklmnopqrstuvwxyz"}`, "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x")})
	itemtest.GoldenTransactItems(t, "golden/tx-idempotency-complete-refused", *updateGolden,
		types.TransactWriteItem{Update: s.completion(c, goldenAt(time.Second), 409, `{"type":"x"}`, "")})
}

// TestIdempotencyCompletedRecordGolden holds a record as its completion leaves it to
// testdata/golden, reading back as the completed record.
func TestIdempotencyCompletedRecordGolden(t *testing.T) {
	db := dynamodbtest.NewDynamoDB()
	db.CreateTable("idempotency", dynamodbtest.KeyAttr{Name: IdempotencyPartitionKey, Type: types.ScalarAttributeTypeS}, nil)
	fresh := record{
		Key:         accountScope("123456789012").recordKey(IdempotencyKeyPrefix, secret.New("key-2")),
		RequestHash: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		State:       stateInFlight, LeaseUntil: goldenAt(DefaultLease).UnixMilli(),
		PartnerID: "p-abcdefghijklmnopqrstuvwxyz", SecretVersionID: "3f1d2c4b-5a6e-4f70-8192-a3b4c5d6e7f8",
		CreatedAt: goldenAt(0), PurgeAt: goldenAt(RecordLifetime).Unix(),
	}
	if _, err := db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String("idempotency"), Item: fresh.item()}); err != nil {
		t.Fatal(err)
	}
	s := idempotencyTable{db: db, table: "idempotency"}
	c := &claim{record: fresh}
	u := s.completion(c, goldenAt(time.Second), 201, `{"partnerId":"p-abcdefghijklmnopqrstuvwxyz"}`, "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x")
	if err := s.update(t.Context(), c, "complete", u); err != nil {
		t.Fatal(err)
	}
	stored := itemtest.GoldenItem(t, "golden/idempotency-completed", db.Items("idempotency")[0], *updateGolden)
	back, err := recordFromItem(stored)
	if err != nil {
		t.Fatal(err)
	}
	want := itemtest.InUTC(fresh)
	want.State, want.StatusCode, want.ResponseBody = stateCompleted, 201, `{"partnerId":"p-abcdefghijklmnopqrstuvwxyz"}`
	want.SecretARN, want.CompletedAt = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x", goldenAt(time.Second).Truncate(time.Millisecond).UTC()
	if !reflect.DeepEqual(back, want) {
		t.Errorf("reads back as %+v, want %+v", back, want)
	}
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

// TestIdempotencyWritesGolden holds the single writes of an idempotency claim — the claim's
// put, the take-over of a claim whose lease ran out, and the release — to testdata/golden.
func TestIdempotencyWritesGolden(t *testing.T) {
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
	itemtest.GoldenWrites(t, "golden/idempotency-claim", *updateGolden, db.writes...)
	db.writes = nil
	second, err := s.claim(t.Context(), key, hash, goldenAt(2*DefaultLease), ids)
	if err != nil || second.Claim == nil || !second.Claim.TakenOver {
		t.Fatalf("take over: %+v, %v", second, err)
	}
	itemtest.GoldenWrites(t, "golden/idempotency-take-over", *updateGolden, db.writes[1:]...)
	db.writes = nil
	if err := s.release(t.Context(), second.Claim); err != nil {
		t.Fatal(err)
	}
	itemtest.GoldenWrites(t, "golden/idempotency-release", *updateGolden, db.writes...)
}
