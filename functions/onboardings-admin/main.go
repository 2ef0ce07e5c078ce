// Command onboardings-admin is the Lambda function behind the ops routes of onboardings that
// need an approval (AWS_IAM): GET /v1/admin/onboardings, POST
// /v1/admin/onboardings/{onboardingId}/approve and POST /v1/admin/onboardings/{onboardingId}/deny
// (shared/features/onboarding.AdminHandler).
package main

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/lanyardhq/lanyard/shared/features/onboarding"
	"github.com/lanyardhq/lanyard/shared/platform/lambdastart"
)

type config struct {
	OnboardingsTable string `env:"ONBOARDINGS_TABLE"`
	PartnersTable    string `env:"PARTNERS_TABLE"` // a denial frees the AWS account an onboarding claimed
	OutboxTable      string `env:"OUTBOX_TABLE"`
}

func main() {
	lambdastart.Start(func(_ context.Context, s lambdastart.Setup[config]) (any, error) {
		c := s.Config
		h := &onboarding.AdminHandler{DB: dynamodb.NewFromConfig(s.AWS), Now: time.Now,
			Tables: onboarding.Tables{Onboardings: c.OnboardingsTable, Partners: c.PartnersTable, Outbox: c.OutboxTable}}
		return h.Handle, nil
	})
}
