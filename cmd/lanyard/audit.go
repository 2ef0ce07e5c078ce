package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/shared/domain/auditquery"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
	"github.com/lanyardhq/lanyard/topology"
)

// auditLogsAPI is what `lanyard audit query` calls of CloudWatch Logs.
type auditLogsAPI interface {
	StartQuery(ctx context.Context, in *cloudwatchlogs.StartQueryInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.StartQueryOutput, error)
	GetQueryResults(ctx context.Context, in *cloudwatchlogs.GetQueryResultsInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.GetQueryResultsOutput, error)
}

var _ auditLogsAPI = (*cloudwatchlogs.Client)(nil)

// auditTarget says where the audit log group is: AWS through the default configuration chain,
// or LocalStack for a `lanyard local` deployment.
type auditTarget struct {
	Local         bool
	LocalStackURL string
}

// auditClients builds the CloudWatch Logs client of a target. Tests hand in a fake.
type auditClients func(ctx context.Context, t auditTarget) (auditLogsAPI, error)

// awsAuditClients: in AWS, the operator's credentials and region from the default chain;
// locally, LocalStack's endpoint with its test credentials, as `lanyard local` uses them.
func awsAuditClients(ctx context.Context, t auditTarget) (auditLogsAPI, error) {
	cfg, err := targetConfig(ctx, t.Local, t.LocalStackURL)
	if err != nil {
		return nil, err
	}
	if !t.Local {
		return cloudwatchlogs.NewFromConfig(cfg), nil
	}
	return cloudwatchlogs.NewFromConfig(cfg, func(o *cloudwatchlogs.Options) {
		o.APIOptions = append(o.APIOptions, addResultValuesAsStrings)
	}), nil
}

// addResultValuesAsStrings adds resultValuesAsStrings to a client's stack, innermost of the
// deserialize step, so it sees the response before the operation's deserializer reads it.
func addResultValuesAsStrings(stack *middleware.Stack) error {
	return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("LocalStackResultValues", resultValuesAsStrings), middleware.After)
}

// resultValuesAsStrings: LocalStack 4.7.0 answers GetQueryResults with @ptr and @timestamp as
// JSON numbers where the API has strings, which the SDK refuses; it rewrites each such value of
// a result as the string of the number.
func resultValuesAsStrings(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
	out, md, err := next.HandleDeserialize(ctx, in)
	resp, ok := out.RawResponse.(*smithyhttp.Response)
	if err != nil || !ok || resp.StatusCode != 200 || resp.Body == nil {
		return out, md, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return out, md, fmt.Errorf("read the LocalStack answer: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(stringValues(body)))
	return out, md, nil
}

// stringValues rewrites every "value" of a GetQueryResults answer's "results" that is not a
// JSON string as a string; any other document is returned as it is.
func stringValues(body []byte) []byte {
	var doc map[string]json.RawMessage
	if json.Unmarshal(body, &doc) != nil || doc["results"] == nil {
		return body
	}
	var rows [][]map[string]json.RawMessage
	if json.Unmarshal(doc["results"], &rows) != nil {
		return body
	}
	for _, row := range rows {
		for _, f := range row {
			v := bytes.TrimSpace(f["value"])
			if len(v) > 0 && v[0] != '"' && !bytes.Equal(v, []byte("null")) {
				f["value"], _ = json.Marshal(string(v))
			}
		}
	}
	results, err := json.Marshal(rows)
	if err != nil {
		return body
	}
	doc["results"] = results
	out, err := json.Marshal(doc)
	if err != nil {
		return body
	}
	return out
}

const auditWhere = "It runs the query with Logs Insights (StartQuery, then GetQueryResults until it completes) on the audit\n" +
	"log group, with the credentials and region of the default AWS configuration chain (AWS_PROFILE,\n" +
	"AWS_REGION, …), which need logs:StartQuery and logs:GetQueryResults on the group. --log-group names\n" +
	"it (" + "/lanyard/audit" + " in AWS). For `lanyard local`, --prefix names its deployment instead\n" +
	"(group /PREFIX/audit, LocalStack's endpoint and test credentials). LocalStack 4.7.0 has no saved\n" +
	"queries and its Logs Insights applies only fields, sort and limit: the CLI then reads each line itself,\n" +
	"collapses copies by eventId and applies --partner, but not the query's other filters or its stats."

func newAuditCmd(out *output, connect auditClients) *cobra.Command {
	return newAuditCmdRunner(out, &auditRunner{connect: connect, now: time.Now, poll: time.Second})
}

func newAuditCmdRunner(out *output, runner *auditRunner) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Query the audit log: every decision Lanyard recorded, one CloudWatch Logs line each",
		Long: "The audit writer copies every decision (each outbox record's event) into the audit log group as one\n" +
			"JSON line. Delivery is at least once, so a decision may be there twice: the saved queries and this\n" +
			"command collapse copies by eventId.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newAuditQueryCmd(out, runner), newAuditListCmd(out))
	return cmd
}

func newAuditListCmd(out *output) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the saved Logs Insights queries and what each answers",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("list takes no argument, got %q (to run one: lanyard audit query NAME)", oneLine(args[0], 80))}
			}
			return nil
		},
		RunE: func(*cobra.Command, []string) error { return listQueries(out) },
	}
}

// queryView is a saved query as `lanyard audit list` prints it.
type queryView struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	PerPartner  bool   `json:"perPartner"`
	Query       string `json:"query"`
}

func listQueries(out *output) error {
	views := []queryView{}
	for _, q := range auditquery.All() {
		views = append(views, queryView{Name: q.Name, Description: q.Description, PerPartner: q.PerPartner, Query: q.Render()})
	}
	return out.emit(struct {
		Queries []queryView `json:"queries"`
	}{views}, func(w io.Writer) {
		_, _ = fmt.Fprintln(w, "QUERY\tDESCRIPTION")
		for _, v := range views {
			name := v.Name
			if v.PerPartner {
				name += " (--partner)"
			}
			_, _ = fmt.Fprintf(w, "%s\t%s\n", name, v.Description)
		}
	})
}

// auditQueryFlags are `lanyard audit query`'s flags.
type auditQueryFlags struct {
	logGroup, prefix, partner, since, until string
	target                                  auditTarget
}

// auditRun is one query's run: where, what, and how to wait.
type auditRun struct {
	query   auditquery.Query
	group   string
	target  auditTarget
	partner string
	start   time.Time
	end     time.Time
}

// auditRunner runs queries; its fields are what tests replace.
type auditRunner struct {
	connect auditClients
	now     func() time.Time
	// poll is the wait between two GetQueryResults calls.
	poll time.Duration
	// progress, when set, is where the waiting is shown (stderr, when it is a terminal).
	progress io.Writer
	notes    io.Writer
}

func newAuditQueryCmd(out *output, runner *auditRunner) *cobra.Command {
	var f auditQueryFlags
	cmd := &cobra.Command{
		Use:   "query [NAME] [--partner ID] [--since T] [--until T] (--log-group GROUP | --prefix PREFIX)",
		Short: "Run a saved Logs Insights query on the audit log; without a name, list them",
		Long: "query runs one of the saved queries (`lanyard audit list`) over the lines logged between --since and\n" +
			"--until (RFC 3339, or a duration back from now such as 24h; by default the last 24 hours) and prints\n" +
			"its rows, each decision once. --partner PARTNER_ID keeps one partner's lines (partner-history needs\n" +
			"it). Logs Insights returns at most 10,000 rows: when a result is cut, it says so on stderr; narrow the\n" +
			"time range.\n\n" + auditWhere,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError{fmt.Errorf("name one saved query, not %d", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return listQueries(out)
			}
			run, err := f.resolve(cmd, args[0], runner.now())
			if err != nil {
				return err
			}
			errw := cmd.ErrOrStderr()
			runner.notes = errw
			if isTerminal(errw) {
				runner.progress = errw
			}
			res, err := runner.run(cmd.Context(), run)
			if err != nil {
				return err
			}
			return res.emit(out)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.logGroup, "log-group", infraAuditLogGroup, "the audit log group's name")
	fs.StringVar(&f.prefix, "prefix", "", "the name prefix of a lanyard local deployment (e.g. lanyard): its group /PREFIX/audit, in LocalStack")
	fs.StringVar(&f.target.LocalStackURL, "localstack", "http://127.0.0.1:"+envOr("LANYARD_LOCALSTACK_PORT", "4566"), "with --prefix: LocalStack endpoint")
	fs.StringVar(&f.partner, "partner", "", "only this partner's lines (a partner id, p-…)")
	fs.StringVar(&f.since, "since", "24h", "from: RFC 3339 (2026-12-01T00:00:00Z) or a duration back from now (24h, 90m)")
	fs.StringVar(&f.until, "until", "", "to: RFC 3339 or a duration back from now (default: now)")
	return cmd
}

// infraAuditLogGroup is the audit log group's name in AWS (infra.AuditLogGroupName).
var infraAuditLogGroup = topology.AuditLogGroupName("lanyard")

// resolve checks every flag and the query's name before any call.
func (f *auditQueryFlags) resolve(cmd *cobra.Command, name string, now time.Time) (auditRun, error) {
	q, ok := auditquery.Named(name)
	if !ok {
		return auditRun{}, usageError{fmt.Errorf("no saved query %q (saved: %s)", oneLine(name, 60), strings.Join(auditquery.Names(), ", "))}
	}
	run := auditRun{query: q, group: f.logGroup, target: f.target}
	fl := cmd.Flags()
	switch {
	case f.prefix != "" && fl.Changed("log-group"):
		return auditRun{}, usageError{errors.New("--prefix names a `lanyard local` deployment's group: drop --log-group")}
	case f.prefix == "" && fl.Changed("localstack"):
		return auditRun{}, usageError{errors.New("--localstack goes with --prefix (`lanyard local`)")}
	case f.prefix != "":
		if !prefixShape(f.prefix) {
			return auditRun{}, usageError{fmt.Errorf("--prefix %q: letters, digits and dashes only", oneLine(f.prefix, 40))}
		}
		run.group, run.target.Local = topology.AuditLogGroupName(f.prefix), true
	case strings.TrimSpace(f.logGroup) == "":
		return auditRun{}, usageError{errors.New("--log-group is empty")}
	}
	switch {
	case f.partner != "":
		if !partners.ValidID(f.partner) {
			return auditRun{}, usageError{fmt.Errorf("--partner %q is not a partner id (p- and 26 lowercase letters and digits)", oneLine(f.partner, 60))}
		}
		pq, err := q.ForPartner(f.partner)
		if err != nil {
			return auditRun{}, usageError{err}
		}
		run.query, run.partner = pq, f.partner
	case q.PerPartner:
		return auditRun{}, usageError{fmt.Errorf("query %s needs --partner PARTNER_ID", q.Name)}
	}
	var err error
	if run.start, err = when("--since", f.since, now); err != nil {
		return auditRun{}, err
	}
	run.end = now
	if f.until != "" {
		if run.end, err = when("--until", f.until, now); err != nil {
			return auditRun{}, err
		}
	}
	if !run.start.Before(run.end) {
		return auditRun{}, usageError{fmt.Errorf("--since %s is not before --until %s", run.start.UTC().Format(time.RFC3339), run.end.UTC().Format(time.RFC3339))}
	}
	return run, nil
}

func prefixShape(p string) bool {
	for _, c := range p {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return p != ""
}

// when reads a time flag: RFC 3339, or a positive duration back from now.
func when(flag, s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, usageError{fmt.Errorf("%s %q is neither RFC 3339 (2026-12-01T00:00:00Z) nor a duration back from now (24h)", flag, oneLine(s, 40))}
}

// auditResult is a query's rows, each decision once.
type auditResult struct {
	Query          string              `json:"query"`
	LogGroup       string              `json:"logGroup"`
	Since          time.Time           `json:"since"`
	Until          time.Time           `json:"until"`
	Columns        []string            `json:"columns"`
	Rows           []map[string]string `json:"rows"`
	Truncated      bool                `json:"truncated"`
	RecordsMatched *int64              `json:"recordsMatched,omitempty"`
}

func (r auditResult) emit(out *output) error {
	return out.emit(r, func(w io.Writer) {
		_, _ = fmt.Fprintln(w, strings.Join(r.Columns, "\t"))
		for _, row := range r.Rows {
			cells := make([]string, len(r.Columns))
			for i, c := range r.Columns {
				cells[i] = oneLine(row[c], 200)
			}
			_, _ = fmt.Fprintln(w, strings.Join(cells, "\t"))
		}
	})
}

// run starts the query, waits for it and reads its rows.
func (a *auditRunner) run(ctx context.Context, r auditRun) (auditResult, error) {
	if r.target.Local {
		_, _ = fmt.Fprintln(a.notes, "lanyard: LocalStack 4.7.0 has no saved queries and its Logs Insights applies only fields, sort and limit:"+
			" the rows are the log's lines, oldest first, copies collapsed by eventId"+map[bool]string{true: " and --partner applied", false: ""}[r.partner != ""]+
			" by lanyard, the query's other filters, stats and sort not applied")
	}
	logs, err := a.connect(ctx, r.target)
	if err != nil {
		return auditResult{}, err
	}
	started, err := logs.StartQuery(ctx, &cloudwatchlogs.StartQueryInput{
		LogGroupName: aws.String(r.group),
		StartTime:    aws.Int64(r.start.Unix()),
		EndTime:      aws.Int64(r.end.Unix()),
		QueryString:  aws.String(r.query.Render()),
	})
	if err != nil {
		return auditResult{}, fmt.Errorf("start query %s on %s: %w", r.query.Name, r.group, err)
	}
	id := aws.ToString(started.QueryId)
	begun := a.now()
	var res *cloudwatchlogs.GetQueryResultsOutput
	for {
		res, err = logs.GetQueryResults(ctx, &cloudwatchlogs.GetQueryResultsInput{QueryId: aws.String(id)})
		if err != nil {
			a.endProgress()
			return auditResult{}, fmt.Errorf("results of query %s (%s): %w", r.query.Name, id, err)
		}
		if res.Status != types.QueryStatusScheduled && res.Status != types.QueryStatusRunning {
			break
		}
		if a.progress != nil {
			_, _ = fmt.Fprintf(a.progress, "\rLogs Insights: %s, %s", strings.ToLower(string(res.Status)), a.now().Sub(begun).Round(time.Second))
		}
		select {
		case <-ctx.Done():
			a.endProgress()
			return auditResult{}, fmt.Errorf("waiting for query %s (%s): %w", r.query.Name, id, ctx.Err())
		case <-time.After(a.poll):
		}
	}
	a.endProgress()
	if res.Status != types.QueryStatusComplete {
		return auditResult{}, fmt.Errorf("query %s (%s) ended %s", r.query.Name, id, res.Status)
	}
	out := auditResult{Query: r.query.Name, LogGroup: r.group, Since: r.start.UTC(), Until: r.end.UTC(), Rows: []map[string]string{}}
	raw := len(res.Results)
	if r.target.Local {
		out.Columns, out.Rows = linesOf(r.query, res.Results)
	} else {
		out.Columns, out.Rows = rowsOf(res.Results)
	}
	if r.partner != "" && slices.Contains(out.Columns, "partnerId") {
		out.Rows = slices.DeleteFunc(out.Rows, func(row map[string]string) bool { return row["partnerId"] != r.partner })
	}
	out.Rows = once(out.Rows)
	if st := res.Statistics; st != nil && !r.target.Local {
		n := int64(st.RecordsMatched)
		out.RecordsMatched = &n
	}
	switch {
	case raw >= auditquery.MaxRows:
		out.Truncated = true
		_, _ = fmt.Fprintf(a.notes, "lanyard: results truncated: Logs Insights returns at most %d rows; narrow --since/--until\n", auditquery.MaxRows)
	case r.query.Limit > 0 && raw >= r.query.Limit:
		out.Truncated = true
		_, _ = fmt.Fprintf(a.notes, "lanyard: results truncated at the query's limit of %d rows; narrow --since/--until\n", r.query.Limit)
	case out.RecordsMatched != nil && !r.query.HasStats() && *out.RecordsMatched > int64(raw):
		out.Truncated = true
		_, _ = fmt.Fprintf(a.notes, "lanyard: results truncated: %d lines matched, %d returned; narrow --since/--until\n", *out.RecordsMatched, raw)
	}
	return out, nil
}

func (a *auditRunner) endProgress() {
	if a.progress != nil {
		_, _ = fmt.Fprint(a.progress, "\r\033[K")
	}
}

// rowsOf reads Logs Insights' rows: each field by name, @ptr left out; the columns in the
// order the rows give them.
func rowsOf(results [][]types.ResultField) ([]string, []map[string]string) {
	var cols []string
	rows := make([]map[string]string, 0, len(results))
	for _, fields := range results {
		row := map[string]string{}
		for _, f := range fields {
			name := aws.ToString(f.Field)
			if name == "@ptr" {
				continue
			}
			if !slices.Contains(cols, name) {
				cols = append(cols, name)
			}
			row[name] = aws.ToString(f.Value)
		}
		rows = append(rows, row)
	}
	return cols, rows
}

// linesOf reads rows where Logs Insights returned the lines themselves (LocalStack): each row's
// @message is an audit line's JSON, whose fields the query's fields line names; @timestamp, in
// milliseconds there, is shown as Logs Insights shows it. The rows are ordered oldest first
// (LocalStack 4.7.0 sorts by timestamp only, and "asc" the wrong way round).
func linesOf(q auditquery.Query, results [][]types.ResultField) ([]string, []map[string]string) {
	var cols []string
	for _, f := range q.Fields {
		if f != "@message" {
			cols = append(cols, auditquery.Column(f))
		}
	}
	_, raw := rowsOf(results)
	ms := func(r map[string]string) int64 { n, _ := strconv.ParseInt(r["@timestamp"], 10, 64); return n }
	slices.SortStableFunc(raw, func(a, b map[string]string) int { return cmp.Compare(ms(a), ms(b)) })
	rows := make([]map[string]string, 0, len(raw))
	for _, r := range raw {
		var line any
		d := json.NewDecoder(strings.NewReader(r["@message"]))
		d.UseNumber()
		if d.Decode(&line) != nil {
			continue // not an audit line
		}
		flat := map[string]string{}
		flatten("", line, flat)
		row := map[string]string{}
		for _, c := range cols {
			if v, ok := flat[c]; ok {
				row[c] = v
			}
		}
		if ms, err := strconv.ParseInt(r["@timestamp"], 10, 64); err == nil {
			row["@timestamp"] = time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05.000")
		} else if ts, ok := r["@timestamp"]; ok {
			row["@timestamp"] = ts
		}
		rows = append(rows, row)
	}
	return cols, rows
}

// flatten names a JSON value's fields as Logs Insights does: members joined by ".", array
// elements by their index.
func flatten(prefix string, v any, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			flatten(join(prefix, k), e, out)
		}
	case []any:
		for i, e := range x {
			flatten(join(prefix, strconv.Itoa(i)), e, out)
		}
	case string:
		out[prefix] = x
	case json.Number:
		out[prefix] = x.String()
	case bool:
		out[prefix] = strconv.FormatBool(x)
	}
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// once keeps the first row of each eventId (delivery to the log is at least once); rows
// without one (aggregates) stay as they are.
func once(rows []map[string]string) []map[string]string {
	seen := map[string]bool{}
	return slices.DeleteFunc(rows, func(row map[string]string) bool {
		id, ok := row["eventId"]
		if !ok || id == "" {
			return false
		}
		dup := seen[id]
		seen[id] = true
		return dup
	})
}

// isTerminal says whether w is a terminal (a character device), where a progress line that
// rewrites itself reads well.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
