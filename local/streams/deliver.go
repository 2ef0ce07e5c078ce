package streams

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"
)

// outcome is the result of one invocation of a batch.
type outcome struct {
	err error // nil when the whole batch succeeded
	// from is the index of the first record to retry: 0 for a failed batch, more when a
	// partial batch response reported the records before it done.
	from int
	// statusCode and functionError describe the failure for the on-failure record.
	statusCode    int
	functionError string
}

// deliver applies the failure policy (see the package documentation) to one batch of a shard:
// it returns once every record is delivered or sent to the on-failure destination, or ctx is
// done.
func (s *stream) deliver(ctx context.Context, log *slog.Logger, shardID string, batch []types.Record) {
	settings := s.c.Settings
	retries, invokes := 0, 0
	for ctx.Err() == nil {
		res := s.invoke(ctx, batch)
		invokes++
		if res.err == nil || ctx.Err() != nil {
			return
		}
		attrs := []any{"first", sequenceNumber(batch[0]), "last", sequenceNumber(batch[len(batch)-1]),
			"records", len(batch), "invocations", invokes, "error", res.err}
		switch {
		case res.from > 0 && settings.BisectOnError:
			// Lambda splits the batch at the first failed record and retries the rest afresh.
			log.WarnContext(ctx, "partial batch failure; retrying from the first failed record", attrs...)
			batch, retries, invokes = batch[res.from:], 0, 0
			continue
		case res.from > 0:
			log.WarnContext(ctx, "partial batch failure; the records before the first failed one are done", attrs...)
			batch = batch[res.from:]
		case settings.BisectOnError && len(batch) > 1:
			half := len(batch) / 2
			log.WarnContext(ctx, "batch failed; bisecting it", attrs...)
			s.deliver(ctx, log, shardID, batch[:half])
			s.deliver(ctx, log, shardID, batch[half:])
			return
		}
		if settings.RetryAttempts >= 0 && retries >= int(settings.RetryAttempts) {
			s.exhausted(ctx, log, shardID, batch, invokes, res)
			return
		}
		retries++
		log.WarnContext(ctx, "batch failed; retrying", append(attrs, "retry", retries)...)
		s.sleep(ctx, s.p.Backoff(retries))
	}
}

// invoke calls the consumer with batch once.
func (s *stream) invoke(ctx context.Context, batch []types.Record) outcome {
	payload, err := s.event(batch)
	if err != nil {
		return outcome{err: err}
	}
	res, err := s.p.Invoker.Invoke(ctx, s.c.Function, payload)
	if err != nil {
		out := outcome{err: err}
		var status interface{ HTTPStatusCode() int }
		if errors.As(err, &status) {
			out.statusCode = status.HTTPStatusCode()
		}
		return out
	}
	if res.FunctionError != "" {
		return outcome{
			err:        fmt.Errorf("function %s returned an error (%s): %s", s.c.Function, res.FunctionError, excerpt(res.Payload)),
			statusCode: 200, functionError: res.FunctionError,
		}
	}
	if !s.c.ReportBatchItemFailures {
		return outcome{}
	}
	from, err := failedFrom(res.Payload, batch)
	if err != nil {
		return outcome{err: fmt.Errorf("function %s: %w", s.c.Function, err), from: from, statusCode: 200}
	}
	return outcome{}
}

// event renders batch as the event a DynamoDB event source mapping delivers.
func (s *stream) event(batch []types.Record) ([]byte, error) {
	ev := lambdaevents.DynamoDBEvent{Records: make([]lambdaevents.DynamoDBEventRecord, 0, len(batch))}
	for _, r := range batch {
		rec, err := EventRecord(r, s.c.StreamARN, s.p.Region)
		if err != nil {
			return nil, fmt.Errorf("build the event: %w", err)
		}
		ev.Records = append(ev.Records, rec)
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encode the event: %w", err)
	}
	return b, nil
}

// failedFrom reads a partial batch response (events.DynamoDBEventResponse) and returns the
// index of the first record to retry, or an error when the whole batch must be retried. A
// missing, null or empty response, or one with no failures, is a success.
func failedFrom(payload []byte, batch []types.Record) (int, error) {
	payload = bytes.TrimSpace(payload)
	if len(payload) == 0 || bytes.Equal(payload, []byte("null")) {
		return 0, nil
	}
	var resp struct {
		BatchItemFailures []struct {
			ItemIdentifier *string `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
	}
	if err := json.Unmarshal(payload, &resp); err != nil {
		return 0, fmt.Errorf("response is not a partial batch response: %w", err)
	}
	if len(resp.BatchItemFailures) == 0 {
		return 0, nil
	}
	first := len(batch)
	for _, f := range resp.BatchItemFailures {
		id := aws.ToString(f.ItemIdentifier)
		i := -1
		for j, r := range batch {
			if id != "" && sequenceNumber(r) == id {
				i = j
				break
			}
		}
		if i < 0 {
			return 0, fmt.Errorf("batch item failure %q names no record of the batch", id)
		}
		first = min(first, i)
	}
	return first, fmt.Errorf("reported %d failed records, the first at sequence number %s",
		len(resp.BatchItemFailures), sequenceNumber(batch[first]))
}

// FailureRecord is the invocation record Lambda sends to a stream source's on-failure
// destination: it locates the records, which stay in the stream; it does not carry them.
type FailureRecord struct {
	RequestContext  FailureRequestContext  `json:"requestContext"`
	ResponseContext FailureResponseContext `json:"responseContext"`
	Version         string                 `json:"version"`
	// Timestamp is when the batch was given up, RFC 3339 with milliseconds.
	Timestamp          string             `json:"timestamp"`
	DDBStreamBatchInfo DDBStreamBatchInfo `json:"DDBStreamBatchInfo"`
}

// FailureRequestContext says which function gave up, why, and after how many invocations.
type FailureRequestContext struct {
	RequestID              string `json:"requestId"`
	FunctionARN            string `json:"functionArn"`
	Condition              string `json:"condition"`
	ApproximateInvokeCount int    `json:"approximateInvokeCount"`
}

// FailureResponseContext is the last invocation's response.
type FailureResponseContext struct {
	StatusCode      int    `json:"statusCode"`
	ExecutedVersion string `json:"executedVersion"`
	FunctionError   string `json:"functionError,omitempty"`
}

// DDBStreamBatchInfo locates the batch in the stream. Arrival times are the records'
// ApproximateCreationDateTime, in whole seconds.
type DDBStreamBatchInfo struct {
	ShardID                         string `json:"shardId"`
	StartSequenceNumber             string `json:"startSequenceNumber"`
	EndSequenceNumber               string `json:"endSequenceNumber"`
	ApproximateArrivalOfFirstRecord string `json:"approximateArrivalOfFirstRecord"`
	ApproximateArrivalOfLastRecord  string `json:"approximateArrivalOfLastRecord"`
	BatchSize                       int    `json:"batchSize"`
	StreamARN                       string `json:"streamArn"`
}

// ConditionRetryAttemptsExhausted is the on-failure condition of a batch that failed every try.
const ConditionRetryAttemptsExhausted = "RetryAttemptsExhausted"

// exhausted sends the on-failure record of a batch that failed every try. If the queue cannot
// be reached it retries until it can or ctx is done: the shard does not move past records
// nobody was told about.
func (s *stream) exhausted(ctx context.Context, log *slog.Logger, shardID string, batch []types.Record, invokes int, res outcome) {
	rec := s.failureRecord(shardID, batch, invokes, res)
	info := rec.DDBStreamBatchInfo
	attrs := []any{"first", info.StartSequenceNumber, "last", info.EndSequenceNumber,
		"records", info.BatchSize, "invocations", invokes, "error", res.err}
	if s.c.OnFailureQueueURL == "" {
		log.ErrorContext(ctx, "batch failed every try and no on-failure queue is configured; its records are skipped", attrs...)
		return
	}
	body, err := json.Marshal(rec)
	if err != nil { // cannot happen: the record is strings and numbers
		log.ErrorContext(ctx, "encode the on-failure record; its records are skipped", append(attrs, "encodeError", err)...)
		return
	}
	for attempt := 1; ctx.Err() == nil; attempt++ {
		_, err := s.p.Queue.SendMessage(ctx, &sqs.SendMessageInput{
			QueueUrl: aws.String(s.c.OnFailureQueueURL), MessageBody: aws.String(string(body)),
		})
		if err == nil {
			log.ErrorContext(ctx, "batch failed every try; sent to the on-failure queue", append(attrs, "queue", s.c.OnFailureQueueURL)...)
			return
		}
		if ctx.Err() != nil {
			return
		}
		log.ErrorContext(ctx, "send the on-failure record; the shard waits until it is sent",
			append(attrs, "queue", s.c.OnFailureQueueURL, "sendError", err, "attempt", attempt)...)
		s.sleep(ctx, s.p.Backoff(attempt))
	}
}

func (s *stream) failureRecord(shardID string, batch []types.Record, invokes int, res outcome) FailureRecord {
	first, last := batch[0], batch[len(batch)-1]
	return FailureRecord{
		RequestContext: FailureRequestContext{
			RequestID:              uuid.NewString(),
			FunctionARN:            s.functionARN(),
			Condition:              ConditionRetryAttemptsExhausted,
			ApproximateInvokeCount: invokes,
		},
		ResponseContext: FailureResponseContext{
			StatusCode:      res.statusCode,
			ExecutedVersion: "$LATEST",
			FunctionError:   res.functionError,
		},
		Version:   "1.0",
		Timestamp: s.p.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
		DDBStreamBatchInfo: DDBStreamBatchInfo{
			ShardID:                         shardID,
			StartSequenceNumber:             sequenceNumber(first),
			EndSequenceNumber:               sequenceNumber(last),
			ApproximateArrivalOfFirstRecord: arrival(first),
			ApproximateArrivalOfLastRecord:  arrival(last),
			BatchSize:                       len(batch),
			StreamARN:                       s.c.StreamARN,
		},
	}
}

// functionARN is the consumer's ARN, as Lambda names it in on-failure records.
func (s *stream) functionARN() string {
	if s.c.FunctionARN != "" {
		return s.c.FunctionARN
	}
	region, account, _ := arnRegionAccount(s.c.StreamARN)
	if s.p.Region != "" {
		region = s.p.Region
	}
	return fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", region, account, s.c.Function)
}

func sequenceNumber(r types.Record) string {
	if r.Dynamodb == nil {
		return ""
	}
	return aws.ToString(r.Dynamodb.SequenceNumber)
}

func arrival(r types.Record) string {
	if r.Dynamodb == nil || r.Dynamodb.ApproximateCreationDateTime == nil {
		return ""
	}
	return r.Dynamodb.ApproximateCreationDateTime.UTC().Format(time.RFC3339)
}

// excerpt is the start of a function's error document, for logs and errors.
func excerpt(payload []byte) string {
	const limit = 512
	if len(payload) > limit {
		return string(payload[:limit]) + "…"
	}
	return string(payload)
}
