// Command rotation is the Secrets Manager rotation function of partner keys: Secrets Manager
// calls it with createSecret, setSecret, testSecret and finishSecret for each rotation of a
// partner's secret (shared/features/rotation).
//
// Environment: PARTNERS_TABLE, CREDENTIALS_TABLE and OUTBOX_TABLE (the tables' names),
// SECRET_PREFIX (the partner secrets' name prefix) and LANYARD_KEY_ENVIRONMENT (live, test or
// locl; live when unset), the environment new keys are minted for.
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/features/rotation"
	"github.com/lanyardhq/lanyard/shared/platform/awsconfig"
	"github.com/lanyardhq/lanyard/shared/platform/logging"
)

// Hooks a build with the faultinject tag sets (faultinject.go): configure adds SDK middleware to
// the AWS configuration before the clients are built, wrap wraps the handler. In every other
// build they change nothing.
var (
	configure = func(*aws.Config) {}
	wrap      = func(h handler) handler { return h }
)

type handler = func(context.Context, lambdaevents.SecretsManagerSecretRotationEvent) error

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
	keyEnv := credential.EnvLive
	if s := os.Getenv("LANYARD_KEY_ENVIRONMENT"); s != "" {
		e, err := credential.ParseEnvironment(s)
		if err != nil {
			slog.Error("LANYARD_KEY_ENVIRONMENT must be live, test or locl", "error", err)
			os.Exit(1)
		}
		keyEnv = e
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
	configure(&cfg)
	h := &rotation.Handler{
		DB:      dynamodb.NewFromConfig(cfg),
		Secrets: secretsmanager.NewFromConfig(cfg),
		Tables: rotation.Tables{
			Partners:    env["PARTNERS_TABLE"],
			Credentials: env["CREDENTIALS_TABLE"],
			Outbox:      env["OUTBOX_TABLE"],
		},
		Policy:       pol,
		SecretPrefix: env["SECRET_PREFIX"],
		Env:          keyEnv,
		Now:          time.Now,
	}
	lambda.Start(wrap(h.Handle))
}
