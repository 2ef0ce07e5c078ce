// Command audit-refusals is the scheduled function that writes the counts of refused
// onboardings to the audit log: every minute (the audit-refusals schedule), one line per
// reason for each window closed since its cursor (shared/features/refusalaudit).
package main

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/google/uuid"

	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/features/refusalaudit"
	"github.com/lanyardhq/lanyard/shared/platform/lambdastart"
	"github.com/lanyardhq/lanyard/shared/stores/refusals"
)

type config struct {
	RefusalsTable string `env:"REFUSALS_TABLE"`
	AuditLogGroup string `env:"AUDIT_LOG"`
	// RefusalWindow overrides the policy's audit.refusalWindow when set (tests); onboarding
	// must be given the same.
	RefusalWindow time.Duration `env:"LANYARD_REFUSAL_WINDOW,optional"`
	Policy        policy.Loaded
}

func main() {
	lambdastart.Start(func(_ context.Context, s lambdastart.Setup[config]) (any, error) {
		window, err := refusals.ResolveWindow(s.Config.Policy.Audit.RefusalWindow.Std(), s.Config.RefusalWindow)
		if err != nil {
			return nil, fmt.Errorf("the window refused onboardings are counted in: %w", err)
		}
		// Each execution environment writes to a stream of its own: no two writers share one.
		stream := "audit-refusals/" + time.Now().UTC().Format("2006/01/02") + "/" + uuid.NewString()
		return (&refusalaudit.Writer{
			Store:    &refusals.Store{DB: dynamodb.NewFromConfig(s.AWS), Table: s.Config.RefusalsTable},
			Logs:     cloudwatchlogs.NewFromConfig(s.AWS),
			LogGroup: s.Config.AuditLogGroup,
			Stream:   stream,
			Window:   window,
			Now:      time.Now,
		}).Handle, nil
	})
}
