// Command onboarding is the Lambda function behind POST /v1/partners and POST
// /v1/onboardings/{onboardingId}/pickup: a partner onboards with its invite code or a signed
// STS GetCallerIdentity request and gets its API key once — or, for a tier that needs an ops
// approval, a pending onboarding and a pick-up token, with which it collects the key once ops
// approve (shared/features/onboarding). The AWS account it runs in, whose principals never
// onboard, is its own ARN's, from each invocation's context: no configuration, no AWS call.
package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/features/onboarding"
	"github.com/lanyardhq/lanyard/shared/features/stsproof"
	"github.com/lanyardhq/lanyard/shared/features/usage"
	"github.com/lanyardhq/lanyard/shared/platform/lambdastart"
)

type config struct {
	Invites     string `env:"INVITES_TABLE"`
	Partners    string `env:"PARTNERS_TABLE"`
	Credentials string `env:"CREDENTIALS_TABLE"`
	Idempotency string `env:"IDEMPOTENCY_TABLE"`
	Outbox      string `env:"OUTBOX_TABLE"`
	Onboardings string `env:"ONBOARDINGS_TABLE"`
	// The partner secrets' name prefix and the key encrypting them.
	SecretPrefix string `env:"SECRET_PREFIX"`
	KMSKeyARN    string `env:"KMS_KEY_ARN"`
	// This deployment's id, which identity requests must be signed over.
	ServerID string `env:"LANYARD_SERVER_ID"`
	// Each tier's usage plan name (shared/features/usage.PlansEnv).
	UsagePlans string `env:"USAGE_PLANS"`
	// The function new partners' secrets rotate through.
	RotationFunctionARN string                 `env:"ROTATION_FUNCTION_ARN"`
	KeyEnvironment      credential.Environment `env:"LANYARD_KEY_ENVIRONMENT,default=live"`
	// Where identity requests are verified: AWS_ENDPOINT_URL_STS, else AWS_ENDPOINT_URL, else
	// AWS_REGION's STS.
	stsproof.EndpointVars
}

// stsTimeout bounds one GetCallerIdentity call to STS.
const stsTimeout = 5 * time.Second

func main() {
	lambdastart.Start(func(_ context.Context, s lambdastart.Setup[config]) (any, error) {
		c := s.Config
		stsEndpoint, err := c.Endpoint()
		if err != nil {
			return nil, fmt.Errorf("the STS endpoint identity requests are verified against: %w", err)
		}
		plans, err := usage.DecodePlans(c.UsagePlans)
		if err != nil {
			return nil, fmt.Errorf("the usage plans partners are enrolled in: %w", err)
		}
		pol, err := policy.Default()
		if err != nil {
			return nil, fmt.Errorf("load the policy: %w", err)
		}
		h := &onboarding.Handler{
			DB:      dynamodb.NewFromConfig(s.AWS),
			Secrets: secretsmanager.NewFromConfig(s.AWS),
			Tables: onboarding.Tables{Invites: c.Invites, Partners: c.Partners, Credentials: c.Credentials,
				Idempotency: c.Idempotency, Outbox: c.Outbox, Onboardings: c.Onboardings},
			Identity: &stsproof.Verifier{ServerID: c.ServerID, Endpoint: stsEndpoint, Now: time.Now, HTTP: &http.Client{
				Timeout: stsTimeout,
				// STS never redirects; a redirect would carry the signed headers elsewhere.
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			}},
			Usage:               &usage.Enroller{Client: apigateway.NewFromConfig(s.AWS), Names: plans},
			RotationFunctionARN: c.RotationFunctionARN, Policy: pol, SecretPrefix: c.SecretPrefix,
			KMSKeyID: c.KMSKeyARN, Env: c.KeyEnvironment, Now: time.Now,
		}
		return h.Handle, nil
	})
}
