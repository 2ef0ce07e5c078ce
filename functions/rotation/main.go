// Command rotation is the Secrets Manager rotation function of partner keys: Secrets Manager
// calls it with createSecret, setSecret, testSecret and finishSecret for each rotation of a
// partner's secret (shared/features/rotation).
package main

import (
	"context"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/features/rotation"
	"github.com/lanyardhq/lanyard/shared/platform/lambdastart"
)

type config struct {
	rotation.Tables
	SecretPrefix string `env:"SECRET_PREFIX"` // the partner secrets' name prefix
	// The key encrypting the partner secrets: given for its grant, not read.
	KMSKeyARN string `env:"KMS_KEY_ARN,optional"`
	// The environment new keys are minted for.
	KeyEnvironment credential.Environment `env:"LANYARD_KEY_ENVIRONMENT,default=live"`
	// LANYARD_FAULT arms fault injection in a faultinject build (faultinject.go).
	Fault  string `env:"LANYARD_FAULT,optional"`
	Policy policy.Loaded
}

// Hooks a build with the faultinject tag sets (faultinject.go): configure adds SDK middleware to
// the AWS configuration before the clients are built, wrap wraps the handler. In every other
// build they change nothing.
var (
	configure = func(*aws.Config, config) {}
	wrap      = func(h handler) handler { return h }
)

type handler = func(context.Context, lambdaevents.SecretsManagerSecretRotationEvent) error

func main() {
	lambdastart.Start(func(_ context.Context, s lambdastart.Setup[config]) (any, error) {
		configure(&s.AWS, s.Config)
		h := &rotation.Handler{DB: dynamodb.NewFromConfig(s.AWS), Secrets: secretsmanager.NewFromConfig(s.AWS),
			Tables: s.Config.Tables, Policy: s.Config.Policy.Policy, SecretPrefix: s.Config.SecretPrefix, Env: s.Config.KeyEnvironment, Now: time.Now}
		return wrap(h.Handle), nil
	})
}
