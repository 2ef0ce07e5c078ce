package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/features/auditwriter"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

// outboxClients builds the DynamoDB client of a target for the outbox table. Tests hand in a
// fake.
type outboxClients func(ctx context.Context, t rotationTarget) (outbox.DynamoDBAPI, error)

func awsOutboxClients(ctx context.Context, t rotationTarget) (outbox.DynamoDBAPI, error) {
	return targetDynamoDB(ctx, t)
}

// lagView is `lanyard audit lag`'s answer.
type lagView struct {
	// Waiting says a record waits for the audit log; the oldest one's chain, seq and commit
	// time follow.
	Waiting     bool       `json:"waiting"`
	Chain       string     `json:"chain,omitempty"`
	Seq         int64      `json:"seq,omitempty"`
	CommittedAt *time.Time `json:"committedAt,omitempty"`
	LagSeconds  float64    `json:"lagSeconds"`
	Budget      string     `json:"budget"`
	Behind      bool       `json:"behind"`
}

func lagViewOf(l auditwriter.Lag) lagView {
	v := lagView{Waiting: l.Found, LagSeconds: l.Lag.Seconds(), Budget: l.Budget.String(), Behind: l.Behind}
	if l.Found {
		at := l.Oldest.CommittedAt.UTC()
		v.Chain, v.Seq, v.CommittedAt = l.Oldest.Chain, l.Oldest.Seq, &at
	}
	return v
}

func newAuditLagCmd(out *output, connect outboxClients, now func() time.Time) *cobra.Command {
	flags := revocationFlags{declared: "outbox"}
	cmd := &cobra.Command{
		Use:   "lag (--table TABLE | --prefix PREFIX)",
		Short: "How long the oldest decision not yet in the audit log has waited, against the policy's budget",
		Long: "lag reads the outbox's audit-pending index (the records the audit writer has not written yet) and\n" +
			"prints the oldest one's chain, seq and commit time, how long it has waited, and whether that is past\n" +
			"the policy's audit.writerLagBudget — what the writer's AuditWriterLagSeconds and AuditWriterBehind\n" +
			"metrics say every minute. The index is eventually consistent: a record written a moment ago may\n" +
			"still show.\n\n" +
			"It reads the outbox table directly, with the credentials and region of the default AWS configuration\n" +
			"chain, which need dynamodb:Query on the table's audit-pending index. In AWS, name the table: it\n" +
			"carries the tag lanyard:table=outbox. For `lanyard local`, --prefix names its deployment instead\n" +
			"(table PREFIX-outbox, DynamoDB Local's endpoint and test credentials).",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("lag takes no argument, got %q", oneLine(args[0], 80))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			table, target, err := flags.resolve(cmd)
			if err != nil {
				return err
			}
			p, err := policy.Default()
			if err != nil {
				return err
			}
			db, err := connect(cmd.Context(), target)
			if err != nil {
				return err
			}
			l, err := auditwriter.MeasureLag(cmd.Context(), &outbox.Store{DB: db, Table: table}, p.Audit.WriterLagBudget.Std(), now().UTC())
			if err != nil {
				return err
			}
			v := lagViewOf(l)
			return out.emit(v, func(w io.Writer) { printLag(w, v, l) })
		},
	}
	flags.add(cmd)
	return cmd
}

func printLag(w io.Writer, v lagView, l auditwriter.Lag) {
	if !v.Waiting {
		_, _ = fmt.Fprintln(w, "oldest unaudited\tnone: every committed record is in the audit log")
	} else {
		_, _ = fmt.Fprintf(w, "oldest unaudited\tchain %s, seq %d\n", oneLine(v.Chain, 120), v.Seq)
		_, _ = fmt.Fprintf(w, "committed at\t%s\n", stamp(v.CommittedAt))
	}
	_, _ = fmt.Fprintf(w, "lag\t%s\n", l.Lag.Round(time.Second))
	_, _ = fmt.Fprintf(w, "budget\t%s (policy audit.writerLagBudget)\n", v.Budget)
	behind := "no"
	if v.Behind {
		behind = "yes: past the budget"
	}
	_, _ = fmt.Fprintf(w, "behind\t%s\n", behind)
}
