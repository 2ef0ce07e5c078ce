// Package flushes keeps the flushes table: one item per REST API stage recording the latest
// claim to flush the stage's authorizer cache and the latest flush that completed, so the
// callers of every instance flush at most once an interval (shared/features/flush decides
// when; this package reads and writes the item).
//
// # The table
//
// The flushes table (topology name "flushes") is keyed by stage (S): "<restApiId>/<stage>".
// An item holds claimedAt (N, Unix nanoseconds by the claimer's clock: when the latest claim
// was taken) and, once a flush completed, flushedAt (N, Unix nanoseconds: the claimedAt of the
// latest claim whose flush completed). Both only move forward.
package flushes

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/stores/itemread"
)

// PartitionKey is the flushes table's key; the topology's declaration of table "flushes" must
// match.
const PartitionKey = "stage" // S

// Attribute names of a flush item.
const (
	AttrStage     = PartitionKey
	AttrClaimedAt = "claimedAt"
	AttrFlushedAt = "flushedAt"
)

// StageKey names a REST API stage in the table.
func StageKey(restAPIID, stage string) string { return restAPIID + "/" + stage }

// State is a stage's item as read. A zero ClaimedAt: nobody claimed a flush yet; a zero
// FlushedAt: no flush completed yet.
type State struct {
	Stage     string
	ClaimedAt time.Time
	FlushedAt time.Time
}

// DynamoDBAPI is the part of the DynamoDB client the Store uses.
type DynamoDBAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

var _ DynamoDBAPI = (*dynamodb.Client)(nil)

// Store reads and writes the flushes table.
type Store struct {
	DB    DynamoDBAPI
	Table string
}

// Key is the table key of stage.
func Key(stage string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{AttrStage: &types.AttributeValueMemberS{Value: stage}}
}

func nanos(t time.Time) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(t.UnixNano(), 10)}
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// StateFromItem reads a stage's state from its item (nil: no item yet).
func StateFromItem(stage string, item map[string]types.AttributeValue) (State, error) {
	if item == nil {
		return State{Stage: stage}, nil
	}
	r := itemread.New(item)
	st := State{
		Stage:     r.String(AttrStage, true),
		ClaimedAt: fromNanos(r.Number(AttrClaimedAt, false)),
		FlushedAt: fromNanos(r.Number(AttrFlushedAt, false)),
	}
	if err := r.Err(); err != nil {
		return State{}, fmt.Errorf("flush item of stage %s: %w", stage, err)
	}
	return st, nil
}

// Get reads stage's state with a consistent read.
func (s *Store) Get(ctx context.Context, stage string) (State, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.Table), Key: Key(stage), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return State{}, fmt.Errorf("read the flush state of stage %s: %w", stage, err)
	}
	return StateFromItem(stage, out.Item)
}

// ClaimInput is the update that claims stage's next flush at `at`, conditioned on the claim
// read (prev.ClaimedAt; none when zero) being unchanged.
func ClaimInput(table string, prev State, at time.Time) *dynamodb.UpdateItemInput {
	in := &dynamodb.UpdateItemInput{
		TableName:                aws.String(table),
		Key:                      Key(prev.Stage),
		UpdateExpression:         aws.String("SET #claimed = :at"),
		ExpressionAttributeNames: map[string]string{"#claimed": AttrClaimedAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":at": nanos(at),
		},
	}
	if prev.ClaimedAt.IsZero() {
		in.ConditionExpression = aws.String("attribute_not_exists(#claimed)")
	} else {
		in.ConditionExpression = aws.String("#claimed = :prev")
		in.ExpressionAttributeValues[":prev"] = nanos(prev.ClaimedAt)
	}
	return in
}

// Claim claims stage's next flush at `at` when the claim is still the one read (prev): false
// when another caller claimed first.
func (s *Store) Claim(ctx context.Context, prev State, at time.Time) (bool, error) {
	_, err := s.DB.UpdateItem(ctx, ClaimInput(s.Table, prev, at))
	if _, ok := errors.AsType[*types.ConditionalCheckFailedException](err); ok {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim a flush of stage %s: %w", prev.Stage, err)
	}
	return true, nil
}

// FlushedInput is the update that records the completion of the flush claimed at claimedAt,
// unless a later claim's completion is recorded already.
func FlushedInput(table, stage string, claimedAt time.Time) *dynamodb.UpdateItemInput {
	return &dynamodb.UpdateItemInput{
		TableName:                aws.String(table),
		Key:                      Key(stage),
		UpdateExpression:         aws.String("SET #flushed = :c"),
		ConditionExpression:      aws.String("attribute_not_exists(#flushed) OR #flushed < :c"),
		ExpressionAttributeNames: map[string]string{"#flushed": AttrFlushedAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":c": nanos(claimedAt),
		},
	}
}

// Flushed records that the flush claimed at claimedAt completed. A later flush recorded
// already leaves the item as it is.
func (s *Store) Flushed(ctx context.Context, stage string, claimedAt time.Time) error {
	_, err := s.DB.UpdateItem(ctx, FlushedInput(s.Table, stage, claimedAt))
	if _, ok := errors.AsType[*types.ConditionalCheckFailedException](err); ok {
		return nil
	}
	if err != nil {
		return fmt.Errorf("record the flush of stage %s claimed at %s: %w", stage, claimedAt.Format(time.RFC3339Nano), err)
	}
	return nil
}
