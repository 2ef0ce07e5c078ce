// Package refusals keeps the refusals table: how many onboardings were refused, by window and
// reason, until the audit-refusals function has written each closed window's counts to the
// audit log (shared/features/refusalaudit).
//
// Refused onboardings are unauthenticated and may come in floods, so they are not chain
// records: each refusal adds 1 to a count (Counter.Add, one UpdateItem), and each count is
// spread over Shards items picked at random, so a flood makes no hot item.
//
// # The table
//
// The refusals table (topology name "refusals") is keyed by window (S: the window's start,
// RFC 3339 in UTC, whole seconds) and reason (S: "<reason>#<shard>", shard 0 to Shards-1). A
// count item holds n (N, added to) and purgeAt (N, Unix seconds: the table's TTL, Retention
// after the window's end). One more item, window "cursor" and reason "cursor", holds next
// (S, RFC 3339): the start of the first window whose counts are not written yet.
//
// Windows are aligned on the clock: a window's start is a time truncated to the window's
// length (WindowStart), which CheckWindow holds to whole seconds dividing an hour, so every
// hour starts a window.
package refusals

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/stores/itemread"
)

// The refusals table's keys; the topology's declaration of table "refusals" must match.
const (
	PartitionKey = "window" // S
	SortKey      = "reason" // S
)

// Attribute names of the table's items.
const (
	AttrWindow  = PartitionKey
	AttrReason  = SortKey
	AttrCount   = "n"
	AttrPurgeAt = "purgeAt"
	AttrNext    = "next"
)

// Shards is how many items one window's count of one reason is spread over.
const Shards = 8

// Retention is how long after its window's end a count item is kept (the TTL): the aggregator
// has that long to catch up after an outage.
const Retention = 3 * 24 * time.Hour

// CursorKey is the window and the reason of the cursor item.
const CursorKey = "cursor"

// reasonRE is what a reason may be: a problem type's anchor, kebab-case.
var reasonRE = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// ValidReason says reason is a name the table keeps: kebab-case, at most 64 characters.
func ValidReason(reason string) bool { return len(reason) <= 64 && reasonRE.MatchString(reason) }

// CheckWindow checks a window length: whole seconds, dividing an hour evenly, so windows start
// on the clock (policy.Audit.RefusalWindow is held to whole minutes besides).
func CheckWindow(d time.Duration) error {
	if d < time.Second || d > time.Hour || d%time.Second != 0 || time.Hour%d != 0 {
		return fmt.Errorf("refusal window %s is not whole seconds from 1s to 1h dividing an hour evenly", d)
	}
	return nil
}

// WindowVar overrides the policy's audit.refusalWindow (a Go duration, CheckWindow) in the
// functions that count and write refusals, for tests that need windows of seconds; AWS
// deployments leave it unset. Both functions must see the same value.
const WindowVar = "LANYARD_REFUSAL_WINDOW"

// ResolveWindow is the window length in force: override when set (WindowVar), else the
// policy's.
func ResolveWindow(policyWindow, override time.Duration) (time.Duration, error) {
	w := policyWindow
	if override > 0 {
		w = override
	}
	if err := CheckWindow(w); err != nil {
		return 0, err
	}
	return w, nil
}

// WindowStart is the start of the window of length that holds t, in UTC.
func WindowStart(t time.Time, length time.Duration) time.Time { return t.UTC().Truncate(length) }

// WindowKey is the window attribute of the window starting at start.
func WindowKey(start time.Time) string { return start.UTC().Format(time.RFC3339) }

// ShardKey is the reason attribute of one shard of reason's count.
func ShardKey(reason string, shard int) string { return reason + "#" + strconv.Itoa(shard) }

// ParseShardKey reads a reason attribute written by ShardKey.
func ParseShardKey(s string) (reason string, shard int, err error) {
	reason, n, ok := strings.Cut(s, "#")
	shard, convErr := strconv.Atoi(n)
	if !ok || convErr != nil || shard < 0 || shard >= Shards || !ValidReason(reason) {
		return "", 0, fmt.Errorf("reason attribute %q is not <reason>#<shard 0..%d>", s, Shards-1)
	}
	return reason, shard, nil
}

// AddInput is the update that adds 1 to one shard of reason's count in the window of length
// starting at start.
func AddInput(table string, start time.Time, length time.Duration, reason string, shard int) *dynamodb.UpdateItemInput {
	purge := start.Add(length).Add(Retention).Unix()
	return &dynamodb.UpdateItemInput{
		TableName: aws.String(table),
		Key: map[string]types.AttributeValue{
			AttrWindow: &types.AttributeValueMemberS{Value: WindowKey(start)},
			AttrReason: &types.AttributeValueMemberS{Value: ShardKey(reason, shard)},
		},
		UpdateExpression:         aws.String("ADD #n :one SET #purge = :purge"),
		ExpressionAttributeNames: map[string]string{"#n": AttrCount, "#purge": AttrPurgeAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":one":   &types.AttributeValueMemberN{Value: "1"},
			":purge": &types.AttributeValueMemberN{Value: strconv.FormatInt(purge, 10)},
		},
	}
}

// UpdateItemAPI is the part of the DynamoDB client the Counter uses.
type UpdateItemAPI interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

var _ UpdateItemAPI = (*dynamodb.Client)(nil)

// Counter counts refusals: one UpdateItem each. It is safe for concurrent use.
type Counter struct {
	DB    UpdateItemAPI
	Table string
	// Window is the window length (CheckWindow).
	Window time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Shard picks the shard of one refusal (0 to Shards-1); nil picks one at random.
	Shard func() int
}

// Add adds 1 to reason's count in the current window.
func (c *Counter) Add(ctx context.Context, reason string) error {
	if !ValidReason(reason) {
		return fmt.Errorf("count a refusal: reason %q is not kebab-case", reason)
	}
	if err := CheckWindow(c.Window); err != nil {
		return fmt.Errorf("count a refusal: %w", err)
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	shard := randomShard
	if c.Shard != nil {
		shard = c.Shard
	}
	start := WindowStart(now(), c.Window)
	if _, err := c.DB.UpdateItem(ctx, AddInput(c.Table, start, c.Window, reason, shard()%Shards)); err != nil {
		return fmt.Errorf("count a refusal for %s in the window of %s: %w", reason, WindowKey(start), err)
	}
	return nil
}

// randomShard is a shard picked at random (not a secret: it only spreads the writes).
func randomShard() int {
	var b [1]byte
	_, _ = crand.Read(b[:]) // never fails (crypto/rand's contract)
	return int(b[0]) % Shards
}

// DynamoDBAPI is the part of the DynamoDB client the Store uses.
type DynamoDBAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

var _ DynamoDBAPI = (*dynamodb.Client)(nil)

// Store reads the counts and keeps the cursor.
type Store struct {
	DB    DynamoDBAPI
	Table string
}

// Count is one reason's count in a window, its shards summed.
type Count struct {
	Reason string
	N      int64
}

// Counts reads the counts of the window starting at start (a consistent Query of the window's
// items), each reason's shards summed, sorted by reason. A window nobody was refused in has
// none.
func (s *Store) Counts(ctx context.Context, start time.Time) ([]Count, error) {
	sums := map[string]int64{}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.Table),
		KeyConditionExpression:    aws.String("#w = :w"),
		ExpressionAttributeNames:  map[string]string{"#w": AttrWindow},
		ExpressionAttributeValues: map[string]types.AttributeValue{":w": &types.AttributeValueMemberS{Value: WindowKey(start)}},
		ConsistentRead:            aws.Bool(true),
	}
	for {
		out, err := s.DB.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("read the refusal counts of the window of %s: %w", WindowKey(start), err)
		}
		for _, item := range out.Items {
			r := itemread.New(item)
			key, n := r.String(AttrReason, true), r.Number(AttrCount, true)
			if err := r.Err(); err != nil {
				return nil, fmt.Errorf("refusal count of the window of %s: %w", WindowKey(start), err)
			}
			reason, _, err := ParseShardKey(key)
			if err != nil {
				return nil, fmt.Errorf("refusal count of the window of %s: %w", WindowKey(start), err)
			}
			sums[reason] += n
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	out := make([]Count, 0, len(sums))
	for _, reason := range slices.Sorted(maps.Keys(sums)) {
		if n := sums[reason]; n > 0 {
			out = append(out, Count{Reason: reason, N: n})
		}
	}
	return out, nil
}

func cursorKey() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		AttrWindow: &types.AttributeValueMemberS{Value: CursorKey},
		AttrReason: &types.AttributeValueMemberS{Value: CursorKey},
	}
}

// Cursor is the cursor as read: Next is the start of the first window whose counts are not
// written yet; Found is false when no cursor was written yet.
type Cursor struct {
	Next  time.Time
	Found bool
}

// Cursor reads the cursor (consistent).
func (s *Store) Cursor(ctx context.Context) (Cursor, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.Table), Key: cursorKey(), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Cursor{}, fmt.Errorf("read the refusal counts' cursor: %w", err)
	}
	if out.Item == nil {
		return Cursor{}, nil
	}
	r := itemread.New(out.Item)
	raw := r.String(AttrNext, true)
	if err := r.Err(); err != nil {
		return Cursor{}, fmt.Errorf("the refusal counts' cursor: %w", err)
	}
	next, err := time.Parse(time.RFC3339, raw)
	if err != nil {
		return Cursor{}, fmt.Errorf("the refusal counts' cursor: next %q is not RFC 3339", raw)
	}
	return Cursor{Next: next.UTC(), Found: true}, nil
}

// AdvanceInput is the update that moves the cursor from prev (as read) to next, on the
// condition that it still is prev.
func AdvanceInput(table string, prev Cursor, next time.Time) *dynamodb.UpdateItemInput {
	in := &dynamodb.UpdateItemInput{
		TableName:                aws.String(table),
		Key:                      cursorKey(),
		UpdateExpression:         aws.String("SET #next = :next"),
		ExpressionAttributeNames: map[string]string{"#next": AttrNext},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":next": &types.AttributeValueMemberS{Value: WindowKey(next)},
		},
	}
	if prev.Found {
		in.ConditionExpression = aws.String("#next = :prev")
		in.ExpressionAttributeValues[":prev"] = &types.AttributeValueMemberS{Value: WindowKey(prev.Next)}
	} else {
		in.ConditionExpression = aws.String("attribute_not_exists(#next)")
	}
	return in
}

// Advance moves the cursor from prev to next: false when it is not prev any more (another run
// moved it first).
func (s *Store) Advance(ctx context.Context, prev Cursor, next time.Time) (bool, error) {
	_, err := s.DB.UpdateItem(ctx, AdvanceInput(s.Table, prev, next))
	if _, ok := errors.AsType[*types.ConditionalCheckFailedException](err); ok {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("advance the refusal counts' cursor to %s: %w", WindowKey(next), err)
	}
	return true, nil
}
