// Command retirement is the scheduled function that retires previous partner keys once the
// partner acknowledged the new key and the drain window passed, or their grace ended; warns ops
// once before an unacknowledged grace ends; and flushes the REST API's authorizer cache after
// retiring keys (shared/features/rollover.Retirer).
//
// Environment: PARTNERS_TABLE, CREDENTIALS_TABLE and OUTBOX_TABLE (the tables' names),
// PARTNER_API_ARN (the execute-api ARN of the stage whose authorizer cache
// FlushStageAuthorizersCache flushes; under `lanyard local`, AWS_ENDPOINT_URL_API_GATEWAY points
// the client at the front, which answers it).
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/features/rollover"
	"github.com/lanyardhq/lanyard/shared/platform/awsconfig"
	"github.com/lanyardhq/lanyard/shared/platform/logging"
)

func main() {
	slog.SetDefault(logging.New())
	env := map[string]string{}
	var missing []string
	for _, name := range []string{"PARTNERS_TABLE", "CREDENTIALS_TABLE", "OUTBOX_TABLE", "PARTNER_API_ARN"} {
		env[name] = os.Getenv(name)
		if env[name] == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slog.Error("environment variables must be set", "missing", missing)
		os.Exit(1)
	}
	apiID, stage, err := rollover.ParseStageARN(env["PARTNER_API_ARN"])
	if err != nil {
		slog.Error("PARTNER_API_ARN", "error", err)
		os.Exit(1)
	}
	pol, err := policy.Default()
	if err != nil {
		slog.Error("load the policy", "error", err)
		os.Exit(1)
	}
	cfg, err := awsconfig.Load(context.Background())
	if err != nil {
		slog.Error("load AWS configuration", "error", err)
		os.Exit(1)
	}
	r := &rollover.Retirer{
		DB: dynamodb.NewFromConfig(cfg),
		Tables: rollover.Tables{
			Partners:    env["PARTNERS_TABLE"],
			Credentials: env["CREDENTIALS_TABLE"],
			Outbox:      env["OUTBOX_TABLE"],
		},
		Gateway:   apigateway.NewFromConfig(cfg),
		RestAPIID: apiID,
		Stage:     stage,
		Policy:    pol,
		Now:       time.Now,
	}
	lambda.Start(r.Handle)
}
