//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	dynamotypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/lanyardhq/lanyard/integration/harness"
)

// An SQS event source mapping with ReportBatchItemFailures: of one batch, Lambda deletes the
// records the function processed and leaves only the reported ones to come back after the
// visibility timeout; after maxReceiveCount receives the queue moves such a record to its DLQ.
func TestSQSBatchItemFailuresRedeliverOnlyTheFailedRecordUntilTheDLQ(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	const (
		functionTimeout   = 3 // seconds
		visibilityTimeout = 4 // seconds; AWS requires at least the function timeout
		maxReceiveCount   = 2
	)
	table := createRecorderTable(t)
	dlqURL, dlqARN := createQueue(t, "recorder-dlq", nil)
	redrive, err := json.Marshal(map[string]string{"deadLetterTargetArn": dlqARN, "maxReceiveCount": strconv.Itoa(maxReceiveCount)})
	if err != nil {
		t.Fatal(err)
	}
	queueURL, queueARN := createQueue(t, "recorder-src", map[string]string{
		"VisibilityTimeout": strconv.Itoa(visibilityTimeout),
		"RedrivePolicy":     string(redrive),
	})
	fn, _ := env.DeployFunction(t, "recorder", harness.FunctionOptions{
		Timeout:     functionTimeout,
		Environment: map[string]string{"RECORDER_TABLE": table},
	})

	// The records are in the queue before the mapping polls it, so its first receive (batch
	// size 10, batching window 2 s) takes all five. Sent while the mapping was already
	// long-polling, LocalStack 4.7.0 often returned the first message of the SendMessageBatch on
	// its own and the other four in the next batch.
	outcomes := []string{"pass", "pass", "fail", "pass", "pass"}
	var entries []sqstypes.SendMessageBatchRequestEntry
	for i, outcome := range outcomes {
		entries = append(entries, sqstypes.SendMessageBatchRequestEntry{
			Id:          aws.String(strconv.Itoa(i)),
			MessageBody: aws.String(fmt.Sprintf(`{"n":%d,"outcome":%q}`, i, outcome)),
		})
	}
	sendOut, err := env.SQS.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
	if err != nil {
		t.Fatalf("send messages: %v", err)
	}
	if len(sendOut.Failed) > 0 || len(sendOut.Successful) != len(entries) {
		t.Fatalf("send messages: %d sent, failed %+v", len(sendOut.Successful), sendOut.Failed)
	}
	createSQSMapping(t, fn, queueARN, &lambda.CreateEventSourceMappingInput{
		BatchSize:                      aws.Int32(10),
		MaximumBatchingWindowInSeconds: aws.Int32(2),
		FunctionResponseTypes:          []lambdatypes.FunctionResponseType{lambdatypes.FunctionResponseTypeReportBatchItemFailures},
	})

	sentBody := map[string]string{} // message id → body
	var failID string
	passIDs := map[string]bool{}
	for _, ok := range sendOut.Successful {
		i, _ := strconv.Atoi(aws.ToString(ok.Id))
		id := aws.ToString(ok.MessageId)
		sentBody[id] = aws.ToString(entries[i].MessageBody)
		if outcomes[i] == "fail" {
			failID = id
		} else {
			passIDs[id] = true
		}
	}

	// The failed record lands in the DLQ: its third receive exceeds maxReceiveCount 2.
	var dead []sqstypes.Message
	harness.Eventually(t, 90*time.Second, func() (bool, string) {
		out, err := env.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(dlqURL),
			MaxNumberOfMessages:         10,
			WaitTimeSeconds:             2,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		})
		if err != nil {
			return false, "receive from the DLQ: " + err.Error()
		}
		dead = append(dead, out.Messages...)
		return len(dead) > 0, "the DLQ is still empty"
	})
	if len(dead) != 1 || !sameJSON(aws.ToString(dead[0].Body), sentBody[failID]) {
		t.Fatalf("the DLQ got %s, want only the failed record %s", describeMessages(dead), sentBody[failID])
	}
	t.Logf("DLQ message: id %s (source id %s), attributes %v", aws.ToString(dead[0].MessageId), failID, dead[0].Attributes)
	if got := aws.ToString(dead[0].MessageId); got != failID {
		t.Errorf("the DLQ message has id %s, want the source message's id %s", got, failID)
	}
	if got := dead[0].Attributes[string(sqstypes.MessageSystemAttributeNameDeadLetterQueueSourceArn)]; got != queueARN {
		t.Errorf("DeadLetterQueueSourceArn = %q, want %s", got, queueARN)
	}

	// Nothing is left to deliver: the passing records were deleted after their one delivery.
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		counts, err := queueCounts(ctx, queueURL)
		if err != nil {
			return false, err.Error()
		}
		return counts == [3]int{}, fmt.Sprintf("source queue visible/in flight/delayed = %v", counts)
	})
	if counts, err := queueCounts(ctx, dlqURL); err != nil || counts != [3]int{0, 1, 0} {
		t.Errorf("DLQ visible/in flight/delayed = %v (%v), want only the one record we hold", counts, err)
	}

	deliveries, err := env.Deliveries(ctx, table)
	if err != nil {
		t.Fatal(err)
	}
	byMessage := map[string][]harness.Delivery{}
	byInvocation := map[string][]harness.Delivery{}
	for _, d := range deliveries {
		if _, known := sentBody[d.ID]; !known || d.Source != "aws:sqs" {
			t.Errorf("unexpected delivery %+v", d)
			continue
		}
		// LocalStack 4.7.0's poller re-serializes a JSON body (`{"n":0}` arrives as `{"n": 0}`);
		// AWS hands the body over byte for byte. Compare the JSON values.
		if !sameJSON(d.Body, sentBody[d.ID]) {
			t.Errorf("message %s arrived with body %s, sent %s", d.ID, d.Body, sentBody[d.ID])
		}
		byMessage[d.ID] = append(byMessage[d.ID], d)
		byInvocation[d.Invocation] = append(byInvocation[d.Invocation], d)
	}
	t.Logf("batches: %s", describeBatches(byInvocation))
	for inv, ds := range byInvocation {
		if ds[0].BatchSize != len(ds) {
			t.Errorf("invocation %s had %d records but %d were recorded", inv, ds[0].BatchSize, len(ds))
		}
	}

	// Each passing record: delivered exactly once, on its first receive.
	for id := range passIDs {
		if ds := byMessage[id]; len(ds) != 1 || ds[0].ReceiveCount != 1 {
			t.Errorf("passing record %s: deliveries %+v, want one with receive count 1", id, ds)
		}
	}
	// The failing record: delivered on receive 1 and 2, the second time alone.
	fails := byMessage[failID]
	sort.Slice(fails, func(i, j int) bool { return fails[i].ReceiveCount < fails[j].ReceiveCount })
	if counts := receiveCounts(fails); !slices.Equal(counts, []int{1, 2}) {
		t.Fatalf("failing record %s was delivered with receive counts %v, want [1 2]", failID, counts)
	}
	if retry := byInvocation[fails[1].Invocation]; len(retry) != 1 {
		t.Errorf("the failing record's redelivery came in a batch with %s", describeDeliveries(retry))
	}
	// The reported failure was honoured per record: its first batch also held passing records,
	// and those were not delivered again (above).
	var passedAlongside int
	for _, d := range byInvocation[fails[0].Invocation] {
		if passIDs[d.ID] {
			passedAlongside++
		}
	}
	if passedAlongside == 0 {
		t.Errorf("no batch held the failing record together with a passing one: %s", describeBatches(byInvocation))
	}
}

// createSQSMapping maps queueARN to fn with the settings in in, waits until the mapping is
// Enabled and, when the test ends, deletes it and waits until it is gone.
func createSQSMapping(t *testing.T, fn, queueARN string, in *lambda.CreateEventSourceMappingInput) {
	t.Helper()
	ctx := context.Background()
	in.FunctionName = aws.String(fn)
	in.EventSourceArn = aws.String(queueARN)
	out, err := env.Lambda.CreateEventSourceMapping(ctx, in)
	if err != nil {
		t.Fatalf("create event source mapping: %v", err)
	}
	id := out.UUID
	t.Cleanup(func() {
		if _, err := env.Lambda.DeleteEventSourceMapping(ctx, &lambda.DeleteEventSourceMappingInput{UUID: id}); err != nil {
			t.Errorf("delete event source mapping %s: %v", aws.ToString(id), err)
			return
		}
		harness.Eventually(t, 30*time.Second, func() (bool, string) {
			_, err := env.Lambda.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: id})
			var gone *lambdatypes.ResourceNotFoundException
			return errors.As(err, &gone), fmt.Sprintf("event source mapping %s still there after its deletion (%v)", aws.ToString(id), err)
		})
	})
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		got, err := env.Lambda.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: id})
		if err != nil {
			return false, "get event source mapping: " + err.Error()
		}
		return aws.ToString(got.State) == "Enabled", "mapping state " + aws.ToString(got.State)
	})
}

// createQueue creates a standard queue named after prefix and deletes it when the test ends.
func createQueue(t *testing.T, prefix string, attrs map[string]string) (url, arn string) {
	t.Helper()
	ctx := context.Background()
	out, err := env.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(harness.Name(prefix)), Attributes: attrs})
	if err != nil {
		t.Fatalf("create queue %s: %v", prefix, err)
	}
	url = aws.ToString(out.QueueUrl)
	t.Cleanup(func() {
		if _, err := env.SQS.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: aws.String(url)}); err != nil {
			t.Errorf("delete queue %s: %v", url, err)
		}
	})
	got, err := env.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		t.Fatalf("queue ARN of %s: %v", url, err)
	}
	return url, got.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
}

// queueCounts returns a queue's approximate visible, in-flight and delayed message counts.
func queueCounts(ctx context.Context, url string) ([3]int, error) {
	names := []sqstypes.QueueAttributeName{
		sqstypes.QueueAttributeNameApproximateNumberOfMessages,
		sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed,
	}
	out, err := env.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: names})
	if err != nil {
		return [3]int{}, fmt.Errorf("attributes of %s: %w", url, err)
	}
	var counts [3]int
	for i, n := range names {
		if counts[i], err = strconv.Atoi(out.Attributes[string(n)]); err != nil {
			return [3]int{}, fmt.Errorf("%s of %s: %w", n, url, err)
		}
	}
	return counts, nil
}

// createRecorderTable creates the table the recorder function writes to (sk: the invocation).
func createRecorderTable(t *testing.T) string {
	t.Helper()
	return env.CreateTable(t, "recorder", dynamotypes.ScalarAttributeTypeS)
}

func receiveCounts(ds []harness.Delivery) []int {
	out := make([]int, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.ReceiveCount)
	}
	return out
}

// sameJSON reports whether a and b are the same JSON value (or the same text, if either is not
// JSON).
func sameJSON(a, b string) bool {
	var va, vb any
	if json.Unmarshal([]byte(a), &va) != nil || json.Unmarshal([]byte(b), &vb) != nil {
		return a == b
	}
	return reflect.DeepEqual(va, vb)
}

func describeDeliveries(ds []harness.Delivery) string {
	parts := make([]string, 0, len(ds))
	for _, d := range ds {
		parts = append(parts, fmt.Sprintf("%s (receive %d)", d.Body, d.ReceiveCount))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func describeBatches(byInvocation map[string][]harness.Delivery) string {
	parts := make([]string, 0, len(byInvocation))
	for _, ds := range byInvocation {
		parts = append(parts, describeDeliveries(ds))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func describeMessages(ms []sqstypes.Message) string {
	parts := make([]string, 0, len(ms))
	for _, m := range ms {
		parts = append(parts, aws.ToString(m.MessageId)+" "+aws.ToString(m.Body))
	}
	return fmt.Sprintf("%d messages %v", len(ms), parts)
}
