// Command credentials is the Lambda function behind the partner routes of the rollover that
// follows a rotation (partner key, any scope): GET /v1/credentials/current, the pick-up of the
// partner's current key, and POST /v1/credentials/ack, the partner's confirmation that it
// switched (shared/features/rollover).
//
// Environment: PARTNERS_TABLE and CREDENTIALS_TABLE (read; the acknowledgement writes the
// previous key's registry entry and checks the partner's item in its transaction), OUTBOX_TABLE
// (the acknowledgement's event) and SECRET_PREFIX (the partner secrets' name prefix, whose
// values it reads: no other secret is read).
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/features/rollover"
	"github.com/lanyardhq/lanyard/shared/platform/awsconfig"
	"github.com/lanyardhq/lanyard/shared/platform/logging"
)

func main() {
	slog.SetDefault(logging.New())
	env := map[string]string{}
	var missing []string
	for _, name := range []string{"PARTNERS_TABLE", "CREDENTIALS_TABLE", "OUTBOX_TABLE", "SECRET_PREFIX"} {
		env[name] = os.Getenv(name)
		if env[name] == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slog.Error("environment variables must be set", "missing", missing)
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
	h := &rollover.Handler{
		DB:      dynamodb.NewFromConfig(cfg),
		Secrets: secretsmanager.NewFromConfig(cfg),
		Tables: rollover.Tables{
			Partners:    env["PARTNERS_TABLE"],
			Credentials: env["CREDENTIALS_TABLE"],
			Outbox:      env["OUTBOX_TABLE"],
		},
		Policy:       pol,
		SecretPrefix: env["SECRET_PREFIX"],
		Now:          time.Now,
	}
	lambda.Start(h.Handle)
}
