// Command authorizer is the partner-key REQUEST authorizer in front of every partner route
// (shared/features/authorizer). It reads the key registry and nothing else: it never sees a secret.
//
// Environment: CREDENTIALS_TABLE (the key registry's table) and LANYARD_KEY_ENVIRONMENT (the
// key environment this deployment accepts: live, test or locl; live when unset).
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/features/authorizer"
	"github.com/lanyardhq/lanyard/shared/platform/awsconfig"
	"github.com/lanyardhq/lanyard/shared/platform/logging"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
	"github.com/lanyardhq/lanyard/topology"
)

func main() {
	slog.SetDefault(logging.New())
	table := os.Getenv("CREDENTIALS_TABLE")
	if table == "" {
		slog.Error("CREDENTIALS_TABLE must be set")
		os.Exit(1)
	}
	env := credential.EnvLive
	if v := os.Getenv("LANYARD_KEY_ENVIRONMENT"); v != "" {
		e, err := credential.ParseEnvironment(v)
		if err != nil {
			slog.Error("LANYARD_KEY_ENVIRONMENT is not a key environment", "value", v, "error", err)
			os.Exit(1)
		}
		env = e
	}
	pol, err := policy.Default()
	if err != nil {
		slog.Error("load the policy", "error", err)
		os.Exit(1)
	}
	cfg, err := awsconfig.Load(context.Background()) // sets up tracing and instruments the client
	if err != nil {
		slog.Error("load AWS configuration", "error", err)
		os.Exit(1)
	}
	a := &authorizer.Authorizer{
		Lookup:      &registry.Store{DB: dynamodb.NewFromConfig(cfg), Table: table},
		Routes:      topology.Lanyard().Routes,
		KeyCacheTTL: pol.Authorizer.KeyCacheTTL.Std(),
		Environment: env,
		Now:         time.Now,
	}
	lambda.Start(a.Authorize)
}
