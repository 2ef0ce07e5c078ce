package streams_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/lanyardhq/lanyard/local/invoke"
	"github.com/lanyardhq/lanyard/local/streams"
	"github.com/lanyardhq/lanyard/shared/platform/polltest"
)

const testStreamARN = "arn:aws:dynamodb:us-east-1:000000000000:table/records/stream/2026-01-01T00:00:00.000"

// fakeStreams models a DynamoDB stream: shards with parents, records appended in sequence order,
// shards that close, iterators that are positions in a shard, DescribeStream paged two shards at
// a time.
type fakeStreams struct {
	mu     sync.Mutex
	shards []*fakeShard
	seq    int
	// iterated records the shards an iterator was asked for, in order.
	iterated []string
	// describeFailures and expireIterators make that many calls fail, as a server that is
	// briefly down and iterators left unused for 15 minutes do.
	describeFailures, expireIterators int
}

type fakeShard struct {
	id, parent string
	records    []types.Record
	closed     bool
}

var _ streams.StreamsAPI = (*fakeStreams)(nil)

func (f *fakeStreams) addShard(id, parent string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shards = append(f.shards, &fakeShard{id: id, parent: parent})
}

func (f *fakeStreams) shard(id string) *fakeShard {
	for _, s := range f.shards {
		if s.id == id {
			return s
		}
	}
	panic("no shard " + id)
}

// put appends one INSERT record per key to a shard and returns their sequence numbers.
func (f *fakeStreams) put(shardID string, keys ...string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	sh := f.shard(shardID)
	var seqs []string
	for _, k := range keys {
		f.seq++
		seq := fmt.Sprintf("%021d", f.seq)
		seqs = append(seqs, seq)
		sh.records = append(sh.records, types.Record{
			AwsRegion:    aws.String("ddblocal"),
			EventID:      aws.String("event-" + seq),
			EventName:    types.OperationTypeInsert,
			EventSource:  aws.String("aws:dynamodb"),
			EventVersion: aws.String("1.1"),
			Dynamodb: &types.StreamRecord{
				ApproximateCreationDateTime: aws.Time(time.Date(2026, 1, 2, 3, 4, f.seq%60, 0, time.UTC)),
				Keys:                        map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: k}},
				NewImage: map[string]types.AttributeValue{
					"pk": &types.AttributeValueMemberS{Value: k}, "n": &types.AttributeValueMemberN{Value: strconv.Itoa(f.seq)},
				},
				SequenceNumber: aws.String(seq),
				SizeBytes:      aws.Int64(int64(10 + len(k))),
				StreamViewType: types.StreamViewTypeNewAndOldImages,
			},
		})
	}
	return seqs
}

func (f *fakeStreams) set(change func(f *fakeStreams)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f)
}

func (f *fakeStreams) close(shardID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shard(shardID).closed = true
}

func (f *fakeStreams) iteratorsFor(shardID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, id := range f.iterated {
		if id == shardID {
			n++
		}
	}
	return n
}

func (f *fakeStreams) DescribeStream(_ context.Context, in *dynamodbstreams.DescribeStreamInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.describeFailures > 0 {
		f.describeFailures--
		return nil, errors.New("connection refused")
	}
	if aws.ToString(in.StreamArn) != testStreamARN {
		return nil, &types.ResourceNotFoundException{Message: aws.String("no stream " + aws.ToString(in.StreamArn))}
	}
	start := 0
	if from := aws.ToString(in.ExclusiveStartShardId); from != "" {
		for i, s := range f.shards {
			if s.id == from {
				start = i + 1
			}
		}
	}
	desc := &types.StreamDescription{StreamArn: in.StreamArn, StreamStatus: types.StreamStatusEnabled}
	for i := start; i < len(f.shards) && i < start+2; i++ {
		s := f.shards[i]
		rng := &types.SequenceNumberRange{StartingSequenceNumber: aws.String("000000000000000000001")}
		if s.closed {
			rng.EndingSequenceNumber = aws.String("999999999999999999999")
		}
		sh := types.Shard{ShardId: aws.String(s.id), SequenceNumberRange: rng}
		if s.parent != "" {
			sh.ParentShardId = aws.String(s.parent)
		}
		desc.Shards = append(desc.Shards, sh)
		if i == start+1 && i < len(f.shards)-1 {
			desc.LastEvaluatedShardId = aws.String(s.id)
		}
	}
	return &dynamodbstreams.DescribeStreamOutput{StreamDescription: desc}, nil
}

func (f *fakeStreams) GetShardIterator(_ context.Context, in *dynamodbstreams.GetShardIteratorInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := aws.ToString(in.ShardId)
	f.iterated = append(f.iterated, id)
	sh := f.shard(id)
	pos := 0
	switch in.ShardIteratorType {
	case types.ShardIteratorTypeTrimHorizon:
	case types.ShardIteratorTypeLatest:
		pos = len(sh.records)
	case types.ShardIteratorTypeAfterSequenceNumber:
		pos = -1
		for i, r := range sh.records {
			if aws.ToString(r.Dynamodb.SequenceNumber) == aws.ToString(in.SequenceNumber) {
				pos = i + 1
			}
		}
		if pos < 0 {
			return nil, errors.New("ValidationException: Invalid SequenceNumber for the shard")
		}
	default:
		return nil, fmt.Errorf("iterator type %s not modelled", in.ShardIteratorType)
	}
	return &dynamodbstreams.GetShardIteratorOutput{ShardIterator: aws.String(fmt.Sprintf("%s|%d", id, pos))}, nil
}

func (f *fakeStreams) GetRecords(_ context.Context, in *dynamodbstreams.GetRecordsInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.expireIterators > 0 {
		f.expireIterators--
		return nil, &types.ExpiredIteratorException{Message: aws.String("Iterator expired")}
	}
	id, p, _ := strings.Cut(aws.ToString(in.ShardIterator), "|")
	pos, err := strconv.Atoi(p)
	if err != nil {
		return nil, errors.New("ValidationException: Invalid ShardIterator")
	}
	sh := f.shard(id)
	end := min(len(sh.records), pos+int(aws.ToInt32(in.Limit)))
	out := &dynamodbstreams.GetRecordsOutput{Records: append([]types.Record(nil), sh.records[pos:end]...)}
	if !sh.closed || end < len(sh.records) {
		out.NextShardIterator = aws.String(fmt.Sprintf("%s|%d", id, end))
	}
	return out, nil
}

// fakeQueue keeps the messages sent to it; failures makes the first sends fail.
type fakeQueue struct {
	mu       sync.Mutex
	failures int
	bodies   []string
}

func (q *fakeQueue) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.failures > 0 {
		q.failures--
		return nil, errors.New("queue unavailable")
	}
	q.bodies = append(q.bodies, aws.ToString(in.MessageBody))
	return &sqs.SendMessageOutput{MessageId: aws.String(strconv.Itoa(len(q.bodies)))}, nil
}

func (q *fakeQueue) messages() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]string(nil), q.bodies...)
}

// call is one invocation seen by a recorder.
type call struct {
	function string
	event    lambdaevents.DynamoDBEvent
	raw      []byte
}

func (c call) keys() []string {
	var ks []string
	for _, r := range c.event.Records {
		ks = append(ks, r.Change.Keys["pk"].String())
	}
	return ks
}

// recorder is a fake consumer: respond decides each invocation's result (nil means success).
type recorder struct {
	mu      sync.Mutex
	calls   []call
	respond func(n int, c call) (invoke.Result, error)
}

func (r *recorder) invoker(t *testing.T) invoke.Func {
	return func(_ context.Context, function string, payload []byte) (invoke.Result, error) {
		var ev lambdaevents.DynamoDBEvent
		if err := json.Unmarshal(payload, &ev); err != nil {
			t.Errorf("payload is not a DynamoDB event: %v\n%s", err, payload)
		}
		c := call{function: function, event: ev, raw: payload}
		r.mu.Lock()
		r.calls = append(r.calls, c)
		n := len(r.calls)
		respond := r.respond
		r.mu.Unlock()
		if respond == nil {
			return invoke.Result{Payload: []byte("null")}, nil
		}
		return respond(n, c)
	}
}

func (r *recorder) seen() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

// delivered returns the keys of the records of every successful invocation, in order.
func (r *recorder) delivered(ok func(call) bool) []string {
	var ks []string
	for _, c := range r.seen() {
		if ok(c) {
			ks = append(ks, c.keys()...)
		}
	}
	return ks
}

func functionError(msg string) invoke.Result {
	return invoke.Result{FunctionError: "Unhandled", Payload: []byte(`{"errorMessage":"` + msg + `","errorType":"errorString"}`)}
}

// start runs p until the test ends, and fails the test if Run does not return promptly once
// its context is cancelled. It returns the function that stops it early.
func start(t *testing.T, p *streams.Poller) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() { runErr = p.Run(ctx) })
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return within 5s of its context being cancelled")
			}
			if runErr != nil {
				t.Errorf("Run: %v", runErr)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// eventually polls cond until it holds or 5s pass (polltest.Eventually), what naming it.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	polltest.Eventually(t, 5*time.Second, func() (bool, string) { return cond(), what })
}
