package rotation

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
)

// partnerState is the partner as rotation reads it: its fields and rotation's keys.
type partnerState = partners.State

// readPartner reads the partner's item with a consistent read; an error matching
// partners.ErrNotFound when there is none.
func (h *Handler) readPartner(ctx context.Context, id string) (partnerState, error) {
	return (&partners.Store{DB: h.DB, Table: h.Tables.Partners}).GetState(ctx, id)
}

// partnerFromItem reads the partner's item as a consistent read of partners.Key(id) returned
// it; an error matching partners.ErrNotFound when there was none.
func partnerFromItem(id string, item map[string]types.AttributeValue) (partnerState, error) {
	if len(item) == 0 {
		return partnerState{}, fmt.Errorf("get partner %s: %w", id, partners.ErrNotFound)
	}
	return partners.StateFromItem(item)
}

// setPending is the transaction item of setSecret on the partner (partners.SetPending).
func setPending(table, partnerID string, current, pending credential.KeyID) types.TransactWriteItem {
	return partners.SetPending(table, partnerID, current, pending)
}

// promote is the transaction item of finishSecret on the partner (partners.Promote).
func promote(table, partnerID string, current, next, previous credential.KeyID) types.TransactWriteItem {
	return partners.Promote(table, partnerID, current, next, previous)
}

// failureMarker is the state change that makes a Credential Rotation Failed commit happen once
// per token and step (partners.FailureMarker).
func failureMarker(table, partnerID, step, token string) []types.TransactWriteItem {
	return []types.TransactWriteItem{partners.FailureMarker(table, partnerID, step, token)}
}
