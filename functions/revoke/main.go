// Command revoke is the Lambda function behind POST /v1/revoke (partner key): a partner revokes
// one of its own keys, RFC 7009 style (shared/features/revoke).
package main

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/lanyardhq/lanyard/shared/features/flush"
	"github.com/lanyardhq/lanyard/shared/features/revoke"
	"github.com/lanyardhq/lanyard/shared/features/rollover"
	"github.com/lanyardhq/lanyard/shared/platform/lambdastart"
)

// The key registry, read and written (the revocation), and the outbox its event goes to.
type config struct {
	revoke.Tables
	// The flushes table and the execute-api ARN of the stage whose authorizer cache is
	// flushed after each commit (under `lanyard local`, AWS_ENDPOINT_URL_API_GATEWAY points at
	// the front).
	FlushesTable  string `env:"FLUSHES_TABLE"`
	PartnerAPIARN string `env:"PARTNER_API_ARN"`
	// Each revocation's item, opened in the revocation's transaction (the tracker's proof).
	RevocationsTable string `env:"REVOCATIONS_TABLE"`
}

func main() {
	lambdastart.Start(func(_ context.Context, s lambdastart.Setup[config]) (any, error) {
		apiID, stage, err := rollover.ParseStageARN(s.Config.PartnerAPIARN)
		if err != nil {
			return nil, fmt.Errorf("PARTNER_API_ARN: %w", err)
		}
		db := dynamodb.NewFromConfig(s.AWS)
		flusher := &flush.Coalescer{DB: db, Table: s.Config.FlushesTable, Gateway: apigateway.NewFromConfig(s.AWS),
			RestAPIID: apiID, Stage: stage, Now: time.Now}
		h := &revoke.Handler{DB: db, Tables: s.Config.Tables, Now: time.Now, Hooks: revoke.Hooks{
			Extra: revoke.Tracked(s.Config.RevocationsTable), AfterCommit: flusher}}
		return h.Handle, nil
	})
}
