package registry

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/credential"
)

// The transaction items below move a key from one status to the next. Each is conditioned on
// the status the caller read, so a transaction built from a stale read is cancelled rather
// than applied, and a retried transaction that already landed fails its condition instead of
// applying twice.

// Activate is the transaction item that makes a pending key active (rotation's finishSecret).
// It fails its condition unless the key is registered and pending.
func Activate(table string, id credential.KeyID) types.TransactWriteItem {
	return transition(table, id, StatusPending, StatusActive, nil)
}

// Supersede is the transaction item that makes an active key previous, accepted until
// graceUntil (rotation's finishSecret, for the key the new one replaces). It fails its
// condition unless the key is registered and active.
func Supersede(table string, id credential.KeyID, graceUntil time.Time) types.TransactWriteItem {
	return transition(table, id, StatusActive, StatusPrevious, map[string]time.Time{AttrGraceUntil: graceUntil})
}

// Retire is the transaction item that retires a key whose status is from at time at: a
// previous key that a newer rotation replaces (one previous key at a time) or whose grace is
// over, or a pending key that a later rotation superseded. It fails its condition unless the
// key is registered with status from.
func Retire(table string, id credential.KeyID, from Status, at time.Time) types.TransactWriteItem {
	return transition(table, id, from, StatusRetired, map[string]time.Time{AttrRetiredAt: at})
}

// transition is the Update that sets status to, and the times in set, on the entry of id,
// conditioned on its status being from.
func transition(table string, id credential.KeyID, from, to Status, set map[string]time.Time) types.TransactWriteItem {
	names := map[string]string{"#status": AttrStatus}
	values := map[string]types.AttributeValue{
		":from": &types.AttributeValueMemberS{Value: string(from)},
		":to":   &types.AttributeValueMemberS{Value: string(to)},
	}
	expr := "SET #status = :to"
	for attr, t := range set {
		names["#"+attr] = attr
		values[":"+attr] = &types.AttributeValueMemberS{Value: FormatTime(t)}
		expr += ", #" + attr + " = :" + attr
	}
	return types.TransactWriteItem{Update: &types.Update{
		TableName:                 aws.String(table),
		Key:                       Key(id),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String("#status = :from"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}}
}
