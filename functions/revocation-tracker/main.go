// Command revocation-tracker is the proof of each revocation (shared/features/tracker): on each
// Revocation Enforced (its consumer's queue) and every minute (the revocation-check schedule)
// it completes the revocations every declared enforcer reported and stalls those past the
// policy's budget.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/features/tracker"
	"github.com/lanyardhq/lanyard/shared/platform/lambdastart"
	"github.com/lanyardhq/lanyard/shared/platform/metrics"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/revocations"
)

type config struct {
	RevocationsTable string `env:"REVOCATIONS_TABLE"`
	OutboxTable      string `env:"OUTBOX_TABLE"`
	// Enforcers are the revocation enforcers the deployment declares, joined by commas; empty
	// when none is (a revocation then completes on its first check).
	Enforcers string `env:"REVOCATION_ENFORCERS,optional"`
	// Budget overrides the policy's revocation.budget when set (tests).
	Budget time.Duration `env:"LANYARD_REVOCATION_BUDGET,optional"`
	Policy policy.Loaded
}

func main() {
	lambdastart.Start(func(_ context.Context, s lambdastart.Setup[config]) (any, error) {
		enforcers, err := tracker.ParseEnforcers(s.Config.Enforcers)
		if err != nil {
			return nil, fmt.Errorf("REVOCATION_ENFORCERS: %w", err)
		}
		budget := s.Config.Policy.Revocation.Budget.Std()
		if s.Config.Budget > 0 {
			budget = s.Config.Budget
		}
		mw, err := metrics.New(os.Stdout, "Lanyard")
		if err != nil {
			return nil, err
		}
		db := dynamodb.NewFromConfig(s.AWS)
		return (&tracker.Tracker{
			Store:  &revocations.Store{DB: db, Table: s.Config.RevocationsTable},
			Outbox: &outbox.Store{DB: db, Table: s.Config.OutboxTable},
			Table:  s.Config.RevocationsTable, Enforcers: enforcers, Budget: budget, Metrics: mw, Now: time.Now,
		}).Handle, nil
	})
}
