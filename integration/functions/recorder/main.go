// Command recorder is an integration-test function: it writes every SQS record, every
// DynamoDB stream record and every EventBridge event it is invoked with to the DynamoDB table
// named by RECORDER_TABLE, so a test can see exactly what a trigger delivered, in which
// invocation and how often.
//
// One item per delivery, keyed pk = the SQS message id, the stream record's eventID or the
// EventBridge event id and sk = the invocation's request id, so a redelivery never overwrites an
// earlier one. Every item has source ("aws:sqs", "aws:dynamodb" or "aws:events") and batchSize
// (records in that invocation); SQS items add body and receiveCount (the record's
// ApproximateReceiveCount); stream items add eventName, sequenceNumber, eventSourceArn and keys,
// newImage and oldImage (present when the record has them) as the event's JSON; EventBridge
// items add detailType and envelope (the event exactly as received).
//
// An SQS record whose body contains "fail" is recorded and then reported in batchItemFailures,
// as is a record the function could not write. A stream batch the function could not write
// fails as a whole, which is how a stream source retries.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/platform/awsconfig"
	"github.com/lanyardhq/lanyard/shared/platform/logging"
)

// FailMarker in an SQS body makes the recorder report that record as failed.
const FailMarker = "fail"

type recorder struct {
	db    *dynamodb.Client
	table string
}

func (r recorder) handle(ctx context.Context, event json.RawMessage) (any, error) {
	lc, ok := lambdacontext.FromContext(ctx)
	if !ok {
		return nil, errors.New("recorder: no Lambda context")
	}
	var shape eventShape
	if err := json.Unmarshal(event, &shape); err != nil {
		return nil, fmt.Errorf("recorder: event is not a JSON object: %w", err)
	}
	source, err := shape.recordsSource()
	if err != nil {
		return nil, err
	}
	switch {
	case source == "aws:sqs":
		var batch lambdaevents.SQSEvent
		if err := json.Unmarshal(event, &batch); err != nil {
			return nil, fmt.Errorf("recorder: decode SQS event: %w", err)
		}
		return r.recordSQS(ctx, lc.AwsRequestID, batch), nil
	case source == "aws:dynamodb":
		var batch lambdaevents.DynamoDBEvent
		if err := json.Unmarshal(event, &batch); err != nil {
			return nil, fmt.Errorf("recorder: decode DynamoDB stream event: %w", err)
		}
		return nil, r.recordStream(ctx, lc.AwsRequestID, batch)
	case source == "" && shape.DetailType != "":
		return nil, r.recordEvent(ctx, lc.AwsRequestID, event)
	default:
		return nil, fmt.Errorf("recorder: neither an SQS, a DynamoDB stream nor an EventBridge event: %.200s", event)
	}
}

// eventShape is just enough of an event to tell which trigger sent it.
type eventShape struct {
	Records []struct {
		EventSource string `json:"eventSource"`
	} `json:"Records"`
	DetailType string `json:"detail-type"`
}

// recordsSource is the eventSource all of a batch's records share ("aws:sqs", "aws:dynamodb"),
// or "" for an event without records. A batch mixing sources, or with a record naming none, is
// no event a trigger delivers.
func (e eventShape) recordsSource() (string, error) {
	if len(e.Records) == 0 {
		return "", nil
	}
	source := e.Records[0].EventSource
	for i, rec := range e.Records {
		if rec.EventSource == "" || rec.EventSource != source {
			return "", fmt.Errorf("recorder: record %d has event source %q, record 0 %q", i, rec.EventSource, source)
		}
	}
	return source, nil
}

func (r recorder) recordSQS(ctx context.Context, invocation string, batch lambdaevents.SQSEvent) lambdaevents.SQSEventResponse {
	resp := lambdaevents.SQSEventResponse{BatchItemFailures: []lambdaevents.SQSBatchItemFailure{}}
	for _, rec := range batch.Records {
		err := r.put(ctx, map[string]types.AttributeValue{
			"pk":           str(rec.MessageId),
			"sk":           str(invocation),
			"source":       str("aws:sqs"),
			"batchSize":    num(len(batch.Records)),
			"body":         str(rec.Body),
			"receiveCount": num(receiveCount(rec)),
		})
		if err != nil {
			slog.ErrorContext(ctx, "record SQS message", "messageId", rec.MessageId, "error", err)
		}
		if err != nil || strings.Contains(rec.Body, FailMarker) {
			resp.BatchItemFailures = append(resp.BatchItemFailures, lambdaevents.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
		}
	}
	return resp
}

func (r recorder) recordStream(ctx context.Context, invocation string, batch lambdaevents.DynamoDBEvent) error {
	for _, rec := range batch.Records {
		item := map[string]types.AttributeValue{
			"pk":             str(rec.EventID),
			"sk":             str(invocation),
			"source":         str("aws:dynamodb"),
			"batchSize":      num(len(batch.Records)),
			"eventName":      str(rec.EventName),
			"sequenceNumber": str(rec.Change.SequenceNumber),
			"eventSourceArn": str(rec.EventSourceArn),
		}
		for name, image := range map[string]map[string]lambdaevents.DynamoDBAttributeValue{
			"keys": rec.Change.Keys, "newImage": rec.Change.NewImage, "oldImage": rec.Change.OldImage,
		} {
			if image == nil {
				continue
			}
			b, err := json.Marshal(image)
			if err != nil {
				return fmt.Errorf("recorder: encode %s of stream record %s: %w", name, rec.EventID, err)
			}
			item[name] = str(string(b))
		}
		if err := r.put(ctx, item); err != nil {
			slog.ErrorContext(ctx, "record stream record", "eventID", rec.EventID, "error", err)
			return err
		}
	}
	return nil
}

func (r recorder) recordEvent(ctx context.Context, invocation string, event json.RawMessage) error {
	var env struct {
		ID         string `json:"id"`
		DetailType string `json:"detail-type"`
	}
	if err := json.Unmarshal(event, &env); err != nil || env.ID == "" {
		return fmt.Errorf("recorder: EventBridge event without an id: %.200s", event)
	}
	return r.put(ctx, map[string]types.AttributeValue{
		"pk":         str(env.ID),
		"sk":         str(invocation),
		"source":     str("aws:events"),
		"batchSize":  num(1),
		"detailType": str(env.DetailType),
		"envelope":   str(string(event)),
	})
}

func (r recorder) put(ctx context.Context, item map[string]types.AttributeValue) error {
	if _, err := r.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(r.table), Item: item}); err != nil {
		return fmt.Errorf("recorder: put item into %s: %w", r.table, err)
	}
	return nil
}

// receiveCount is the record's ApproximateReceiveCount, or 0 when it is missing or malformed
// (which a test then sees).
func receiveCount(rec lambdaevents.SQSMessage) int {
	n, err := strconv.Atoi(rec.Attributes["ApproximateReceiveCount"])
	if err != nil {
		return 0
	}
	return n
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n int) types.AttributeValue { return &types.AttributeValueMemberN{Value: strconv.Itoa(n)} }

func main() {
	slog.SetDefault(logging.New())
	table := os.Getenv("RECORDER_TABLE")
	if table == "" {
		slog.Error("RECORDER_TABLE is not set")
		os.Exit(1)
	}
	cfg, err := awsconfig.Load(context.Background())
	if err != nil {
		slog.Error("load AWS configuration", "error", err)
		os.Exit(1)
	}
	lambda.Start(recorder{db: dynamodb.NewFromConfig(cfg), table: table}.handle)
}
