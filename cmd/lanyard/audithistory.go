package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/shared/domain/auditline"
	"github.com/lanyardhq/lanyard/shared/stores/audittrail"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
)

// historyView is `lanyard audit history -o json`'s answer.
type historyView struct {
	OK      bool                       `json:"ok"`
	Partner string                     `json:"partner"`
	Chains  []historyChainView         `json:"chains"`
	Failed  []audittrail.WindowVerdict `json:"failedWindows"`
	Trail   audittrail.Summary         `json:"trail"`
}

type historyChainView struct {
	Chain    string              `json:"chain"`
	Records  []historyRecordView `json:"records"`
	Exported int                 `json:"exported"`
	Problem  string              `json:"problem,omitempty"`
}

type historyRecordView struct {
	Seq        int64     `json:"seq"`
	Time       time.Time `json:"time"`
	EventID    string    `json:"eventId"`
	DetailType string    `json:"detailType"`
	Decision   string    `json:"decision"`
	Hash       string    `json:"hash"`
	Window     string    `json:"window,omitempty"`
	Problem    string    `json:"problem,omitempty"`
}

func historyViewOf(h audittrail.PartnerHistory) historyView {
	v := historyView{OK: h.OK(), Partner: h.Partner, Chains: []historyChainView{}, Failed: h.Windows, Trail: h.Trail}
	if v.Failed == nil {
		v.Failed = []audittrail.WindowVerdict{}
	}
	for _, c := range h.Chains {
		cv := historyChainView{Chain: c.Chain, Exported: c.Exported, Problem: c.Problem, Records: []historyRecordView{}}
		for _, r := range c.Records {
			cv.Records = append(cv.Records, historyRecordView{Seq: r.Seq, Time: r.Time, EventID: r.EventID, DetailType: r.DetailType,
				Decision: auditline.Decision(r.DetailType), Hash: r.Hash, Window: r.Window, Problem: r.Problem})
		}
		v.Chains = append(v.Chains, cv)
	}
	return v
}

func newAuditHistoryCmd(out *output, outboxConnect outboxClients, trailConnect trailClients, now func() time.Time) *cobra.Command {
	table := revocationFlags{declared: "outbox"}
	var partner string
	var trail trailFlags
	cmd := &cobra.Command{
		Use:   "history --partner PARTNER_ID (--table TABLE --bucket BUCKET | --prefix PREFIX)",
		Short: "A partner's decisions, chain by chain, from the outbox and the exported trail, each verified",
		Long: "history lists a partner's chains (its lifecycle chain and its token exchange lanes) and reads each one\n" +
			"from the outbox, checked against its head: every seq, every prevHash, every hash recomputed. It then\n" +
			"verifies the exported trail as `lanyard audit verify` does (every manifest's signature and link), reads\n" +
			"the objects that hold the partner's records, and matches each outbox record with the trail's copy:\n" +
			"the same hash, or the difference named. Each record is printed with the window that exported it, or\n" +
			"\"not exported yet\". It exits 1 when anything does not verify.\n\n" +
			"It reads the outbox table and the audit bucket with the credentials and region of the default AWS\n" +
			"configuration chain: dynamodb:Query and GetItem on the table and its chains index; s3:ListBucket,\n" +
			"s3:ListBucketVersions and s3:GetObject on the bucket. In AWS, --table and --bucket name them. For\n" +
			"`lanyard local`, --prefix names its deployment instead.",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("history takes no argument, got %q (the partner goes in --partner)", oneLine(args[0], 80))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !partners.ValidID(partner) {
				return usageError{fmt.Errorf("--partner %q is not a partner id (p- and 26 lowercase letters and digits)", oneLine(partner, 60))}
			}
			tableName, target, err := table.resolve(cmd)
			if err != nil {
				return err
			}
			bucket, opts, err := trail.resolve(cmd, table.prefix, now())
			if err != nil {
				return err
			}
			db, err := outboxConnect(cmd.Context(), target)
			if err != nil {
				return err
			}
			tr, err := trailConnect(cmd.Context(), trailTarget{Bucket: bucket, Local: target.Local, LocalStackURL: target.LocalStackURL})
			if err != nil {
				return err
			}
			h, err := audittrail.History(cmd.Context(), &outbox.Store{DB: db, Table: tableName}, tr, partner, opts)
			if err != nil {
				return err
			}
			v := historyViewOf(h)
			if err := out.emit(v, func(w io.Writer) { printHistory(w, h) }); err != nil {
				return err
			}
			if !h.OK() {
				return historyFailure(h)
			}
			return nil
		},
	}
	table.add(cmd)
	cmd.Flags().StringVar(&partner, "partner", "", "the partner's id (p-…)")
	trail.add(cmd)
	return cmd
}

func printHistory(w io.Writer, h audittrail.PartnerHistory) {
	for _, c := range h.Chains {
		state := "verified"
		if c.Problem != "" {
			state = "FAILED: " + oneLine(c.Problem, 300)
		}
		_, _ = fmt.Fprintf(w, "chain %s  %d records, %d exported  %s\n", c.Chain, len(c.Records), c.Exported, state)
		for _, r := range c.Records {
			where := "exported " + r.Window
			if r.Window == "" {
				where = "not exported yet"
			}
			if r.Problem != "" {
				where = "FAILED: " + oneLine(r.Problem, 300)
			}
			_, _ = fmt.Fprintf(w, "  %-4d %s  %-32s %-12s %s\n", r.Seq, r.Time.UTC().Format(time.RFC3339), r.DetailType, auditline.Decision(r.DetailType), where)
		}
	}
	for _, v := range h.Windows {
		_, _ = fmt.Fprintln(w, verdictLine(v))
	}
	printTrailEnd(w, h.Trail)
}

// historyFailure is the one-line error of a history that does not verify: the trail's first
// failure when it has one (a record's problem is often its echo), else the first chain's.
func historyFailure(h audittrail.PartnerHistory) error {
	if !h.Trail.OK() || len(h.Windows) > 0 {
		return fmt.Errorf("history of %s: %w", h.Partner, verifyFailure(h.Trail, firstWindowFailure(h.Windows)))
	}
	for _, c := range h.Chains {
		if c.Problem != "" {
			return fmt.Errorf("history of %s does not verify: chain %s: %s", h.Partner, c.Chain, oneLine(c.Problem, 300))
		}
		for _, r := range c.Records {
			if r.Problem != "" {
				return fmt.Errorf("history of %s does not verify: chain %s seq %d: %s", h.Partner, c.Chain, r.Seq, oneLine(r.Problem, 300))
			}
		}
	}
	return errors.New("history of " + h.Partner + " does not verify")
}

func firstWindowFailure(vs []audittrail.WindowVerdict) string {
	for _, v := range vs {
		if len(v.Failures) > 0 {
			return v.Failures[0].String()
		}
	}
	return ""
}
