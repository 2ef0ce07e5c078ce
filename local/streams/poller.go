// Package streams is the DynamoDB stream poller `lanyard local` runs in place of Lambda's
// event source mapping: it reads each table stream declared in the topology from DynamoDB
// Local and invokes the table's consumer function with the event a DynamoDB event source
// mapping delivers in AWS (aws-lambda-go's events.DynamoDBEvent). The consumer is the same
// function both ways; only the poller is local.
//
// # Reading
//
// The Poller lists a stream's shards with DescribeStream and reads each shard in sequence
// order with GetShardIterator and GetRecords, following NextShardIterator. A child shard is
// read only once its parent has been read to the end (GetRecords returns no
// NextShardIterator), so records of one item are delivered in the order they were written,
// across shard splits. Shards listed when Run starts are read from TRIM_HORIZON (nothing
// written before the poller started is missed) or, with StartingPosition LATEST, from their
// tip; shards that appear later are always read from TRIM_HORIZON. Each shard has one batch in
// flight at a time; shards are read concurrently. An expired iterator is renewed after the last
// record read. Nothing is checkpointed across restarts: a restarted poller starts over, which
// the consumers tolerate because delivery is at least once in AWS too.
//
// # Failure policy
//
// It mirrors the event source mapping settings the topology declares for the consumer
// (topology.StreamConsumer), in the way Lambda applies them to stream sources:
//
//   - BatchSize is the mapping's BatchSize: at most that many records per invocation, in
//     sequence order, from one shard (GetRecords returns at most 1,000 records, so larger
//     sizes give batches of at most 1,000).
//   - An invocation fails when Invoke returns an error or the function returns one
//     (FunctionError). A failed batch is retried, after an exponential backoff, up to
//     RetryAttempts times (MaximumRetryAttempts; a negative value retries until the poller
//     stops, as -1 does in AWS). Unlike AWS, which retries throttles and service errors
//     without counting them, an Invoke error counts as a failed attempt: locally it is a
//     missing function or a stopped LocalStack, and counting it keeps the shard moving.
//   - With BisectOnError (BisectBatchOnFunctionError) a failed batch of more than one record
//     is split in two halves, each delivered in turn with a fresh retry budget (as Lambda
//     resets the retry count when it splits), so a poison record ends up alone while the
//     records around it are delivered.
//   - A batch that still fails is sent to the on-failure queue (DestinationConfig.OnFailure)
//     as the JSON invocation record Lambda sends for a stream source: requestContext with
//     condition "RetryAttemptsExhausted" and approximateInvokeCount, responseContext,
//     version, timestamp and DDBStreamBatchInfo locating the records (shard, first and last
//     sequence numbers, arrival times, batch size, stream ARN); the records themselves stay
//     in the stream. Then the poller moves on. If the queue cannot be reached the shard waits
//     and retries the send, so no record is ever skipped silently; with no queue configured
//     (AWS then discards the records) the batch is logged at error level with its sequence
//     numbers.
//   - With ReportBatchItemFailures (FunctionResponseTypes: ReportBatchItemFailures) a
//     successful response carrying batchItemFailures is honoured as Lambda honours it: the
//     records before the lowest reported sequence number are done and the rest are retried
//     (with BisectOnError the batch is split there instead, with a fresh retry budget). A
//     failure naming no record of the batch, or an empty identifier, fails the whole batch.
//     Without the setting the response is ignored, as it is in AWS.
//
// MaximumRecordAgeInSeconds, batching windows, tumbling windows, filters and the
// parallelization factor are not modelled.
package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/lanyardhq/lanyard/local/invoke"
	"github.com/lanyardhq/lanyard/topology"
)

// StreamsAPI is the part of the DynamoDB Streams client the Poller uses.
type StreamsAPI interface {
	DescribeStream(ctx context.Context, in *dynamodbstreams.DescribeStreamInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error)
	GetShardIterator(ctx context.Context, in *dynamodbstreams.GetShardIteratorInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *dynamodbstreams.GetRecordsInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error)
}

var _ StreamsAPI = (*dynamodbstreams.Client)(nil)

// QueueAPI is the part of the SQS client the Poller uses for on-failure records.
type QueueAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

var _ QueueAPI = (*sqs.Client)(nil)

// TablesAPI is the part of the DynamoDB client LatestStreamARN uses.
type TablesAPI interface {
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

var _ TablesAPI = (*dynamodb.Client)(nil)

// StartingPosition says where the Poller starts reading the shards it finds when Run starts.
type StartingPosition string

// Starting positions, as an event source mapping's StartingPosition.
const (
	TrimHorizon StartingPosition = "TRIM_HORIZON" // the oldest record still in the stream
	Latest      StartingPosition = "LATEST"       // only records written after the poller started
)

// Defaults.
const (
	// DefaultPollInterval is how often an idle shard is polled: Lambda polls a stream's shards
	// four times a second.
	DefaultPollInterval = 250 * time.Millisecond
	// DefaultBatchSize is Lambda's default for DynamoDB streams, used when BatchSize is 0.
	DefaultBatchSize = 100
	// maxGetRecords is the most records one GetRecords call returns.
	maxGetRecords = 1000
)

// Consumer is one table stream and the function that consumes it.
type Consumer struct {
	// Settings is the topology's declaration: Table, BatchSize, RetryAttempts, BisectOnError
	// and OnFailureQueue (its name; the URL is OnFailureQueueURL).
	Settings topology.StreamConsumer
	// StreamARN is the table's LatestStreamArn (see LatestStreamARN).
	StreamARN string
	// Function is the Lambda function name to invoke ("lanyard-<name>" locally).
	Function string
	// FunctionARN goes in on-failure records; empty derives it from Function, the Poller's
	// Region (else the stream's) and the stream's account.
	FunctionARN string
	// OnFailureQueueURL receives the invocation records of batches that exhausted their
	// retries. Required when Settings.OnFailureQueue names a queue.
	OnFailureQueueURL string
	// ReportBatchItemFailures honours partial batch responses, as the mapping's
	// FunctionResponseTypes ["ReportBatchItemFailures"] does.
	ReportBatchItemFailures bool
}

// Poller reads the consumers' streams and invokes their functions until its context ends.
// Set its fields, then call Run; Run does not modify them.
type Poller struct {
	Streams   StreamsAPI
	Invoker   invoke.Invoker
	Queue     QueueAPI // needed when a consumer has an on-failure queue
	Consumers []Consumer
	// Logger receives the poller's logs; nil uses slog.Default().
	Logger *slog.Logger
	// PollInterval is the pause between polls of a shard that had no new records, and between
	// looks for new shards; 0 means DefaultPollInterval.
	PollInterval time.Duration
	// StartingPosition applies to the shards present when Run starts; empty means TrimHorizon.
	StartingPosition StartingPosition
	// Region is the awsRegion stamped on records (the region the functions run in); empty keeps
	// the stream record's own.
	Region string
	// Backoff is the pause before retry n (n ≥ 1) of a failed batch or on-failure send; nil
	// means 200ms doubling per retry up to 10s.
	Backoff func(retry int) time.Duration
	// Now is the clock for on-failure records; nil means time.Now.
	Now func() time.Time
}

// LatestStreamARN returns the ARN of a table's current stream, the one a Consumer reads.
func LatestStreamARN(ctx context.Context, api TablesAPI, table string) (string, error) {
	out, err := api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		return "", fmt.Errorf("describe table %s: %w", table, err)
	}
	arn := aws.ToString(out.Table.LatestStreamArn)
	if arn == "" {
		return "", fmt.Errorf("table %s has no stream", table)
	}
	return arn, nil
}

// Run reads every consumer's stream until ctx is done, then waits for the batches in flight to
// be abandoned and returns nil. It returns an error at once when the configuration is unusable.
// Errors reading a stream are logged and retried at the next poll; they never end Run.
func (p *Poller) Run(ctx context.Context) error {
	cfg, err := p.resolved()
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	for _, c := range cfg.Consumers {
		s := &stream{
			p: cfg,
			c: c,
			log: cfg.Logger.With("table", c.Settings.Table, "function", c.Function,
				"stream", c.StreamARN),
			shards: map[string]*shard{},
		}
		wg.Go(func() { s.run(ctx) })
	}
	wg.Wait()
	return nil
}

// resolved returns a copy of p with its defaults filled in, or why it cannot run.
func (p *Poller) resolved() (*Poller, error) {
	cfg := *p
	cfg.Consumers = append([]Consumer(nil), p.Consumers...)
	if cfg.Streams == nil || cfg.Invoker == nil {
		return nil, errors.New("stream poller: Streams and Invoker are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	switch cfg.StartingPosition {
	case "":
		cfg.StartingPosition = TrimHorizon
	case TrimHorizon, Latest:
	default:
		return nil, fmt.Errorf("stream poller: starting position %q is neither %s nor %s", cfg.StartingPosition, TrimHorizon, Latest)
	}
	if cfg.Backoff == nil {
		cfg.Backoff = defaultBackoff
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	for i := range cfg.Consumers {
		c := &cfg.Consumers[i]
		name := c.Settings.Table
		if c.StreamARN == "" || c.Function == "" {
			return nil, fmt.Errorf("stream poller: consumer of table %q needs a stream ARN and a function", name)
		}
		if _, _, ok := arnRegionAccount(c.StreamARN); !ok {
			return nil, fmt.Errorf("stream poller: consumer of table %q: %q is not a stream ARN", name, c.StreamARN)
		}
		if c.Settings.BatchSize == 0 {
			c.Settings.BatchSize = DefaultBatchSize
		}
		if c.Settings.BatchSize < 1 || c.Settings.BatchSize > 10000 {
			return nil, fmt.Errorf("stream poller: consumer of table %q: batch size %d is not within 1–10000", name, c.Settings.BatchSize)
		}
		if c.Settings.OnFailureQueue != "" && c.OnFailureQueueURL == "" {
			return nil, fmt.Errorf("stream poller: consumer of table %q: the URL of on-failure queue %q is missing", name, c.Settings.OnFailureQueue)
		}
		if c.OnFailureQueueURL != "" && cfg.Queue == nil {
			return nil, fmt.Errorf("stream poller: consumer of table %q has an on-failure queue but the poller has no SQS client", name)
		}
	}
	return &cfg, nil
}

// defaultBackoff is 200ms doubling per retry, at most 10s.
func defaultBackoff(retry int) time.Duration {
	const limit = 10 * time.Second
	d := 200 * time.Millisecond
	for i := 1; i < retry && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// shardState is where a shard is in its life.
type shardState int

const (
	shardWaiting shardState = iota // known, not read yet (its parent is not finished)
	shardReading
	shardFinished
)

type shard struct {
	id     string
	parent string
	state  shardState
	start  types.ShardIteratorType
}

// stream reads one consumer's stream. Its fields other than p and c belong to run's goroutine.
type stream struct {
	p       *Poller
	c       Consumer
	log     *slog.Logger
	shards  map[string]*shard
	listed  bool   // the shards have been listed once
	lastErr string // the last listing error logged, to log each kind once
}

// run lists the shards every poll interval (and as soon as one finishes), starts a reader for
// each shard whose parent is finished, and returns when ctx is done and its readers have.
func (s *stream) run(ctx context.Context) {
	var readers sync.WaitGroup
	defer readers.Wait()
	finished := make(chan string)
	tick := time.NewTicker(s.p.PollInterval)
	defer tick.Stop()
	for {
		s.discover(ctx)
		for _, sh := range s.ready() {
			sh.state = shardReading
			readers.Go(func() {
				s.read(ctx, sh.id, sh.start)
				select {
				case finished <- sh.id:
				case <-ctx.Done():
				}
			})
		}
		select {
		case <-ctx.Done():
			return
		case id := <-finished:
			s.shards[id].state = shardFinished
			s.log.DebugContext(ctx, "shard read to its end", "shard", id)
		case <-tick.C:
		}
	}
}

// discover adds the shards DescribeStream lists that are not known yet.
func (s *stream) discover(ctx context.Context) {
	var listed []types.Shard
	var from *string
	for {
		out, err := s.p.Streams.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{
			StreamArn: aws.String(s.c.StreamARN), ExclusiveStartShardId: from,
		})
		if err != nil {
			if ctx.Err() == nil && err.Error() != s.lastErr {
				s.lastErr = err.Error()
				s.log.WarnContext(ctx, "list stream shards; retrying every poll", "error", err)
			}
			return
		}
		if out.StreamDescription == nil {
			break
		}
		listed = append(listed, out.StreamDescription.Shards...)
		next := out.StreamDescription.LastEvaluatedShardId
		if next == nil || aws.ToString(next) == aws.ToString(from) {
			break
		}
		from = next
	}
	s.lastErr = ""
	first := !s.listed
	s.listed = true
	for _, l := range listed {
		id := aws.ToString(l.ShardId)
		if _, known := s.shards[id]; known || id == "" {
			continue
		}
		sh := &shard{id: id, parent: aws.ToString(l.ParentShardId), start: types.ShardIteratorTypeTrimHorizon}
		if first && s.p.StartingPosition == Latest {
			closed := l.SequenceNumberRange != nil && l.SequenceNumberRange.EndingSequenceNumber != nil
			if closed {
				sh.state = shardFinished // nothing will be written to it again
			}
			sh.start = types.ShardIteratorTypeLatest
		}
		s.shards[id] = sh
		s.log.DebugContext(ctx, "shard found", "shard", id, "parent", sh.parent, "start", sh.start)
	}
}

// ready returns the waiting shards whose parent is finished, or unknown (trimmed from the
// stream before we listed it), in shard id order.
func (s *stream) ready() []*shard {
	var out []*shard
	for _, sh := range s.shards {
		if sh.state != shardWaiting {
			continue
		}
		parent, known := s.shards[sh.parent]
		if sh.parent == "" || !known || parent.state == shardFinished {
			out = append(out, sh)
		}
	}
	slices.SortFunc(out, func(a, b *shard) int { return strings.Compare(a.id, b.id) })
	return out
}

// read delivers one shard's records in order until the shard is read to its end (it returns)
// or ctx is done.
func (s *stream) read(ctx context.Context, shardID string, start types.ShardIteratorType) {
	log := s.log.With("shard", shardID)
	limit := min(s.c.Settings.BatchSize, maxGetRecords)
	var iter *string
	var last string // sequence number of the last record delivered
	var lastErr string
	for ctx.Err() == nil {
		if iter == nil {
			in := &dynamodbstreams.GetShardIteratorInput{
				StreamArn: aws.String(s.c.StreamARN), ShardId: aws.String(shardID), ShardIteratorType: start,
			}
			if last != "" {
				in.ShardIteratorType, in.SequenceNumber = types.ShardIteratorTypeAfterSequenceNumber, aws.String(last)
			}
			out, err := s.p.Streams.GetShardIterator(ctx, in)
			if err != nil {
				if ctx.Err() != nil || s.gone(ctx, log, err) {
					return
				}
				lastErr = s.logOnce(ctx, log, lastErr, "get shard iterator", err)
				s.sleep(ctx, s.p.PollInterval)
				continue
			}
			if iter = out.ShardIterator; iter == nil {
				return // a closed shard with nothing after the position asked for
			}
		}
		out, err := s.p.Streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(limit)})
		if err != nil {
			var expired *types.ExpiredIteratorException
			var trimmed *types.TrimmedDataAccessException
			switch {
			case ctx.Err() != nil:
				return
			case s.gone(ctx, log, err):
				return
			case errors.As(err, &expired):
				log.DebugContext(ctx, "shard iterator expired; renewing it after the last record read", "after", last)
				iter = nil
			case errors.As(err, &trimmed):
				log.ErrorContext(ctx, "records were trimmed from the stream before they were read; continuing from the oldest left",
					"after", last, "error", err)
				iter, last, start = nil, "", types.ShardIteratorTypeTrimHorizon
			default:
				lastErr = s.logOnce(ctx, log, lastErr, "get records", err)
				s.sleep(ctx, s.p.PollInterval)
			}
			continue
		}
		lastErr = ""
		for recs := out.Records; len(recs) > 0 && ctx.Err() == nil; {
			n := min(len(recs), int(s.c.Settings.BatchSize))
			s.deliver(ctx, log, shardID, recs[:n])
			last = sequenceNumber(recs[n-1])
			recs = recs[n:]
		}
		if out.NextShardIterator == nil {
			return
		}
		iter = out.NextShardIterator
		if len(out.Records) == 0 {
			s.sleep(ctx, s.p.PollInterval)
		}
	}
}

// gone reports whether err says the stream or shard no longer exists (the table was deleted
// or its stream switched off); the shard is then finished.
func (s *stream) gone(ctx context.Context, log *slog.Logger, err error) bool {
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		return false
	}
	log.WarnContext(ctx, "stream or shard no longer exists; stopped reading the shard", "error", err)
	return true
}

// logOnce logs err unless it repeats the previous error, and returns the error to compare the
// next one with, so a server that is down is reported once, not four times a second.
func (s *stream) logOnce(ctx context.Context, log *slog.Logger, prev, what string, err error) string {
	if msg := err.Error(); msg != prev {
		log.WarnContext(ctx, what+"; retrying every poll", "error", err)
		return msg
	}
	return prev
}

// sleep pauses for d or until ctx is done, and reports whether the pause ran its course.
func (s *stream) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// arnRegionAccount returns the region and account of an ARN.
func arnRegionAccount(arn string) (region, account string, ok bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return "", "", false
	}
	return parts[3], parts[4], true
}
