package rollover

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
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

// partnerState is the partner as rollover reads it: its fields and the keys rotation keeps
// on its item (rollover uses PreviousKeyID).
type partnerState = partners.State

// readPartner reads the partner's item with a consistent read; an error matching
// partners.ErrNotFound when there is none.
func readPartner(ctx context.Context, db outbox.DynamoDBAPI, table, id string) (partnerState, error) {
	return (&partners.Store{DB: db, Table: table}).GetState(ctx, id)
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
// conditioned on it naming key id (partners.ClearPrevious).
func clearPrevious(table, partnerID string, id credential.KeyID) types.TransactWriteItem {
	return partners.ClearPrevious(table, partnerID, id)
}

// stillPair is the transaction item that checks the partner's keys are still current and
// previous, as the acknowledgement read them (partners.StillPair).
func stillPair(table, partnerID string, current, previous credential.KeyID) types.TransactWriteItem {
	return partners.StillPair(table, partnerID, current, previous)
}
