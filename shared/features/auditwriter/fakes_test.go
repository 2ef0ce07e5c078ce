package auditwriter_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logstypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/features/auditwriter"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

// fakeLogs models what the writer relies on of CloudWatch Logs: a stream exists once created
// (a second create is ResourceAlreadyExistsException), PutLogEvents needs the stream, events in
// chronological order spanning at most 24 hours, none older than 14 days or over 2 hours ahead.
type fakeLogs struct {
	now func() time.Time
	// failPut, when set, answers PutLogEvents instead.
	failPut error
	// reject, when set, is the RejectedLogEventsInfo of every PutLogEvents call.
	reject *logstypes.RejectedLogEventsInfo

	mu      sync.Mutex
	streams map[string][]logstypes.InputLogEvent
}

func newFakeLogs(now func() time.Time) *fakeLogs {
	return &fakeLogs{now: now, streams: map[string][]logstypes.InputLogEvent{}}
}

func (f *fakeLogs) CreateLogStream(_ context.Context, in *cloudwatchlogs.CreateLogStreamInput, _ ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogStreamOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := aws.ToString(in.LogGroupName) + "|" + aws.ToString(in.LogStreamName)
	if _, ok := f.streams[k]; ok {
		return nil, &logstypes.ResourceAlreadyExistsException{Message: aws.String("The specified log stream already exists")}
	}
	f.streams[k] = []logstypes.InputLogEvent{}
	return &cloudwatchlogs.CreateLogStreamOutput{}, nil
}

func (f *fakeLogs) PutLogEvents(_ context.Context, in *cloudwatchlogs.PutLogEventsInput, _ ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.PutLogEventsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failPut != nil {
		return nil, f.failPut
	}
	k := aws.ToString(in.LogGroupName) + "|" + aws.ToString(in.LogStreamName)
	if _, ok := f.streams[k]; !ok {
		return nil, &logstypes.ResourceNotFoundException{Message: aws.String("The specified log stream does not exist.")}
	}
	if len(in.LogEvents) == 0 {
		return nil, &logstypes.InvalidParameterException{Message: aws.String("no log events")}
	}
	now := f.now()
	first := aws.ToInt64(in.LogEvents[0].Timestamp)
	for i, e := range in.LogEvents {
		ts := aws.ToInt64(e.Timestamp)
		switch {
		case i > 0 && ts < aws.ToInt64(in.LogEvents[i-1].Timestamp):
			return nil, &logstypes.InvalidParameterException{Message: aws.String("Log events in a single PutLogEvents request must be in chronological order.")}
		case ts-first > (24 * time.Hour).Milliseconds():
			return nil, &logstypes.InvalidParameterException{Message: aws.String("The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")}
		case ts < now.Add(-14*24*time.Hour).UnixMilli() || ts > now.Add(2*time.Hour).UnixMilli():
			return nil, fmt.Errorf("the fake does not model rejected events: %d is out of range", ts)
		}
	}
	out := &cloudwatchlogs.PutLogEventsOutput{RejectedLogEventsInfo: f.reject}
	for i, e := range in.LogEvents {
		if f.reject != nil && f.reject.TooNewLogEventStartIndex != nil && int32(i) >= *f.reject.TooNewLogEventStartIndex {
			continue
		}
		f.streams[k] = append(f.streams[k], e)
	}
	return out, nil
}

// messages is every message put into the stream, in order.
func (f *fakeLogs) messages(group, stream string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, e := range f.streams[group+"|"+stream] {
		out = append(out, aws.ToString(e.Message))
	}
	return out
}

// fakeOutbox models the outbox records' audit state: BatchGetItem (consistent, projecting the
// keys, eventId, hash and auditedAt, at most 100 distinct keys) and TransactWriteItems of MarkAudited items,
// all or nothing, each conditioned on its record existing.
type fakeOutbox struct {
	table string
	// failGet and failTransact, when set, answer their operation instead.
	failGet, failTransact error
	// unprocessed are keys BatchGetItem leaves unprocessed.
	unprocessed map[string]bool

	mu      sync.Mutex
	records map[string]map[string]types.AttributeValue // by "chain/seq"
}

func newFakeOutbox(table string) *fakeOutbox {
	return &fakeOutbox{table: table, records: map[string]map[string]types.AttributeValue{}, unprocessed: map[string]bool{}}
}

func refKey(chain string, seq int64) string { return chain + "/" + strconv.FormatInt(seq, 10) }

// add stores d's record at ref, not yet audited, as the outbox writes it; ref's hash becomes the
// record's.
func (f *fakeOutbox) add(t *testing.T, d events.Detail, ref *events.RecordRef) {
	t.Helper()
	typ, detail, err := events.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	rec := outbox.Record{Chain: ref.Chain, Seq: ref.Seq, EventID: d.Header().EventID, DetailType: typ, Detail: detail,
		Time: d.Header().Time.UTC(), PrevHash: ref.PrevHash}
	rec.Hash = rec.ComputeHash()
	ref.Hash = rec.Hash
	item, err := rec.Item()
	if err != nil {
		t.Fatal(err)
	}
	item["auditPending"] = &types.AttributeValueMemberS{Value: "3"}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.records[refKey(ref.Chain, ref.Seq)] = item
}

func (f *fakeOutbox) auditedAt(chain string, seq int64) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.records[refKey(chain, seq)][outbox.AttrAuditedAt].(*types.AttributeValueMemberS)
	if !ok {
		return "", false
	}
	return v.Value, true
}

func (f *fakeOutbox) BatchGetItem(_ context.Context, in *dynamodb.BatchGetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failGet != nil {
		return nil, f.failGet
	}
	req, ok := in.RequestItems[f.table]
	if !ok || len(in.RequestItems) != 1 {
		return nil, errors.New("fake: BatchGetItem of another table")
	}
	if !aws.ToBool(req.ConsistentRead) {
		return nil, errors.New("fake: the writer must read consistently")
	}
	if req.ProjectionExpression != nil {
		return nil, errors.New("fake: the writer reads whole records, to build their lines from them")
	}
	if len(req.Keys) == 0 || len(req.Keys) > 100 {
		return nil, fmt.Errorf("fake: %d keys", len(req.Keys))
	}
	out := &dynamodb.BatchGetItemOutput{Responses: map[string][]map[string]types.AttributeValue{f.table: {}}}
	seen := map[string]bool{}
	for _, k := range req.Keys {
		chain, seq, err := outbox.KeyOf(k)
		if err != nil {
			return nil, err
		}
		rk := refKey(chain, seq)
		if seen[rk] {
			return nil, &types.ResourceNotFoundException{Message: aws.String("ValidationException: Provided list of item keys contains duplicates")}
		}
		seen[rk] = true
		if f.unprocessed[rk] {
			if out.UnprocessedKeys == nil {
				out.UnprocessedKeys = map[string]types.KeysAndAttributes{f.table: {}}
			}
			ka := out.UnprocessedKeys[f.table]
			ka.Keys = append(ka.Keys, k)
			out.UnprocessedKeys[f.table] = ka
			continue
		}
		item, ok := f.records[rk]
		if !ok {
			continue
		}
		whole := map[string]types.AttributeValue{}
		maps.Copy(whole, item)
		out.Responses[f.table] = append(out.Responses[f.table], whole)
	}
	return out, nil
}

func (f *fakeOutbox) TransactWriteItems(_ context.Context, in *dynamodb.TransactWriteItemsInput, _ ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failTransact != nil {
		return nil, f.failTransact
	}
	if len(in.TransactItems) == 0 || len(in.TransactItems) > 100 {
		return nil, fmt.Errorf("fake: %d transaction items", len(in.TransactItems))
	}
	var reasons []types.CancellationReason
	failed := false
	for _, it := range in.TransactItems {
		u := it.Update
		if u == nil || aws.ToString(u.TableName) != f.table || !strings.Contains(aws.ToString(u.UpdateExpression), "SET") {
			return nil, errors.New("fake: only MarkAudited updates")
		}
		chain, seq, err := outbox.KeyOf(u.Key)
		if err != nil {
			return nil, err
		}
		if _, ok := f.records[refKey(chain, seq)]; !ok {
			failed = true
			reasons = append(reasons, types.CancellationReason{Code: aws.String("ConditionalCheckFailed")})
			continue
		}
		reasons = append(reasons, types.CancellationReason{Code: aws.String("None")})
	}
	if failed {
		return nil, &types.TransactionCanceledException{Message: aws.String("Transaction cancelled"), CancellationReasons: reasons}
	}
	for _, it := range in.TransactItems {
		chain, seq, _ := outbox.KeyOf(it.Update.Key)
		item := f.records[refKey(chain, seq)]
		item[outbox.AttrAuditedAt] = it.Update.ExpressionAttributeValues[":at"]
		delete(item, "auditPending")
	}
	return &dynamodb.TransactWriteItemsOutput{}, nil
}

// counting wraps the writer's clients and counts its calls by operation.
type counting struct {
	logs auditwriter.Logs
	db   auditwriter.DynamoDB

	mu    sync.Mutex
	calls map[string]int
}

func newCounting(logs auditwriter.Logs, db auditwriter.DynamoDB) *counting {
	return &counting{logs: logs, db: db, calls: map[string]int{}}
}

func (c *counting) count(op string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[op]++
}

// take returns the calls counted so far, and starts again.
func (c *counting) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = map[string]int{}
	return out
}

func (c *counting) CreateLogStream(ctx context.Context, in *cloudwatchlogs.CreateLogStreamInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogStreamOutput, error) {
	c.count("CreateLogStream")
	return c.logs.CreateLogStream(ctx, in, opts...)
}

func (c *counting) PutLogEvents(ctx context.Context, in *cloudwatchlogs.PutLogEventsInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.PutLogEventsOutput, error) {
	c.count("PutLogEvents")
	return c.logs.PutLogEvents(ctx, in, opts...)
}

func (c *counting) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	c.count("BatchGetItem")
	return c.db.BatchGetItem(ctx, in, opts...)
}

func (c *counting) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	c.count("TransactWriteItems")
	return c.db.TransactWriteItems(ctx, in, opts...)
}

// message renders d as the SQS message body EventBridge delivers, with the record ref the relay
// adds when ref is not nil.
func message(t *testing.T, d events.Detail, ref *events.RecordRef) string {
	t.Helper()
	dt, detail, err := events.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if ref != nil {
		if detail, err = events.WithRecord(detail, *ref); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.Marshal(events.Envelope{Version: "0", ID: "bus-" + d.Header().EventID, DetailType: dt, Source: events.Source,
		Account: "000000000000", Time: d.Header().Time, Region: "us-east-1", Resources: []string{}, Detail: detail})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func batchOf(bodies ...string) lambdaevents.SQSEvent {
	var ev lambdaevents.SQSEvent
	for i, b := range bodies {
		ev.Records = append(ev.Records, lambdaevents.SQSMessage{MessageId: "m" + strconv.Itoa(i+1), Body: b})
	}
	return ev
}

func failedIDs(resp lambdaevents.SQSEventResponse) []string {
	out := []string{}
	for _, f := range resp.BatchItemFailures {
		out = append(out, f.ItemIdentifier)
	}
	slices.Sort(out)
	return out
}
