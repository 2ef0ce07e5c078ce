package outbox

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ExportPendingIndex is the outbox table's sparse index of the chains the audit exporter has
// not exported to their head yet: partition key "exportPending" (a shard of
// AuditPendingShards, the chain's audit shard), sort key "chain". Append's update of a head
// sets exportPending; AdvanceExport removes it once the exporter's cursor reaches the head,
// so the index holds only the chains with records still to export. Keys only: the cursor is
// read from the head itself, consistently (ExportCursors).
const ExportPendingIndex = "export-pending"

// Attribute names of a head's export cursor.
const (
	attrExportPending = "exportPending"
	attrExportedSeq   = "exportedSeq"
	attrExportedHash  = "exportedHash"
)

// maxBatchGet is the most keys one BatchGetItem call takes.
const maxBatchGet = 100

// ExportCursor is where the audit exporter stands on a chain: the seq and hash of the last
// record it exported (0 and GenesisHash before the first), and the chain's head.
type ExportCursor struct {
	Chain string
	Seq   int64
	Hash  string
	Head  Head
}

// ExportDBAPI is the part of the DynamoDB client Exports uses.
type ExportDBAPI interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

var _ ExportDBAPI = (*dynamodb.Client)(nil)

// Exports is the audit exporter's side of the outbox table: which chains have records to
// export, where its cursor stands on each, their records, and moving the cursors.
type Exports struct {
	DB    ExportDBAPI
	Table string
	// Backoff is the pause before retry n of a BatchGetItem's unprocessed keys (nil: jittered
	// exponential from 10 ms, capped at 500 ms).
	Backoff func(n int) time.Duration
}

func (s *Exports) backoff(n int) time.Duration {
	return (&Store{Backoff: s.Backoff}).backoff(n)
}

// PendingExports lists the chains the export-pending index holds, sorted: one Query per shard
// (AuditPendingShards), paginated. The index is eventually consistent: a chain whose head moved
// a moment ago may be missing (it is found on a later run; its records are not lost, only
// late), and one exported a moment ago may still show (ExportCursors reads its cursor).
func (s *Exports) PendingExports(ctx context.Context) ([]string, error) {
	var chains []string
	for shard := range AuditPendingShards {
		p := dynamodb.NewQueryPaginator(s.DB, &dynamodb.QueryInput{
			TableName:                aws.String(s.Table),
			IndexName:                aws.String(ExportPendingIndex),
			KeyConditionExpression:   aws.String("#pending = :shard"),
			ExpressionAttributeNames: map[string]string{"#pending": attrExportPending},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":shard": &types.AttributeValueMemberS{Value: strconv.Itoa(shard)},
			},
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("read the outbox's export-pending shard %d: %w", shard, err)
			}
			for _, item := range page.Items {
				chain, seq, err := KeyOf(item)
				if err != nil {
					return nil, err
				}
				if seq != HeadSeq {
					return nil, fmt.Errorf("outbox item %s/%d in the export-pending index is not a head", chain, seq)
				}
				chains = append(chains, chain)
			}
		}
	}
	slices.Sort(chains)
	return slices.Compact(chains), nil
}

// ExportCursors reads the export cursors of chains from their heads with consistent reads, in
// BatchGetItem calls of up to 100 keys (unprocessed keys asked again). A chain without a head
// is left out.
func (s *Exports) ExportCursors(ctx context.Context, chains []string) (map[string]ExportCursor, error) {
	out := make(map[string]ExportCursor, len(chains))
	for start := 0; start < len(chains); start += maxBatchGet {
		batch := chains[start:min(start+maxBatchGet, len(chains))]
		keys := make([]map[string]types.AttributeValue, len(batch))
		for i, c := range batch {
			keys[i] = HeadKey(c)
		}
		pending := map[string]types.KeysAndAttributes{s.Table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
		for attempt := 1; len(pending) > 0; attempt++ {
			res, err := s.DB.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: pending})
			if err != nil {
				return nil, fmt.Errorf("read the export cursors of %d chains: %w", len(batch), err)
			}
			for _, item := range res.Responses[s.Table] {
				c, err := cursorFromItem(item)
				if err != nil {
					return nil, err
				}
				out[c.Chain] = c
			}
			pending = res.UnprocessedKeys
			if len(pending[s.Table].Keys) == 0 {
				break
			}
			if err := sleep(ctx, s.backoff(attempt)); err != nil {
				return nil, fmt.Errorf("read the export cursors: %w", err)
			}
		}
	}
	return out, nil
}

func cursorFromItem(item map[string]types.AttributeValue) (ExportCursor, error) {
	chain, seq, err := KeyOf(item)
	if err != nil {
		return ExportCursor{}, err
	}
	if seq != HeadSeq {
		return ExportCursor{}, fmt.Errorf("outbox item %s/%d read as a head", chain, seq)
	}
	head, err := headFromItem(chain, item)
	if err != nil {
		return ExportCursor{}, err
	}
	c := ExportCursor{Chain: chain, Seq: 0, Hash: GenesisHash, Head: head}
	n, okSeq := item[attrExportedSeq].(*types.AttributeValueMemberN)
	h, okHash := item[attrExportedHash].(*types.AttributeValueMemberS)
	switch {
	case !okSeq && !okHash:
		return c, nil
	case !okSeq || !okHash:
		return ExportCursor{}, fmt.Errorf("outbox head of chain %s: %s and %s go together", chain, attrExportedSeq, attrExportedHash)
	}
	if c.Seq, err = ParseSeq(n.Value); err != nil || c.Seq < 1 || c.Seq > head.Seq || !wellFormedHash(h.Value) {
		return ExportCursor{}, fmt.Errorf("outbox head of chain %s: malformed export cursor (%s %q, %s %q)", chain, attrExportedSeq, n.Value, attrExportedHash, h.Value)
	}
	c.Hash = h.Value
	return c, nil
}

// ExportRecords reads chain's records after seq after, in seq order with consistent reads,
// and calls fn with each whose time is before before; it stops at the first that is not (so
// what it gives is contiguous), and at the first error fn returns. It pages through the
// chain's records without holding them.
func (s *Exports) ExportRecords(ctx context.Context, chain string, after int64, before time.Time, fn func(Record) error) error {
	p := dynamodb.NewQueryPaginator(s.DB, &dynamodb.QueryInput{
		TableName:                aws.String(s.Table),
		KeyConditionExpression:   aws.String("#pk = :pk AND #seq > :after"),
		ExpressionAttributeNames: map[string]string{"#pk": PartitionKey, "#seq": SortKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk":    &types.AttributeValueMemberS{Value: chain},
			":after": &types.AttributeValueMemberN{Value: strconv.FormatInt(after, 10)},
		},
		ConsistentRead: aws.Bool(true),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("read the outbox records of chain %s after seq %d: %w", chain, after, err)
		}
		for _, item := range page.Items {
			r, err := RecordFromItem(item)
			if err != nil {
				return err
			}
			if !r.Time.Before(before) {
				return nil
			}
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// AdvanceExport moves chain's export cursor to the record seq with hash, exported. When seq is
// the chain's head the chain leaves the export-pending index; when the head has moved on it
// stays. The cursor never moves back: advancing to where it stands, or behind, changes
// nothing, so a run repeated after a crash is harmless.
func (s *Exports) AdvanceExport(ctx context.Context, chain string, seq int64, hash string) error {
	if seq < 1 || !wellFormedHash(hash) {
		return fmt.Errorf("advance the export cursor of chain %s: malformed cursor (seq %d, hash %q)", chain, seq, hash)
	}
	values := map[string]types.AttributeValue{
		":seq":  &types.AttributeValueMemberN{Value: strconv.FormatInt(seq, 10)},
		":hash": &types.AttributeValueMemberS{Value: hash},
	}
	// Caught up: the head is the record exported last.
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.Table),
		Key:                 HeadKey(chain),
		UpdateExpression:    aws.String("SET #exportedSeq = :seq, #exportedHash = :hash REMOVE #pending"),
		ConditionExpression: aws.String("#headSeq = :seq AND (attribute_not_exists(#exportedSeq) OR #exportedSeq <= :seq)"),
		ExpressionAttributeNames: map[string]string{
			"#exportedSeq": attrExportedSeq, "#exportedHash": attrExportedHash, "#pending": attrExportPending, "#headSeq": attrHeadSeq,
		},
		ExpressionAttributeValues: values,
	})
	if err == nil || !conditionFailed(err) {
		if err != nil {
			return fmt.Errorf("advance the export cursor of chain %s to seq %d: %w", chain, seq, err)
		}
		return nil
	}
	// The head has moved on (or the cursor is past seq already): move the cursor only.
	_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.Table),
		Key:                 HeadKey(chain),
		UpdateExpression:    aws.String("SET #exportedSeq = :seq, #exportedHash = :hash"),
		ConditionExpression: aws.String("#headSeq >= :seq AND (attribute_not_exists(#exportedSeq) OR #exportedSeq < :seq)"),
		ExpressionAttributeNames: map[string]string{
			"#exportedSeq": attrExportedSeq, "#exportedHash": attrExportedHash, "#headSeq": attrHeadSeq,
		},
		ExpressionAttributeValues: values,
	})
	switch {
	case err == nil:
		return nil
	case conditionFailed(err):
		// Advanced to seq or past it already; a head that does not reach seq is no chain
		// this cursor was read from.
		c, rerr := s.ExportCursors(ctx, []string{chain})
		if rerr != nil {
			return fmt.Errorf("advance the export cursor of chain %s to seq %d: %w", chain, seq, rerr)
		}
		if cur, ok := c[chain]; !ok || cur.Head.Seq < seq || cur.Seq < seq {
			return fmt.Errorf("advance the export cursor of chain %s to seq %d: the head (%+v) does not hold it", chain, seq, cur)
		}
		return nil
	default:
		return fmt.Errorf("advance the export cursor of chain %s to seq %d: %w", chain, seq, err)
	}
}

func conditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}
