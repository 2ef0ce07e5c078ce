package partners

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
)

// Attributes rotation keeps on the partner item beside the partner's own (FromItem ignores
// them; StateFromItem reads them).
const (
	// AttrKeyID names the partner's current key.
	AttrKeyID = attrKeyID
	// AttrPreviousKeyID names the key the partner's last rotation replaced.
	AttrPreviousKeyID = "previousKeyId"
	// AttrPendingKeyID names the key rotation's setSecret registered and finishSecret has not
	// made current yet.
	AttrPendingKeyID = "pendingKeyId"
	// FailureMarkerPrefix starts the attributes that record, per rotation step, the last
	// version whose failure of that step was committed ("rotationFailure_createSecret" …).
	FailureMarkerPrefix = "rotationFailure_"
)

// State is the partner as rotation and rollover read it: the partner and the keys rotation
// keeps on its item.
type State struct {
	Partner
	PreviousKeyID credential.KeyID // "" when none
	PendingKeyID  credential.KeyID // "" when none
}

// StateFromItem reads a partner and its rotation keys from its table item. It stays a hand
// codec: a key id attribute must parse as a credential.KeyID, and the error never echoes it.
func StateFromItem(item map[string]types.AttributeValue) (State, error) {
	p, err := FromItem(item)
	if err != nil {
		return State{}, err
	}
	s := State{Partner: p}
	for _, a := range []struct {
		name string
		dst  *credential.KeyID
	}{{AttrPreviousKeyID, &s.PreviousKeyID}, {AttrPendingKeyID, &s.PendingKeyID}} {
		switch v := item[a.name].(type) {
		case nil:
		case *types.AttributeValueMemberS:
			if *a.dst, err = credential.ParseKeyID(v.Value); err != nil {
				return State{}, fmt.Errorf("partner item %s: attribute %s: %w", p.PartnerID, a.name, err)
			}
		default:
			return State{}, fmt.Errorf("partner item %s: attribute %s is not a string", p.PartnerID, a.name)
		}
	}
	return s, nil
}

// GetState reads the partner id and its rotation keys with a consistent read; an error
// matching ErrNotFound when there is none.
func (s *Store) GetState(ctx context.Context, id string) (State, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.Table),
		Key:            Key(id),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return State{}, fmt.Errorf("get partner %s: %w", id, err)
	}
	if len(out.Item) == 0 {
		return State{}, fmt.Errorf("get partner %s: %w", id, ErrNotFound)
	}
	return StateFromItem(out.Item)
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

// SetPending is the transaction item of rotation's setSecret on the partner: pendingKeyId =
// pending, conditioned on the current key still being current.
func SetPending(table, partnerID string, current, pending credential.KeyID) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{
		TableName:                 aws.String(table),
		Key:                       Key(partnerID),
		UpdateExpression:          aws.String("SET #pending = :pending"),
		ConditionExpression:       aws.String("#keyId = :current"),
		ExpressionAttributeNames:  map[string]string{"#pending": AttrPendingKeyID, "#keyId": attrKeyID},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pending": str(string(pending)), ":current": str(string(current))},
	}}
}

// Promote is the transaction item of rotation's finishSecret on the partner: keyId = next,
// previousKeyId = current, no pending key; conditioned on keyId, pendingKeyId and
// previousKeyId being what finishSecret read (previous "" means none).
func Promote(table, partnerID string, current, next, previous credential.KeyID) types.TransactWriteItem {
	names := map[string]string{"#keyId": attrKeyID, "#previous": AttrPreviousKeyID, "#pending": AttrPendingKeyID}
	values := map[string]types.AttributeValue{":current": str(string(current)), ":next": str(string(next))}
	cond := "#keyId = :current AND #pending = :next AND attribute_not_exists(#previous)"
	if previous != "" {
		cond = "#keyId = :current AND #pending = :next AND #previous = :previous"
		values[":previous"] = str(string(previous))
	}
	return types.TransactWriteItem{Update: &types.Update{
		TableName:                 aws.String(table),
		Key:                       Key(partnerID),
		UpdateExpression:          aws.String("SET #keyId = :next, #previous = :current REMOVE #pending"),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}}
}

// FailureMarker is the transaction item that makes a Credential Rotation Failed commit happen
// once per token and step: the partner's marker of the step set to the token, conditioned on
// the partner existing and the marker not holding the token already.
func FailureMarker(table, partnerID, step, token string) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{
		TableName:                 aws.String(table),
		Key:                       Key(partnerID),
		UpdateExpression:          aws.String("SET #marker = :token"),
		ConditionExpression:       aws.String("attribute_exists(#pk) AND (attribute_not_exists(#marker) OR #marker <> :token)"),
		ExpressionAttributeNames:  map[string]string{"#pk": PartitionKey, "#marker": FailureMarkerPrefix + step},
		ExpressionAttributeValues: map[string]types.AttributeValue{":token": str(token)},
	}}
}

// ClearPrevious is the transaction item that takes previousKeyId off the partner's item,
// conditioned on it naming key id.
func ClearPrevious(table, partnerID string, id credential.KeyID) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{
		TableName:                 aws.String(table),
		Key:                       Key(partnerID),
		UpdateExpression:          aws.String("REMOVE #previous"),
		ConditionExpression:       aws.String("#previous = :previous"),
		ExpressionAttributeNames:  map[string]string{"#previous": AttrPreviousKeyID},
		ExpressionAttributeValues: map[string]types.AttributeValue{":previous": str(string(id))},
	}}
}

// StillPair is the transaction item that checks the partner's keys are still current and
// previous, as the caller read them.
func StillPair(table, partnerID string, current, previous credential.KeyID) types.TransactWriteItem {
	return types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName:                aws.String(table),
		Key:                      Key(partnerID),
		ConditionExpression:      aws.String("#keyId = :current AND #previous = :previous"),
		ExpressionAttributeNames: map[string]string{"#keyId": attrKeyID, "#previous": AttrPreviousKeyID},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":current":  str(string(current)),
			":previous": str(string(previous)),
		},
	}}
}

// StillKeys is the transaction item that checks the partner's current, previous and pending
// keys are still the ones the caller read ("" means none): a rotation that registered or
// promoted a key meanwhile fails it.
func StillKeys(table, partnerID string, current, previous, pending credential.KeyID) types.TransactWriteItem {
	cond, names, values := stillKeys(current, previous, pending)
	in := &types.ConditionCheck{
		TableName:                aws.String(table),
		Key:                      Key(partnerID),
		ConditionExpression:      aws.String(cond),
		ExpressionAttributeNames: names,
	}
	if len(values) > 0 {
		in.ExpressionAttributeValues = values
	}
	return types.TransactWriteItem{ConditionCheck: in}
}

// Reissue is the transaction item of a replacement after a compromise on the partner: keyId
// = next, secretArn = secretARN (the new generation of its secret), no previous and no
// pending key; conditioned, like StillKeys, on the keys being the ones the caller read (and
// revoked in the same transaction).
func Reissue(table, partnerID string, current, previous, pending, next credential.KeyID, secretARN string) types.TransactWriteItem {
	cond, names, values := stillKeys(current, previous, pending)
	names["#secretArn"] = attrSecretARN
	values[":next"] = str(string(next))
	values[":secretArn"] = str(secretARN)
	return types.TransactWriteItem{Update: &types.Update{
		TableName:                 aws.String(table),
		Key:                       Key(partnerID),
		UpdateExpression:          aws.String("SET #keyId = :next, #secretArn = :secretArn REMOVE #previous, #pending"),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}}
}

// stillKeys is the condition that the partner's keys are current, previous and pending ("":
// none), with its names and values.
func stillKeys(current, previous, pending credential.KeyID) (string, map[string]string, map[string]types.AttributeValue) {
	names := map[string]string{"#keyId": attrKeyID}
	values := map[string]types.AttributeValue{}
	cond := ""
	for _, a := range []struct {
		ref, name string
		id        credential.KeyID
	}{{"keyId", attrKeyID, current}, {"previous", AttrPreviousKeyID, previous}, {"pending", AttrPendingKeyID, pending}} {
		names["#"+a.ref] = a.name
		if cond != "" {
			cond += " AND "
		}
		if a.id == "" {
			cond += "attribute_not_exists(#" + a.ref + ")"
			continue
		}
		values[":"+a.ref] = str(string(a.id))
		cond += "#" + a.ref + " = :" + a.ref
	}
	return cond, names, values
}

// StillActive is the transaction item that checks the partner is still active and still names
// secretARN as its secret, as the caller read it.
func StillActive(table, partnerID, secretARN string) types.TransactWriteItem {
	return types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName:                aws.String(table),
		Key:                      Key(partnerID),
		ConditionExpression:      aws.String("#status = :active AND #secret = :secret"),
		ExpressionAttributeNames: map[string]string{"#status": attrStatus, "#secret": attrSecretARN},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":active": str(string(StatusActive)),
			":secret": str(secretARN),
		},
	}}
}
