// Command introspect is the Lambda function behind POST /v1/introspect (AWS_IAM, the declared
// dependents only): RFC 7662 introspection of a partner key (shared/features/introspect).
package main

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/lanyardhq/lanyard/shared/features/introspect"
	"github.com/lanyardhq/lanyard/shared/platform/lambdastart"
)

// The key registry, read only, and the principals that may introspect.
type config struct {
	CredentialsTable string `env:"CREDENTIALS_TABLE"`
	// The declared dependents' ARNs, comma separated; none declared: every caller is refused.
	Dependents string `env:"DEPENDENTS,optional"`
}

func main() {
	lambdastart.Start(func(_ context.Context, s lambdastart.Setup[config]) (any, error) {
		dependents, err := introspect.ParseDependents(s.Config.Dependents)
		if err != nil {
			return nil, fmt.Errorf("DEPENDENTS: %w", err)
		}
		h := &introspect.Handler{DB: dynamodb.NewFromConfig(s.AWS), CredentialsTable: s.Config.CredentialsTable,
			Dependents: dependents, Now: time.Now}
		return h.Handle, nil
	})
}
