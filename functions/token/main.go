// Command token is the Lambda function behind POST /v1/token (partner key): a partner
// exchanges its API key for short-lived AWS credentials of the partner-access role, narrowed
// to its key's scopes (shared/features/token).
//
// Environment: PARTNER_ACCESS_ROLE_ARN (the role to assume), PARTNER_API_ARN (the partner API
// stage's execute-api ARN, the base of the scopes' grants) and CREDENTIALS_TABLE (the key
// registry, read only).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/features/token"
	"github.com/lanyardhq/lanyard/shared/platform/awsconfig"
	"github.com/lanyardhq/lanyard/shared/platform/logging"
)

func main() {
	slog.SetDefault(logging.New())
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
	h, err := token.FromEnv(os.Getenv, cfg, pol)
	if err != nil {
		slog.Error("configure the token exchange", "error", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
