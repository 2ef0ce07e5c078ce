package onboarding

import (
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/features/stsproof"
	"github.com/lanyardhq/lanyard/shared/features/usage"
	"github.com/lanyardhq/lanyard/shared/stores/refusals"
)

// Config is the onboarding function's configuration (shared/platform/lambdastart reads it).
type Config struct {
	InvitesTable     string `env:"INVITES_TABLE"`
	PartnersTable    string `env:"PARTNERS_TABLE"`
	CredentialsTable string `env:"CREDENTIALS_TABLE"`
	IdempotencyTable string `env:"IDEMPOTENCY_TABLE"`
	OutboxTable      string `env:"OUTBOX_TABLE"`
	OnboardingsTable string `env:"ONBOARDINGS_TABLE"`
	// The partner secrets' name prefix and the key encrypting them.
	SecretPrefix string `env:"SECRET_PREFIX"`
	KMSKeyARN    string `env:"KMS_KEY_ARN"`
	// This deployment's id, which identity requests must be signed over.
	ServerID string `env:"LANYARD_SERVER_ID"`
	// Each tier's usage plan name (usage.PlansEnv).
	UsagePlans string `env:"USAGE_PLANS"`
	// The function new partners' secrets rotate through.
	RotationFunctionARN string `env:"ROTATION_FUNCTION_ARN"`
	// The table refused onboardings are counted in (shared/stores/refusals), and the window
	// length when it overrides the policy's audit.refusalWindow (tests).
	RefusalsTable string        `env:"REFUSALS_TABLE"`
	RefusalWindow time.Duration `env:"LANYARD_REFUSAL_WINDOW,optional"`
	// The environment new keys are minted for.
	KeyEnvironment credential.Environment `env:"LANYARD_KEY_ENVIRONMENT,default=live"`
	// Where identity requests are verified: AWS_ENDPOINT_URL_STS, else AWS_ENDPOINT_URL, else
	// AWS_REGION's STS.
	stsproof.EndpointVars
}

// STSTimeout bounds one GetCallerIdentity call to STS.
const STSTimeout = 5 * time.Second

// New builds the onboarding function's handler from its configuration c, with clients from
// cfg. The AWS account it runs in, whose principals never onboard, is its own ARN's, from each
// invocation's context: no configuration, no AWS call.
func New(c Config, cfg aws.Config, pol *policy.Policy) (*Handler, error) {
	stsEndpoint, err := c.Endpoint()
	if err != nil {
		return nil, fmt.Errorf("the STS endpoint identity requests are verified against: %w", err)
	}
	plans, err := usage.DecodePlans(c.UsagePlans)
	if err != nil {
		return nil, fmt.Errorf("the usage plans partners are enrolled in: %w", err)
	}
	window, err := refusals.ResolveWindow(pol.Audit.RefusalWindow.Std(), c.RefusalWindow)
	if err != nil {
		return nil, fmt.Errorf("the window refused onboardings are counted in: %w", err)
	}
	db := dynamodb.NewFromConfig(cfg)
	return &Handler{
		DB:       db,
		Refusals: &refusals.Counter{DB: db, Table: c.RefusalsTable, Window: window, Now: time.Now},
		Secrets:  secretsmanager.NewFromConfig(cfg),
		Tables: Tables{Invites: c.InvitesTable, Partners: c.PartnersTable, Credentials: c.CredentialsTable,
			Idempotency: c.IdempotencyTable, Outbox: c.OutboxTable, Onboardings: c.OnboardingsTable},
		Identity: &stsproof.Verifier{ServerID: c.ServerID, Endpoint: stsEndpoint, Now: time.Now, HTTP: &http.Client{
			Timeout: STSTimeout,
			// STS never redirects; a redirect would carry the signed headers elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}},
		Usage:               &usage.Enroller{Client: apigateway.NewFromConfig(cfg), Names: plans},
		RotationFunctionARN: c.RotationFunctionARN,
		Policy:              pol,
		SecretPrefix:        c.SecretPrefix,
		KMSKeyID:            c.KMSKeyARN,
		Env:                 c.KeyEnvironment,
		Now:                 time.Now,
	}, nil
}
