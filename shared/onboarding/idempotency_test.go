package onboarding

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/problem"
	"github.com/lanyardhq/lanyard/topology"
)

func TestTopologyDeclaresTheIdempotencyTable(t *testing.T) {
	t.Parallel()
	tb, ok := topology.Lanyard().Table("idempotency")
	if !ok {
		t.Fatal("the production topology declares no idempotency table")
	}
	if tb.PartitionKey != (topology.Attr{Name: IdempotencyPartitionKey, Type: topology.AttrString}) || tb.SortKey != nil {
		t.Errorf("declared keys %+v / %+v, want %s (S) alone", tb.PartitionKey, tb.SortKey, IdempotencyPartitionKey)
	}
	if tb.TTLAttribute != IdempotencyTTLAttribute {
		t.Errorf("declared TTL attribute %q, want %q", tb.TTLAttribute, IdempotencyTTLAttribute)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	t.Parallel()
	r := record{
		Key: IdempotencyKeyPrefix + "k", RequestHash: "abc", State: stateInFlight, LeaseUntil: 1_795_000_000_123,
		PartnerID: "p-x", SecretVersionID: "v", CreatedAt: start, PurgeAt: start.Add(ReplayWindow).Unix(),
	}
	got, err := recordFromItem(r.item())
	if err != nil || got != r {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, r)
	}
	for name, mutate := range map[string]func(map[string]types.AttributeValue){
		"unknown state":          func(m map[string]types.AttributeValue) { m[attrState] = str("done") },
		"completed without body": func(m map[string]types.AttributeValue) { m[attrState] = str(stateCompleted) },
		"lease not a number":     func(m map[string]types.AttributeValue) { m[attrLeaseUntil] = str("soon") },
		"no partner":             func(m map[string]types.AttributeValue) { delete(m, attrPartnerID) },
		"201 without secret": func(m map[string]types.AttributeValue) {
			m[attrState], m[attrStatusCode], m[attrResponseBody] = str(stateCompleted), num(201), str("{}")
		},
	} {
		item := r.item()
		mutate(item)
		if _, err := recordFromItem(item); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// withoutOldItem is a DynamoDB that does not return the item with a failed condition (as an
// endpoint without ReturnValuesOnConditionCheckFailure support would): the claim reads it.
type withoutOldItem struct{ *dynamodbtest.DynamoDB }

func (d withoutOldItem) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	out, err := d.DynamoDB.PutItem(ctx, in, opts...)
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		failed.Item = nil
	}
	return out, err
}

func TestClaimReadsARecordNotReturned(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.h.DB = withoutOldItem{f.db}
	code, _ := f.issue(acme, "standard")
	first := f.post("k", body(acme, code, "orders:read"))
	created(t, first)
	if again := f.post("k", body(acme, code, "orders:read")); again.Body != first.Body {
		t.Error("the replay differs")
	}
	refusal(t, f.post("k", body(acme, code, "inventory:read")), problem.IdempotencyKeyReused)
}

// A record that does not hold together is an internal error, never a replay of garbage.
func TestCorruptRecord(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	code, _ := f.issue(acme, "standard")
	b := body(acme, code, "orders:read")
	created(t, f.post("k", b))
	_, err := f.db.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName:                 aws.String(testTables.Idempotency),
		Key:                       map[string]types.AttributeValue{IdempotencyPartitionKey: str(IdempotencyKeyPrefix + "k")},
		UpdateExpression:          aws.String("SET #body = :body"),
		ExpressionAttributeNames:  map[string]string{"#body": attrResponseBody},
		ExpressionAttributeValues: map[string]types.AttributeValue{":body": str(`{"partnerId":"p-x","keyId":"k","apiKey":"x"}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := refusal(t, f.post("k", b), problem.Internal)
	if p.Detail != problem.Internal.DefaultDetail() {
		t.Errorf("detail %q", p.Detail)
	}
}
