// Command revoke is the Lambda function behind POST /v1/revoke (partner key): a partner revokes
// one of its own keys, RFC 7009 style (shared/features/revoke).
package main

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/lanyardhq/lanyard/shared/features/revoke"
	"github.com/lanyardhq/lanyard/shared/platform/lambdastart"
)

// The key registry, read and written (the revocation), and the outbox its event goes to.
type config struct {
	revoke.Tables
}

func main() {
	lambdastart.Start(func(_ context.Context, s lambdastart.Setup[config]) (any, error) {
		h := &revoke.Handler{DB: dynamodb.NewFromConfig(s.AWS), Tables: s.Config.Tables, Now: time.Now}
		return h.Handle, nil
	})
}
