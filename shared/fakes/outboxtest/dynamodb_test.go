package outboxtest_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"

	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/fakes/outboxtest"
)

// Most of the fake's semantics are checked by the outbox package's scenarios, which run against
// the fake and against DynamoDB Local alike; these tests cover what only the fake has.

func newDB() *dynamodbtest.DynamoDB {
	db := dynamodbtest.NewDynamoDB()
	db.CreateTable("t", dynamodbtest.KeyAttr{Name: "pk", Type: types.ScalarAttributeTypeS}, &dynamodbtest.KeyAttr{Name: "n", Type: types.ScalarAttributeTypeN})
	return db
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }

func key(pk, num string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": s(pk), "n": n(num)}
}

func with(k map[string]types.AttributeValue, name string, v types.AttributeValue) map[string]types.AttributeValue {
	k[name] = v
	return k
}

func TestChangesRecordWritesThatChangeSomething(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB()
	put := func(item map[string]types.AttributeValue) {
		t.Helper()
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("t"), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	put(with(key("a", "1"), "v", s("x")))
	put(with(key("a", "1"), "v", s("x")))   // the same item again: no change
	put(with(key("a", "1.0"), "v", s("y"))) // 1.0 is 1: the same item
	if _, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String("t"), Key: key("b", "2"),
		UpdateExpression: aws.String("SET v = :v"), ExpressionAttributeValues: map[string]types.AttributeValue{":v": s("z")},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Delete: &types.Delete{TableName: aws.String("t"), Key: key("a", "1")}},
		{Delete: &types.Delete{TableName: aws.String("t"), Key: key("never", "1")}}, // nothing to delete: no change
	}}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range db.Changes("t") {
		got = append(got, c.EventName)
	}
	if want := []string{"INSERT", "MODIFY", "INSERT", "REMOVE"}; !slices.Equal(got, want) {
		t.Errorf("changes %v, want %v", got, want)
	}
	ev := outboxtest.StreamEvent(db.Changes("t"))
	if r := ev.Records[2]; r.EventName != "INSERT" || r.Change.NewImage["v"].String() != "z" || r.Change.Keys["n"].Number() != "2" || r.Change.OldImage != nil {
		t.Errorf("stream record of the upsert: %+v", r)
	}
	if items := db.Items("t"); len(items) != 1 {
		t.Errorf("%d items left, want 1", len(items))
	}
}

func TestTransactionWritesNothingWhenAWriteCannotApply(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB()
	_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String("t"), Item: key("a", "1")}},
		{Update: &types.Update{TableName: aws.String("t"), Key: key("b", "1"), UpdateExpression: aws.String("SET v = missing")}},
	}})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "ValidationException" {
		t.Fatalf("transaction: %v, want a ValidationException", err)
	}
	if items := db.Items("t"); len(items) != 0 {
		t.Errorf("items %v written by a failed transaction", items)
	}
	many := make([]types.TransactWriteItem, 101)
	for i := range many {
		many[i] = types.TransactWriteItem{Put: &types.Put{TableName: aws.String("t"), Item: key("m", strconv.Itoa(i))}}
	}
	if _, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: many}); !errors.As(err, &api) || api.ErrorCode() != "ValidationException" {
		t.Errorf("101 items: %v", err)
	}
}

func TestConditionFailuresCarryTheOldItemWhenAsked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB()
	old := with(key("a", "1"), "v", s("x"))
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("t"), Item: old}); err != nil {
		t.Fatal(err)
	}
	_, err := db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String("t"), Item: key("a", "1"), ConditionExpression: aws.String("attribute_not_exists(pk)"),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var failed *types.ConditionalCheckFailedException
	if !errors.As(err, &failed) || failed.Item["v"].(*types.AttributeValueMemberS).Value != "x" {
		t.Errorf("conditional put: %v, want the old item with it", err)
	}
	_, err = db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{ConditionCheck: &types.ConditionCheck{TableName: aws.String("t"), Key: key("a", "1"), ConditionExpression: aws.String("attribute_not_exists(pk)"),
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld}},
	}})
	var canceled *types.TransactionCanceledException
	if !errors.As(err, &canceled) || canceled.CancellationReasons[0].Item["v"] == nil {
		t.Errorf("transaction: %v, want the old item in the reason", err)
	}
}

func TestBatchGetLeavesKeysUnprocessedPastTheLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB()
	db.BatchGetLimit = 2
	for _, k := range []string{"1", "2", "3"} {
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("t"), Item: key("a", k)}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
		"t": {Keys: []map[string]types.AttributeValue{key("a", "1"), key("a", "2"), key("a", "3"), key("a", "4")}, ConsistentRead: aws.Bool(true)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Responses["t"]) != 2 || len(out.UnprocessedKeys["t"].Keys) != 2 || !aws.ToBool(out.UnprocessedKeys["t"].ConsistentRead) {
		t.Errorf("responses %d, unprocessed %+v", len(out.Responses["t"]), out.UnprocessedKeys["t"])
	}
}

func TestTheFakeRefusesWhatItDoesNotModel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB()
	for name, call := range map[string]func() error{
		"projection": func() error {
			_, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("t"), Key: key("a", "1"), ProjectionExpression: aws.String("v")})
			return err
		},
		"nested path": func() error {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("t"), Item: key("a", "1"), ConditionExpression: aws.String("attribute_exists(m.x)")})
			return err
		},
		"arithmetic": func() error {
			_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("t"), Key: key("a", "1"),
				UpdateExpression: aws.String("SET v = v + :one"), ExpressionAttributeValues: map[string]types.AttributeValue{":one": n("1")}})
			return err
		},
		"ADD": func() error {
			_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("t"), Key: key("a", "1"),
				UpdateExpression: aws.String("ADD v :one"), ExpressionAttributeValues: map[string]types.AttributeValue{":one": n("1")}})
			return err
		},
		"a filter": func() error {
			_, err := db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("t"), KeyConditionExpression: aws.String("pk = :p"),
				FilterExpression: aws.String("v = :p"), ExpressionAttributeValues: map[string]types.AttributeValue{":p": s("a")}})
			return err
		},
		"a function": func() error {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("t"), Item: key("a", "1"),
				ConditionExpression: aws.String("contains(v, :p)"), ExpressionAttributeValues: map[string]types.AttributeValue{":p": s("a")}})
			return err
		},
	} {
		if err := call(); err == nil || !strings.Contains(err.Error(), "not supported by the fake") {
			t.Errorf("%s: %v, want the fake to say it does not support it", name, err)
		}
	}
	if _, err := db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("t"), KeyConditionExpression: aws.String("n = :n"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": n("1")}}); err == nil {
		t.Error("a query without the partition key was answered")
	}
	if _, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("nowhere"), Key: key("a", "1")}); !errors.As(err, new(*types.ResourceNotFoundException)) {
		t.Errorf("a missing table: %v", err)
	}
}

func TestInterceptAnswersInsteadOfTheFake(t *testing.T) {
	t.Parallel()
	db := newDB()
	boom := errors.New("throttled")
	db.Intercept = func(op string, in any) error {
		if _, ok := in.(*dynamodb.PutItemInput); ok && op == "PutItem" {
			return boom
		}
		return nil
	}
	if _, err := db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String("t"), Item: key("a", "1")}); !errors.Is(err, boom) {
		t.Errorf("put: %v", err)
	}
	if len(db.Items("t")) != 0 || db.Calls("PutItem") != 0 {
		t.Error("an intercepted call reached the table")
	}
}

func TestBus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bus := &outboxtest.Bus{FailEntry: func(e ebtypes.PutEventsRequestEntry) string {
		if aws.ToString(e.DetailType) == "Fail Me" {
			return "InternalFailure"
		}
		return ""
	}}
	entry := func(dt, detail string) ebtypes.PutEventsRequestEntry {
		return ebtypes.PutEventsRequestEntry{Source: aws.String("lanyard"), DetailType: aws.String(dt), Detail: aws.String(detail)}
	}
	out, err := bus.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{
		entry("Ok", `{"a":1}`), entry("Fail Me", `{}`), entry("Ok", `[1]`),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if out.FailedEntryCount != 2 || aws.ToString(out.Entries[0].EventId) == "" || aws.ToString(out.Entries[1].ErrorCode) != "InternalFailure" ||
		aws.ToString(out.Entries[2].ErrorCode) != "MalformedDetail" {
		t.Errorf("PutEvents answered %+v", out)
	}
	if p := bus.Published(); len(p) != 1 || p[0].EventID != aws.ToString(out.Entries[0].EventId) {
		t.Errorf("published %+v", p)
	}
	if _, err := bus.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: make([]ebtypes.PutEventsRequestEntry, 11)}); err == nil {
		t.Error("11 entries accepted")
	}
	bus.FailCall = func() error { return errors.New("unavailable") }
	if _, err := bus.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry("Ok", `{}`)}}); err == nil || bus.Calls() != 2 {
		t.Errorf("failed call: %v, %d calls counted", err, bus.Calls())
	}
}
