package idempotency

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

var start = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func TestRecordRoundTrip(t *testing.T) {
	t.Parallel()
	r := Record{
		Key: "createPartner#k", RequestHash: "abc", State: StateInFlight, LeaseUntil: 1_795_000_000_123,
		PartnerID: "p-x", SecretVersionID: "v", CreatedAt: start, PurgeAt: start.Add(24 * time.Hour).Unix(),
	}
	got, err := FromItem(mustItem(t, r))
	if err != nil || got != r {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, r)
	}
	if got.AnsweredAt() != start {
		t.Errorf("a record without completedAt answered at %s, want its createdAt", got.AnsweredAt())
	}
	completed := mustItem(t, r)
	completed[attrState], completed[attrStatusCode], completed[attrResponseBody] = str(StateCompleted), num(409), str("{}")
	completed[attrCompletedAt] = num(start.Add(time.Second).UnixMilli())
	if got, err := FromItem(completed); err != nil || !got.AnsweredAt().Equal(start.Add(time.Second)) {
		t.Errorf("completed record answered at %s, %v; want its completedAt", got.AnsweredAt(), err)
	}
	for name, mutate := range map[string]func(map[string]types.AttributeValue){
		"unknown state":            func(m map[string]types.AttributeValue) { m[attrState] = str("done") },
		"completed without body":   func(m map[string]types.AttributeValue) { m[attrState] = str(StateCompleted) },
		"lease not a number":       func(m map[string]types.AttributeValue) { m[attrLeaseUntil] = str("soon") },
		"completedAt not a number": func(m map[string]types.AttributeValue) { m[attrCompletedAt] = str("now") },
		"no partner":               func(m map[string]types.AttributeValue) { delete(m, attrPartnerID) },
		"201 without secret": func(m map[string]types.AttributeValue) {
			m[attrState], m[attrStatusCode], m[attrResponseBody] = str(StateCompleted), num(201), str("{}")
		},
	} {
		item := mustItem(t, r)
		mutate(item)
		if _, err := FromItem(item); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func mustItem(t *testing.T, r Record) map[string]types.AttributeValue {
	t.Helper()
	item, err := r.Item()
	if err != nil {
		t.Fatal(err)
	}
	return item
}

func mustClaim(t *testing.T, table string, r Record, now time.Time) *dynamodb.PutItemInput {
	t.Helper()
	put, err := Claim(table, r, now)
	if err != nil {
		t.Fatal(err)
	}
	return put
}
