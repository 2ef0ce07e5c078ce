// Command revocation-gateway is the gateway's revocation enforcer, the consumer of Credential
// Revoked through its queue (shared/features/gatewayenforcer): it flushes the REST API stage's
// authorizer cache once the authorizer's caches ran out, disables the partner's API key when
// none of its keys is left, and reports Revocation Enforced.
package main

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/lanyardhq/lanyard/shared/features/enforcement"
	"github.com/lanyardhq/lanyard/shared/features/flush"
	"github.com/lanyardhq/lanyard/shared/features/gatewayenforcer"
	"github.com/lanyardhq/lanyard/shared/features/rollover"
	"github.com/lanyardhq/lanyard/shared/platform/lambdastart"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
	"github.com/lanyardhq/lanyard/shared/stores/revocations"
)

type config struct {
	CredentialsTable string `env:"CREDENTIALS_TABLE"`
	OutboxTable      string `env:"OUTBOX_TABLE"`
	FlushesTable     string `env:"FLUSHES_TABLE"`
	// Each revocation's enforcer reports (shared/stores/revocations).
	RevocationsTable string `env:"REVOCATIONS_TABLE"`
	// The execute-api ARN of the stage whose authorizer cache is flushed (under `lanyard
	// local`, AWS_ENDPOINT_URL_API_GATEWAY points at the front).
	PartnerAPIARN string `env:"PARTNER_API_ARN"`
	// The usage plans' names: the function may disable the API keys in them (it finds a
	// partner's key by name; the plans themselves are not read).
	UsagePlans string `env:"USAGE_PLANS"`
	// The policy's authorizer.keyCacheTtl and the authorizer function's timeout.
	KeyCacheTTL       time.Duration `env:"KEY_CACHE_TTL"`
	AuthorizerTimeout time.Duration `env:"AUTHORIZER_TIMEOUT"`
}

func main() {
	lambdastart.Start(func(_ context.Context, s lambdastart.Setup[config]) (any, error) {
		apiID, stage, err := rollover.ParseStageARN(s.Config.PartnerAPIARN)
		if err != nil {
			return nil, fmt.Errorf("PARTNER_API_ARN: %w", err)
		}
		db := dynamodb.NewFromConfig(s.AWS)
		gw := apigateway.NewFromConfig(s.AWS)
		e := &gatewayenforcer.Enforcer{
			Outbox:  &outbox.Store{DB: db, Table: s.Config.OutboxTable},
			Reports: enforcement.Store{Revocations: &revocations.Store{DB: db, Table: s.Config.RevocationsTable}},
			Flush: &flush.Coalescer{DB: db, Table: s.Config.FlushesTable, Gateway: gw, RestAPIID: apiID, Stage: stage,
				Now: time.Now},
			Keys:              &registry.ByPartner{DB: db, Table: s.Config.CredentialsTable},
			APIKeys:           gw,
			KeyCacheTTL:       s.Config.KeyCacheTTL,
			AuthorizerTimeout: s.Config.AuthorizerTimeout,
			Now:               time.Now,
		}
		return e.Handle, nil
	})
}
