package onboarding

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/features/invite"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
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
	rec, _ := f.record("k")
	_, err := f.db.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName:                 aws.String(testTables.Idempotency),
		Key:                       map[string]types.AttributeValue{IdempotencyPartitionKey: &types.AttributeValueMemberS{Value: rec.Key}},
		UpdateExpression:          aws.String("SET #body = :body"),
		ExpressionAttributeNames:  map[string]string{"#body": "responseBody"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":body": &types.AttributeValueMemberS{Value: `{"partnerId":"p-x","keyId":"k","apiKey":"x"}`}},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := refusal(t, f.post("k", b), problem.Internal)
	if p.Detail != problem.Internal.DefaultDetail() {
		t.Errorf("detail %q", p.Detail)
	}
}

// A record's key names the operation, the kind of proof and the proof's hash (an account id as
// STS verified it), then the Idempotency-Key's hash: never the header, never the proof itself.
func TestRecordKey(t *testing.T) {
	t.Parallel()
	idem := secret.New("5f1c2a9e-8d4b-4f0e-9b7c-1d2e3f4a5b6c")
	const idemHash = "sha256:b4edb3e1df7afb91f5fb49cc60cd31a5bacbf6d65cba0459848736074549f5e2"
	code := secret.New("lnyd_inv_" + strings.Repeat("A", 43))
	token := secret.New(PickupTokenPrefix + strings.Repeat("b", 43))
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"invite", inviteScope(code).recordKey(IdempotencyKeyPrefix, idem), "createPartner#invite#" + invite.Hash(code) + "#"},
		{"account", accountScope("111122223333").recordKey(IdempotencyKeyPrefix, idem), "createPartner#account#111122223333#"},
		{"pick-up", pickupScope(token).recordKey(PickupKeyPrefix, idem), "pickup#token#" + PickupTokenHash(token) + "#"},
	}
	for _, tt := range tests {
		if tt.got != tt.want+idemHash || strings.Contains(tt.got, idem.Reveal()) ||
			strings.Contains(tt.got, code.Reveal()) || strings.Contains(tt.got, token.Reveal()) {
			t.Errorf("%s: key %q, want %q", tt.name, tt.got, tt.want+idemHash)
		}
	}
	// The same header with another proof, or for the other operation, names another record.
	a := inviteScope(code).recordKey(IdempotencyKeyPrefix, idem)
	for _, other := range []string{
		inviteScope(secret.New(code.Reveal()+"B")).recordKey(IdempotencyKeyPrefix, idem),
		inviteScope(code).recordKey(PickupKeyPrefix, idem),
		inviteScope(code).recordKey(IdempotencyKeyPrefix, secret.New(idem.Reveal()+"x")),
	} {
		if other == a {
			t.Errorf("%q names the same record", other)
		}
	}
}
