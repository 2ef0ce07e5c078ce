// Command replacement-pickup is the Lambda function behind POST
// /v1/replacements/{replacementId}/pickup (no authorizer: the pick-up token is the credential):
// the partner collects, once, the replacement key ops had issued after a compromise
// (shared/features/reissue.PickupHandler).
package main

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lanyardhq/lanyard/shared/features/reissue"
	"github.com/lanyardhq/lanyard/shared/platform/lambdastart"
)

type config struct {
	// The replacements, read and marked collected; the registry, read (the key must be live).
	reissue.PickupTables
	// The partner secrets' name prefix, whose values it reads: no other secret is read.
	SecretPrefix string `env:"SECRET_PREFIX"`
	// The key encrypting the partner secrets: given for its decrypt grant, not read.
	KMSKeyARN string `env:"KMS_KEY_ARN,optional"`
}

func main() {
	lambdastart.Start(func(_ context.Context, s lambdastart.Setup[config]) (any, error) {
		h := &reissue.PickupHandler{DB: dynamodb.NewFromConfig(s.AWS), Secrets: secretsmanager.NewFromConfig(s.AWS),
			Tables: s.Config.PickupTables, SecretPrefix: s.Config.SecretPrefix, Now: time.Now}
		return h.Handle, nil
	})
}
