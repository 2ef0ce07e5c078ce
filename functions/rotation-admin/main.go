// Command rotation-admin is the Lambda function behind the on-demand rotation route (AWS_IAM):
// POST /v1/admin/partners/{partnerId}/rotate (shared/features/rotation.AdminHandler). It starts the
// rotation with Secrets Manager's RotateSecret on the partner's secret; Secrets Manager then
// runs the rotation function, as on a scheduled rotation.
package main

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lanyardhq/lanyard/shared/features/rotation"
	"github.com/lanyardhq/lanyard/shared/platform/lambdastart"
)

type config struct {
	PartnersTable string `env:"PARTNERS_TABLE"`
	// Each request is recorded (Credential Rotation Requested) before RotateSecret.
	OutboxTable string `env:"OUTBOX_TABLE"`
	// The partner secrets' name prefix: the secret a partner item names must be under it.
	SecretPrefix string `env:"SECRET_PREFIX"`
}

func main() {
	lambdastart.Start(func(_ context.Context, s lambdastart.Setup[config]) (any, error) {
		h := &rotation.AdminHandler{DB: dynamodb.NewFromConfig(s.AWS), Secrets: secretsmanager.NewFromConfig(s.AWS),
			PartnersTable: s.Config.PartnersTable, OutboxTable: s.Config.OutboxTable, SecretPrefix: s.Config.SecretPrefix, Now: time.Now}
		return h.Handle, nil
	})
}
