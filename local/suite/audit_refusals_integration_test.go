//go:build integration

package suite_test

import (
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/shared/domain/auditline"
	"github.com/lanyardhq/lanyard/shared/domain/pickuptoken"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/features/onboarding"
	"github.com/lanyardhq/lanyard/shared/platform/lambdastart"
	"github.com/lanyardhq/lanyard/topology"
)

// A flood of refused onboardings becomes a few aggregate lines: 60 well-formed requests
// refused for three reasons (unknown invite codes, scopes beyond the invite's tier, pick-ups of
// no onboarding) reach the audit log group, through the audit-refusals schedule — LocalStack's
// clock, nobody invoking the function — as at most one line per (window, reason) once
// duplicates collapse by eventId, whose counts add up to 60 and per reason to what was sent.
// Requests the shape check refuses are not counted. No invite code, pick-up token or key
// appears in the audit log group or in any function's log. Its own deployment: the refusal
// window is 5 s (LANYARD_REFUSAL_WINDOW on both functions), and the counts must be this test's
// alone.
func TestRefusedOnboardingsBecomeAggregateAuditLines(t *testing.T) {
	canary := secrettest.Plant(t)
	tp := topology.Lanyard()
	for i := range tp.Functions {
		if f := &tp.Functions[i]; f.Name == "onboarding" || f.Name == "audit-refusals" {
			f.Env = maps.Clone(f.Env)
			f.Env[lambdastart.RefusalWindowVar] = topology.Literal("5s")
		}
	}
	s, prefix := start(t, tp, canary.Logger())
	group := auditLogGroup(t, prefix)
	t.Parallel() // a deployment of its own (see the package doc), waiting on the clock
	logsOnFailure(t, s)
	api := onbAPI{t: t, s: s, canary: canary}
	pAPI := partnerAPI{t: t, s: s, canary: canary}

	sent := map[string]int64{}
	inv := pAPI.invite("Flood Freight "+harness.Name("t"), "sandbox")
	for i := range 60 {
		var r reply
		var reason string
		switch i % 4 {
		case 0, 1: // 30 unknown invite codes
			reason = "invite-invalid"
			r = api.post("/v1/partners", harness.Name("flood"), onboardBody("Flood Freight", canary.New("invite-code").Reveal(), "orders:read"))
		case 2: // 15 scopes beyond sandbox
			reason = "scopes-not-allowed"
			r = api.post("/v1/partners", harness.Name("flood"), onboardBody(inv.PartnerName, inv.InviteCode, "orders:write"))
		case 3: // 15 pick-ups of no onboarding
			reason = "pickup-invalid"
			tok, err := pickuptoken.New(crand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			canary.Add("pick-up token", tok.Reveal())
			r = api.pickup(onboarding.NewOnboardingID(), harness.Name("flood"), tok.Reveal())
		}
		if p := r.problem(t); r.status != http.StatusForbidden || p.Type != topology.ProblemBase+reason {
			t.Fatalf("refusal %d: %d %+v, want 403 %s", i, r.status, p, reason)
		}
		sent[reason]++
	}
	// Refused by the shape check: not counted.
	for range 5 {
		r := api.post("/v1/partners", harness.Name("flood"), `{"partnerName":"Flood Freight"}`)
		wantFunctionProblem(t, r, http.StatusBadRequest, "validation")
	}

	var lines map[string]auditline.Line
	harness.Eventually(t, 4*time.Minute, func() (bool, string) {
		all, err := readAuditLog(t.Context(), group)
		if err != nil {
			return false, err.Error()
		}
		lines = map[string]auditline.Line{}
		got := map[string]int64{}
		for _, l := range all {
			if l.DetailType != auditline.TypeOnboardingRefusals {
				continue // the decisions the audit writer copies from the bus (the invites issued)
			}
			if prev, seen := lines[l.EventID]; seen {
				if prev.Count != l.Count {
					t.Fatalf("line %s written with count %d, then %d", l.EventID, prev.Count, l.Count)
				}
				continue
			}
			lines[l.EventID] = l
			got[l.Justification] += l.Count
		}
		return maps.Equal(got, sent), fmt.Sprintf("counts by reason %v, want %v (%d lines)", got, sent, len(all))
	})
	perWindow := map[string]int{}
	for id, l := range lines {
		if l.DetailType != auditline.TypeOnboardingRefusals || l.Decision != "refused" || l.PartnerID != "*" ||
			l.Actor.Kind != auditline.ActorAnonymous || id != "onboarding-refusals/"+l.WindowStart+"/"+l.Justification {
			t.Errorf("line %+v", l)
		}
		start, err1 := time.Parse(time.RFC3339, l.WindowStart)
		end, err2 := time.Parse(time.RFC3339, l.WindowEnd)
		if err := errors.Join(err1, err2); err != nil || end.Sub(start) != 5*time.Second {
			t.Errorf("line %s: window %s to %s, want 5 s", id, l.WindowStart, l.WindowEnd)
		}
		perWindow[l.WindowStart+"/"+l.Justification]++
	}
	for k, n := range perWindow {
		if n != 1 {
			t.Errorf("%d lines for window and reason %s", n, k)
		}
	}
	t.Logf("60 refusals in %d aggregate lines", len(lines))

	raw, err := rawEvents(t.Context(), group)
	if err != nil {
		t.Fatal(err)
	}
	canary.CheckText("the audit log group", raw)
	checkCanaries(t, s, canary)
}

// auditLogGroup is the deployment's audit log group, created when the deployment has none yet
// (and then removed when the test ends).
func auditLogGroup(t *testing.T, prefix string) string {
	t.Helper()
	group := topology.AuditLogGroupName(prefix)
	_, err := env.Logs.CreateLogGroup(t.Context(), &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)})
	if _, exists := errors.AsType[*logtypes.ResourceAlreadyExistsException](err); exists {
		return group
	}
	if err != nil {
		t.Fatalf("create the audit log group %s: %v", group, err)
	}
	t.Cleanup(func() {
		_, _ = env.Logs.DeleteLogGroup(context.Background(), &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String(group)})
	})
	return group
}

// readAuditLog reads every line of the audit log group, decoded, oldest first.
func readAuditLog(ctx context.Context, group string) ([]auditline.Line, error) {
	var out []auditline.Line
	p := cloudwatchlogs.NewFilterLogEventsPaginator(env.Logs, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", group, err)
		}
		for _, e := range page.Events {
			var l auditline.Line
			if err := json.Unmarshal([]byte(aws.ToString(e.Message)), &l); err != nil {
				return nil, fmt.Errorf("a line of %s is not an audit line: %w", group, err)
			}
			out = append(out, l)
		}
	}
	slices.SortStableFunc(out, func(a, b auditline.Line) int { return strings.Compare(a.Time, b.Time) })
	return out, nil
}

// rawEvents is every event message of the group, one a line.
func rawEvents(ctx context.Context, group string) (string, error) {
	var b strings.Builder
	p := cloudwatchlogs.NewFilterLogEventsPaginator(env.Logs, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return "", fmt.Errorf("read %s: %w", group, err)
		}
		for _, e := range page.Events {
			b.WriteString(aws.ToString(e.Message) + "\n")
		}
	}
	return b.String(), nil
}
