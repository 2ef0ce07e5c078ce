// Command credentials is the Lambda function behind the partner routes of the rollover that
// follows a rotation (partner key, any scope): GET /v1/credentials/current, the pick-up of the
// partner's current key, and POST /v1/credentials/ack, the partner's confirmation that it
// switched (shared/features/rollover).
package main

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/features/rollover"
	"github.com/lanyardhq/lanyard/shared/platform/lambdastart"
)

type config struct {
	// Read; the acknowledgement writes the previous key's registry entry and checks the
	// partner's item in its transaction, and its event goes to the outbox.
	rollover.Tables
	// The partner secrets' name prefix, whose values it reads: no other secret is read.
	SecretPrefix string `env:"SECRET_PREFIX"`
	// The key encrypting the partner secrets: given for its decrypt grant, not read.
	KMSKeyARN string `env:"KMS_KEY_ARN,optional"`
	Policy    policy.Loaded
}

func main() {
	lambdastart.Start(func(_ context.Context, s lambdastart.Setup[config]) (any, error) {
		h := &rollover.Handler{DB: dynamodb.NewFromConfig(s.AWS), Secrets: secretsmanager.NewFromConfig(s.AWS),
			Tables: s.Config.Tables, Policy: s.Config.Policy.Policy, SecretPrefix: s.Config.SecretPrefix, Now: time.Now}
		return h.Handle, nil
	})
}
