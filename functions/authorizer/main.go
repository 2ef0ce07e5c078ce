// Command authorizer is the partner-key REQUEST authorizer in front of every partner route
// (shared/features/authorizer). It reads the key registry and nothing else: it never sees a secret.
package main

//go:generate go test -run TestRoutesAreCurrent -update .

import (
	"context"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/features/authorizer"
	"github.com/lanyardhq/lanyard/shared/platform/lambdastart"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

type config struct {
	CredentialsTable string `env:"CREDENTIALS_TABLE"` // the key registry
	// The only key environment this deployment accepts.
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

type handler = func(context.Context, lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest) (lambdaevents.APIGatewayCustomAuthorizerResponse, error)

func main() {
	lambdastart.Start(func(_ context.Context, s lambdastart.Setup[config]) (any, error) {
		configure(&s.AWS, s.Config)
		a := &authorizer.Authorizer{
			Lookup:      &registry.Store{DB: dynamodb.NewFromConfig(s.AWS), Table: s.Config.CredentialsTable},
			Routes:      routes, // routes_gen.go
			KeyCacheTTL: s.Config.Policy.Authorizer.KeyCacheTTL.Std(),
			Environment: s.Config.KeyEnvironment,
			Now:         time.Now,
		}
		return wrap(a.Authorize), nil
	})
}
