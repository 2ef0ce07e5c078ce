package auditquery_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/shared/domain/auditline"
	"github.com/lanyardhq/lanyard/shared/domain/auditquery"
)

// TestRender holds Render to the layout of CDK's QueryString.toString (aws-cdk-lib 2.270.0,
// aws-logs/lib/query-definition.js): fields joined by ", ", then parse, filter and stats lines,
// sort, limit, display; each "<command> <statement>", empty ones dropped, joined by "\n| ".
// The infra tests compare every saved query with what CDK itself synthesizes.
func TestRender(t *testing.T) {
	for _, tc := range []struct {
		name string
		q    auditquery.Query
		want string
	}{
		{"nothing", auditquery.Query{}, ""},
		{"fields only", auditquery.Query{Fields: []string{"@timestamp", "eventId"}}, "fields @timestamp, eventId"},
		{"every part", auditquery.Query{
			Fields: []string{"a", "b"}, Filter: []string{`x = "1"`, "y > 2"}, Stats: []string{"count(*) as n by a", "sum(n) as t by b"},
			Sort: "t desc", Limit: 20, Display: "b, t",
		}, "fields a, b\n| filter x = \"1\"\n| filter y > 2\n| stats count(*) as n by a\n| stats sum(n) as t by b\n| sort t desc\n| limit 20\n| display b, t"},
		{"empty statements dropped", auditquery.Query{Filter: []string{"", "y > 2"}, Stats: []string{""}, Sort: ""}, "filter y > 2"},
		{"no fields, a limit", auditquery.Query{Sort: "@timestamp asc", Limit: 5}, "sort @timestamp asc\n| limit 5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.q.Render(); got != tc.want {
				t.Fatalf("Render:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

// discovered are the fields Logs Insights adds to every log event.
var discovered = []string{"@timestamp", "@message", "@logStream", "@log", "@ptr", "@ingestionTime"}

func TestEveryFieldIsALineField(t *testing.T) {
	for _, q := range auditquery.All() {
		for _, f := range q.FieldNames() {
			if !slices.Contains(auditline.Fields(), f) && !slices.Contains(discovered, f) {
				t.Errorf("query %s names %q, which no audit line carries", q.Name, f)
			}
		}
	}
}

func TestFieldNames(t *testing.T) {
	q := auditquery.Query{
		Fields: []string{"@timestamp", "`count`"},
		Filter: []string{`detailType in ["Credential Revoked", "as by"]`, `actor.kind = "ops" and seq > 3`},
		Stats:  []string{"count(*) as copies, max(detail.timeToEnforceMs) as slowest by eventId", "sum(copies) as `all copies` by eventId"},
		Sort:   "slowest desc",
	}
	want := []string{"@timestamp", "actor.kind", "count", "detail.timeToEnforceMs", "detailType", "eventId", "seq"}
	if got := q.FieldNames(); !slices.Equal(got, want) {
		t.Fatalf("FieldNames = %q, want %q", got, want)
	}
}

var kebab = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// TestSavedQueries: each query has a unique kebab-case name and a description, at most two
// stats commands (Logs Insights' limit; CDK refuses more), collapses copies by eventId in its
// first stats command, and names @message, eventId and partnerId on its fields line, from which
// the CLI reads rows where Logs Insights applies only fields, sort and limit (LocalStack).
func TestSavedQueries(t *testing.T) {
	seen := map[string]bool{}
	wantNames := []string{"partner-history", "decisions-by-actor", "failed-rotations", "revocations", "refusals-by-reason", "exchanges-by-partner"}
	if got := auditquery.Names(); !slices.Equal(got, wantNames) {
		t.Fatalf("Names = %q, want %q", got, wantNames)
	}
	for _, q := range auditquery.All() {
		if !kebab.MatchString(q.Name) || seen[q.Name] {
			t.Errorf("query name %q is not kebab-case or not unique", q.Name)
		}
		seen[q.Name] = true
		if q.Description == "" {
			t.Errorf("query %s: no description", q.Name)
		}
		if len(q.Stats) == 0 || len(q.Stats) > 2 || !strings.Contains(q.Stats[0], " by eventId") {
			t.Errorf("query %s: stats %q: want one or two, the first by eventId", q.Name, q.Stats)
		}
		for _, f := range []string{"@message", "eventId"} {
			if !slices.Contains(q.Fields, f) {
				t.Errorf("query %s: fields %q lack %s", q.Name, q.Fields, f)
			}
		}
		if q.PerPartner && !slices.Contains(q.Fields, "partnerId") {
			t.Errorf("query %s is per partner: its fields must name partnerId", q.Name)
		}
		if q.Limit < 0 || q.Limit > auditquery.MaxRows {
			t.Errorf("query %s: limit %d is outside 0..%d", q.Name, q.Limit, auditquery.MaxRows)
		}
		got, ok := auditquery.Named(q.Name)
		if !ok || got.Render() != q.Render() {
			t.Errorf("Named(%q) does not return the query", q.Name)
		}
	}
	if _, ok := auditquery.Named("nope"); ok {
		t.Error("Named found a query that is not saved")
	}
}

// TestLocalStackReadsTheCommands: LocalStack's parser takes every word "fields", "sort" or
// "limit" after a space for a command; none may stand anywhere else in a query's text.
func TestLocalStackReadsTheCommands(t *testing.T) {
	for _, q := range auditquery.All() {
		for i, line := range strings.Split(q.Render(), "\n| ") {
			words := strings.Fields(line)
			for j, w := range words {
				if (w == "fields" || w == "sort" || w == "limit") && j > 0 {
					t.Errorf("query %s, line %d: %q outside a command's place", q.Name, i, w)
				}
			}
		}
	}
}

func TestAllReturnsCopies(t *testing.T) {
	a := auditquery.All()
	a[0].Fields[0] = "changed"
	a[0].Filter = append(a[0].Filter, "x")
	if b := auditquery.All(); b[0].Fields[0] == "changed" || len(b[0].Filter) != 0 && b[0].Filter[len(b[0].Filter)-1] == "x" {
		t.Fatal("All shares its queries' slices")
	}
}

// TestForPartner: --partner's rewrite is one filter right after the fields line, and only a
// partner id's shape gets into the text.
func TestForPartner(t *testing.T) {
	const id = "p-abcdefghijklmnopqrstuvwxyz"
	base := auditquery.Query{Fields: []string{"eventId", "partnerId"}, Filter: []string{`detailType = "X"`}, Stats: []string{"count(*) as n by eventId"}, Limit: 10}
	got, err := base.ForPartner(id)
	if err != nil {
		t.Fatal(err)
	}
	want := "fields eventId, partnerId\n| filter partnerId = \"" + id + "\"\n| filter detailType = \"X\"\n| stats count(*) as n by eventId\n| limit 10"
	if got.Render() != want {
		t.Fatalf("ForPartner:\n%s\nwant:\n%s", got.Render(), want)
	}
	if base.Render() != "fields eventId, partnerId\n| filter detailType = \"X\"\n| stats count(*) as n by eventId\n| limit 10" {
		t.Fatal("ForPartner changed the query it was called on")
	}
	for _, q := range auditquery.All() {
		pq, err := q.ForPartner(id)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(pq.Render(), "\n| ")
		if len(lines) < 2 || !strings.HasPrefix(lines[0], "fields ") || lines[1] != `filter partnerId = "`+id+`"` {
			t.Errorf("query %s for a partner: %q", q.Name, lines)
		}
	}
	for _, bad := range []string{
		"", "p-", "p-ABCDEFGHIJKLMNOPQRSTUVWXYZ", "p-abcdefghijklmnopqrstuvwxy", "p-abcdefghijklmnopqrstuvwxyz0",
		"p-abcdefghijklmnopqrstuvwxy1", `p-abcdefghijklmnopqrstuvwx"|`, `x" or partnerId like /./ or "`, "*",
		"p-abcdefghijklmnopqrstuvwxyz\n", " p-abcdefghijklmnopqrstuvwxyz",
	} {
		if _, err := base.ForPartner(bad); err == nil {
			t.Errorf("ForPartner(%q) accepted", bad)
		}
	}
}
