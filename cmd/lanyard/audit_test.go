package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/shared/domain/auditquery"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
)

var auditNow = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

const (
	pAudit  = "p-aaaaaaaaaaaaaaaaaaaaaaaaaa"
	pOther  = "p-bbbbbbbbbbbbbbbbbbbbbbbbbb"
	started = "q-1"
)

// fakeLogs answers StartQuery with a query id and GetQueryResults with running answers first,
// then its rows; it records what it was asked.
type fakeLogs struct {
	starts  []*cloudwatchlogs.StartQueryInput
	gets    int
	running int
	status  types.QueryStatus
	rows    [][]types.ResultField
	stats   *types.QueryStatistics
	target  *auditTarget
	err     error
}

func (f *fakeLogs) connect(_ context.Context, t auditTarget) (auditLogsAPI, error) {
	f.target = &t
	return f, nil
}

func (f *fakeLogs) StartQuery(_ context.Context, in *cloudwatchlogs.StartQueryInput, _ ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.StartQueryOutput, error) {
	f.starts = append(f.starts, in)
	if f.err != nil {
		return nil, f.err
	}
	return &cloudwatchlogs.StartQueryOutput{QueryId: aws.String(started)}, nil
}

func (f *fakeLogs) GetQueryResults(_ context.Context, in *cloudwatchlogs.GetQueryResultsInput, _ ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.GetQueryResultsOutput, error) {
	f.gets++
	if aws.ToString(in.QueryId) != started {
		return nil, fmt.Errorf("unknown query %s", aws.ToString(in.QueryId))
	}
	if f.gets <= f.running {
		return &cloudwatchlogs.GetQueryResultsOutput{Status: types.QueryStatusRunning}, nil
	}
	status := f.status
	if status == "" {
		status = types.QueryStatusComplete
	}
	return &cloudwatchlogs.GetQueryResultsOutput{Status: status, Results: f.rows, Statistics: f.stats}, nil
}

func row(kv ...string) []types.ResultField {
	var r []types.ResultField
	for i := 0; i+1 < len(kv); i += 2 {
		r = append(r, types.ResultField{Field: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return r
}

// runAudit runs `lanyard` with the audit commands wired to the fake, as run() does.
func runAudit(f *fakeLogs, args ...string) (code int, stdout, stderr string) {
	var outBuf, errBuf bytes.Buffer
	out := &output{w: &outBuf, format: "table"}
	root := &cobra.Command{Use: "lanyard", PersistentPreRunE: func(*cobra.Command, []string) error { return out.check() }, SilenceErrors: true, SilenceUsage: true}
	root.PersistentFlags().StringVarP(&out.format, "output", "o", "table", "")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newAuditCmdRunner(out, &auditRunner{connect: f.connect, now: func() time.Time { return auditNow }, poll: time.Millisecond}))
	root.SetArgs(args)
	root.SetOut(&outBuf)
	root.SetErr(&errBuf)
	if err := root.ExecuteContext(context.Background()); err != nil {
		errBuf.WriteString("lanyard: " + strings.ReplaceAll(err.Error(), "\n", "; ") + "\n")
		var u usageError
		if errors.As(err, &u) {
			return 2, outBuf.String(), errBuf.String()
		}
		return 1, outBuf.String(), errBuf.String()
	}
	return 0, outBuf.String(), errBuf.String()
}

// The query run is the saved text (with --partner's filter right after its fields line), on
// the group, over --since/--until as StartQuery's times, not as query text.
func TestAuditQueryRewrites(t *testing.T) {
	q, _ := auditquery.Named("failed-rotations")
	ph, _ := auditquery.Named("partner-history")
	forPartner := func(q auditquery.Query) string {
		lines := strings.SplitN(q.Render(), "\n| ", 2)
		return lines[0] + "\n| filter partnerId = \"" + pAudit + "\"\n| " + lines[1]
	}
	for _, tc := range []struct {
		name       string
		args       []string
		text       string
		group      string
		start, end time.Time
		local      bool
	}{
		{"defaults", []string{"failed-rotations"}, q.Render(), "/lanyard/audit", auditNow.Add(-24 * time.Hour), auditNow, false},
		{"partner", []string{"failed-rotations", "--partner", pAudit}, forPartner(q), "/lanyard/audit", auditNow.Add(-24 * time.Hour), auditNow, false},
		{"partner history", []string{"partner-history", "--partner", pAudit}, forPartner(ph), "/lanyard/audit", auditNow.Add(-24 * time.Hour), auditNow, false},
		{"durations", []string{"failed-rotations", "--since", "72h", "--until", "90m"}, q.Render(), "/lanyard/audit", auditNow.Add(-72 * time.Hour), auditNow.Add(-90 * time.Minute), false},
		{"RFC 3339", []string{"failed-rotations", "--since", "2026-12-01T00:00:00Z", "--until", "2026-12-02T06:30:00+01:00"}, q.Render(), "/lanyard/audit",
			time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 2, 5, 30, 0, 0, time.UTC), false},
		{"log group", []string{"failed-rotations", "--log-group", "/staging/audit"}, q.Render(), "/staging/audit", auditNow.Add(-24 * time.Hour), auditNow, false},
		{"local", []string{"failed-rotations", "--prefix", "dev1"}, q.Render(), "/dev1/audit", auditNow.Add(-24 * time.Hour), auditNow, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeLogs{}
			code, _, stderr := runAudit(f, append([]string{"audit", "query"}, tc.args...)...)
			if code != 0 || len(f.starts) != 1 {
				t.Fatalf("exit %d, %d starts; stderr %s", code, len(f.starts), stderr)
			}
			in := f.starts[0]
			if got := aws.ToString(in.QueryString); got != tc.text {
				t.Errorf("query text:\n%s\nwant:\n%s", got, tc.text)
			}
			if aws.ToString(in.LogGroupName) != tc.group || aws.ToInt64(in.StartTime) != tc.start.Unix() || aws.ToInt64(in.EndTime) != tc.end.Unix() {
				t.Errorf("group %s from %d to %d, want %s from %d to %d", aws.ToString(in.LogGroupName), aws.ToInt64(in.StartTime), aws.ToInt64(in.EndTime), tc.group, tc.start.Unix(), tc.end.Unix())
			}
			if f.target.Local != tc.local || strings.Contains(stderr, "LocalStack 4.7.0") != tc.local {
				t.Errorf("local %v, stderr %q", f.target.Local, stderr)
			}
		})
	}
}

// Bad input is one line, exit 2, before any call.
func TestAuditQueryRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown query", []string{"nope"}, `no saved query "nope"`},
		{"two names", []string{"revocations", "failed-rotations"}, "name one saved query"},
		{"injection through --partner", []string{"revocations", "--partner", `p-x" or partnerId like /./ or "`}, "is not a partner id"},
		{"not a partner id", []string{"revocations", "--partner", "acme"}, "is not a partner id"},
		{"history needs a partner", []string{"partner-history"}, "needs --partner"},
		{"bad since", []string{"revocations", "--since", "yesterday"}, `--since "yesterday" is neither RFC 3339`},
		{"negative duration", []string{"revocations", "--since", "-5h"}, "--since"},
		{"bad until", []string{"revocations", "--until", "2026-13-01"}, "--until"},
		{"since after until", []string{"revocations", "--since", "1h", "--until", "2h"}, "is not before --until"},
		{"prefix and group", []string{"revocations", "--prefix", "x", "--log-group", "/g"}, "drop --log-group"},
		{"localstack without prefix", []string{"revocations", "--localstack", "http://x"}, "--localstack goes with --prefix"},
		{"prefix with a slash", []string{"revocations", "--prefix", "a/b"}, "--prefix"},
		{"bad output", []string{"revocations", "-o", "yaml"}, "--output must be table or json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeLogs{}
			code, _, stderr := runAudit(f, append([]string{"audit", "query"}, tc.args...)...)
			if code != 2 || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 || f.target != nil {
				t.Errorf("exit %d, stderr %q, connected %v; want exit 2, one line with %q, no call", code, stderr, f.target != nil, tc.want)
			}
		})
	}
}

// Rows print once per eventId, the query's poll waits for Complete, and JSON holds the rows.
func TestAuditQueryCollapsesCopies(t *testing.T) {
	f := &fakeLogs{running: 2, rows: [][]types.ResultField{
		row("@ptr", "x1", "eventId", "e1", "partnerId", pAudit, "decision", "revoked", "copies", "2"),
		row("@ptr", "x2", "eventId", "e2", "partnerId", pAudit, "decision", "rotated", "copies", "1"),
		row("@ptr", "x3", "eventId", "e1", "partnerId", pAudit, "decision", "revoked", "copies", "2"),
	}, stats: &types.QueryStatistics{RecordsMatched: 4}}
	code, stdout, stderr := runAudit(f, "audit", "query", "decisions-by-actor", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if f.gets != 3 {
		t.Errorf("%d GetQueryResults, want 3 (two running, then complete)", f.gets)
	}
	if stderr != "" {
		t.Errorf("stderr %q: no terminal, no progress", stderr)
	}
	var got auditResult
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Rows) != 2 || got.Rows[0]["eventId"] != "e1" || got.Rows[1]["eventId"] != "e2" || got.Truncated {
		t.Errorf("rows %v truncated %v", got.Rows, got.Truncated)
	}
	if strings.Join(got.Columns, ",") != "eventId,partnerId,decision,copies" {
		t.Errorf("columns %q", got.Columns)
	}
	code, stdout, _ = runAudit(&fakeLogs{rows: f.rows}, "audit", "query", "decisions-by-actor")
	if code != 0 || strings.Count(stdout, "e1") != 1 || !strings.HasPrefix(stdout, "eventId") {
		t.Errorf("table:\n%s", stdout)
	}
}

// LocalStack returns the lines themselves: the CLI reads each @message, shows the query's
// fields, applies --partner and collapses copies.
func TestAuditQueryReadsLinesFromLocalStack(t *testing.T) {
	line := func(id, partner string) string {
		return `{"schema":"lanyard.audit.v1","eventId":"` + id + `","detailType":"Credential Revoked","time":"2026-12-06T11:00:00Z","actor":{"kind":"ops","id":"arn:aws:iam::1:user/o"},"partnerId":"` + partner + `","decision":"revoked","chain":"` + partner + `","seq":3}`
	}
	f := &fakeLogs{rows: [][]types.ResultField{
		row("@ptr", "4", "@timestamp", "1796559067000", "@message", line("e3", pAudit)),
		row("@ptr", "0", "@timestamp", "1796559064000", "@message", line("e1", pAudit)),
		row("@ptr", "1", "@timestamp", "1796559064000", "@message", line("e1", pAudit)),
		row("@ptr", "2", "@timestamp", "1796559065000", "@message", line("e2", pOther)),
		row("@ptr", "3", "@timestamp", "1796559066000", "@message", "not json"),
	}}
	code, stdout, stderr := runAudit(f, "audit", "query", "partner-history", "--partner", pAudit, "--prefix", "lanyard", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "LocalStack 4.7.0 has no saved queries") || !strings.Contains(stderr, "--partner applied") {
		t.Errorf("stderr %q", stderr)
	}
	var got auditResult
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Rows) != 2 || got.Rows[1]["eventId"] != "e3" {
		t.Fatalf("rows %v: want e1 then e3", got.Rows)
	}
	r := got.Rows[0]
	if r["eventId"] != "e1" || r["actor.kind"] != "ops" || r["seq"] != "3" || r["@timestamp"] != "2026-12-06 12:11:04.000" || r["partnerId"] != pAudit {
		t.Errorf("row %v", r)
	}
}

// Truncation is said on stderr: at Logs Insights' 10,000 rows, and when fewer lines came back
// than matched a query that does not aggregate.
func TestAuditQuerySaysWhenTruncated(t *testing.T) {
	many := make([][]types.ResultField, auditquery.MaxRows)
	for i := range many {
		many[i] = row("eventId", fmt.Sprintf("e%d", i))
	}
	_, _, stderr := runAudit(&fakeLogs{rows: many}, "audit", "query", "revocations")
	if !strings.Contains(stderr, "truncated") || !strings.Contains(stderr, "10000") {
		t.Errorf("10,000 rows: stderr %q", stderr)
	}
	_, _, stderr = runAudit(&fakeLogs{rows: many[:10], stats: &types.QueryStatistics{RecordsMatched: 12}}, "audit", "query", "revocations")
	if stderr != "" {
		t.Errorf("an aggregate's matched lines outnumber its rows, and that is not a truncation: %q", stderr)
	}
}

func TestAuditQueryFailures(t *testing.T) {
	code, _, stderr := runAudit(&fakeLogs{status: types.QueryStatusFailed}, "audit", "query", "revocations")
	if code != 1 || !strings.Contains(stderr, "ended Failed") {
		t.Errorf("failed query: exit %d, %q", code, stderr)
	}
	code, _, stderr = runAudit(&fakeLogs{err: errors.New("AccessDeniedException")}, "audit", "query", "revocations")
	if code != 1 || !strings.Contains(stderr, "start query revocations on /lanyard/audit: AccessDeniedException") {
		t.Errorf("refused start: exit %d, %q", code, stderr)
	}
}

// `audit list` and `audit query` without a name list every saved query.
func TestAuditList(t *testing.T) {
	for _, args := range [][]string{{"audit", "list"}, {"audit", "query"}} {
		code, stdout, _ := runAudit(&fakeLogs{}, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		for _, q := range auditquery.All() {
			if !strings.Contains(stdout, q.Name) || !strings.Contains(stdout, q.Description) {
				t.Errorf("%v: %s missing", args, q.Name)
			}
		}
	}
	_, stdout, _ := runAudit(&fakeLogs{}, "audit", "list", "-o", "json")
	var got struct{ Queries []queryView }
	if err := json.Unmarshal([]byte(stdout), &got); err != nil || len(got.Queries) != len(auditquery.All()) || got.Queries[0].Query == "" {
		t.Errorf("json: %v %s", err, stdout)
	}
}

// The shape auditquery admits for --partner is the partners store's: whatever one accepts, so
// does the other.
func TestPartnerShapesAgree(t *testing.T) {
	q, _ := auditquery.Named("revocations")
	for _, id := range []string{partners.NewID(), partners.NewID(), pAudit, "p-", "p-AAAAAAAAAAAAAAAAAAAAAAAAAA", "p-aaaaaaaaaaaaaaaaaaaaaaaaa1", "p-aaaaaaaaaaaaaaaaaaaaaaaaaaa", "x-aaaaaaaaaaaaaaaaaaaaaaaaaa"} {
		_, err := q.ForPartner(id)
		if (err == nil) != partners.ValidID(id) {
			t.Errorf("%q: auditquery accepts %v, partners.ValidID %v", id, err == nil, partners.ValidID(id))
		}
	}
}

// LocalStack's numeric result values become strings the SDK reads; other answers pass as they
// are.
func TestStringValues(t *testing.T) {
	in := `{"results":[[{"field":"@ptr","value":0},{"field":"@timestamp","value":1796559064000},{"field":"@message","value":"{\"a\":1}"}]],"status":"Complete"}`
	var doc struct {
		Results [][]struct{ Field, Value string }
		Status  string
	}
	if err := json.Unmarshal(stringValues([]byte(in)), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Status != "Complete" || doc.Results[0][0].Value != "0" || doc.Results[0][1].Value != "1796559064000" || doc.Results[0][2].Value != `{"a":1}` {
		t.Errorf("%+v", doc)
	}
	for _, other := range []string{`{"queryId":"q"}`, `not json`, `{"results":"x"}`} {
		if got := string(stringValues([]byte(other))); got != other {
			t.Errorf("%s became %s", other, got)
		}
	}
}
