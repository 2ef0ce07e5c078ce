// Command invites is the Lambda function behind POST /v1/admin/invites (AWS_IAM, ops only): it
// issues one-time invite codes, each recorded as Invite Issued on the ops chain
// (shared/features/invite).
package main

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/features/invite"
	"github.com/lanyardhq/lanyard/shared/platform/lambdastart"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

type config struct {
	InvitesTable string `env:"INVITES_TABLE"`
	// Each invite is written with its record, Invite Issued on the ops chain.
	OutboxTable string `env:"OUTBOX_TABLE"`
	Policy      policy.Loaded
}

func main() {
	lambdastart.Start(func(_ context.Context, s lambdastart.Setup[config]) (any, error) {
		db := dynamodb.NewFromConfig(s.AWS)
		store := &invite.Store{DB: db, Table: s.Config.InvitesTable, Outbox: &outbox.Store{DB: db, Table: s.Config.OutboxTable}, Now: time.Now}
		return (&invite.Handler{Invites: store, Policy: s.Config.Policy.Policy}).Handle, nil
	})
}
