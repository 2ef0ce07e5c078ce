// Command onboarding is the Lambda function behind POST /v1/partners and POST
// /v1/onboardings/{onboardingId}/pickup: a partner onboards with its invite code or a signed
// STS GetCallerIdentity request and gets its API key once — or, for a tier that needs an ops
// approval, a pending onboarding and a pick-up token, with which it collects the key once ops
// approve (shared/features/onboarding).
package main

import (
	"context"

	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/features/onboarding"
	"github.com/lanyardhq/lanyard/shared/platform/lambdastart"
)

type config struct {
	onboarding.Config
	Policy policy.Loaded
}

func main() {
	lambdastart.Start(func(_ context.Context, s lambdastart.Setup[config]) (any, error) {
		h, err := onboarding.New(s.Config.Config, s.AWS, s.Config.Policy.Policy)
		if err != nil {
			return nil, err
		}
		return h.Handle, nil
	})
}
