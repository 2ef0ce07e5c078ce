package outbox

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// AuditPendingIndex is the outbox table's index of the records not yet written to the audit
// log: partition key "auditPending" (a shard of AuditPendingShards), sort key "committedAt"
// (N, the decision's time in Unix milliseconds). Append gives every record both; MarkAudited
// removes the first, so the index holds only what the audit writer still owes.
const AuditPendingIndex = "audit-pending"

// Names of the audit attributes of a record, and of those the writer checks its event against,
// for the writer's reads.
const (
	AttrAuditedAt = attrAuditedAt
	AttrEventID   = attrEventID
	AttrHash      = attrHash
)

// MarkAudited is the transaction item that records chain's record seq as written to the audit
// log at at: it sets auditedAt and takes the record out of the audit-pending index. It fails
// its condition when the record does not exist, so a mark never creates an item.
func MarkAudited(table, chain string, seq int64, at time.Time) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{
		TableName:           aws.String(table),
		Key:                 Key(chain, seq),
		UpdateExpression:    aws.String("SET #auditedAt = :at REMOVE #pending"),
		ConditionExpression: aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{
			"#pk": PartitionKey, "#auditedAt": attrAuditedAt, "#pending": attrAuditPending,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":at": &types.AttributeValueMemberS{Value: FormatTime(at)},
		},
	}}
}

// Unaudited is the oldest record the audit writer still owes.
type Unaudited struct {
	Chain       string
	Seq         int64
	CommittedAt time.Time
}

// OldestUnaudited finds the record that has waited longest for the audit log: one Query of the
// audit-pending index per shard (AuditPendingShards), each for its oldest entry. found is
// false when every record is written. The index is eventually consistent: a record written a
// moment ago may still show.
func (s *Store) OldestUnaudited(ctx context.Context) (oldest Unaudited, found bool, err error) {
	for shard := range AuditPendingShards {
		out, err := s.DB.Query(ctx, &dynamodb.QueryInput{
			TableName:                aws.String(s.Table),
			IndexName:                aws.String(AuditPendingIndex),
			KeyConditionExpression:   aws.String("#pending = :shard"),
			ExpressionAttributeNames: map[string]string{"#pending": attrAuditPending},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":shard": &types.AttributeValueMemberS{Value: strconv.Itoa(shard)},
			},
			ScanIndexForward: aws.Bool(true),
			Limit:            aws.Int32(1),
		})
		if err != nil {
			return Unaudited{}, false, fmt.Errorf("read the outbox's audit-pending shard %d: %w", shard, err)
		}
		if len(out.Items) == 0 {
			continue
		}
		u, err := unauditedFromItem(out.Items[0])
		if err != nil {
			return Unaudited{}, false, err
		}
		if !found || u.CommittedAt.Before(oldest.CommittedAt) {
			oldest, found = u, true
		}
	}
	return oldest, found, nil
}

func unauditedFromItem(item map[string]types.AttributeValue) (Unaudited, error) {
	chain, seq, err := KeyOf(item)
	if err != nil {
		return Unaudited{}, err
	}
	n, ok := item[attrCommittedAt].(*types.AttributeValueMemberN)
	if !ok {
		return Unaudited{}, fmt.Errorf("outbox record %s/%d in the audit-pending index without %s", chain, seq, attrCommittedAt)
	}
	ms, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		return Unaudited{}, fmt.Errorf("outbox record %s/%d: %s %q: %w", chain, seq, attrCommittedAt, n.Value, err)
	}
	return Unaudited{Chain: chain, Seq: seq, CommittedAt: time.UnixMilli(ms).UTC()}, nil
}

// Chains lists the chains owned by owner (a partner id, or events.AllPartners for the ops
// chain), from the chains index: its lifecycle chain and its exchange lanes. The index is
// eventually consistent: a chain whose first record was committed a moment ago may be missing.
func (s *Store) Chains(ctx context.Context, owner string) ([]string, error) {
	in := &dynamodb.QueryInput{
		TableName:                aws.String(s.Table),
		IndexName:                aws.String(ChainsIndex),
		KeyConditionExpression:   aws.String("#owner = :owner"),
		ExpressionAttributeNames: map[string]string{"#owner": attrOwner},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":owner": &types.AttributeValueMemberS{Value: owner},
		},
	}
	var out []string
	p := dynamodb.NewQueryPaginator(s.DB, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list the outbox chains of %s: %w", owner, err)
		}
		for _, item := range page.Items {
			chain, _, err := KeyOf(item)
			if err != nil {
				return nil, err
			}
			out = append(out, chain)
		}
	}
	return out, nil
}
