// Command revocation-sts is the sts revocation enforcer, the consumer of Credential Revoked
// through its queue (shared/features/stsenforcer): it adds the partner to the set of revoked
// partners, has the partner-access role's deny rendered from it (sessions tagged with the
// partner and issued before the revocation), and reports Revocation Enforced.
package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/features/enforcement"
	"github.com/lanyardhq/lanyard/shared/features/stsenforcer"
	"github.com/lanyardhq/lanyard/shared/platform/lambdastart"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/revocations"
	"github.com/lanyardhq/lanyard/shared/stores/stsdenies"
)

type config struct {
	// The revoked partners, the set's version and its writer lease (shared/stores/stsdenies).
	STSDeniesTable   string `env:"STS_DENIES_TABLE"`
	OutboxTable      string `env:"OUTBOX_TABLE"`
	RevocationsTable string `env:"REVOCATIONS_TABLE"`
	// The role whose deny the enforcer keeps.
	PartnerAccessRoleARN string `env:"PARTNER_ACCESS_ROLE_ARN"`
	// How far past a revocation an exchange that read the key before it may still issue a
	// session (the token function's timeout and the clocks' skew).
	ExchangeWindow time.Duration `env:"EXCHANGE_WINDOW"`
	// How long a writer holds the set's lease (longer than the function's timeout).
	Lease time.Duration `env:"LEASE"`
	// The tiers' session durations: entries are pruned after the longest.
	Policy policy.Loaded
}

func main() {
	lambdastart.Start(func(_ context.Context, s lambdastart.Setup[config]) (any, error) {
		role, err := stsenforcer.ParseRoleARN(s.Config.PartnerAccessRoleARN)
		if err != nil {
			return nil, fmt.Errorf("PARTNER_ACCESS_ROLE_ARN: %w", err)
		}
		role.IAM = iam.NewFromConfig(s.AWS)
		var longest time.Duration
		for _, t := range s.Config.Policy.Tiers {
			longest = max(longest, t.TokenExchange.SessionDuration.Std())
		}
		db := dynamodb.NewFromConfig(s.AWS)
		e := &stsenforcer.Enforcer{
			Reporter: enforcement.Reporter{
				Outbox:   &outbox.Store{DB: db, Table: s.Config.OutboxTable},
				Reports:  enforcement.Store{Revocations: &revocations.Store{DB: db, Table: s.Config.RevocationsTable}},
				Enforcer: events.EnforcerSTS,
				Actor:    events.Actor{Kind: events.ActorSystem, ID: stsenforcer.DefaultActor},
			},
			Denies: &stsdenies.Store{DB: db, Table: s.Config.STSDeniesTable},
			Role:   &role,
			Rules:  stsenforcer.Rules{Window: s.Config.ExchangeWindow, MaxSession: longest},
			Owner:  "revocation-sts-" + rand.Text(),
			Lease:  s.Config.Lease,
			Now:    time.Now,
		}
		return e.Handle, nil
	})
}
