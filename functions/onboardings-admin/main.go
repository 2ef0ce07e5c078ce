// Command onboardings-admin is the Lambda function behind the ops routes of onboardings that
// need an approval (AWS_IAM): GET /v1/admin/onboardings, POST
// /v1/admin/onboardings/{onboardingId}/approve and POST /v1/admin/onboardings/{onboardingId}/deny
// (shared/features/onboarding.AdminHandler).
//
// Environment: ONBOARDINGS_TABLE, PARTNERS_TABLE (a denial frees the AWS account an onboarding
// claimed) and OUTBOX_TABLE (the tables' names).
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/lanyardhq/lanyard/shared/features/onboarding"
	"github.com/lanyardhq/lanyard/shared/platform/awsconfig"
	"github.com/lanyardhq/lanyard/shared/platform/logging"
)

func main() {
	slog.SetDefault(logging.New())
	env := map[string]string{}
	var missing []string
	for _, name := range []string{"ONBOARDINGS_TABLE", "PARTNERS_TABLE", "OUTBOX_TABLE"} {
		env[name] = os.Getenv(name)
		if env[name] == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slog.Error("environment variables must be set", "missing", missing)
		os.Exit(1)
	}
	cfg, err := awsconfig.Load(context.Background())
	if err != nil {
		slog.Error("load AWS configuration", "error", err)
		os.Exit(1)
	}
	h := &onboarding.AdminHandler{
		DB: dynamodb.NewFromConfig(cfg),
		Tables: onboarding.Tables{
			Onboardings: env["ONBOARDINGS_TABLE"],
			Partners:    env["PARTNERS_TABLE"],
			Outbox:      env["OUTBOX_TABLE"],
		},
		Now: time.Now,
	}
	lambda.Start(h.Handle)
}
