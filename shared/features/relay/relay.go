// Package relay publishes the outbox's records to the event bus: it is the handler of the
// outbox-relay function, which reads the outbox table's stream (a DynamoDB event source mapping
// in AWS, `lanyard local`'s stream poller locally, with the same event).
//
// # What a batch does
//
//  1. It takes the stream records of outbox records: REMOVE records and the chain heads
//     (seq 0) are ignored, and so are images already carrying publishedAt (the relay's own
//     marks come back through the stream as MODIFY records).
//  2. It reads those records again with consistent reads (BatchGetItem): a redelivered batch
//     carries images from before the relay marked them, so the image cannot say whether a
//     record was published; the table can. Records already marked are skipped.
//  3. It checks each record (its hash recomputes, its detail decodes as its event) and puts
//     the events on the bus, up to 10 entries per PutEvents call: source "lanyard", the
//     record's detail type and detail, the decision's time, no resources.
//  4. For each entry EventBridge accepted it marks the record published: a conditional
//     UpdateItem setting publishedAt and busEventId (the envelope id EventBridge gave the
//     event) only where publishedAt is not yet set.
//  5. It returns an error when any entry failed (FailedEntryCount, a failed call), any mark
//     could not be written or any record is malformed, so the event source mapping retries
//     the batch (bisecting it, then sending what still fails to the on-failure queue); the
//     retry skips what step 4 marked.
//
// # The guarantee
//
// An event id is published more than once only when the relay stopped between EventBridge
// accepting the event and its mark being written (a crash, a timeout, a failed UpdateItem) and
// the batch was then delivered again; a redelivered or re-invoked batch whose records were
// marked publishes nothing. Exactly once cannot be promised across the bus and the table,
// which share no transaction: the relay is at least once with duplicates confined to that
// window, and EventBridge itself delivers to targets at least once. A redelivery becomes a new
// envelope with a new envelope id and the same detail; consumers de-duplicate on the detail's
// eventId, never on the envelope id. No record is skipped: a record is only ever marked after
// the bus accepted its event, and records the mapping gives up on stay unmarked in the table
// and located in the on-failure queue.
//
// Order is not preserved across chains or on the bus (EventBridge does not keep it); a chain's
// records go out in seq order within a batch.
package relay

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/platform/tracing"
	"github.com/lanyardhq/lanyard/shared/platform/wait"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

// DynamoDBAPI is the part of the DynamoDB client the relay uses.
type DynamoDBAPI interface {
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

var _ DynamoDBAPI = (*dynamodb.Client)(nil)

// EventsAPI is the part of the EventBridge client the relay uses.
type EventsAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

var _ EventsAPI = (*eventbridge.Client)(nil)

// Limits of the AWS calls the relay makes.
const (
	// MaxEntries is the most entries one PutEvents call takes.
	MaxEntries = 10
	// maxBatchGet is the most keys one BatchGetItem call takes.
	maxBatchGet = 100
	// batchGetRounds bounds the calls spent on keys BatchGetItem leaves unprocessed.
	batchGetRounds = 5
)

// Relay publishes outbox records to the bus.
type Relay struct {
	DB     DynamoDBAPI
	Events EventsAPI
	// Table is the outbox table's name, Bus the event bus's.
	Table string
	Bus   string
	Now   func() time.Time
	// Backoff is the pause before retry n (1, 2, …) of unprocessed BatchGetItem keys (nil:
	// 50 ms × n).
	Backoff func(n int) time.Duration
}

// Result counts what one batch did.
type Result struct {
	Records   int // stream records in the batch
	Candidate int // outbox records whose image was not yet marked published
	Skipped   int // of those, already published when read again
	Published int // put on the bus and marked in this batch
}

// Handle is the Lambda entry point: a batch from the outbox table's stream.
func (r *Relay) Handle(ctx context.Context, ev lambdaevents.DynamoDBEvent) error {
	_, err := r.Process(ctx, ev)
	return err
}

// Process handles a batch and says what it did; the error is Handle's.
func (r *Relay) Process(ctx context.Context, ev lambdaevents.DynamoDBEvent) (Result, error) {
	res := Result{Records: len(ev.Records)}
	keys, errs := candidates(ev)
	res.Candidate = len(keys)
	if len(keys) == 0 {
		return res, batchError(res, errs)
	}

	current, err := r.read(ctx, keys)
	if err != nil {
		return res, batchError(res, append(errs, err))
	}
	var pending []outbox.Record
	for _, k := range keys {
		item, ok := current[k]
		if !ok {
			slog.WarnContext(ctx, "outbox record in the stream is no longer in the table", "chain", k.chain, "seq", k.seq)
			res.Skipped++
			continue
		}
		rec, err := outbox.RecordFromItem(item)
		if err == nil {
			err = check(rec)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !rec.PublishedAt.IsZero() {
			res.Skipped++
			continue
		}
		pending = append(pending, rec)
	}

	for _, group := range byChain(pending) {
		n, err := r.publishChain(ctx, group)
		res.Published += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	slog.InfoContext(ctx, "outbox relay batch", "records", res.Records, "candidates", res.Candidate,
		"skipped", res.Skipped, "published", res.Published, "failures", len(errs))
	return res, batchError(res, errs)
}

func batchError(res Result, errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("outbox relay: %d of %d stream records not published (%d published): %w",
		len(errs), res.Records, res.Published, errors.Join(errs...))
}

// key locates an outbox record.
type key struct {
	chain string
	seq   int64
}

// candidates returns, in stream order and once each, the keys of the outbox records in ev
// whose image is not marked published.
func candidates(ev lambdaevents.DynamoDBEvent) ([]key, []error) {
	var keys []key
	var errs []error
	seen := map[key]bool{}
	for _, rec := range ev.Records {
		if rec.EventName == string(lambdaevents.DynamoDBOperationTypeRemove) {
			continue
		}
		k, err := streamKey(rec.Change.Keys)
		if err != nil {
			errs = append(errs, fmt.Errorf("stream record %s: %w", rec.Change.SequenceNumber, err))
			continue
		}
		if k.seq == outbox.HeadSeq || seen[k] {
			continue
		}
		if p, ok := rec.Change.NewImage[outbox.AttrPublishedAt]; ok && p.DataType() == lambdaevents.DataTypeString {
			continue
		}
		seen[k] = true
		keys = append(keys, k)
	}
	return keys, errs
}

func streamKey(keys map[string]lambdaevents.DynamoDBAttributeValue) (key, error) {
	p, ok := keys[outbox.PartitionKey]
	if !ok || p.DataType() != lambdaevents.DataTypeString || p.String() == "" {
		return key{}, fmt.Errorf("no string key %s", outbox.PartitionKey)
	}
	s, ok := keys[outbox.SortKey]
	if !ok || s.DataType() != lambdaevents.DataTypeNumber {
		return key{}, fmt.Errorf("no number key %s", outbox.SortKey)
	}
	seq, err := outbox.ParseSeq(s.Number())
	if err != nil {
		return key{}, err
	}
	return key{chain: p.String(), seq: seq}, nil
}

// read reads the records with consistent reads, by key.
func (r *Relay) read(ctx context.Context, keys []key) (map[key]map[string]types.AttributeValue, error) {
	found := map[key]map[string]types.AttributeValue{}
	for chunk := range slices.Chunk(keys, maxBatchGet) {
		req := make([]map[string]types.AttributeValue, 0, len(chunk))
		for _, k := range chunk {
			req = append(req, outbox.Key(k.chain, k.seq))
		}
		for round := 1; len(req) > 0; round++ {
			if round > batchGetRounds {
				return nil, fmt.Errorf("read outbox records: %d keys still unprocessed after %d calls", len(req), batchGetRounds)
			}
			if round > 1 {
				if err := sleep(ctx, r.backoff(round-1)); err != nil {
					return nil, err
				}
			}
			out, err := r.DB.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
				RequestItems: map[string]types.KeysAndAttributes{
					r.Table: {Keys: req, ConsistentRead: aws.Bool(true)},
				},
			})
			if err != nil {
				return nil, fmt.Errorf("read outbox records: %w", err)
			}
			for _, item := range out.Responses[r.Table] {
				p, seq, err := outbox.KeyOf(item)
				if err != nil {
					return nil, fmt.Errorf("read outbox records: %w", err)
				}
				found[key{p, seq}] = item
			}
			req = out.UnprocessedKeys[r.Table].Keys
		}
	}
	return found, nil
}

// check refuses a record that is not what the outbox wrote: its hash must recompute and its
// detail must decode as its event.
func check(rec outbox.Record) error {
	if rec.ComputeHash() != rec.Hash {
		return fmt.Errorf("outbox record %s/%d: its hash does not recompute; not published", rec.Chain, rec.Seq)
	}
	if _, err := rec.Event(); err != nil {
		return fmt.Errorf("%w; not published", err)
	}
	return nil
}

// byChain groups records by chain, chains in order of first appearance, each chain's
// records in seq order.
func byChain(recs []outbox.Record) [][]outbox.Record {
	var order []string
	groups := map[string][]outbox.Record{}
	for _, rec := range recs {
		if _, ok := groups[rec.Chain]; !ok {
			order = append(order, rec.Chain)
		}
		groups[rec.Chain] = append(groups[rec.Chain], rec)
	}
	out := make([][]outbox.Record, 0, len(order))
	for _, p := range order {
		g := groups[p]
		slices.SortFunc(g, func(a, b outbox.Record) int { return cmp.Compare(a.Seq, b.Seq) })
		out = append(out, g)
	}
	return out
}

// publishChain puts one chain's records on the bus and marks those accepted, in a span
// annotated with the chain's partner. It returns how many it published and marked.
func (r *Relay) publishChain(ctx context.Context, recs []outbox.Record) (int, error) {
	partner := outbox.ChainOwner(recs[0].Chain)
	ctx, span := tracing.Start(ctx, "outbox-relay")
	span.Annotate("partner", partner)
	published := 0
	var errs []error
	for chunk := range slices.Chunk(recs, MaxEntries) {
		n, err := r.publish(ctx, chunk)
		published += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	err := errors.Join(errs...)
	span.End(err)
	return published, err
}

// publish puts up to MaxEntries records on the bus in one call and marks each accepted one.
func (r *Relay) publish(ctx context.Context, recs []outbox.Record) (int, error) {
	entries := make([]ebtypes.PutEventsRequestEntry, len(recs))
	for i, rec := range recs {
		// The event tells its consumers where its record sits (the audit writer copies it to the
		// audit log); the stored detail, which the hash covers, stays as it is.
		detail, err := events.WithRecord(rec.Detail, events.RecordRef{Chain: rec.Chain, Seq: rec.Seq, PrevHash: rec.PrevHash, Hash: rec.Hash})
		if err != nil {
			return 0, fmt.Errorf("event %s (%s/%d): %w", rec.EventID, rec.Chain, rec.Seq, err)
		}
		entries[i] = ebtypes.PutEventsRequestEntry{
			EventBusName: aws.String(r.Bus),
			Source:       aws.String(events.Source),
			DetailType:   aws.String(rec.DetailType),
			Detail:       aws.String(string(detail)),
			Time:         aws.Time(rec.Time),
			Resources:    []string{},
		}
	}
	out, err := r.Events.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
	if err != nil {
		return 0, fmt.Errorf("put %d events of chain %s (seq %d–%d) on the bus: %w", len(recs), recs[0].Chain, recs[0].Seq, recs[len(recs)-1].Seq, err)
	}
	if len(out.Entries) != len(recs) {
		return 0, fmt.Errorf("put %d events of chain %s on the bus: %d result entries", len(recs), recs[0].Chain, len(out.Entries))
	}
	published := 0
	var errs []error
	for i, result := range out.Entries {
		rec := recs[i]
		if code := aws.ToString(result.ErrorCode); code != "" || aws.ToString(result.EventId) == "" {
			errs = append(errs, fmt.Errorf("event %s (%s/%d) refused by the bus: %s %s", rec.EventID, rec.Chain, rec.Seq, code, aws.ToString(result.ErrorMessage)))
			continue
		}
		if err := r.mark(ctx, rec, aws.ToString(result.EventId)); err != nil {
			errs = append(errs, err)
			continue
		}
		published++
	}
	return published, errors.Join(errs...)
}

// mark records that rec's event is on the bus. A record marked meanwhile (an earlier delivery
// of the batch that was still running) is not an error: the event is on the bus either way.
func (r *Relay) mark(ctx context.Context, rec outbox.Record, busEventID string) error {
	_, err := r.DB.UpdateItem(ctx, outbox.MarkPublished(r.Table, rec.Chain, rec.Seq, r.Now(), busEventID))
	var marked *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &marked):
		slog.WarnContext(ctx, "outbox record was marked published by another delivery; its event went out twice",
			"chain", rec.Chain, "seq", rec.Seq, "eventId", rec.EventID, "busEventId", busEventID)
		return nil
	case err != nil:
		return fmt.Errorf("mark event %s (%s/%d) published as %s: %w", rec.EventID, rec.Chain, rec.Seq, busEventID, err)
	}
	return nil
}

func (r *Relay) backoff(n int) time.Duration {
	if r.Backoff != nil {
		return r.Backoff(n)
	}
	return 50 * time.Millisecond * time.Duration(n)
}

func sleep(ctx context.Context, d time.Duration) error {
	return wait.Sleep(ctx, d, "waiting to read unprocessed keys")
}
