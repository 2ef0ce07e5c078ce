// Command partners is the Lambda function behind GET /v1/partners/me (partner key): who the
// calling key belongs to (shared/features/partner).
//
// Environment: PARTNERS_TABLE and CREDENTIALS_TABLE (the partners table and the key
// registry's names; read only).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/lanyardhq/lanyard/shared/features/partner"
	"github.com/lanyardhq/lanyard/shared/platform/awsconfig"
	"github.com/lanyardhq/lanyard/shared/platform/logging"
)

func main() {
	slog.SetDefault(logging.New())
	partners, credentials := os.Getenv("PARTNERS_TABLE"), os.Getenv("CREDENTIALS_TABLE")
	if partners == "" || credentials == "" {
		slog.Error("PARTNERS_TABLE and CREDENTIALS_TABLE must be set", "partnersTableSet", partners != "", "credentialsTableSet", credentials != "")
		os.Exit(1)
	}
	cfg, err := awsconfig.Load(context.Background())
	if err != nil {
		slog.Error("load AWS configuration", "error", err)
		os.Exit(1)
	}
	h := &partner.Handler{DB: dynamodb.NewFromConfig(cfg), PartnersTable: partners, CredentialsTable: credentials}
	lambda.Start(h.Handle)
}
