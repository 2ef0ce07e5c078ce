// Command rotation-admin is the Lambda function behind the on-demand rotation route (AWS_IAM):
// POST /v1/admin/partners/{partnerId}/rotate (shared/features/rotation.AdminHandler). It starts the
// rotation with Secrets Manager's RotateSecret on the partner's secret; Secrets Manager then
// runs the rotation function, as on a scheduled rotation.
//
// Environment: PARTNERS_TABLE (the table's name) and SECRET_PREFIX (the partner secrets' name
// prefix: the secret a partner item names must be under it).
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lanyardhq/lanyard/shared/features/rotation"
	"github.com/lanyardhq/lanyard/shared/platform/awsconfig"
	"github.com/lanyardhq/lanyard/shared/platform/logging"
)

func main() {
	slog.SetDefault(logging.New())
	env := map[string]string{}
	var missing []string
	for _, name := range []string{"PARTNERS_TABLE", "SECRET_PREFIX"} {
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
	h := &rotation.AdminHandler{
		DB:            dynamodb.NewFromConfig(cfg),
		Secrets:       secretsmanager.NewFromConfig(cfg),
		PartnersTable: env["PARTNERS_TABLE"],
		SecretPrefix:  env["SECRET_PREFIX"],
		Now:           time.Now,
	}
	lambda.Start(h.Handle)
}
