package outbox

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/platform/wait"
)

// DynamoDBAPI is the part of the DynamoDB client the Store uses.
type DynamoDBAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

var _ DynamoDBAPI = (*dynamodb.Client)(nil)

// DefaultMaxAttempts is how many times Commit tries a decision whose head keeps moving.
const DefaultMaxAttempts = 8

// ErrConflict is returned by Commit when every attempt found the chain's head moved by another
// decision.
var ErrConflict = errors.New("the outbox chain's head kept moving")

// StateChangeError is returned by Commit when the condition of one of the caller's own state
// changes failed: the decision does not hold, nothing was written, and Commit does not retry.
type StateChangeError struct {
	// Index is the failing item's index in the stateChanges Commit was given.
	Index int
	// Err is the transaction's cancellation (*types.TransactionCanceledException).
	Err error
}

func (e *StateChangeError) Error() string {
	return fmt.Sprintf("state change %d: condition failed: %v", e.Index, e.Err)
}

func (e *StateChangeError) Unwrap() error { return e.Err }

// Store reads and writes the outbox table.
type Store struct {
	DB    DynamoDBAPI
	Table string
	// MaxAttempts bounds Commit's attempts on head conflicts (0: DefaultMaxAttempts).
	MaxAttempts int
	// Backoff is the pause before retry n (1, 2, …) of a conflicting Commit (nil: jittered
	// exponential from 10 ms, capped at 500 ms).
	Backoff func(n int) time.Duration
}

// Head reads the chain's head with a consistent read: Seq 0 and GenesisHash when the chain has
// no record yet.
func (s *Store) Head(ctx context.Context, chain string) (Head, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.Table),
		Key:            Key(chain, HeadSeq),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Head{}, fmt.Errorf("read the outbox head of chain %s: %w", chain, err)
	}
	return headFromItem(chain, out.Item)
}

// Records reads the chain's records in seq order with consistent reads.
func (s *Store) Records(ctx context.Context, chain string) ([]Record, error) {
	in := &dynamodb.QueryInput{
		TableName:                aws.String(s.Table),
		KeyConditionExpression:   aws.String("#pk = :pk AND #seq >= :first"),
		ExpressionAttributeNames: map[string]string{"#pk": PartitionKey, "#seq": SortKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk":    &types.AttributeValueMemberS{Value: chain},
			":first": &types.AttributeValueMemberN{Value: "1"},
		},
		ConsistentRead: aws.Bool(true),
	}
	var out []Record
	p := dynamodb.NewQueryPaginator(s.DB, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("read the outbox records of chain %s: %w", chain, err)
		}
		for _, item := range page.Items {
			r, err := RecordFromItem(item)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// VerifyPartner verifies a partner's lifecycle chain (VerifyChain of the partner id).
func (s *Store) VerifyPartner(ctx context.Context, partnerID string) error {
	return s.VerifyChain(ctx, partnerID)
}

// VerifyChain reads the chain's head and records (ReadChain) and checks the chain ends at the
// head (VerifyHead).
func (s *Store) VerifyChain(ctx context.Context, chain string) error {
	head, records, err := s.ReadChain(ctx, chain)
	if err != nil {
		return err
	}
	return VerifyHead(head, records)
}

// ReadChain reads the chain's head, then its records. A decision committed between the two
// reads puts a record past the head read: both are read again, so a chain still being written
// comes back with the head that holds it (up to maxVerifyReads times).
func (s *Store) ReadChain(ctx context.Context, chain string) (Head, []Record, error) {
	for attempt := 1; ; attempt++ {
		head, err := s.Head(ctx, chain)
		if err != nil {
			return Head{}, nil, err
		}
		records, err := s.Records(ctx, chain)
		if err != nil {
			return Head{}, nil, err
		}
		if n := len(records); n > 0 && records[n-1].Seq > head.Seq && attempt < maxVerifyReads {
			continue
		}
		return head, records, nil
	}
}

// maxVerifyReads bounds VerifyPartner's reads of a chain that decisions keep extending.
const maxVerifyReads = 5

// Commit records the decision d on chain in one transaction with stateChanges (at most
// MaxStateChanges items, none of them on the outbox table's items of that chain): it reads the
// head, appends (Append), and writes everything with TransactWriteItems. d must be for the
// chain's owner (ChainOwner). When another decision on the chain moved the head first (the outbox items' conditions failed,
// or the transaction met a conflicting one in flight) it reads the head again and retries,
// after a backoff, up to MaxAttempts times; then it returns an error wrapping ErrConflict.
// When a condition of the caller's own state changes fails it returns a *StateChangeError
// without retrying. Either way nothing was written.
//
// A TransactWriteItems call the SDK retries after an unanswered attempt carries the same
// client request token, so DynamoDB applies it at most once. An error other than a
// cancellation (a timeout after the SDK's own retries) leaves the outcome unknown: the decision
// may have been committed. A caller that tries again builds a new event, and its state
// changes' conditions are what keep one decision from being recorded twice.
func (s *Store) Commit(ctx context.Context, chain string, d events.Detail, stateChanges []types.TransactWriteItem) (Record, error) {
	records, err := s.CommitAll(ctx, chain, []events.Detail{d}, stateChanges)
	if err != nil {
		return Record{}, err
	}
	return records[0], nil
}

// CommitAll is Commit for a decision that records several events (onboarding: Partner
// Onboarded, then Credential Issued): they take consecutive seqs of the chain in the order
// given, in the one transaction with stateChanges (at most MaxStateChanges+1-len(ds)
// items). A *StateChangeError's Index still indexes stateChanges.
func (s *Store) CommitAll(ctx context.Context, chain string, ds []events.Detail, stateChanges []types.TransactWriteItem) ([]Record, error) {
	return s.commitAll(ctx, chain, nil, ds, stateChanges)
}

// CommitFrom is Commit for a caller that has read the chain's head already, with a
// consistent read (HeadKey, HeadFromItem), together with its other reads: the first attempt
// appends after that head instead of reading it again; an attempt after a conflict reads it
// afresh, as Commit does.
func (s *Store) CommitFrom(ctx context.Context, head Head, d events.Detail, stateChanges []types.TransactWriteItem) (Record, error) {
	records, err := s.commitAll(ctx, head.Chain, &head, []events.Detail{d}, stateChanges)
	if err != nil {
		return Record{}, err
	}
	return records[0], nil
}

// HeadKey is the key of the item holding chain's head.
func HeadKey(chain string) map[string]types.AttributeValue { return Key(chain, HeadSeq) }

// HeadFromItem reads chain's head from its item as a read of HeadKey returned it (nil: the
// chain has no record yet).
func HeadFromItem(chain string, item map[string]types.AttributeValue) (Head, error) {
	return headFromItem(chain, item)
}

func (s *Store) commitAll(ctx context.Context, chain string, read *Head, ds []events.Detail, stateChanges []types.TransactWriteItem) ([]Record, error) {
	outboxItems := len(ds) + 1
	if len(stateChanges) > maxItems-outboxItems {
		return nil, fmt.Errorf("outbox commit: %d state changes, at most %d fit in a transaction with %d events", len(stateChanges), maxItems-outboxItems, len(ds))
	}
	for _, d := range ds {
		if err := checkChain(chain, d); err != nil {
			return nil, fmt.Errorf("outbox commit: %w", err)
		}
	}
	attempts := s.MaxAttempts
	if attempts <= 0 {
		attempts = DefaultMaxAttempts
	}
	for attempt := 1; ; attempt++ {
		var head Head
		if attempt == 1 && read != nil && read.Chain == chain {
			head = *read
		} else {
			var err error
			if head, err = s.Head(ctx, chain); err != nil {
				return nil, fmt.Errorf("outbox commit: %w", err)
			}
		}
		recs, items, err := AppendAll(s.Table, head, ds...)
		if err != nil {
			return nil, err
		}
		items = append(items, stateChanges...)
		_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			return recs, nil
		}
		first, last := recs[0], recs[len(recs)-1]
		what := fmt.Sprintf("outbox commit of %s %s as seq %d of chain %s", first.DetailType, first.EventID, first.Seq, chain)
		if len(recs) > 1 {
			what = fmt.Sprintf("outbox commit of %d events (%s … %s) as seq %d–%d of chain %s", len(recs), first.DetailType, last.DetailType, first.Seq, last.Seq, chain)
		}
		retry, stateErr := classify(err, outboxItems)
		switch {
		case stateErr != nil:
			return nil, fmt.Errorf("%s: %w", what, stateErr)
		case !retry:
			return nil, fmt.Errorf("%s: %w", what, err)
		case attempt >= attempts:
			return nil, fmt.Errorf("%s: %w (%d attempts; the last: %w)", what, ErrConflict, attempt, err)
		}
		if err := sleep(ctx, s.backoff(attempt)); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
}

// classify reads a failed TransactWriteItems: retry when the outbox items' conditions failed or
// an item met a conflicting transaction, and none of the caller's conditions failed; a
// *StateChangeError when one of the caller's conditions failed.
func classify(err error, outboxItems int) (retry bool, stateErr error) {
	var canceled *types.TransactionCanceledException
	if !errors.As(err, &canceled) {
		return false, nil
	}
	for i, reason := range canceled.CancellationReasons {
		switch aws.ToString(reason.Code) {
		case "ConditionalCheckFailed":
			if i >= outboxItems {
				return false, &StateChangeError{Index: i - outboxItems, Err: err}
			}
			retry = true
		case "TransactionConflict":
			retry = true
		}
	}
	return retry, nil
}

func (s *Store) backoff(n int) time.Duration {
	if s.Backoff != nil {
		return s.Backoff(n)
	}
	ceiling := min(10*time.Millisecond<<min(n-1, 10), 500*time.Millisecond)
	return ceiling/2 + rand.N(ceiling/2+1) //nolint:gosec // jitter between competing writers, not a secret
}

func sleep(ctx context.Context, d time.Duration) error {
	return wait.Sleep(ctx, d, "waiting to retry")
}

// MarkPublished is the update that records a record's event as on the bus, at at, under the
// bus's event id. It fails its condition when the record is gone or already marked (an
// earlier delivery of the same stream batch got there first).
func MarkPublished(table, chain string, seq int64, at time.Time, busEventID string) *dynamodb.UpdateItemInput {
	return &dynamodb.UpdateItemInput{
		TableName:           aws.String(table),
		Key:                 Key(chain, seq),
		UpdateExpression:    aws.String("SET #publishedAt = :at, #busEventId = :id"),
		ConditionExpression: aws.String("attribute_exists(#pk) AND attribute_not_exists(#publishedAt)"),
		ExpressionAttributeNames: map[string]string{
			"#pk": PartitionKey, "#publishedAt": AttrPublishedAt, "#busEventId": AttrBusEventID,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":at": &types.AttributeValueMemberS{Value: FormatTime(at)},
			":id": &types.AttributeValueMemberS{Value: busEventID},
		},
	}
}
