// Command revocation-secret is the secret's revocation enforcer, the consumer of Credential
// Revoked through its queue (shared/features/secretenforcer): it takes AWSPREVIOUS off a
// revoked previous key's version, retires a secret no live key is left on (rotation cancelled,
// AWSPENDING removed, tagged revoked, deletion scheduled), and reports Revocation Enforced.
package main

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lanyardhq/lanyard/shared/features/enforcement"
	"github.com/lanyardhq/lanyard/shared/features/secretenforcer"
	"github.com/lanyardhq/lanyard/shared/platform/lambdastart"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
	"github.com/lanyardhq/lanyard/shared/stores/revocations"
)

type config struct {
	CredentialsTable string `env:"CREDENTIALS_TABLE"`
	OutboxTable      string `env:"OUTBOX_TABLE"`
	// Each revocation's enforcer reports (shared/stores/revocations).
	RevocationsTable string `env:"REVOCATIONS_TABLE"`
	// The partner secrets' name prefix: a secret outside it is never touched.
	SecretPrefix string `env:"SECRET_PREFIX"`
	// The policy's revocation.secretRecoveryWindow in days.
	RecoveryDays int `env:"SECRET_RECOVERY_WINDOW_DAYS"`
}

func main() {
	lambdastart.Start(func(_ context.Context, s lambdastart.Setup[config]) (any, error) {
		db := dynamodb.NewFromConfig(s.AWS)
		e := &secretenforcer.Enforcer{
			Outbox:       &outbox.Store{DB: db, Table: s.Config.OutboxTable},
			Reports:      enforcement.Store{Revocations: &revocations.Store{DB: db, Table: s.Config.RevocationsTable}},
			Keys:         &registry.ByPartner{DB: db, Table: s.Config.CredentialsTable},
			Secrets:      secretsmanager.NewFromConfig(s.AWS),
			SecretPrefix: s.Config.SecretPrefix,
			RecoveryDays: int64(s.Config.RecoveryDays),
			Now:          time.Now,
		}
		return e.Handle, nil
	})
}
