// Command revoke-admin is the Lambda function behind the ops revocation route (AWS_IAM):
// POST /v1/admin/partners/{partnerId}/revoke (shared/features/revoke.AdminHandler). Ops revoke one
// key or every key of a partner, with a reason and a note.
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

// The partners table, read (the keys a partner's item names), the key registry, read and
// written (the revocation), and the outbox its event goes to.
type config struct {
	revoke.AdminTables
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
		h := &revoke.AdminHandler{DB: db, Tables: s.Config.AdminTables, Now: time.Now, Hooks: revoke.Hooks{
			Extra: revoke.Tracked(s.Config.RevocationsTable), AfterCommit: flusher}}
		return h.Handle, nil
	})
}
