// Package auditquery holds the saved CloudWatch Logs Insights queries of the audit log group
// (topology.AuditLogGroupName) as data: their names, descriptions, and the parts CDK's
// awslogs.QueryString takes (fields, filter statements, stats statements, sort, limit,
// display). The CDK stack builds one QueryDefinition per query from the parts, and `lanyard
// audit query` runs the text Render gives, which is the text QueryString produces from the same
// parts: one source for both.
//
// Each line of the audit log is one decision (shared/domain/auditline) and delivery to the log
// is at least once, so a decision may be there twice. Every query collapses copies with a
// `stats … by eventId, …` over the line's fields, and shows how many copies there were.
//
// The fields line of each query names the line fields a row shows when no stats command runs
// (LocalStack's Logs Insights applies only fields, sort and limit), and @message, from which a
// client reads them there.
package auditquery

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/auditline"
)

// MaxRows is the most rows Logs Insights returns for one query (and the highest limit).
const MaxRows = 10000

// Query is one saved Logs Insights query, as the parts of CDK's QueryStringProps.
type Query struct {
	// Name names the query: kebab-case, the CLI's argument and the saved definition's name under
	// the deployment's prefix ("lanyard/audit/<name>").
	Name string
	// Description says what the query answers.
	Description string
	// Fields, Filter, Stats, Sort, Limit and Display are QueryStringProps' fields,
	// filterStatements, statsStatements, sort, limit (0: none) and display.
	Fields  []string
	Filter  []string
	Stats   []string
	Sort    string
	Limit   int
	Display string
	// PerPartner says the query answers about one partner: the CLI requires --partner, and the
	// saved definition is meant to be run with a partnerId filter added.
	PerPartner bool
}

// Render is the query's text exactly as CDK's awslogs.QueryString renders the same parts: the
// fields joined by ", " on a fields line, then a line per filter statement, a line per stats
// statement, the sort, limit and display lines, each "<command> <statement>", empty ones left
// out, joined by "\n| ".
func (q Query) Render() string {
	var lines []string
	line := func(command, statement string) {
		if statement != "" {
			lines = append(lines, command+" "+statement)
		}
	}
	line("fields", strings.Join(q.Fields, ", "))
	for _, s := range q.Filter {
		line("filter", s)
	}
	for _, s := range q.Stats {
		line("stats", s)
	}
	line("sort", q.Sort)
	if q.Limit != 0 {
		line("limit", strconv.Itoa(q.Limit))
	}
	line("display", q.Display)
	return strings.Join(lines, "\n| ")
}

// partnerIDShape is a partner id as shared/stores/partners gives them: "p-" and 26 characters
// of lowercase base32. Nothing else may reach a query's text.
var partnerIDShape = regexp.MustCompile(`^p-[a-z2-7]{26}$`)

// ErrBadPartnerID is returned by ForPartner for anything that is not a partner id.
var ErrBadPartnerID = errors.New("not a partner id (p- and 26 lowercase letters and digits 2-7)")

// ForPartner is q restricted to one partner: a filter partnerId = "<id>" first among its
// filters, so it comes right after the fields line. Only a partner id's shape is accepted,
// so nothing can be injected into the query's text.
func (q Query) ForPartner(partnerID string) (Query, error) {
	if !partnerIDShape.MatchString(partnerID) {
		return Query{}, fmt.Errorf("partner %q: %w", clip(partnerID), ErrBadPartnerID)
	}
	q.Filter = append([]string{`partnerId = "` + partnerID + `"`}, q.Filter...)
	return q, nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// HasStats says whether the query aggregates: its rows are then groups, not log events.
func (q Query) HasStats() bool { return len(q.Stats) > 0 }

// Named returns the saved query of that name.
func Named(name string) (Query, bool) {
	i := slices.IndexFunc(saved, func(q Query) bool { return q.Name == name })
	if i < 0 {
		return Query{}, false
	}
	return All()[i], true
}

// Names lists the saved queries' names, in the order All gives them.
func Names() []string {
	out := make([]string, 0, len(saved))
	for _, q := range saved {
		out = append(out, q.Name)
	}
	return out
}

// All returns the saved queries (copies: changing one changes nothing for other callers).
func All() []Query {
	out := make([]Query, 0, len(saved))
	for _, q := range saved {
		q.Fields, q.Filter, q.Stats = slices.Clone(q.Fields), slices.Clone(q.Filter), slices.Clone(q.Stats)
		out = append(out, q)
	}
	return out
}

// lineFields are the fields a listing of decisions shows (and @message, which holds them all).
var lineFields = []string{"@timestamp", "@message", "eventId", "time", "partnerId", "detailType", "decision", "actor.kind", "actor.id", "justification", "chain", "seq"}

// decisionsOnce collapses the copies of each decision: one row per eventId with its fields,
// how many copies the log holds and the earliest copy's timestamp.
const decisionsOnce = "count(*) as copies, min(@timestamp) as at, latest(justification) as why, latest(chain) as onChain, latest(seq) as atSeq by eventId, time, partnerId, detailType, decision, actor.kind, actor.id"

var saved = []Query{
	{
		Name:        "partner-history",
		Description: "A partner's history: every decision recorded for it (onboarding, keys issued, exchanged, rotated, picked up, acknowledged, retired, revoked), oldest first, each once, with its chain and sequence.",
		Fields:      lineFields,
		Stats:       []string{decisionsOnce},
		Sort:        "at asc",
		Limit:       MaxRows,
		PerPartner:  true,
	},
	{
		Name:        "decisions-by-actor",
		Description: "Every decision by an actor (an operator's IAM principal, a partner, a Lanyard function), each once, grouped by actor, oldest first within each.",
		Fields:      lineFields,
		Stats:       []string{decisionsOnce},
		Sort:        "actor.id asc",
		Limit:       MaxRows,
	},
	{
		Name:        "failed-rotations",
		Description: "Failed rotations: the partner, the step that failed and why, newest first, each once.",
		Fields:      []string{"@timestamp", "@message", "eventId", "time", "partnerId", "detail.step", "justification", "detail.secretArn"},
		Filter:      []string{`detailType = "` + events.TypeCredentialRotationFailed + `"`},
		Stats:       []string{"count(*) as copies, min(@timestamp) as at, latest(justification) as why by eventId, time, partnerId, detail.step, detail.secretArn"},
		Sort:        "at desc",
		Limit:       MaxRows,
	},
	{
		Name:        "revocations",
		Description: "Revocations with their time to enforce: each revocation completed (every enforcer reported) or stalled (past the policy's budget), slowest first, each once.",
		Fields:      []string{"@timestamp", "@message", "eventId", "partnerId", "decision", "detail.revocationId", "detail.revokedAt", "detail.timeToEnforceMs"},
		Filter:      []string{`detailType in ["` + events.TypeRevocationCompleted + `", "` + events.TypeRevocationStalled + `"]`},
		Stats:       []string{"count(*) as copies, max(detail.timeToEnforceMs) as enforcedInMs by eventId, partnerId, decision, detail.revocationId, detail.revokedAt"},
		Sort:        "enforcedInMs desc",
		Limit:       MaxRows,
	},
	{
		Name:        "refusals-by-reason",
		Description: "Refused onboardings by reason: the sum of the aggregate lines' counts (one line per window and reason, each counted once), most refused first.",
		Fields:      []string{"@timestamp", "@message", "eventId", "justification", "`count`", "windowStart", "windowEnd"},
		Filter:      []string{`detailType = "` + auditline.TypeOnboardingRefusals + `"`},
		Stats: []string{
			"latest(`count`) as refused by eventId, justification",
			"sum(refused) as refusals by justification",
		},
		Sort:  "refusals desc",
		Limit: MaxRows,
	},
	{
		Name:        "exchanges-by-partner",
		Description: "Token exchanges by partner: how many each partner made (each once) and its first and last, most first.",
		Fields:      []string{"@timestamp", "@message", "eventId", "time", "partnerId", "chain", "seq"},
		Filter:      []string{`detailType = "` + events.TypeTokenExchanged + `"`},
		Stats: []string{
			"min(@timestamp) as at by eventId, partnerId",
			"count(*) as exchanges, min(at) as firstAt, max(at) as lastAt by partnerId",
		},
		Sort:  "exchanges desc",
		Limit: MaxRows,
	},
}
