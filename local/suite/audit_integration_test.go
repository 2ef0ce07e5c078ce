//go:build integration

package suite_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/shared/domain/auditline"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/topology"
)

// auditLines reads every line of the audit log group that concerns partner, and every message
// of the group (for the canaries).
func auditLines(t *testing.T, group, partner string) (map[string][]auditline.Line, string) {
	t.Helper()
	byEvent := map[string][]auditline.Line{}
	var all strings.Builder
	p := cloudwatchlogs.NewFilterLogEventsPaginator(env.Logs, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group)})
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatalf("read the audit log group %s: %v", group, err)
		}
		for _, e := range page.Events {
			msg := aws.ToString(e.Message)
			all.WriteString(msg + "\n")
			var l auditline.Line
			if err := json.Unmarshal([]byte(msg), &l); err != nil {
				t.Fatalf("a line of the audit log is not JSON: %v", err)
			}
			if l.PartnerID == partner {
				byEvent[l.EventID] = append(byEvent[l.EventID], l)
			}
		}
	}
	return byEvent, all.String()
}

// A decision committed through a route reaches the audit log group through the path the
// deployment runs — the outbox's stream, the relay, the bus, the audit consumer's queue
// (subscribed by the source alone) and the audit writer: one line per record of the partner's
// chain, with its chain, seq, previous hash, hash and decision; each record is then marked
// audited, out of the audit-pending index; and neither the key nor the invite code is in the
// log group.
func TestDecisionReachesTheAuditLog(t *testing.T) {
	canary := secrettest.Plant(t)
	s, prefix := shared(t, "lanyard", topology.Lanyard, canary)
	logsOnFailure(t, s)
	ctx := t.Context()
	api := partnerAPI{t: t, s: s, canary: canary}
	ob := api.onboardNew("Audited Freight "+harness.Name("t"), "standard", "orders:read")

	group := s.Provisioned.AuditLog
	if group != topology.AuditLogGroupName(prefix) {
		t.Fatalf("audit log group %q, want %q", group, topology.AuditLogGroupName(prefix))
	}
	store := &outbox.Store{DB: env.DynamoDB, Table: s.Provisioned.Tables["outbox"]}
	recs, err := store.Records(ctx, ob.PartnerID)
	if err != nil || len(recs) < 2 {
		t.Fatalf("the onboarding's records: %d, %v; want Partner Onboarded and Credential Issued", len(recs), err)
	}

	var lines map[string][]auditline.Line
	var all string
	harness.Eventually(t, 2*time.Minute, func() (bool, string) {
		lines, all = auditLines(t, group, ob.PartnerID)
		for _, r := range recs {
			if len(lines[r.EventID]) == 0 {
				return false, "no line yet of " + r.DetailType + " " + r.EventID
			}
		}
		return true, ""
	})
	for _, r := range recs {
		l := lines[r.EventID][0]
		if l.Schema != auditline.Schema || l.DetailType != r.DetailType || l.Decision != auditline.Decision(r.DetailType) ||
			l.Chain != r.Chain || l.Seq != r.Seq || l.PrevHash != r.PrevHash || l.Hash != r.Hash || !l.At().Equal(r.Time) {
			t.Errorf("line of %s/%d: %+v, want the record's %+v", r.Chain, r.Seq, l, r)
		}
	}
	canary.CheckText("audit log group "+group, all)

	// Each record marked audited once its line is written.
	harness.Eventually(t, time.Minute, func() (bool, string) {
		for _, r := range recs {
			out, err := env.DynamoDB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(store.Table), Key: outbox.Key(r.Chain, r.Seq), ConsistentRead: aws.Bool(true)})
			if err != nil {
				return false, err.Error()
			}
			if _, ok := out.Item[outbox.AttrAuditedAt]; !ok {
				return false, r.DetailType + " not marked audited"
			}
			if _, ok := out.Item["auditPending"]; ok {
				return false, r.DetailType + " still in the audit-pending index"
			}
		}
		return true, ""
	})
}
