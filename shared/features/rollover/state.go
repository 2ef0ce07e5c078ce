package rollover

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/features/partner"
	"github.com/lanyardhq/lanyard/shared/features/rotation"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

// Tables names the tables rollover reads and writes (the topology's "partners", "credentials"
// and "outbox").
type Tables struct {
	Partners    string `env:"PARTNERS_TABLE"`
	Credentials string `env:"CREDENTIALS_TABLE"`
	Outbox      string `env:"OUTBOX_TABLE"`
}

// DynamoDBAPI is the part of the DynamoDB client the partner routes use: consistent reads of
// the partner and registry items, and the outbox's (its head, its transactions).
type DynamoDBAPI interface {
	outbox.DynamoDBAPI
}

var _ DynamoDBAPI = (*dynamodb.Client)(nil)

// attrKeyID is shared/features/partner's attribute of the partner's current key.
const attrKeyID = "keyId"

// partnerState is the partner as rollover reads it: shared/features/partner's fields and rotation's
// previousKeyId ("" when none).
type partnerState struct {
	partner.Partner
	PreviousKeyID credential.KeyID
}

// readPartner reads the partner's item with a consistent read; an error matching
// partner.ErrNotFound when there is none.
func readPartner(ctx context.Context, db outbox.DynamoDBAPI, table, id string) (partnerState, error) {
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(table),
		Key:            partner.Key(id),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return partnerState{}, fmt.Errorf("get partner %s: %w", id, err)
	}
	if len(out.Item) == 0 {
		return partnerState{}, fmt.Errorf("get partner %s: %w", id, partner.ErrNotFound)
	}
	p, err := partner.FromItem(out.Item)
	if err != nil {
		return partnerState{}, err
	}
	s := partnerState{Partner: p}
	switch v := out.Item[rotation.AttrPreviousKeyID].(type) {
	case nil:
	case *types.AttributeValueMemberS:
		if s.PreviousKeyID, err = credential.ParseKeyID(v.Value); err != nil {
			return partnerState{}, fmt.Errorf("partner item %s: attribute %s: %w", id, rotation.AttrPreviousKeyID, err)
		}
	default:
		return partnerState{}, fmt.Errorf("partner item %s: attribute %s is not a string", id, rotation.AttrPreviousKeyID)
	}
	return s, nil
}

// acceptedUntil is when a previous entry stops being accepted: its grace deadline, or its
// retirement time when that comes first (registry.Entry.Accepts).
func acceptedUntil(e registry.Entry) time.Time {
	if !e.RetireAt.IsZero() && e.RetireAt.Before(e.GraceUntil) {
		return e.RetireAt
	}
	return e.GraceUntil
}

// clearPrevious is the transaction item that takes previousKeyId off the partner's item,
// conditioned on it naming key id.
func clearPrevious(table, partnerID string, id credential.KeyID) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{
		TableName:                 aws.String(table),
		Key:                       partner.Key(partnerID),
		UpdateExpression:          aws.String("REMOVE #previous"),
		ConditionExpression:       aws.String("#previous = :previous"),
		ExpressionAttributeNames:  map[string]string{"#previous": rotation.AttrPreviousKeyID},
		ExpressionAttributeValues: map[string]types.AttributeValue{":previous": &types.AttributeValueMemberS{Value: string(id)}},
	}}
}

// stillPair is the transaction item that checks the partner's keys are still current and
// previous, as the acknowledgement read them.
func stillPair(table, partnerID string, current, previous credential.KeyID) types.TransactWriteItem {
	return types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName:                aws.String(table),
		Key:                      partner.Key(partnerID),
		ConditionExpression:      aws.String("#keyId = :current AND #previous = :previous"),
		ExpressionAttributeNames: map[string]string{"#keyId": attrKeyID, "#previous": rotation.AttrPreviousKeyID},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":current":  &types.AttributeValueMemberS{Value: string(current)},
			":previous": &types.AttributeValueMemberS{Value: string(previous)},
		},
	}}
}
