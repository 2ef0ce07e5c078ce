package registry

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
)

// BatchGetItemAPI is the part of the DynamoDB client GetEntries uses.
type BatchGetItemAPI interface {
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
}

var _ BatchGetItemAPI = (*dynamodb.Client)(nil)

// maxBatchAttempts bounds GetEntries' calls when DynamoDB leaves keys unprocessed.
const maxBatchAttempts = 5

// Entries are registry entries read together, by key id. It is a Lookup: an id it does not
// hold is an error matching ErrNotFound.
type Entries map[credential.KeyID]Entry

var _ Lookup = Entries(nil)

// Get returns the entry of id.
func (es Entries) Get(_ context.Context, id credential.KeyID) (Entry, error) {
	e, ok := es[id]
	if !ok {
		return Entry{}, fmt.Errorf("get credential %s: %w", id, ErrNotFound)
	}
	return e, nil
}

// GetEntries reads the entries of ids (empty ids and repeats ignored, at most 100) from table
// in one BatchGetItem with strongly consistent reads — as Store.Get reads one — asking again
// for the keys DynamoDB leaves unprocessed. An id with no entry is absent from the result.
func GetEntries(ctx context.Context, db BatchGetItemAPI, table string, ids ...credential.KeyID) (Entries, error) {
	want := map[credential.KeyID]bool{}
	for _, id := range ids {
		if id != "" {
			want[id] = true
		}
	}
	out := Entries{}
	if len(want) == 0 {
		return out, nil
	}
	keys := make([]map[string]types.AttributeValue, 0, len(want))
	for _, id := range slices.Sorted(maps.Keys(want)) {
		keys = append(keys, Key(id))
	}
	request := map[string]types.KeysAndAttributes{table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
	for attempt := 1; len(request) > 0; attempt++ {
		if attempt > maxBatchAttempts {
			return nil, fmt.Errorf("get credentials %v: %w", slices.Sorted(maps.Keys(want)), errors.New("keys left unprocessed after retries"))
		}
		res, err := db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: request})
		if err != nil {
			return nil, fmt.Errorf("get credentials %v: %w", slices.Sorted(maps.Keys(want)), err)
		}
		for _, item := range res.Responses[table] {
			e, err := EntryFromItem(item)
			if err != nil {
				return nil, fmt.Errorf("get credentials: %w", err)
			}
			if !want[e.KeyID] {
				return nil, fmt.Errorf("get credentials: the item found is key %s, not one asked for", e.KeyID)
			}
			out[e.KeyID] = e
		}
		request = res.UnprocessedKeys
	}
	return out, nil
}
