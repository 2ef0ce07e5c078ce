// Package auditexports is the audit exporter's state table (topology name "audit-exports"):
// one item, id "trail", naming the last window exported to the audit bucket and how the next
// manifest links it. The exporter (shared/features/auditexport) reads it at the start of a run
// and rewrites it in the transaction that records the window's Audit Exported event, on the
// condition that it still names the window before: a window is recorded once.
package auditexports

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/stores/attrtime"
	"github.com/lanyardhq/lanyard/shared/stores/itemread"
)

// Attribute names of the state item; the topology's declaration of table "audit-exports" must
// match PartitionKey.
const (
	PartitionKey       = "id"
	AttrWindowEnd      = "windowEnd"
	AttrManifestKey    = "manifestKey"
	AttrManifestSHA256 = "manifestSha256"
	AttrSignature      = "signature"
	AttrFingerprint    = "fingerprint"
)

// TrailID is the id of the one state item.
const TrailID = "trail"

// State is the last window exported.
type State struct {
	// Found is false before the first window is exported.
	Found bool
	// WindowEnd is the end of the last window exported: the next window starts there.
	WindowEnd time.Time
	// ManifestKey, ManifestSHA256 (hex) and Signature (base64 of DER) are the last manifest's
	// link (audittrail.Link); Fingerprint the trail's signing key's fingerprint.
	ManifestKey    string
	ManifestSHA256 string
	Signature      string
	Fingerprint    string
}

// GetItemAPI is the part of the DynamoDB client the Store uses.
type GetItemAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

var _ GetItemAPI = (*dynamodb.Client)(nil)

// Store reads the state table.
type Store struct {
	DB    GetItemAPI
	Table string
}

func key() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{PartitionKey: &types.AttributeValueMemberS{Value: TrailID}}
}

// Get reads the state (consistent).
func (s *Store) Get(ctx context.Context) (State, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.Table), Key: key(), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return State{}, fmt.Errorf("read the audit export state: %w", err)
	}
	if out.Item == nil {
		return State{}, nil
	}
	r := itemread.New(out.Item)
	st := State{
		Found:          true,
		WindowEnd:      r.Time(AttrWindowEnd, true),
		ManifestKey:    r.String(AttrManifestKey, true),
		ManifestSHA256: r.String(AttrManifestSHA256, true),
		Signature:      r.String(AttrSignature, true),
		Fingerprint:    r.String(AttrFingerprint, true),
	}
	if err := r.Err(); err != nil {
		return State{}, fmt.Errorf("the audit export state: %w", err)
	}
	return st, nil
}

// Put is the transaction item that writes next, on the condition that the state is still
// prev (as read): absent when prev was not found, otherwise at prev's window end.
func Put(table string, prev, next State) types.TransactWriteItem {
	put := &types.Put{
		TableName: aws.String(table),
		Item: map[string]types.AttributeValue{
			PartitionKey:       &types.AttributeValueMemberS{Value: TrailID},
			AttrWindowEnd:      &types.AttributeValueMemberS{Value: attrtime.Format(next.WindowEnd)},
			AttrManifestKey:    &types.AttributeValueMemberS{Value: next.ManifestKey},
			AttrManifestSHA256: &types.AttributeValueMemberS{Value: next.ManifestSHA256},
			AttrSignature:      &types.AttributeValueMemberS{Value: next.Signature},
			AttrFingerprint:    &types.AttributeValueMemberS{Value: next.Fingerprint},
		},
		ExpressionAttributeNames: map[string]string{"#id": PartitionKey},
	}
	if prev.Found {
		put.ConditionExpression = aws.String("attribute_exists(#id) AND #windowEnd = :prevEnd")
		put.ExpressionAttributeNames["#windowEnd"] = AttrWindowEnd
		put.ExpressionAttributeValues = map[string]types.AttributeValue{
			":prevEnd": &types.AttributeValueMemberS{Value: attrtime.Format(prev.WindowEnd)},
		}
	} else {
		put.ConditionExpression = aws.String("attribute_not_exists(#id)")
	}
	return types.TransactWriteItem{Put: put}
}
