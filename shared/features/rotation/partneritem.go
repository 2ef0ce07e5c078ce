package rotation

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/features/partner"
)

// Attributes of the partner item. keyId is shared/features/partner's (the current key; a test holds the
// name to partner.Item's); the others are rotation's own, which shared/features/partner's codec ignores.
const (
	attrKeyID = "keyId"
	// AttrPreviousKeyID names the key the partner's last rotation replaced.
	AttrPreviousKeyID = "previousKeyId"
	// AttrPendingKeyID names the key setSecret registered and finishSecret has not made
	// current yet.
	AttrPendingKeyID = "pendingKeyId"
	// FailureMarkerPrefix starts the attributes that record, per step, the last version whose
	// failure of that step was committed ("rotationFailure_createSecret" …).
	FailureMarkerPrefix = "rotationFailure_"
)

// partnerState is the partner as rotation reads it: shared/features/partner's fields and rotation's
// own attributes.
type partnerState struct {
	partner.Partner
	PreviousKeyID credential.KeyID // "" when none
	PendingKeyID  credential.KeyID // "" when none
}

// readPartner reads the partner's item with a consistent read; an error matching
// partner.ErrNotFound when there is none.
func (h *Handler) readPartner(ctx context.Context, id string) (partnerState, error) {
	out, err := h.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(h.Tables.Partners),
		Key:            partner.Key(id),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return partnerState{}, fmt.Errorf("get partner %s: %w", id, err)
	}
	return partnerFromItem(id, out.Item)
}

// partnerFromItem reads the partner's item as a consistent read of partner.Key(id) returned
// it; an error matching partner.ErrNotFound when there was none.
func partnerFromItem(id string, item map[string]types.AttributeValue) (partnerState, error) {
	if len(item) == 0 {
		return partnerState{}, fmt.Errorf("get partner %s: %w", id, partner.ErrNotFound)
	}
	p, err := partner.FromItem(item)
	if err != nil {
		return partnerState{}, err
	}
	s := partnerState{Partner: p}
	for name, dst := range map[string]*credential.KeyID{AttrPreviousKeyID: &s.PreviousKeyID, AttrPendingKeyID: &s.PendingKeyID} {
		switch v := item[name].(type) {
		case nil:
		case *types.AttributeValueMemberS:
			if *dst, err = credential.ParseKeyID(v.Value); err != nil {
				return partnerState{}, fmt.Errorf("partner item %s: attribute %s: %w", id, name, err)
			}
		default:
			return partnerState{}, fmt.Errorf("partner item %s: attribute %s is not a string", id, name)
		}
	}
	return s, nil
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

// setPending is the transaction item of setSecret on the partner: pendingKeyId = pending,
// conditioned on the current key still being current.
func setPending(table, partnerID string, current, pending credential.KeyID) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{
		TableName:                 aws.String(table),
		Key:                       partner.Key(partnerID),
		UpdateExpression:          aws.String("SET #pending = :pending"),
		ConditionExpression:       aws.String("#keyId = :current"),
		ExpressionAttributeNames:  map[string]string{"#pending": AttrPendingKeyID, "#keyId": attrKeyID},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pending": str(string(pending)), ":current": str(string(current))},
	}}
}

// promote is the transaction item of finishSecret on the partner: keyId = next, previousKeyId
// = current, no pending key; conditioned on keyId, pendingKeyId and previousKeyId being what
// finishSecret read (previous "" means none).
func promote(table, partnerID string, current, next, previous credential.KeyID) types.TransactWriteItem {
	names := map[string]string{"#keyId": attrKeyID, "#previous": AttrPreviousKeyID, "#pending": AttrPendingKeyID}
	values := map[string]types.AttributeValue{":current": str(string(current)), ":next": str(string(next))}
	cond := "#keyId = :current AND #pending = :next AND attribute_not_exists(#previous)"
	if previous != "" {
		cond = "#keyId = :current AND #pending = :next AND #previous = :previous"
		values[":previous"] = str(string(previous))
	}
	return types.TransactWriteItem{Update: &types.Update{
		TableName:                 aws.String(table),
		Key:                       partner.Key(partnerID),
		UpdateExpression:          aws.String("SET #keyId = :next, #previous = :current REMOVE #pending"),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}}
}

// failureMarker is the state change that makes a Credential Rotation Failed commit happen once
// per token and step: the partner's marker of the step set to the token, conditioned on the
// partner existing and the marker not holding the token already.
func failureMarker(table, partnerID, step, token string) []types.TransactWriteItem {
	return []types.TransactWriteItem{{Update: &types.Update{
		TableName:                 aws.String(table),
		Key:                       partner.Key(partnerID),
		UpdateExpression:          aws.String("SET #marker = :token"),
		ConditionExpression:       aws.String("attribute_exists(#pk) AND (attribute_not_exists(#marker) OR #marker <> :token)"),
		ExpressionAttributeNames:  map[string]string{"#pk": partner.PartitionKey, "#marker": FailureMarkerPrefix + step},
		ExpressionAttributeValues: map[string]types.AttributeValue{":token": str(token)},
	}}}
}
