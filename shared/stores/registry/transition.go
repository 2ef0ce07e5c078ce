package registry

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
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

// SupersedeCurrent is Supersede for a caller that did not read the entry but assumes it is
// partnerID's current key of tier (rotation's finishSecret, which takes the tier from the pending
// key registered with the current key's): it also fails its condition unless the entry's
// partner and tier are those.
func SupersedeCurrent(table string, id credential.KeyID, partnerID, tier string, graceUntil time.Time) types.TransactWriteItem {
	item := Supersede(table, id, graceUntil)
	u := item.Update
	u.ConditionExpression = aws.String(aws.ToString(u.ConditionExpression) + " AND #partnerId = :partnerId AND #tier = :tier")
	u.ExpressionAttributeNames["#partnerId"], u.ExpressionAttributeNames["#tier"] = AttrPartnerID, AttrTier
	u.ExpressionAttributeValues[":partnerId"] = &types.AttributeValueMemberS{Value: partnerID}
	u.ExpressionAttributeValues[":tier"] = &types.AttributeValueMemberS{Value: tier}
	return item
}

// CheckCurrent is the transaction item that changes nothing and fails its condition unless the
// entry of id is registered, active, partnerID's, of tier and granting exactly scopes: what a
// caller that did not read the entry assumes of a partner's current key (rotation's setSecret,
// which registers the pending key with the current key's scopes and tier).
func CheckCurrent(table string, id credential.KeyID, partnerID, tier string, scopes []string) types.TransactWriteItem {
	return types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName:           aws.String(table),
		Key:                 Key(id),
		ConditionExpression: aws.String("#status = :active AND #partnerId = :partnerId AND #tier = :tier AND #scopes = :scopes"),
		ExpressionAttributeNames: map[string]string{
			"#status": AttrStatus, "#partnerId": AttrPartnerID, "#tier": AttrTier, "#scopes": AttrScopes,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":active":    &types.AttributeValueMemberS{Value: string(StatusActive)},
			":partnerId": &types.AttributeValueMemberS{Value: partnerID},
			":tier":      &types.AttributeValueMemberS{Value: tier},
			":scopes":    storedScopes(scopes),
		},
	}}
}

// Retire is the transaction item that retires a key whose status is from at time at: a
// previous key that a newer rotation replaces (one previous key at a time) or whose grace is
// over, or a pending key that a later rotation superseded. It fails its condition unless the
// key is registered with status from.
func Retire(table string, id credential.KeyID, from Status, at time.Time) types.TransactWriteItem {
	return transition(table, id, from, StatusRetired, map[string]time.Time{AttrRetiredAt: at})
}

// Revoke is the transaction item that revokes a key whose status is from at time at
// (revokedAt): a pending, active or previous key, revoked by its partner or by ops. It fails its
// condition unless the key is registered with status from, so a revocation built from a stale
// read (a rotation or a retirement came first) is cancelled, and a second revocation of the
// same key is refused rather than applied twice. Revoking a retired or revoked key is a
// caller's error: it is refused here.
func Revoke(table string, id credential.KeyID, from Status, at time.Time) (types.TransactWriteItem, error) {
	switch from {
	case StatusPending, StatusActive, StatusPrevious:
	default:
		return types.TransactWriteItem{}, fmt.Errorf("revoke key %s: a %s key cannot be revoked", id, from)
	}
	return transition(table, id, from, StatusRevoked, map[string]time.Time{AttrRevokedAt: at}), nil
}

// Acknowledge is the transaction item that records the partner's acknowledgement of the key
// that replaced previous key id (POST /v1/credentials/ack): acknowledgedAt = at and retireAt,
// the time the key stops being accepted (Entry.Accepts). It fails its condition unless the
// key is registered, previous and not acknowledged yet.
func Acknowledge(table string, id credential.KeyID, at, retireAt time.Time) types.TransactWriteItem {
	return update(table, id, StatusPrevious, "", map[string]time.Time{AttrAcknowledgedAt: at, AttrRetireAt: retireAt}, false, AttrAcknowledgedAt)
}

// WarnGraceEnding is the transaction item that marks previous key id as warned about at at
// (graceWarnedAt): the marker that makes the warning that its grace is ending happen once. It
// fails its condition unless the key is registered, previous, not acknowledged and not warned
// yet.
func WarnGraceEnding(table string, id credential.KeyID, at time.Time) types.TransactWriteItem {
	return update(table, id, StatusPrevious, "", map[string]time.Time{AttrGraceWarnedAt: at}, false, AttrGraceWarnedAt, AttrAcknowledgedAt)
}

// PickUp is the transaction item that marks active key id as collected by its partner at at
// (pickedUpAt): the marker that makes a rotation's pick-up recorded once. It fails its condition
// unless the key is registered, active and not picked up yet.
func PickUp(table string, id credential.KeyID, at time.Time) types.TransactWriteItem {
	return update(table, id, StatusActive, "", map[string]time.Time{AttrPickedUpAt: at}, false, AttrPickedUpAt)
}

// RetireDue is Retire for a previous key whose retirement time or grace has come: it also
// sets flushPending, the marker that the authorizer cache still owes a flush for it, which
// FlushDone clears once the flush is done. It fails its condition unless the key is
// registered and previous.
func RetireDue(table string, id credential.KeyID, at time.Time) types.TransactWriteItem {
	return update(table, id, StatusPrevious, StatusRetired, map[string]time.Time{AttrRetiredAt: at}, true)
}

// FlushDone is the update that clears a retired key's flushPending once the authorizer cache
// was flushed after its retirement. It creates nothing: it fails its condition when the key is
// not registered.
func FlushDone(table string, id credential.KeyID) *dynamodb.UpdateItemInput {
	return &dynamodb.UpdateItemInput{
		TableName:                aws.String(table),
		Key:                      Key(id),
		UpdateExpression:         aws.String("REMOVE #flush"),
		ConditionExpression:      aws.String("attribute_exists(#keyId)"),
		ExpressionAttributeNames: map[string]string{"#flush": AttrFlushPending, "#keyId": PartitionKey},
	}
}

// transition is the Update that sets status to, and the times in set, on the entry of id,
// conditioned on its status being from.
func transition(table string, id credential.KeyID, from, to Status, set map[string]time.Time) types.TransactWriteItem {
	return update(table, id, from, to, set, false)
}

// update is the Update, conditioned on the entry's status being from and on the attributes
// absent not existing, that sets the status to to (unless it is ""), the times in set, and
// flushPending when flush.
func update(table string, id credential.KeyID, from, to Status, set map[string]time.Time, flush bool, absent ...string) types.TransactWriteItem {
	names := map[string]string{"#status": AttrStatus}
	values := map[string]types.AttributeValue{":from": &types.AttributeValueMemberS{Value: string(from)}}
	var sets []string
	if to != "" {
		values[":to"] = &types.AttributeValueMemberS{Value: string(to)}
		sets = append(sets, "#status = :to")
	}
	for _, attr := range slices.Sorted(maps.Keys(set)) {
		names["#"+attr] = attr
		values[":"+attr] = &types.AttributeValueMemberS{Value: FormatTime(set[attr])}
		sets = append(sets, "#"+attr+" = :"+attr)
	}
	if flush {
		names["#"+AttrFlushPending] = AttrFlushPending
		values[":"+AttrFlushPending] = &types.AttributeValueMemberBOOL{Value: true}
		sets = append(sets, "#"+AttrFlushPending+" = :"+AttrFlushPending)
	}
	condition := "#status = :from"
	for _, attr := range absent {
		names["#"+attr] = attr
		condition += " AND attribute_not_exists(#" + attr + ")"
	}
	return types.TransactWriteItem{Update: &types.Update{
		TableName:                 aws.String(table),
		Key:                       Key(id),
		UpdateExpression:          aws.String("SET " + strings.Join(sets, ", ")),
		ConditionExpression:       aws.String(condition),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}}
}

// RetirementScan is the scan of the credentials table for what a retirement run looks at:
// every previous key and every key still owing a stage cache flush. pageSize 0 leaves the
// page size to DynamoDB.
func RetirementScan(table string, pageSize int32) *dynamodb.ScanInput {
	in := &dynamodb.ScanInput{
		TableName:                aws.String(table),
		FilterExpression:         aws.String("#status = :previous OR #flush = :true"),
		ExpressionAttributeNames: map[string]string{"#status": AttrStatus, "#flush": AttrFlushPending},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":previous": &types.AttributeValueMemberS{Value: string(StatusPrevious)},
			":true":     &types.AttributeValueMemberBOOL{Value: true},
		},
	}
	if pageSize > 0 {
		in.Limit = aws.Int32(pageSize)
	}
	return in
}

// storedScopes is scopes as Entry.Item stores them: a list of strings, sorted.
func storedScopes(scopes []string) types.AttributeValue {
	sorted := slices.Sorted(slices.Values(scopes))
	l := make([]types.AttributeValue, len(sorted))
	for i, s := range sorted {
		l[i] = &types.AttributeValueMemberS{Value: s}
	}
	return &types.AttributeValueMemberL{Value: l}
}

// StillStatus is the transaction item that changes nothing and fails its condition unless the
// key id is registered with status: what a transaction assumes of a key it read and does not
// write (a revocation by a partner's other key: the caller's key is still what it was).
func StillStatus(table string, id credential.KeyID, status Status) types.TransactWriteItem {
	return types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName:                 aws.String(table),
		Key:                       Key(id),
		ConditionExpression:       aws.String("#status = :status"),
		ExpressionAttributeNames:  map[string]string{"#status": AttrStatus},
		ExpressionAttributeValues: map[string]types.AttributeValue{":status": &types.AttributeValueMemberS{Value: string(status)}},
	}}
}
