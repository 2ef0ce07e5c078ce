package outbox

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
)

// MaxStateChanges is the most state-change items a one-event decision may carry:
// TransactWriteItems takes 100 items, and the outbox record and the head take two. Each further
// event of a decision (CommitAll) takes one more.
const MaxStateChanges = maxItems - OutboxItems

// OutboxItems is how many items Append builds. They come first in the transaction, so the
// cancellation reason of the caller's state change i is at index OutboxItems+i (for AppendAll
// of n events: n+1+i).
const OutboxItems = 2

// maxItems is the most items one TransactWriteItems call takes.
const maxItems = 100

// maxEvents bounds the events of one decision, leaving room for its state changes.
const maxEvents = 10

// Append builds the next record of head's chain for the event d, and the two transaction items
// that commit it to table: the Put of the record (only if no item has its key) and the Update
// of the head (only if the head is still the one read: absent for a chain's first record,
// otherwise at head.Seq with head.Hash). It does no I/O; the caller adds its own state changes
// to the same TransactWriteItems call (Store.Commit does all of it).
func Append(table string, head Head, d events.Detail) (Record, []types.TransactWriteItem, error) {
	records, items, err := AppendAll(table, head, d)
	if err != nil {
		return Record{}, nil, err
	}
	return records[0], items, nil
}

// AppendAll builds the next records of head's chain for the events ds of one decision, in
// order, and the transaction items that commit them to table: one Put per record (only if no
// item has its key), then one Update of the head to the last record (guarded as in Append).
// It builds len(ds)+1 items, which come first in the transaction.
func AppendAll(table string, head Head, ds ...events.Detail) ([]Record, []types.TransactWriteItem, error) {
	switch {
	case len(ds) == 0:
		return nil, nil, errors.New("outbox append: no event")
	case len(ds) > maxEvents:
		return nil, nil, fmt.Errorf("outbox append: %d events, at most %d per decision", len(ds), maxEvents)
	case head.Chain == "":
		return nil, nil, errors.New("outbox append: the head names no chain")
	case head.Seq < 0 || !wellFormedHash(head.Hash) || (head.Seq == 0) != (head.Hash == GenesisHash):
		return nil, nil, fmt.Errorf("outbox append: malformed head of chain %s (seq %d, hash %q)", head.Chain, head.Seq, head.Hash)
	}
	records := make([]Record, 0, len(ds))
	items := make([]types.TransactWriteItem, 0, len(ds)+1)
	prev := head
	for _, d := range ds {
		r, err := next(prev, d)
		if err != nil {
			return nil, nil, err
		}
		item, err := r.Item()
		if err != nil {
			return nil, nil, fmt.Errorf("outbox append: %w", err)
		}
		// Not in the hash: where the record waits for the audit log (MarkAudited clears it).
		item[attrAuditPending] = &types.AttributeValueMemberS{Value: auditShard(r.Chain)}
		item[attrCommittedAt] = &types.AttributeValueMemberN{Value: strconv.FormatInt(r.Time.UnixMilli(), 10)}
		records = append(records, r)
		items = append(items, types.TransactWriteItem{Put: &types.Put{
			TableName:                aws.String(table),
			Item:                     item,
			ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
			ExpressionAttributeNames: map[string]string{"#pk": PartitionKey},
		}})
		prev = Head{Chain: r.Chain, Seq: r.Seq, Hash: r.Hash}
	}

	update := &types.Update{
		TableName: aws.String(table),
		Key:       Key(head.Chain, HeadSeq),
		// Not in the hash: the head waits in the export-pending index until the exporter has
		// exported the chain up to it (AdvanceExport).
		UpdateExpression: aws.String("SET #headSeq = :seq, #headHash = :hash, #owner = :owner, #exportPending = :exportShard"),
		ExpressionAttributeNames: map[string]string{
			"#headSeq": attrHeadSeq, "#headHash": attrHeadHash, "#owner": attrOwner, "#exportPending": attrExportPending,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":seq":         &types.AttributeValueMemberN{Value: strconv.FormatInt(prev.Seq, 10)},
			":hash":        &types.AttributeValueMemberS{Value: prev.Hash},
			":owner":       &types.AttributeValueMemberS{Value: ChainOwner(head.Chain)},
			":exportShard": &types.AttributeValueMemberS{Value: auditShard(head.Chain)},
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
	return records, append(items, types.TransactWriteItem{Update: update}), nil
}

// next builds the record that follows prev for the event d.
func next(prev Head, d events.Detail) (Record, error) {
	if err := checkChain(prev.Chain, d); err != nil {
		return Record{}, fmt.Errorf("outbox append: %w", err)
	}
	detailType, detail, err := events.Marshal(d)
	if err != nil {
		return Record{}, fmt.Errorf("outbox append: %w", err)
	}
	m := d.Header()
	if m.Time.IsZero() {
		return Record{}, fmt.Errorf("outbox append: event %s has no time", m.EventID)
	}
	r := Record{
		Chain:      prev.Chain,
		Seq:        prev.Seq + 1,
		EventID:    m.EventID,
		DetailType: detailType,
		Detail:     detail,
		Time:       m.Time.UTC(),
		PrevHash:   prev.Hash,
	}
	r.Hash = r.ComputeHash()
	return r, nil
}
