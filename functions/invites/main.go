// Command invites is the Lambda function behind POST /v1/admin/invites (AWS_IAM, ops only): it
// issues one-time invite codes (shared/features/invite).
package main

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/features/invite"
	"github.com/lanyardhq/lanyard/shared/platform/lambdastart"
)

type config struct {
	InvitesTable string `env:"INVITES_TABLE"`
	Policy       policy.Loaded
}

func main() {
	lambdastart.Start(func(_ context.Context, s lambdastart.Setup[config]) (any, error) {
		store := &invite.Store{DB: dynamodb.NewFromConfig(s.AWS), Table: s.Config.InvitesTable, Now: time.Now}
		return (&invite.Handler{Invites: store, Policy: s.Config.Policy.Policy}).Handle, nil
	})
}
