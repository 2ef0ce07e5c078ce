// Command onboarding is the Lambda function behind POST /v1/partners and POST
// /v1/onboardings/{onboardingId}/pickup: a partner onboards with its invite code or a signed
// STS GetCallerIdentity request and gets its API key once — or, for a tier that needs an ops
// approval, a pending onboarding and a pick-up token, with which it collects the key once ops
// approve (shared/features/onboarding).
//
// Environment: INVITES_TABLE, PARTNERS_TABLE, CREDENTIALS_TABLE, IDEMPOTENCY_TABLE,
// OUTBOX_TABLE and ONBOARDINGS_TABLE (the tables' names), SECRET_PREFIX (the partner secrets'
// name prefix), KMS_KEY_ARN (the key encrypting them), LANYARD_SERVER_ID (this deployment's
// id, which identity requests must be signed over), USAGE_PLANS (each tier's usage plan name,
// shared/features/usage.PlansEnv), ROTATION_FUNCTION_ARN (the function new partners' secrets rotate
// through), LANYARD_KEY_ENVIRONMENT (live, test or
// locl; live when unset), and the STS endpoint identity requests are sent to
// (stsproof.EndpointFromEnv: AWS_ENDPOINT_URL_STS, else AWS_ENDPOINT_URL, else AWS_REGION's).
// The AWS account it runs in, whose principals never onboard, is its own ARN's, from each
// invocation's context: no configuration, no AWS call.
package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/features/onboarding"
	"github.com/lanyardhq/lanyard/shared/features/stsproof"
	"github.com/lanyardhq/lanyard/shared/features/usage"
	"github.com/lanyardhq/lanyard/shared/platform/awsconfig"
	"github.com/lanyardhq/lanyard/shared/platform/logging"
)

// stsTimeout bounds one GetCallerIdentity call to STS.
const stsTimeout = 5 * time.Second

func main() {
	slog.SetDefault(logging.New())
	env := map[string]string{}
	var missing []string
	for _, name := range []string{
		"INVITES_TABLE", "PARTNERS_TABLE", "CREDENTIALS_TABLE", "IDEMPOTENCY_TABLE", "OUTBOX_TABLE",
		"ONBOARDINGS_TABLE", "SECRET_PREFIX", "KMS_KEY_ARN", "LANYARD_SERVER_ID", usage.PlansEnv, "ROTATION_FUNCTION_ARN",
	} {
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
	stsEndpoint, err := stsproof.EndpointFromEnv()
	if err != nil {
		slog.Error("the STS endpoint identity requests are verified against", "error", err)
		os.Exit(1)
	}
	plans, err := usage.DecodePlans(env[usage.PlansEnv])
	if err != nil {
		slog.Error("the usage plans partners are enrolled in", "error", err)
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
	h := &onboarding.Handler{
		DB:      dynamodb.NewFromConfig(cfg),
		Secrets: secretsmanager.NewFromConfig(cfg),
		Tables: onboarding.Tables{
			Invites:     env["INVITES_TABLE"],
			Partners:    env["PARTNERS_TABLE"],
			Credentials: env["CREDENTIALS_TABLE"],
			Idempotency: env["IDEMPOTENCY_TABLE"],
			Outbox:      env["OUTBOX_TABLE"],
			Onboardings: env["ONBOARDINGS_TABLE"],
		},
		Identity: &stsproof.Verifier{
			ServerID: env["LANYARD_SERVER_ID"],
			Endpoint: stsEndpoint,
			HTTP: &http.Client{
				Timeout: stsTimeout,
				// STS never redirects; a redirect would carry the signed headers elsewhere.
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			},
			Now: time.Now,
		},
		Usage:               &usage.Enroller{Client: apigateway.NewFromConfig(cfg), Names: plans},
		RotationFunctionARN: env["ROTATION_FUNCTION_ARN"],
		Policy:              pol,
		SecretPrefix:        env["SECRET_PREFIX"],
		KMSKeyID:            env["KMS_KEY_ARN"],
		Env:                 keyEnv,
		Now:                 time.Now,
	}
	lambda.Start(h.Handle)
}
