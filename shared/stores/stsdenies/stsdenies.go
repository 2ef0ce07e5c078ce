// Package stsdenies keeps the sts-denies table: the versioned set of revoked partners the sts
// enforcer renders the partner-access role's deny from, and the lease that lets one writer at
// a time render it (IAM has no conditional write).
//
// # The table
//
// Partition key partnerId (S).
//
//   - One item per revoked partner: partnerId, revokedAt (its latest revocation's time),
//     revocationId.
//   - The set's item, partnerId "#set": version (N, bumped by each change of the set),
//     rendered (N, the version the role's documents were last rendered from), and while a
//     writer holds the lease, leaseOwner and leaseUntil.
package stsdenies

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/stores/attrtime"
	"github.com/lanyardhq/lanyard/shared/stores/itemread"
)

// Attribute names.
const (
	PartitionKey    = "partnerId"
	AttrRevokedAt   = "revokedAt"
	AttrRevocation  = "revocationId"
	AttrVersion     = "version"
	AttrRendered    = "rendered"
	AttrLeaseOwner  = "leaseOwner"
	AttrLeaseUntil  = "leaseUntil"
	setKey          = "#set"
	addAttempts     = 5
	maxTransactSize = 100
)

// API is the part of the DynamoDB client the store uses.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

var _ API = (*dynamodb.Client)(nil)

// ErrLeaseLost is returned by MarkRendered and Remove when the caller no longer holds the lease.
var ErrLeaseLost = errors.New("the sts-denies lease is not held")

// Entry is one revoked partner.
type Entry struct {
	PartnerID    string
	RevokedAt    time.Time
	RevocationID string
}

// Set is the set's item.
type Set struct {
	// Version counts the set's changes; Rendered is the version last rendered into IAM.
	Version, Rendered int64
	LeaseOwner        string
	LeaseUntil        time.Time
}

// Store is the sts-denies table.
type Store struct {
	DB    API
	Table string
}

func key(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{PartitionKey: &types.AttributeValueMemberS{Value: id}}
}

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

// State reads the set's item (a consistent read); a table with none is the empty set.
func (s *Store) State(ctx context.Context) (Set, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.Table), Key: key(setKey), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Set{}, fmt.Errorf("read the sts-denies set: %w", err)
	}
	if out.Item == nil {
		return Set{}, nil
	}
	r := itemread.New(out.Item)
	st := Set{Version: r.Number(AttrVersion, false), Rendered: r.Number(AttrRendered, false), LeaseOwner: r.String(AttrLeaseOwner, false),
		LeaseUntil: r.Time(AttrLeaseUntil, false)}
	if err := r.Err(); err != nil {
		return Set{}, fmt.Errorf("read the sts-denies set: %w", err)
	}
	return st, nil
}

// Add records e as its partner's latest revocation and bumps the set's version, in one
// transaction conditioned on what was read; it returns the version that holds e. A partner
// revoked at e's time or later already changes nothing (the current version holds it).
func (s *Store) Add(ctx context.Context, e Entry) (int64, error) {
	if e.PartnerID == "" || e.PartnerID == setKey || e.RevokedAt.IsZero() {
		return 0, fmt.Errorf("add to the sts-denies set: an entry without a partner or a time (%q)", e.PartnerID)
	}
	for range addAttempts {
		cur, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.Table), Key: key(e.PartnerID), ConsistentRead: aws.Bool(true)})
		if err != nil {
			return 0, fmt.Errorf("add %s to the sts-denies set: %w", e.PartnerID, err)
		}
		st, err := s.State(ctx)
		if err != nil {
			return 0, err
		}
		put := &types.Put{TableName: aws.String(s.Table), Item: map[string]types.AttributeValue{
			PartitionKey:   str(e.PartnerID),
			AttrRevokedAt:  str(attrtime.Format(e.RevokedAt)),
			AttrRevocation: str(e.RevocationID),
		}, ExpressionAttributeNames: map[string]string{"#pk": PartitionKey}}
		if cur.Item != nil {
			r := itemread.New(cur.Item)
			at := r.Time(AttrRevokedAt, true)
			if err := r.Err(); err != nil {
				return 0, fmt.Errorf("add %s to the sts-denies set: %w", e.PartnerID, err)
			}
			if !at.Before(e.RevokedAt) {
				return st.Version, nil
			}
			put.ConditionExpression = aws.String("attribute_exists(#pk) AND #at = :at")
			put.ExpressionAttributeNames["#at"] = AttrRevokedAt
			put.ExpressionAttributeValues = map[string]types.AttributeValue{":at": cur.Item[AttrRevokedAt]}
		} else {
			put.ConditionExpression = aws.String("attribute_not_exists(#pk)")
		}
		bump := &types.Update{TableName: aws.String(s.Table), Key: key(setKey),
			UpdateExpression:          aws.String("SET #v = :next"),
			ExpressionAttributeNames:  map[string]string{"#v": AttrVersion},
			ExpressionAttributeValues: map[string]types.AttributeValue{":next": num(st.Version + 1)},
		}
		if st.Version == 0 {
			bump.ConditionExpression = aws.String("attribute_not_exists(#v)")
		} else {
			bump.ConditionExpression = aws.String("#v = :v")
			bump.ExpressionAttributeValues[":v"] = num(st.Version)
		}
		_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{{Put: put}, {Update: bump}}})
		var canceled *types.TransactionCanceledException
		switch {
		case err == nil:
			return st.Version + 1, nil
		case errors.As(err, &canceled):
			continue // another writer changed the set or the entry: read again
		default:
			return 0, fmt.Errorf("add %s to the sts-denies set: %w", e.PartnerID, err)
		}
	}
	return 0, fmt.Errorf("add %s to the sts-denies set: still contended after %d attempts", e.PartnerID, addAttempts)
}

// Entries reads every revoked partner (a consistent scan). Read after State, they hold at
// least what State's version does.
func (s *Store) Entries(ctx context.Context) ([]Entry, error) {
	var (
		out   []Entry
		start map[string]types.AttributeValue
	)
	for {
		page, err := s.DB.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(s.Table), ConsistentRead: aws.Bool(true), ExclusiveStartKey: start})
		if err != nil {
			return nil, fmt.Errorf("scan the sts-denies set: %w", err)
		}
		for _, it := range page.Items {
			r := itemread.New(it)
			id := r.String(PartitionKey, true)
			if id == setKey {
				continue
			}
			e := Entry{PartnerID: id, RevokedAt: r.Time(AttrRevokedAt, true), RevocationID: r.String(AttrRevocation, false)}
			if err := r.Err(); err != nil {
				return nil, fmt.Errorf("scan the sts-denies set: %w", err)
			}
			out = append(out, e)
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		start = page.LastEvaluatedKey
	}
}

// Acquire takes the lease for owner until the given time when nobody holds it or its holder's
// time ran out by now; false when a writer holds it (owner included: a lease is taken once).
func (s *Store) Acquire(ctx context.Context, owner string, now, until time.Time) (bool, error) {
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.Table), Key: key(setKey),
		UpdateExpression:         aws.String("SET #o = :me, #u = :until"),
		ConditionExpression:      aws.String("attribute_not_exists(#o) OR #u < :now"),
		ExpressionAttributeNames: map[string]string{"#o": AttrLeaseOwner, "#u": AttrLeaseUntil},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":me": str(owner), ":until": str(attrtime.Format(until)), ":now": str(attrtime.Format(now)),
		},
	})
	var failed *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &failed):
		return false, nil
	default:
		return false, fmt.Errorf("take the sts-denies lease: %w", err)
	}
}

// Release gives the lease up, if owner holds it.
func (s *Store) Release(ctx context.Context, owner string) error {
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.Table), Key: key(setKey),
		UpdateExpression:          aws.String("REMOVE #o, #u"),
		ConditionExpression:       aws.String("#o = :me"),
		ExpressionAttributeNames:  map[string]string{"#o": AttrLeaseOwner, "#u": AttrLeaseUntil},
		ExpressionAttributeValues: map[string]types.AttributeValue{":me": str(owner)},
	})
	var failed *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &failed) {
		return fmt.Errorf("release the sts-denies lease: %w", err)
	}
	return nil
}

// leaseHeld is the condition that owner holds the lease.
func leaseHeld(table, owner string) types.TransactWriteItem {
	return types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName: aws.String(table), Key: key(setKey),
		ConditionExpression:       aws.String("#o = :me"),
		ExpressionAttributeNames:  map[string]string{"#o": AttrLeaseOwner},
		ExpressionAttributeValues: map[string]types.AttributeValue{":me": str(owner)},
	}}
}

// MarkRendered records that the role's documents hold version, while owner holds the lease
// (ErrLeaseLost otherwise). A version lower than the one recorded changes nothing.
func (s *Store) MarkRendered(ctx context.Context, owner string, version int64) error {
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.Table), Key: key(setKey),
		UpdateExpression:         aws.String("SET #r = :v"),
		ConditionExpression:      aws.String("#o = :me AND (attribute_not_exists(#r) OR #r < :v)"),
		ExpressionAttributeNames: map[string]string{"#o": AttrLeaseOwner, "#r": AttrRendered},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":me": str(owner), ":v": num(version),
		},
	})
	var failed *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		return nil
	case errors.As(err, &failed):
		st, rerr := s.State(ctx)
		if rerr != nil {
			return rerr
		}
		if st.LeaseOwner != owner {
			return fmt.Errorf("record version %d rendered: %w", version, ErrLeaseLost)
		}
		return nil
	default:
		return fmt.Errorf("record version %d rendered: %w", version, err)
	}
}

// Remove deletes pruned entries, each only while it still holds the revocation read (a newer
// revocation of the partner stays), while owner holds the lease.
func (s *Store) Remove(ctx context.Context, owner string, pruned []Entry) error {
	for len(pruned) > 0 {
		n := min(len(pruned), maxTransactSize-1)
		items := []types.TransactWriteItem{leaseHeld(s.Table, owner)}
		for _, e := range pruned[:n] {
			items = append(items, types.TransactWriteItem{Delete: &types.Delete{
				TableName: aws.String(s.Table), Key: key(e.PartnerID),
				ConditionExpression:       aws.String("#at = :at"),
				ExpressionAttributeNames:  map[string]string{"#at": AttrRevokedAt},
				ExpressionAttributeValues: map[string]types.AttributeValue{":at": str(attrtime.Format(e.RevokedAt))},
			}})
		}
		if _, err := s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items}); err != nil {
			// The lease was lost or an entry changed: what is left is pruned next time.
			return fmt.Errorf("prune %d sts-denies entries: %w", n, err)
		}
		pruned = pruned[n:]
	}
	return nil
}
