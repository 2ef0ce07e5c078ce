// Package auditwriter writes every Lanyard event to the audit log group (topology.AuditLog) as
// one line each (shared/domain/auditline), and measures how far behind the outbox it is.
//
// # Writing a batch
//
// The function audit-writer consumes every detail type from the bus (its consumer is subscribed
// by the source "lanyard" alone, so a type added later reaches it without a change), through
// its queue. For each SQS batch it makes at most three calls:
//
//  1. one consistent BatchGetItem of the outbox records the batch's events name (Meta.Record,
//     which the relay adds): a record that has auditedAt was written already, and its event is
//     skipped; an event whose record holds another event id or hash, whose record is not in the
//     outbox, or that names no record, is not a record's (only the relay puts events on the
//     bus, but whoever else can put events on it must never get a line into the audit log nor
//     mark a real record written): it fails, and ends in the dead-letter queue, where ops see
//     it. The line is built from the record as the outbox holds it (its hash recomputed), not
//     from the event: an event that names a real record but carries other content writes the
//     record's own line, never its own;
//  2. one PutLogEvents of the lines not yet written, into this execution environment's own log
//     stream (created once, at cold start, with CreateLogStream; a stream that exists already
//     is taken as it is), sorted by time as PutLogEvents requires;
//  3. one TransactWriteItems of outbox.MarkAudited for the records of the lines written, which
//     takes them out of the outbox's audit-pending index.
//
// A record that cannot be decoded fails alone; a failed read fails the events it would have
// decided, a failed write the events of its lines, a failed mark the events of its records:
// each is reported as a batch item failure (partial batch response), so SQS delivers it again
// and, after the queue's receive count, to its dead-letter queue.
//
// # At least once
//
// PutLogEvents is not idempotent. A crash (or a failed mark) between PutLogEvents and the
// mark leaves the line written and the record unmarked: the next delivery writes the line
// again. Two deliveries of one event read at the same time both find it unwritten and both
// write it. So a line may appear more than once in the audit log, always with the same eventId:
// the saved queries and `lanyard audit query` collapse lines by eventId, and the writer's skip
// only keeps duplicates rare. What never happens is a record marked without its line: the mark
// follows the write.
//
// # Timestamps
//
// A line's log event carries the decision's time, so Logs Insights' time range finds decisions
// by when they were made. PutLogEvents refuses events older than 14 days, more than 2 hours
// ahead, or a batch spanning more than 24 hours; a delivery that old (a message redriven from
// the dead-letter queue) gets the oldest timestamp the batch can take, MaxLineAge before now —
// the line's own "time" still says when the decision was made.
//
// # Lag
//
// Every minute (the audit-lag schedule) the same function reads the outbox's oldest record not
// yet written (outbox.Store.OldestUnaudited) and writes, as EMF metrics with no partner in
// their dimensions, AuditWriterLagSeconds (how long it has waited; 0 when none waits) and
// AuditWriterBehind (1 when that is past the policy's audit.writerLagBudget, else 0).
package auditwriter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logstypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/auditline"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

// Logs is what the writer calls of CloudWatch Logs.
type Logs interface {
	CreateLogStream(ctx context.Context, in *cloudwatchlogs.CreateLogStreamInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogStreamOutput, error)
	PutLogEvents(ctx context.Context, in *cloudwatchlogs.PutLogEventsInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.PutLogEventsOutput, error)
}

var _ Logs = (*cloudwatchlogs.Client)(nil)

// DynamoDB is what the writer calls of DynamoDB, on the outbox table.
type DynamoDB interface {
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

var _ DynamoDB = (*dynamodb.Client)(nil)

// PutLogEvents' limits (CloudWatch Logs).
const (
	// MaxLineAge is the oldest a log event's timestamp may be, kept under the 24 hours one
	// PutLogEvents call may span and the 14 days CloudWatch Logs accepts.
	MaxLineAge = 23 * time.Hour
	// maxAhead is how far ahead of now a timestamp may be (CloudWatch Logs: 2 hours).
	maxAhead = time.Hour
	// maxPutBytes is a PutLogEvents call's limit: the messages' UTF-8 bytes plus 26 per event.
	maxPutBytes    = 1_048_576
	perEventBytes  = 26
	maxPutEvents   = 10_000
	maxBatchGet    = 100 // keys in one BatchGetItem
	maxTransaction = 100 // items in one TransactWriteItems
)

// Writer writes SQS batches of bus events to the audit log.
type Writer struct {
	Logs Logs
	DB   DynamoDB
	// Group is the audit log group's name; Stream this execution environment's stream in it
	// (StreamName).
	Group, Stream string
	// Table is the outbox table.
	Table string
	Now   func() time.Time
}

// StreamName names a new execution environment's log stream: its cold start's date and a
// UUIDv7, so streams sort by when their environment started and never collide.
func StreamName(now time.Time) string {
	return "audit-writer/" + now.UTC().Format("2006/01/02") + "/" + uuid.Must(uuid.NewV7()).String()
}

// OpenStream creates the writer's log stream (once, at cold start); a stream that exists
// already is taken as it is.
func (w *Writer) OpenStream(ctx context.Context) error {
	_, err := w.Logs.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{
		LogGroupName: aws.String(w.Group), LogStreamName: aws.String(w.Stream),
	})
	var exists *logstypes.ResourceAlreadyExistsException
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("create the audit log stream %s in %s: %w", w.Stream, w.Group, err)
	}
	return nil
}

func (w *Writer) now() time.Time {
	if w.Now != nil {
		return w.Now().UTC()
	}
	return time.Now().UTC()
}

// ref locates an outbox record.
type ref struct {
	chain string
	seq   int64
}

// entry is one event of the batch (its duplicates in the batch included) and its line.
type entry struct {
	messageIDs []string
	line       auditline.Line
	message    string
	at         time.Time // the log event's timestamp
	ref        *ref      // nil: not from the outbox
	mark       bool      // the outbox holds its record: mark it once written
}

// Result is what one batch did, for the function's log line and the tests.
type Result struct {
	Written int // lines put into the audit log
	Skipped int // events whose record was written already
	Marked  int // records marked audited
	Failed  int // SQS messages reported as failures
}

// HandleEvents writes one SQS batch (see the package documentation) and reports the messages
// that must come again.
func (w *Writer) HandleEvents(ctx context.Context, batch lambdaevents.SQSEvent) lambdaevents.SQSEventResponse {
	resp, _ := w.Write(ctx, batch)
	return resp
}

// Write is HandleEvents with what the batch did.
func (w *Writer) Write(ctx context.Context, batch lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, Result) {
	var res Result
	resp := lambdaevents.SQSEventResponse{BatchItemFailures: []lambdaevents.SQSBatchItemFailure{}}
	fail := func(e *entry, why string, err error) {
		slog.ErrorContext(ctx, "audit writer: event not written", "eventId", e.line.EventID, "detailType", e.line.DetailType, "why", why, "error", err)
		for _, id := range e.messageIDs {
			resp.BatchItemFailures = append(resp.BatchItemFailures, lambdaevents.SQSBatchItemFailure{ItemIdentifier: id})
		}
		res.Failed += len(e.messageIDs)
	}
	now := w.now()

	// Decode: one entry per event, however many times the batch holds it.
	var entries []*entry
	byEvent := map[string]*entry{}
	for _, rec := range batch.Records {
		e, err := decode(rec.Body, now)
		if err != nil {
			slog.ErrorContext(ctx, "audit writer: record not decoded", "messageId", rec.MessageId, "error", err)
			resp.BatchItemFailures = append(resp.BatchItemFailures, lambdaevents.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
			res.Failed++
			continue
		}
		// One entry per event and place: a copy that names another record (or none) stays an
		// entry of its own, judged on its own.
		k := e.line.EventID + "|" + e.line.Chain + "|" + strconv.FormatInt(e.line.Seq, 10) + "|" + e.line.Hash
		if first, ok := byEvent[k]; ok {
			first.messageIDs = append(first.messageIDs, rec.MessageId)
			continue
		}
		e.messageIDs = []string{rec.MessageId}
		byEvent[k] = e
		entries = append(entries, e)
	}

	// Read: which records are written already.
	var refs []ref
	for _, e := range entries {
		if e.ref != nil && !slices.Contains(refs, *e.ref) {
			refs = append(refs, *e.ref)
		}
	}
	var toWrite []*entry
	var state map[ref]recordState
	var readErr error
	if len(refs) > 0 {
		state, readErr = w.audited(ctx, refs)
	}
	for _, e := range entries {
		if e.ref == nil {
			fail(e, "it names no outbox record", errors.New("only the outbox relay's events, which name their record, reach the audit log"))
			continue
		}
		st, known := state[*e.ref]
		switch {
		case readErr != nil || !known:
			fail(e, "its outbox record could not be read", readErr)
		case st.state == recordMissing:
			fail(e, "the outbox holds no such record", fmt.Errorf("event %s names outbox record %s/%d, which does not exist", e.line.EventID, e.ref.chain, e.ref.seq))
		case st.err != nil:
			fail(e, "its outbox record does not verify", st.err)
		case !st.matches(e.line):
			fail(e, "its outbox record is another event's", fmt.Errorf("event %s names outbox record %s/%d, which holds event %s",
				e.line.EventID, e.ref.chain, e.ref.seq, st.rec.EventID))
		case st.state == recordAudited:
			res.Skipped++
		default:
			// The line as the outbox holds the record, whatever else the event carried.
			if err := e.fromRecord(st.rec, now); err != nil {
				fail(e, "its outbox record has no audit line", err)
				continue
			}
			e.mark = true
			toWrite = append(toWrite, e)
		}
	}

	// Write: the lines, in time order.
	written := w.put(ctx, toWrite, fail)
	res.Written = len(written)

	// Mark: the records of the lines written.
	var marks []types.TransactWriteItem
	var marked []*entry
	for _, e := range written {
		if e.mark {
			marks = append(marks, outbox.MarkAudited(w.Table, e.ref.chain, e.ref.seq, now))
			marked = append(marked, e)
		}
	}
	for start := 0; start < len(marks); start += maxTransaction {
		end := min(start+maxTransaction, len(marks))
		if _, err := w.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: marks[start:end]}); err != nil {
			// The lines are in the audit log; the next delivery writes them again and marks.
			for _, e := range marked[start:end] {
				fail(e, "its line is written but its outbox record could not be marked", err)
			}
			continue
		}
		res.Marked += end - start
	}
	slog.InfoContext(ctx, "audit batch", "records", len(batch.Records), "written", res.Written, "skipped", res.Skipped,
		"marked", res.Marked, "failed", res.Failed)
	return resp, res
}

// decode reads one SQS message body: the EventBridge envelope, its line and where its record
// sits.
func decode(body string, now time.Time) (*entry, error) {
	var env events.Envelope
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		return nil, fmt.Errorf("decode the event envelope: %w", err)
	}
	line, err := auditline.FromEvent(env)
	if err != nil {
		return nil, err
	}
	msg, err := line.Message()
	if err != nil {
		return nil, err
	}
	if len(msg)+perEventBytes > maxPutBytes {
		return nil, fmt.Errorf("the audit line of event %s is %d bytes, over what one log event holds", line.EventID, len(msg))
	}
	e := &entry{line: line, message: msg, at: timestamp(line.At(), now)}
	if line.Chain != "" {
		e.ref = &ref{chain: line.Chain, seq: line.Seq}
	}
	return e, nil
}

// fromRecord sets the entry's line, message and timestamp from its outbox record as stored.
func (e *entry) fromRecord(rec outbox.Record, now time.Time) error {
	detail, err := events.WithRecord(rec.Detail, events.RecordRef{Chain: rec.Chain, Seq: rec.Seq, PrevHash: rec.PrevHash, Hash: rec.Hash})
	if err != nil {
		return fmt.Errorf("outbox record %s/%d: %w", rec.Chain, rec.Seq, err)
	}
	line, err := auditline.FromEvent(events.Envelope{
		Version: "0", ID: rec.EventID, DetailType: rec.DetailType, Source: events.Source,
		Time: rec.Time, Resources: []string{}, Detail: detail,
	})
	if err != nil {
		return fmt.Errorf("outbox record %s/%d: %w", rec.Chain, rec.Seq, err)
	}
	msg, err := line.Message()
	if err != nil {
		return err
	}
	if len(msg)+perEventBytes > maxPutBytes {
		return fmt.Errorf("the audit line of event %s is %d bytes, over what one log event holds", line.EventID, len(msg))
	}
	e.line, e.message, e.at = line, msg, timestamp(line.At(), now)
	return nil
}

// timestamp is the log event's time: the decision's, within what one PutLogEvents call takes.
func timestamp(at, now time.Time) time.Time {
	switch {
	case at.IsZero(), at.After(now.Add(maxAhead)):
		return now
	case at.Before(now.Add(-MaxLineAge)):
		return now.Add(-MaxLineAge)
	}
	return at
}

type auditState int

const (
	recordPending auditState = iota // in the outbox, not yet written
	recordAudited                   // written already (auditedAt)
	recordMissing                   // not in the outbox
)

// recordState is what the writer reads of an outbox record.
type recordState struct {
	state auditState
	rec   outbox.Record
	err   error // the record does not decode, or its hash does not recompute
}

// matches says the record is the line's event's.
func (s recordState) matches(l auditline.Line) bool {
	return s.rec.EventID == l.EventID && s.rec.Hash == l.Hash
}

// audited reads the records (whole, to build their lines from them) and their auditedAt with
// one consistent BatchGetItem (per 100 keys). A key DynamoDB left unprocessed is absent from the answer, so its event fails and
// comes again.
func (w *Writer) audited(ctx context.Context, refs []ref) (map[ref]recordState, error) {
	state := map[ref]recordState{}
	for chunk := range slices.Chunk(refs, maxBatchGet) {
		keys := make([]map[string]types.AttributeValue, 0, len(chunk))
		for _, r := range chunk {
			keys = append(keys, outbox.Key(r.chain, r.seq))
		}
		out, err := w.DB.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
			w.Table: {
				Keys:           keys,
				ConsistentRead: aws.Bool(true),
			},
		}})
		if err != nil {
			return nil, fmt.Errorf("read the audit state of %d outbox records: %w", len(chunk), err)
		}
		for _, r := range chunk {
			state[r] = recordState{state: recordMissing}
		}
		if un, ok := out.UnprocessedKeys[w.Table]; ok {
			for _, k := range un.Keys {
				chain, seq, err := outbox.KeyOf(k)
				if err == nil {
					delete(state, ref{chain, seq})
				}
			}
		}
		for _, item := range out.Responses[w.Table] {
			chain, seq, err := outbox.KeyOf(item)
			if err != nil {
				return nil, err
			}
			st := recordState{state: recordPending}
			if _, ok := item[outbox.AttrAuditedAt]; ok {
				st.state = recordAudited
			}
			if st.rec, st.err = outbox.RecordFromItem(item); st.err == nil && st.rec.ComputeHash() != st.rec.Hash {
				st.err = fmt.Errorf("outbox record %s/%d: its hash does not recompute", chain, seq)
			}
			state[ref{chain, seq}] = st
		}
	}
	return state, nil
}

// put writes the entries' lines in time order, in one PutLogEvents call unless they exceed what
// one call takes, and returns the entries written. Entries of a failed call, or that CloudWatch
// Logs rejected, are failed.
func (w *Writer) put(ctx context.Context, entries []*entry, fail func(*entry, string, error)) []*entry {
	if len(entries) == 0 {
		return nil
	}
	slices.SortStableFunc(entries, func(a, b *entry) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return compareStrings(a.line.EventID, b.line.EventID)
	})
	var written []*entry
	for len(entries) > 0 {
		n, size := 0, 0
		for n < len(entries) && n < maxPutEvents && size+len(entries[n].message)+perEventBytes <= maxPutBytes {
			size += len(entries[n].message) + perEventBytes
			n++
		}
		call := entries[:n]
		entries = entries[n:]
		in := &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(w.Group), LogStreamName: aws.String(w.Stream)}
		for _, e := range call {
			in.LogEvents = append(in.LogEvents, logstypes.InputLogEvent{Message: aws.String(e.message), Timestamp: aws.Int64(e.at.UnixMilli())})
		}
		out, err := w.Logs.PutLogEvents(ctx, in)
		if err != nil {
			for _, e := range call {
				fail(e, "the audit log refused the write", fmt.Errorf("put %d lines into %s: %w", len(call), w.Group, err))
			}
			continue
		}
		rejected := rejectedIndexes(out.RejectedLogEventsInfo, len(call))
		for i, e := range call {
			if rejected[i] {
				fail(e, "the audit log rejected its line (too old, too new or expired)", errors.New("rejected log event "+strconv.Itoa(i)))
				continue
			}
			written = append(written, e)
		}
	}
	return written
}

// rejectedIndexes says which of n events PutLogEvents rejected: those before
// tooOldLogEventEndIndex (exclusive, as the API documents it), those up to
// expiredLogEventEndIndex (taken as inclusive, which the API does not say: one event too many
// comes again rather than one lost), and from tooNewLogEventStartIndex on.
func rejectedIndexes(info *logstypes.RejectedLogEventsInfo, n int) []bool {
	out := make([]bool, n)
	if info == nil {
		return out
	}
	if end := info.TooOldLogEventEndIndex; end != nil {
		for i := 0; i < min(int(*end), n); i++ {
			out[i] = true
		}
	}
	if end := info.ExpiredLogEventEndIndex; end != nil {
		for i := 0; i <= min(int(*end), n-1); i++ {
			out[i] = true
		}
	}
	if s := info.TooNewLogEventStartIndex; s != nil {
		for i := max(int(*s), 0); i < n; i++ {
			out[i] = true
		}
	}
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
