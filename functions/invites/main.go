// Command invites is the Lambda function behind POST /v1/admin/invites (AWS_IAM, ops only): it
// issues one-time invite codes (shared/features/invite).
//
// Environment: INVITES_TABLE (the invites table's name).
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/features/invite"
	"github.com/lanyardhq/lanyard/shared/platform/awsconfig"
	"github.com/lanyardhq/lanyard/shared/platform/logging"
)

func main() {
	slog.SetDefault(logging.New())
	table := os.Getenv("INVITES_TABLE")
	if table == "" {
		slog.Error("INVITES_TABLE must be set")
		os.Exit(1)
	}
	p, err := policy.Default()
	if err != nil {
		slog.Error("load the policy", "error", err)
		os.Exit(1)
	}
	cfg, err := awsconfig.Load(context.Background())
	if err != nil {
		slog.Error("load AWS configuration", "error", err)
		os.Exit(1)
	}
	h := &invite.Handler{
		Invites: &invite.Store{DB: dynamodb.NewFromConfig(cfg), Table: table, Now: time.Now},
		Policy:  p,
	}
	lambda.Start(h.Handle)
}
