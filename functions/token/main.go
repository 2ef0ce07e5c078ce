// Command token is the Lambda function behind POST /v1/token (partner key): a partner
// exchanges its API key for short-lived AWS credentials of the partner-access role, narrowed
// to its key's scopes (shared/features/token).
package main

import (
	"context"
	"fmt"

	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/features/token"
	"github.com/lanyardhq/lanyard/shared/platform/lambdastart"
)

// The role to assume, the partner API stage's ARN (the base of the scopes' grants) and the key
// registry (read only).
type config struct {
	token.Config
	Policy policy.Loaded
}

func main() {
	lambdastart.Start(func(_ context.Context, s lambdastart.Setup[config]) (any, error) {
		h, err := token.New(s.Config.Config, s.AWS, s.Config.Policy.Policy)
		if err != nil {
			return nil, fmt.Errorf("configure the token exchange: %w", err)
		}
		return h.Handle, nil
	})
}
