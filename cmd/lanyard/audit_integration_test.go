//go:build integration

package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
	"github.com/lanyardhq/lanyard/topology"
)

// `lanyard audit query` against LocalStack's own CloudWatch Logs: a group of a deployment of
// its own, a partner's decisions written twice (delivery is at least once) next to another
// partner's; the partner's history shows each of its decisions once, and no other partner's.
func TestAuditQueryAgainstLocalStack(t *testing.T) {
	env, err := harness.Connect(t.Context())
	if err != nil {
		t.Fatalf("connect (run `make local-up`): %v", err)
	}
	prefix := harness.Name("audit")
	group := topology.AuditLogGroupName(prefix)
	if _, err := env.Logs.CreateLogGroup(t.Context(), &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = env.Logs.DeleteLogGroup(t.Context(), &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String(group)})
	})
	if _, err := env.Logs.CreateLogStream(t.Context(), &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String("writer")}); err != nil {
		t.Fatal(err)
	}
	mine, other := partners.NewID(), partners.NewID()
	at := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	line := func(eventID, partner, detailType, decision string, seq int, when time.Time) types.InputLogEvent {
		msg := fmt.Sprintf(`{"schema":"lanyard.audit.v1","eventId":%q,"detailType":%q,"time":%q,"actor":{"kind":"ops","id":"arn:aws:iam::000000000000:user/ops"},"partnerId":%q,"decision":%q,"chain":%q,"seq":%d}`,
			eventID, detailType, when.UTC().Format(time.RFC3339Nano), partner, decision, partner, seq)
		return types.InputLogEvent{Timestamp: aws.Int64(when.UnixMilli()), Message: aws.String(msg)}
	}
	// The second put is a redelivery: it writes ev-revoked again.
	for _, batch := range [][]types.InputLogEvent{
		{
			line("ev-onboarded", mine, "Partner Onboarded", "onboarded", 1, at),
			line("ev-revoked", mine, "Credential Revoked", "revoked", 2, at.Add(time.Second)),
			line("ev-elsewhere", other, "Credential Revoked", "revoked", 1, at.Add(2*time.Second)),
		},
		{line("ev-revoked", mine, "Credential Revoked", "revoked", 2, at.Add(time.Second))},
	} {
		if _, err := env.Logs.PutLogEvents(t.Context(), &cloudwatchlogs.PutLogEventsInput{
			LogGroupName: aws.String(group), LogStreamName: aws.String("writer"), LogEvents: batch,
		}); err != nil {
			t.Fatal(err)
		}
	}

	var got auditResult
	var stderr string
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		code, stdout, errOut := runCLI("audit", "query", "partner-history", "--partner", mine, "--since", "1h",
			"--prefix", prefix, "--localstack", env.LocalStackURL, "-o", "json")
		stderr = errOut
		if code != 0 {
			return false, fmt.Sprintf("exit %d: %s", code, errOut)
		}
		got = auditResult{}
		if err := json.Unmarshal([]byte(stdout), &got); err != nil {
			return false, fmt.Sprintf("output: %v: %s", err, stdout)
		}
		return len(got.Rows) >= 2, fmt.Sprintf("%d rows", len(got.Rows))
	})
	if !strings.Contains(stderr, "LocalStack 4.7.0 has no saved queries") {
		t.Errorf("stderr does not say LocalStack applies only fields, sort and limit: %q", stderr)
	}
	var ids []string
	for _, r := range got.Rows {
		ids = append(ids, r["eventId"])
		if r["partnerId"] != mine {
			t.Errorf("a row of partner %s: %v", r["partnerId"], r)
		}
	}
	if strings.Join(ids, ",") != "ev-onboarded,ev-revoked" {
		t.Errorf("rows %q, want each of the partner's decisions once, oldest first", ids)
	}
	if got.LogGroup != group || got.Rows[1]["decision"] != "revoked" || got.Rows[1]["seq"] != "2" || got.Rows[1]["actor.kind"] != "ops" {
		t.Errorf("result %+v", got)
	}
}
