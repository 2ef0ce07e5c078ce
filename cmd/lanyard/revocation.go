package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/local/provision"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
	"github.com/lanyardhq/lanyard/shared/stores/revocations"
	"github.com/lanyardhq/lanyard/topology"
)

// revocationClients builds the DynamoDB client of a target (the same targets as `lanyard
// rotation`). Tests hand in a fake.
type revocationClients func(ctx context.Context, t rotationTarget) (revocations.ScanAPI, error)

// awsRevocationClients: in AWS, the operator's credentials and region from the default chain;
// locally, DynamoDB Local's endpoint with LocalStack's test credentials, as `lanyard local`
// uses them.
func awsRevocationClients(ctx context.Context, t rotationTarget) (revocations.ScanAPI, error) {
	return targetDynamoDB(ctx, t)
}

// targetDynamoDB is the DynamoDB client of a target: in AWS, the default chain's; locally,
// DynamoDB Local's.
func targetDynamoDB(ctx context.Context, t rotationTarget) (*dynamodb.Client, error) {
	cfg, err := targetConfig(ctx, t.Local, t.LocalStackURL)
	if err != nil {
		return nil, err
	}
	if !t.Local {
		return dynamodb.NewFromConfig(cfg), nil
	}
	return provision.LocalDynamoDB(cfg, t.DynamoDBURL), nil
}

// revocationIDShape is a revocation id: "rev-" and a UUID (shared/features/revoke).
var revocationIDShape = regexp.MustCompile(`^rev-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// revocationFlags are the flags that say where the revocations table is (or, with declared
// set, another declared table).
type revocationFlags struct {
	table, prefix string
	target        rotationTarget
	// declared is the table's declared name; "" is "revocations".
	declared string
}

func (f *revocationFlags) name() string {
	if f.declared == "" {
		return "revocations"
	}
	return f.declared
}

func (f *revocationFlags) add(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.table, "table", "", "the "+f.name()+" table's name (AWS: tagged lanyard:table="+f.name()+")")
	fs.StringVar(&f.prefix, "prefix", "", "the name prefix of a lanyard local deployment (e.g. lanyard): its table and servers")
	fs.StringVar(&f.target.LocalStackURL, "localstack", "http://127.0.0.1:"+envOr("LANYARD_LOCALSTACK_PORT", "4566"), "with --prefix: LocalStack endpoint")
	fs.StringVar(&f.target.DynamoDBURL, "dynamodb", "http://127.0.0.1:"+envOr("LANYARD_DYNAMODB_PORT", "8000"), "with --prefix: DynamoDB Local endpoint")
}

// resolve checks the flags and returns the table's name and the target.
func (f *revocationFlags) resolve(cmd *cobra.Command) (string, rotationTarget, error) {
	fl := cmd.Flags()
	switch {
	case f.prefix != "" && fl.Changed("table"):
		return "", rotationTarget{}, usageError{errors.New("--prefix names a `lanyard local` deployment's table: drop --table")}
	case f.prefix == "" && (fl.Changed("localstack") || fl.Changed("dynamodb")):
		return "", rotationTarget{}, usageError{errors.New("--localstack and --dynamodb go with --prefix (`lanyard local`)")}
	case f.prefix != "":
		t := f.target
		t.Local = true
		return provision.Options{Prefix: f.prefix}.Name(f.name()), t, nil
	case strings.TrimSpace(f.table) == "":
		return "", rotationTarget{}, usageError{errors.New("--table is required (or --prefix for `lanyard local`); see --help to find it")}
	}
	return f.table, f.target, nil
}

const revocationWhere = "It reads the revocations table directly, with the credentials and region of the default AWS\n" +
	"configuration chain (AWS_PROFILE, AWS_REGION, …), which need dynamodb:Query and Scan on the table and\n" +
	"its indexes. In AWS, name the table: it carries the tag lanyard:table=revocations, e.g.\n" +
	"  aws resourcegroupstaggingapi get-resources --tag-filters Key=lanyard:table,Values=revocations\n" +
	"For `lanyard local`, --prefix names its deployment instead (table PREFIX-revocations, DynamoDB\n" +
	"Local's endpoint and test credentials)."

func newRevocationCmd(out *output, connect revocationClients) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "revocation",
		Short: "Show the proof of revocations: which enforcers acted, when, and how fast",
		Long: "Each revocation is enforced by every enforcer the deployment declares (" + enforcersText(topology.Lanyard().Enforcers()) + "); each reports\n" +
			"Revocation Enforced and the revocation tracker completes the revocation once all have, or marks it\n" +
			"stalled when one has not within the policy's revocation.budget. To revoke a key, use `lanyard revoke`.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newRevocationStatusCmd(out, connect), newRevocationListCmd(out, connect))
	return cmd
}

func enforcersText(es []string) string {
	if len(es) == 0 {
		return "none yet: a revocation completes on its first check"
	}
	return strings.Join(es, ", ")
}

// enforcerView is one enforcer's line of a revocation's status.
type enforcerView struct {
	Enforcer   string     `json:"enforcer"`
	Reported   bool       `json:"reported"`
	EnforcedAt *time.Time `json:"enforcedAt,omitempty"`
	LatencyMS  *int64     `json:"latencyMs,omitempty"`
	// Expected says the deployment declares the enforcer (a report of one it no longer
	// declares is shown too).
	Expected bool `json:"expected"`
}

// revocationView is a revocation as the commands print it.
type revocationView struct {
	RevocationID    string         `json:"revocationId"`
	PartnerID       string         `json:"partnerId"`
	KeyIDs          []string       `json:"keyIds"`
	Reason          string         `json:"reason"`
	Note            string         `json:"note,omitempty"`
	Actor           string         `json:"actor"`
	RevokedAt       time.Time      `json:"revokedAt"`
	Status          string         `json:"status"`
	StalledAt       *time.Time     `json:"stalledAt,omitempty"`
	CompletedAt     *time.Time     `json:"completedAt,omitempty"`
	TimeToEnforceMS *int64         `json:"timeToEnforceMs,omitempty"`
	Enforcers       []enforcerView `json:"enforcers,omitempty"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func viewOf(r revocations.Revocation) revocationView {
	v := revocationView{RevocationID: r.ID, PartnerID: r.PartnerID, KeyIDs: r.KeyIDs, Reason: r.Reason, Note: r.Note,
		Actor: r.Actor.Kind + ":" + r.Actor.ID, RevokedAt: r.RevokedAt, Status: string(r.Status),
		StalledAt: optTime(r.StalledAt), CompletedAt: optTime(r.CompletedAt)}
	if r.Status == revocations.StatusCompleted {
		tte := r.TimeToEnforceMS
		v.TimeToEnforceMS = &tte
	}
	if v.KeyIDs == nil {
		v.KeyIDs = []string{}
	}
	return v
}

// statusOf is a revocation's view with each expected enforcer's report, or its absence, then
// the reports of enforcers not expected.
func statusOf(r revocations.Revocation, reports []revocations.Report, expected []string) revocationView {
	v := viewOf(r)
	v.Enforcers = []enforcerView{}
	byName := map[string]revocations.Report{}
	for _, rep := range reports {
		byName[rep.Enforcer] = rep
	}
	line := func(name string, exp bool) enforcerView {
		e := enforcerView{Enforcer: name, Expected: exp}
		if rep, ok := byName[name]; ok {
			at, lat := rep.EnforcedAt, rep.LatencyMS
			e.Reported, e.EnforcedAt, e.LatencyMS = true, &at, &lat
		}
		return e
	}
	seen := map[string]bool{}
	for _, name := range expected {
		v.Enforcers = append(v.Enforcers, line(name, true))
		seen[name] = true
	}
	for _, rep := range reports {
		if !seen[rep.Enforcer] {
			v.Enforcers = append(v.Enforcers, line(rep.Enforcer, false))
		}
	}
	return v
}

func stamp(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func millis(ms *int64) string {
	if ms == nil {
		return "-"
	}
	return fmt.Sprintf("%d ms", *ms)
}

func printStatus(w io.Writer, v revocationView) {
	_, _ = fmt.Fprintf(w, "revocation\t%s\n", v.RevocationID)
	_, _ = fmt.Fprintf(w, "partner\t%s\n", oneLine(v.PartnerID, 60))
	_, _ = fmt.Fprintf(w, "keys\t%s\n", oneLine(strings.Join(v.KeyIDs, ", "), 400))
	reason := v.Reason
	if v.Note != "" {
		reason += ": " + v.Note
	}
	_, _ = fmt.Fprintf(w, "reason\t%s\n", oneLine(reason, 300))
	_, _ = fmt.Fprintf(w, "by\t%s\n", oneLine(v.Actor, 200))
	_, _ = fmt.Fprintf(w, "revoked at\t%s\n", stamp(&v.RevokedAt))
	_, _ = fmt.Fprintf(w, "status\t%s\n", v.Status)
	if v.StalledAt != nil {
		_, _ = fmt.Fprintf(w, "stalled at\t%s\n", stamp(v.StalledAt))
	}
	if v.CompletedAt != nil {
		_, _ = fmt.Fprintf(w, "completed at\t%s\n", stamp(v.CompletedAt))
		_, _ = fmt.Fprintf(w, "time to enforce\t%s\n", millis(v.TimeToEnforceMS))
	}
	_, _ = fmt.Fprintln(w, "\nENFORCER\tENFORCED AT\tLATENCY")
	if len(v.Enforcers) == 0 {
		_, _ = fmt.Fprintln(w, "(none declared)\t\t")
	}
	for _, e := range v.Enforcers {
		name := oneLine(e.Enforcer, 40)
		if !e.Expected {
			name += " (not declared)"
		}
		if !e.Reported {
			_, _ = fmt.Fprintf(w, "%s\tmissing\t-\n", name)
			continue
		}
		_, _ = fmt.Fprintf(w, "%s\t%s\t%s\n", name, stamp(e.EnforcedAt), millis(e.LatencyMS))
	}
}

func newRevocationStatusCmd(out *output, connect revocationClients) *cobra.Command {
	var flags revocationFlags
	cmd := &cobra.Command{
		Use:   "status (REVOCATION_ID | PARTNER_ID) (--table TABLE | --prefix PREFIX)",
		Short: "Show a revocation, or every revocation of a partner, with each enforcer's report",
		Long: "status shows a revocation (rev-…), or every revocation of a partner (p-…), newest first: its keys,\n" +
			"reason, status, and for each enforcer the deployment declares when it enforced the revocation and its\n" +
			"latency from the revocation, or \"missing\" while it has not reported.\n\n" + revocationWhere,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{errors.New("name one revocation id (rev-…) or partner id (p-…)")}
			}
			if !revocationIDShape.MatchString(args[0]) && !partners.ValidID(args[0]) {
				return usageError{fmt.Errorf("%q is neither a revocation id (rev- and a UUID) nor a partner id (p- and 26 lowercase letters and digits)", oneLine(args[0], 80))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			table, target, err := flags.resolve(cmd)
			if err != nil {
				return err
			}
			db, err := connect(cmd.Context(), target)
			if err != nil {
				return err
			}
			s := &revocations.Store{DB: db, Table: table}
			ids := []string{args[0]}
			if partners.ValidID(args[0]) {
				mine, err := s.ByPartner(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				ids = ids[:0]
				for _, r := range mine {
					ids = append(ids, r.ID)
				}
			}
			expected := topology.Lanyard().Enforcers()
			views := []revocationView{}
			for _, id := range ids {
				r, reports, err := s.Get(cmd.Context(), id)
				if errors.Is(err, revocations.ErrNotFound) && !partners.ValidID(args[0]) {
					return fmt.Errorf("no revocation %s in table %s", id, table)
				}
				if err != nil {
					return err
				}
				views = append(views, statusOf(r, reports, expected))
			}
			return out.emit(struct {
				Revocations []revocationView `json:"revocations"`
			}{views}, func(w io.Writer) {
				if len(views) == 0 {
					_, _ = fmt.Fprintf(w, "no revocation of partner %s\n", args[0])
				}
				for i, v := range views {
					if i > 0 {
						_, _ = fmt.Fprintln(w)
					}
					printStatus(w, v)
				}
			})
		},
	}
	flags.add(cmd)
	return cmd
}

func newRevocationListCmd(out *output, connect revocationClients) *cobra.Command {
	var flags revocationFlags
	var stalled bool
	cmd := &cobra.Command{
		Use:   "list [--stalled] (--table TABLE | --prefix PREFIX)",
		Short: "List revocations, newest first; --stalled: only those stalled now",
		Long: "list prints one line per revocation, newest first: its id, partner, reason, status, when it was\n" +
			"revoked and, once completed, its time to enforce. --stalled lists only the revocations whose budget ran\n" +
			"out before every enforcer reported and that are still waiting (`lanyard revocation status` shows which\n" +
			"enforcer is missing). Without --stalled it reads the whole table.\n\n" + revocationWhere,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("list takes no argument, got %q (to see one revocation: lanyard revocation status ID)", oneLine(args[0], 80))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			table, target, err := flags.resolve(cmd)
			if err != nil {
				return err
			}
			db, err := connect(cmd.Context(), target)
			if err != nil {
				return err
			}
			var rs []revocations.Revocation
			if stalled {
				open, err := (&revocations.Store{DB: db, Table: table}).OpenRevocations(cmd.Context())
				if err != nil {
					return err
				}
				for i := len(open) - 1; i >= 0; i-- { // newest first
					if open[i].Status == revocations.StatusStalled {
						rs = append(rs, open[i])
					}
				}
			} else if rs, err = revocations.List(cmd.Context(), db, table); err != nil {
				return err
			}
			views := make([]revocationView, 0, len(rs))
			for _, r := range rs {
				views = append(views, viewOf(r))
			}
			return out.emit(struct {
				Revocations []revocationView `json:"revocations"`
			}{views}, func(w io.Writer) {
				_, _ = fmt.Fprintln(w, "REVOCATION\tPARTNER\tREASON\tSTATUS\tREVOKED AT\tTIME TO ENFORCE")
				for _, v := range views {
					_, _ = fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", oneLine(v.RevocationID, 60), oneLine(v.PartnerID, 60), oneLine(v.Reason, 20),
						v.Status, stamp(&v.RevokedAt), millis(v.TimeToEnforceMS))
				}
			})
		},
	}
	cmd.Flags().BoolVar(&stalled, "stalled", false, "only the revocations stalled now (past the budget, an enforcer missing)")
	flags.add(cmd)
	return cmd
}
