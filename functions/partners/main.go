// Command partners is the Lambda function behind GET /v1/partners/me (partner key): who the
// calling key belongs to (shared/features/partner).
package main

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/lanyardhq/lanyard/shared/features/partner"
	"github.com/lanyardhq/lanyard/shared/platform/lambdastart"
)

// The partners table and the key registry, read only.
type config struct {
	PartnersTable    string `env:"PARTNERS_TABLE"`
	CredentialsTable string `env:"CREDENTIALS_TABLE"`
}

func main() {
	lambdastart.Start(func(_ context.Context, s lambdastart.Setup[config]) (any, error) {
		h := &partner.Handler{DB: dynamodb.NewFromConfig(s.AWS), PartnersTable: s.Config.PartnersTable,
			CredentialsTable: s.Config.CredentialsTable, Now: time.Now}
		return h.Handle, nil
	})
}
