// Command audit-writer writes every Lanyard event to the audit log group, one line each, and
// marks its outbox record audited (its consumer's queue); every minute (the audit-lag schedule)
// it measures how long the oldest record not yet written has waited and writes it as EMF
// metrics (shared/features/auditwriter).
package main

import (
	"context"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/features/auditwriter"
	"github.com/lanyardhq/lanyard/shared/platform/lambdastart"
	"github.com/lanyardhq/lanyard/shared/platform/metrics"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

type config struct {
	OutboxTable string `env:"OUTBOX_TABLE"`
	AuditLog    string `env:"AUDIT_LOG"`
	Policy      policy.Loaded
}

func main() {
	lambdastart.Start(func(ctx context.Context, s lambdastart.Setup[config]) (any, error) {
		mw, err := metrics.New(os.Stdout, "Lanyard")
		if err != nil {
			return nil, err
		}
		db := dynamodb.NewFromConfig(s.AWS)
		w := &auditwriter.Writer{
			Logs: cloudwatchlogs.NewFromConfig(s.AWS), DB: db,
			Group: s.Config.AuditLog, Stream: auditwriter.StreamName(time.Now()),
			Table: s.Config.OutboxTable, Now: time.Now,
		}
		// One stream per execution environment, created once.
		if err := w.OpenStream(ctx); err != nil {
			return nil, err
		}
		h := &auditwriter.Handler{Writer: w, Lag: &auditwriter.LagCheck{
			Outbox: &outbox.Store{DB: db, Table: s.Config.OutboxTable}, Budget: s.Config.Policy.Audit.WriterLagBudget.Std(),
			Metrics: mw, Function: "audit-writer", Now: time.Now,
		}}
		return h.Handle, nil
	})
}
