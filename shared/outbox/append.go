package outbox

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
)

// MaxStateChanges is the most state-change items a decision may carry: TransactWriteItems
// takes 100 items, and the outbox record and the head take two.
const MaxStateChanges = 100 - OutboxItems

// OutboxItems is how many items Append builds. They come first in the transaction, so the
// cancellation reason of the caller's state change i is at index OutboxItems+i.
const OutboxItems = 2

// Append builds the next record of head's chain for the event d, and the two transaction items
// that commit it to table: the Put of the record (only if no item has its key) and the Update
// of the head (only if the head is still the one read: absent for a partner's first record,
// otherwise at head.Seq with head.Hash). It does no I/O; the caller adds its own state changes
// to the same TransactWriteItems call (Store.Commit does all of it).
func Append(table string, head Head, d events.Detail) (Record, []types.TransactWriteItem, error) {
	if d == nil {
		return Record{}, nil, errors.New("outbox append: no event")
	}
	detailType, detail, err := events.Marshal(d)
	if err != nil {
		return Record{}, nil, fmt.Errorf("outbox append: %w", err)
	}
	m := d.Header()
	switch {
	case head.PartnerID == "":
		return Record{}, nil, errors.New("outbox append: the head names no partner")
	case m.PartnerID != head.PartnerID:
		return Record{}, nil, fmt.Errorf("outbox append: event %s is for partner %q, the head for %q", m.EventID, m.PartnerID, head.PartnerID)
	case m.Time.IsZero():
		return Record{}, nil, fmt.Errorf("outbox append: event %s has no time", m.EventID)
	case head.Seq < 0 || !wellFormedHash(head.Hash) || (head.Seq == 0) != (head.Hash == GenesisHash):
		return Record{}, nil, fmt.Errorf("outbox append: malformed head of partner %s (seq %d, hash %q)", head.PartnerID, head.Seq, head.Hash)
	}

	r := Record{
		PartnerID:  head.PartnerID,
		Seq:        head.Seq + 1,
		EventID:    m.EventID,
		DetailType: detailType,
		Detail:     detail,
		Time:       m.Time.UTC(),
		PrevHash:   head.Hash,
	}
	r.Hash = r.ComputeHash()

	put := &types.Put{
		TableName:                aws.String(table),
		Item:                     r.Item(),
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": PartitionKey},
	}
	update := &types.Update{
		TableName:        aws.String(table),
		Key:              Key(r.PartnerID, HeadSeq),
		UpdateExpression: aws.String("SET #headSeq = :seq, #headHash = :hash"),
		ExpressionAttributeNames: map[string]string{
			"#headSeq": attrHeadSeq, "#headHash": attrHeadHash,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":seq":  &types.AttributeValueMemberN{Value: strconv.FormatInt(r.Seq, 10)},
			":hash": &types.AttributeValueMemberS{Value: r.Hash},
		},
	}
	if head.Seq == 0 {
		update.ConditionExpression = aws.String("attribute_not_exists(#pk)")
		update.ExpressionAttributeNames["#pk"] = PartitionKey
	} else {
		update.ConditionExpression = aws.String("#headSeq = :prevSeq AND #headHash = :prevHash")
		update.ExpressionAttributeValues[":prevSeq"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(head.Seq, 10)}
		update.ExpressionAttributeValues[":prevHash"] = &types.AttributeValueMemberS{Value: head.Hash}
	}
	return r, []types.TransactWriteItem{{Put: put}, {Update: update}}, nil
}
