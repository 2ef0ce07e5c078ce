// Command revoke-admin is the Lambda function behind the ops revocation route (AWS_IAM):
// POST /v1/admin/partners/{partnerId}/revoke (shared/features/revoke.AdminHandler). Ops revoke one
// key or every key of a partner, with a reason and a note, and after a compromise may have a
// replacement key issued with the revocation (shared/features/reissue).
package main

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/features/flush"
	"github.com/lanyardhq/lanyard/shared/features/reissue"
	"github.com/lanyardhq/lanyard/shared/features/revoke"
	"github.com/lanyardhq/lanyard/shared/features/rollover"
	"github.com/lanyardhq/lanyard/shared/platform/lambdastart"
)

// The partners table, read (the keys a partner's item names) and written (a replacement), the
// key registry, read and written (the revocation), and the outbox its event goes to.
type config struct {
	revoke.AdminTables
	// The flushes table and the execute-api ARN of the stage whose authorizer cache is
	// flushed after each commit (under `lanyard local`, AWS_ENDPOINT_URL_API_GATEWAY points at
	// the front).
	FlushesTable  string `env:"FLUSHES_TABLE"`
	PartnerAPIARN string `env:"PARTNER_API_ARN"`
	// Each revocation's item, opened in the revocation's transaction (the tracker's proof).
	RevocationsTable string `env:"REVOCATIONS_TABLE"`
	// A replacement's pick-up; the partner secrets' prefix and key, under which its secret is
	// created; the rotation function its secret rotates through; the usage plans whose API
	// keys it disables (found by name; the plans themselves are not read).
	ReplacementsTable   string                 `env:"REPLACEMENTS_TABLE"`
	SecretPrefix        string                 `env:"SECRET_PREFIX"`
	KMSKeyARN           string                 `env:"KMS_KEY_ARN,optional"`
	RotationFunctionARN string                 `env:"ROTATION_FUNCTION_ARN"`
	UsagePlans          string                 `env:"USAGE_PLANS"`
	KeyEnvironment      credential.Environment `env:"LANYARD_KEY_ENVIRONMENT,default=live"`
	Policy              policy.Loaded
}

func main() {
	lambdastart.Start(func(_ context.Context, s lambdastart.Setup[config]) (any, error) {
		apiID, stage, err := rollover.ParseStageARN(s.Config.PartnerAPIARN)
		if err != nil {
			return nil, fmt.Errorf("PARTNER_API_ARN: %w", err)
		}
		db := dynamodb.NewFromConfig(s.AWS)
		gw := apigateway.NewFromConfig(s.AWS)
		flusher := &flush.Coalescer{DB: db, Table: s.Config.FlushesTable, Gateway: gw,
			RestAPIID: apiID, Stage: stage, Now: time.Now}
		issuer := &reissue.Issuer{Secrets: secretsmanager.NewFromConfig(s.AWS), APIKeys: gw,
			CredentialsTable: s.Config.Credentials, PartnersTable: s.Config.Partners, ReplacementsTable: s.Config.ReplacementsTable,
			SecretPrefix: s.Config.SecretPrefix, KMSKeyID: s.Config.KMSKeyARN, RotationFunctionARN: s.Config.RotationFunctionARN,
			Policy: s.Config.Policy.Policy, Env: s.Config.KeyEnvironment}
		h := &revoke.AdminHandler{DB: db, Tables: s.Config.AdminTables, Now: time.Now, Reissue: issuer, Hooks: revoke.Hooks{
			Extra: revoke.Tracked(s.Config.RevocationsTable), AfterCommit: flusher}}
		return h.Handle, nil
	})
}
