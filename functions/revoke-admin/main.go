// Command revoke-admin is the Lambda function behind the ops revocation route (AWS_IAM):
// POST /v1/admin/partners/{partnerId}/revoke (shared/features/revoke.AdminHandler). Ops revoke one
// key or every key of a partner, with a reason and a note.
package main

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/lanyardhq/lanyard/shared/features/revoke"
	"github.com/lanyardhq/lanyard/shared/platform/lambdastart"
)

// The partners table, read (the keys a partner's item names), the key registry, read and
// written (the revocation), and the outbox its event goes to.
type config struct {
	revoke.AdminTables
}

func main() {
	lambdastart.Start(func(_ context.Context, s lambdastart.Setup[config]) (any, error) {
		h := &revoke.AdminHandler{DB: dynamodb.NewFromConfig(s.AWS), Tables: s.Config.AdminTables, Now: time.Now}
		return h.Handle, nil
	})
}
