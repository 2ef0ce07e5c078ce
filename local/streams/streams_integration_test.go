//go:build integration

package streams_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/local/invoke"
	"github.com/lanyardhq/lanyard/local/streams"
	"github.com/lanyardhq/lanyard/topology"
)

// streamTable creates a table with a NEW_AND_OLD_IMAGES stream in DynamoDB Local, deletes it
// when the test ends, and returns its name and stream ARN.
func streamTable(t *testing.T, env *harness.Env) (table, streamARN string) {
	t.Helper()
	ctx := context.Background()
	table = harness.Name("streams")
	_, err := env.DynamoDB.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(table),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS},
		},
		KeySchema:   []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode: ddbtypes.BillingModePayPerRequest,
		StreamSpecification: &ddbtypes.StreamSpecification{
			StreamEnabled: aws.Bool(true), StreamViewType: ddbtypes.StreamViewTypeNewAndOldImages,
		},
	})
	if err != nil {
		t.Fatalf("create table %s: %v", table, err)
	}
	t.Cleanup(func() {
		if _, err := env.DynamoDB.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)}); err != nil {
			t.Errorf("delete table %s: %v", table, err)
		}
	})
	if err := dynamodb.NewTableExistsWaiter(env.DynamoDB).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, 30*time.Second); err != nil {
		t.Fatalf("table %s never became active: %v", table, err)
	}
	streamARN, err = streams.LatestStreamARN(ctx, env.DynamoDB, table)
	if err != nil {
		t.Fatal(err)
	}
	return table, streamARN
}

func connect(t *testing.T) *harness.Env {
	t.Helper()
	env, err := harness.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestPollerDeliversTableChangesFromDynamoDBLocal(t *testing.T) {
	env := connect(t)
	table, streamARN := streamTable(t, env)
	ctx := context.Background()
	put := func(item map[string]ddbtypes.AttributeValue) {
		t.Helper()
		if _, err := env.DynamoDB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
			t.Fatalf("put item: %v", err)
		}
	}
	key := func(pk string) map[string]ddbtypes.AttributeValue {
		return map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: pk}}
	}

	// Written before the poller starts: TRIM_HORIZON must not miss it. It carries every
	// attribute type.
	put(map[string]ddbtypes.AttributeValue{
		"pk":     &ddbtypes.AttributeValueMemberS{Value: "partner-1"},
		"status": &ddbtypes.AttributeValueMemberS{Value: "pending"},
		"n":      &ddbtypes.AttributeValueMemberN{Value: "12.5"},
		"b":      &ddbtypes.AttributeValueMemberB{Value: []byte{0, 1, 0xfe}},
		"ss":     &ddbtypes.AttributeValueMemberSS{Value: []string{"audit:read"}},
		"ns":     &ddbtypes.AttributeValueMemberNS{Value: []string{"7"}},
		"bs":     &ddbtypes.AttributeValueMemberBS{Value: [][]byte{{9}}},
		"m":      &ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{"k": &ddbtypes.AttributeValueMemberBOOL{Value: true}}},
		"l":      &ddbtypes.AttributeValueMemberL{Value: []ddbtypes.AttributeValue{&ddbtypes.AttributeValueMemberNULL{Value: true}, &ddbtypes.AttributeValueMemberN{Value: "1"}}},
	})

	r := &recorder{}
	start(t, &streams.Poller{
		Streams: env.Streams,
		Invoker: r.invoker(t),
		Consumers: []streams.Consumer{{
			Settings:  topology.StreamConsumer{Table: table, Function: "recorder", BatchSize: 10, RetryAttempts: 2},
			StreamARN: streamARN,
			Function:  "lanyard-recorder",
		}},
		Logger:       testLogger(t),
		PollInterval: 50 * time.Millisecond,
		Region:       harness.Region,
	})

	_, err := env.DynamoDB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(table), Key: key("partner-1"),
		UpdateExpression:          aws.String("SET #s = :s"),
		ExpressionAttributeNames:  map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":s": &ddbtypes.AttributeValueMemberS{Value: "active"}},
	})
	if err != nil {
		t.Fatalf("update item: %v", err)
	}
	put(map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "partner-2"}, "status": &ddbtypes.AttributeValueMemberS{Value: "pending"}})
	if _, err := env.DynamoDB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: key("partner-1")}); err != nil {
		t.Fatalf("delete item: %v", err)
	}

	var records []lambdaevents.DynamoDBEventRecord
	harness.Eventually(t, 20*time.Second, func() (bool, string) {
		records = records[:0]
		for _, c := range r.seen() {
			records = append(records, c.event.Records...)
		}
		return len(records) >= 4, fmt.Sprintf("%d of 4 records delivered", len(records))
	})
	if len(records) != 4 {
		t.Fatalf("delivered %d records, want 4", len(records))
	}

	type change struct{ name, pk, oldStatus, newStatus string }
	status := func(img map[string]lambdaevents.DynamoDBAttributeValue) string {
		if v, ok := img["status"]; ok {
			return v.String()
		}
		return ""
	}
	var got []change
	prev := new(big.Int)
	for i, rec := range records {
		got = append(got, change{rec.EventName, rec.Change.Keys["pk"].String(), status(rec.Change.OldImage), status(rec.Change.NewImage)})
		if rec.EventSource != "aws:dynamodb" || rec.EventVersion != "1.1" || rec.EventSourceArn != streamARN ||
			rec.AWSRegion != harness.Region || rec.Change.StreamViewType != "NEW_AND_OLD_IMAGES" || rec.EventID == "" ||
			rec.Change.SizeBytes <= 0 {
			t.Errorf("record %d lacks the event source mapping's fields: %+v", i, rec)
		}
		if age := time.Since(rec.Change.ApproximateCreationDateTime.Time); age < 0 || age > 10*time.Minute {
			t.Errorf("record %d: ApproximateCreationDateTime %v is not recent", i, rec.Change.ApproximateCreationDateTime.Time)
		}
		seq, ok := new(big.Int).SetString(rec.Change.SequenceNumber, 10)
		if !ok || seq.Cmp(prev) <= 0 {
			t.Errorf("record %d: sequence number %q does not follow %s", i, rec.Change.SequenceNumber, prev)
		} else {
			prev = seq
		}
	}
	want := []change{
		{"INSERT", "partner-1", "", "pending"},
		{"MODIFY", "partner-1", "pending", "active"},
		{"INSERT", "partner-2", "", "pending"},
		{"REMOVE", "partner-1", "active", ""},
	}
	if !slices.Equal(got, want) {
		t.Errorf("changes\n%v\nwant\n%v", got, want)
	}
	// Every attribute type arrives in the Lambda event's JSON form.
	var first map[string]any
	raw, _ := json.Marshal(records[0].Change.NewImage)
	if err := json.Unmarshal(raw, &first); err != nil {
		t.Fatal(err)
	}
	wantImage := map[string]any{
		"pk": map[string]any{"S": "partner-1"}, "status": map[string]any{"S": "pending"},
		"n": map[string]any{"N": "12.5"}, "b": map[string]any{"B": "AAH+"},
		"ss": map[string]any{"SS": []any{"audit:read"}}, "ns": map[string]any{"NS": []any{"7"}},
		"bs": map[string]any{"BS": []any{"CQ=="}}, "m": map[string]any{"M": map[string]any{"k": map[string]any{"BOOL": true}}},
		"l": map[string]any{"L": []any{map[string]any{"NULL": true}, map[string]any{"N": "1"}}},
	}
	if !reflect.DeepEqual(first, wantImage) {
		t.Errorf("new image\n%s\nwant\n%v", raw, wantImage)
	}
}

// A poison record is isolated by bisection and reported to a real SQS queue in LocalStack; the
// records around it are delivered.
func TestPoisonRecordReachesTheOnFailureQueue(t *testing.T) {
	env := connect(t)
	table, streamARN := streamTable(t, env)
	ctx := context.Background()
	queue := harness.Name("stream-failures")
	q, err := env.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(queue)})
	if err != nil {
		t.Fatalf("create queue: %v", err)
	}
	queueURL := aws.ToString(q.QueueUrl)
	t.Cleanup(func() {
		if _, err := env.SQS.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: aws.String(queueURL)}); err != nil {
			t.Errorf("delete queue %s: %v", queue, err)
		}
	})

	pks := []string{"good-1", "good-2", "poison", "good-3", "good-4"}
	for _, pk := range pks {
		if _, err := env.DynamoDB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]ddbtypes.AttributeValue{
			"pk": &ddbtypes.AttributeValueMemberS{Value: pk},
		}}); err != nil {
			t.Fatalf("put item: %v", err)
		}
	}
	r := &recorder{respond: func(_ int, c call) (invoke.Result, error) {
		if slices.Contains(c.keys(), "poison") {
			return functionError("cannot publish"), nil
		}
		return invoke.Result{}, nil
	}}
	start(t, &streams.Poller{
		Streams: env.Streams,
		Invoker: r.invoker(t),
		Queue:   env.SQS,
		Consumers: []streams.Consumer{{
			Settings: topology.StreamConsumer{Table: table, Function: "recorder", BatchSize: 10, RetryAttempts: 1,
				BisectOnError: true, OnFailureQueue: queue},
			StreamARN:         streamARN,
			Function:          "lanyard-recorder",
			OnFailureQueueURL: queueURL,
		}},
		Logger:       testLogger(t),
		PollInterval: 50 * time.Millisecond,
		Region:       harness.Region,
		Backoff:      func(int) time.Duration { return 10 * time.Millisecond },
	})

	want := []string{"good-1", "good-2", "good-3", "good-4"}
	harness.Eventually(t, 20*time.Second, func() (bool, string) {
		good := r.delivered(func(c call) bool { return !slices.Contains(c.keys(), "poison") })
		return len(good) >= len(want), fmt.Sprintf("delivered %v", good)
	})
	var body string
	harness.Eventually(t, 20*time.Second, func() (bool, string) {
		out, err := env.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), WaitTimeSeconds: 1})
		if err != nil {
			return false, err.Error()
		}
		if len(out.Messages) == 0 {
			return false, "no on-failure message yet"
		}
		body = aws.ToString(out.Messages[0].Body)
		return true, ""
	})
	good := r.delivered(func(c call) bool { return !slices.Contains(c.keys(), "poison") })
	if !slices.Equal(good, want) {
		t.Errorf("delivered %v, want %v", good, want)
	}
	var poisonSeq string
	for _, c := range r.seen() {
		if len(c.event.Records) == 1 && c.keys()[0] == "poison" {
			poisonSeq = c.event.Records[0].Change.SequenceNumber
		}
	}
	var msg streams.FailureRecord
	if err := json.Unmarshal([]byte(body), &msg); err != nil {
		t.Fatalf("on-failure message is not JSON: %v\n%s", err, body)
	}
	info := msg.DDBStreamBatchInfo
	if info.BatchSize != 1 || info.StartSequenceNumber != poisonSeq || info.EndSequenceNumber != poisonSeq ||
		info.StreamARN != streamARN || !strings.HasPrefix(info.ShardID, "shardId-") ||
		msg.RequestContext.Condition != "RetryAttemptsExhausted" || msg.RequestContext.ApproximateInvokeCount != 2 ||
		msg.RequestContext.FunctionARN != "arn:aws:lambda:us-east-1:000000000000:function:lanyard-recorder" {
		t.Errorf("on-failure record %s, want the poison record %s alone", body, poisonSeq)
	}
}
