// Command audit-exporter is the scheduled function that exports the audit trail: every minute
// (the audit-export schedule), each closed window of the outbox's chains becomes objects and a
// signed manifest in the audit bucket, recorded once by an Audit Exported event
// (shared/features/auditexport).
package main

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/features/auditexport"
	"github.com/lanyardhq/lanyard/shared/platform/lambdastart"
	"github.com/lanyardhq/lanyard/shared/stores/auditexports"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

type config struct {
	OutboxTable       string `env:"OUTBOX_TABLE"`
	AuditExportsTable string `env:"AUDIT_EXPORTS_TABLE"`
	AuditBucket       string `env:"AUDIT_BUCKET"`
	AuditSigningKey   string `env:"AUDIT_SIGNING_KEY"`
	DeploymentID      string `env:"DEPLOYMENT_ID"`
	// Window and Delay override the policy's audit.exportWindow and audit.exportDelay when set
	// (`lanyard local --audit-window`, tests).
	Window time.Duration `env:"LANYARD_AUDIT_EXPORT_WINDOW,optional"`
	Delay  time.Duration `env:"LANYARD_AUDIT_EXPORT_DELAY,optional"`
	// Endpoint and S3Endpoint are set where S3 is not AWS's (LocalStack), whose host names no
	// bucket: buckets are then addressed by path; in AWS, by host.
	Endpoint   string `env:"AWS_ENDPOINT_URL,optional"`
	S3Endpoint string `env:"AWS_ENDPOINT_URL_S3,optional"`
	Policy     policy.Loaded
}

func main() {
	lambdastart.Start(func(_ context.Context, s lambdastart.Setup[config]) (any, error) {
		c := s.Config
		window, delay := c.Policy.Audit.ExportWindow.Std(), c.Policy.Audit.ExportDelay.Std()
		if c.Window > 0 {
			window = c.Window
		}
		if c.Delay > 0 {
			delay = c.Delay
		}
		if err := auditexport.CheckTiming(window, delay); err != nil {
			return nil, fmt.Errorf("the audit export's windows: %w", err)
		}
		db := dynamodb.NewFromConfig(s.AWS)
		return (&auditexport.Exporter{
			Outbox:     &outbox.Exports{DB: db, Table: c.OutboxTable},
			Commit:     &outbox.Store{DB: db, Table: c.OutboxTable},
			State:      &auditexports.Store{DB: db, Table: c.AuditExportsTable},
			StateTable: c.AuditExportsTable,
			S3:         s3.NewFromConfig(s.AWS, func(o *s3.Options) { o.UsePathStyle = c.Endpoint != "" || c.S3Endpoint != "" }),
			KMS:        kms.NewFromConfig(s.AWS),
			Bucket:     c.AuditBucket,
			KeyID:      c.AuditSigningKey,
			Deployment: c.DeploymentID,
			Window:     window,
			Delay:      delay,
		}).Handle, nil
	})
}
