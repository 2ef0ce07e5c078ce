//go:build integration

package suite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/local/suite"
	"github.com/lanyardhq/lanyard/shared/domain/auditline"
	"github.com/lanyardhq/lanyard/shared/domain/partnersecret"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/topology"
)

// auditLines reads every line of the audit log group that concerns partner, and every message
// of the group (for the canaries).
func auditLines(ctx context.Context, t *testing.T, group, partner string) (map[string][]auditline.Line, string) {
	t.Helper()
	byEvent := map[string][]auditline.Line{}
	var all strings.Builder
	p := cloudwatchlogs.NewFilterLogEventsPaginator(env.Logs, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
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

// A partner's whole life through `lanyard local` — invited (the ops chain), onboarded, a token
// exchange (its exchange lane), a rotation, the new key picked up and acknowledged, both keys
// revoked and the revocation enforced — reaches the audit log group through the path the
// deployment runs: the outbox's stream, the relay, the bus, the audit consumer's queue
// (subscribed by the source alone) and the audit writer. Every record of every chain the
// partner owns has its line, once after duplicates collapse by event id, with its chain, seq,
// previous hash, hash and decision as the outbox holds them; each chain verifies without a
// gap; each record is marked audited, out of the audit-pending index. An event delivered again
// is skipped by the writer, which knows it wrote it. No key, invite code or credential is in
// the log group.
func TestPartnerLifeReachesTheAuditLog(t *testing.T) {
	canary := secrettest.Plant(t)
	s, prefix := shared(t, "lanyard", topology.Lanyard, canary)
	logsOnFailure(t, s)
	ctx := t.Context()
	api := partnerAPI{t: t, s: s, canary: canary}
	name := "Audited Freight " + harness.Name("t")
	ob := api.onboardNew(name, "standard", "orders:read")
	group := s.Provisioned.AuditLog
	if group != topology.AuditLogGroupName(prefix) {
		t.Fatalf("audit log group %q, want %q", group, topology.AuditLogGroupName(prefix))
	}

	tok := send(t, s, http.MethodPost, "/v1/token", "Bearer "+ob.APIKey, "")
	if tok.status != http.StatusOK {
		t.Fatalf("POST /v1/token: %d", tok.status)
	}
	var creds struct {
		AccessKeyID     string `json:"accessKeyId"`
		SecretAccessKey string `json:"secretAccessKey"`
		SessionToken    string `json:"sessionToken"`
	}
	if err := json.Unmarshal(tok.body, &creds); err != nil || creds.SecretAccessKey == "" {
		t.Fatalf("POST /v1/token answered no credentials (%v)", err)
	}
	canary.Add("secret access key", creds.SecretAccessKey)
	canary.Add("session token", creds.SessionToken)

	secretID := partnersecret.Name(partnersecret.Prefix(prefix), ob.PartnerID)
	if _, err := env.SecretsManager.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(secretID)}); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	cur := send(t, s, http.MethodGet, "/v1/credentials/current", "Bearer "+ob.APIKey, "")
	if cur.status != http.StatusOK {
		t.Fatalf("GET /v1/credentials/current: %d", cur.status)
	}
	var picked struct {
		APIKey string `json:"apiKey"`
	}
	if err := json.Unmarshal(cur.body, &picked); err != nil || picked.APIKey == "" {
		t.Fatalf("the pick-up answered no key (%v)", err)
	}
	canary.Add("new key", picked.APIKey)
	if ack := send(t, s, http.MethodPost, "/v1/credentials/ack", "Bearer "+picked.APIKey, ""); ack.status != http.StatusOK {
		t.Fatalf("ack: %d", ack.status)
	}
	var revocationIDs []string
	for _, key := range []string{ob.APIKey, picked.APIKey} {
		if r := revokeWith(t, s, picked.APIKey, "application/x-www-form-urlencoded", revokeForm(key)); r.status != http.StatusOK {
			t.Fatalf("revoke: %d %s", r.status, api.redacted(r.body))
		}
		revocationIDs = append(revocationIDs, lastRevocationID(t, s, ob.PartnerID))
	}
	for _, id := range revocationIDs {
		waitCompleted(t, s, ob.PartnerID, id, enforcementWait(t)+60*time.Second)
	}

	// Every record of every chain the partner owns, in the log once its writer ran.
	store := &outbox.Store{DB: env.DynamoDB, Table: s.Provisioned.Tables["outbox"]}
	wantTypes := []string{
		events.TypePartnerOnboarded, events.TypeCredentialIssued, events.TypeTokenExchanged,
		events.TypeCredentialRotated, events.TypeCredentialPickedUp, events.TypeCredentialRotationAcknowledged,
		events.TypeCredentialRevoked, events.TypeRevocationEnforced, events.TypeRevocationCompleted,
	}
	var records map[string][]outbox.Record
	var lines map[string][]auditline.Line
	var all string
	harness.Eventually(t, 2*time.Minute, func() (bool, string) {
		chains, err := store.Chains(ctx, ob.PartnerID)
		if err != nil {
			return false, err.Error()
		}
		records = map[string][]outbox.Record{}
		seen := map[string]bool{}
		var missing []string
		lines, all = auditLines(ctx, t, group, ob.PartnerID)
		for _, c := range chains {
			recs, err := store.Records(ctx, c)
			if err != nil {
				return false, err.Error()
			}
			records[c] = recs
			for _, r := range recs {
				seen[r.DetailType] = true
				if len(lines[r.EventID]) == 0 {
					missing = append(missing, fmt.Sprintf("%s %s/%d", r.DetailType, r.Chain, r.Seq))
				}
			}
		}
		for _, typ := range wantTypes {
			if !seen[typ] {
				missing = append(missing, "any record of "+typ)
			}
		}
		return len(missing) == 0, fmt.Sprintf("not in the audit log yet: %v", missing)
	})
	n, exchanges := 0, 0
	for chain, recs := range records {
		if err := store.VerifyChain(ctx, chain); err != nil {
			t.Errorf("chain %s: %v", chain, err)
		}
		if outbox.ChainOwner(chain) != ob.PartnerID || (chain != ob.PartnerID && !strings.HasPrefix(chain, ob.PartnerID+"/exchanges/")) {
			t.Errorf("chain %s is listed as the partner's", chain)
		}
		for _, r := range recs {
			n++
			if r.DetailType == events.TypeTokenExchanged {
				exchanges++
				if chain == ob.PartnerID {
					t.Errorf("the token exchange is on the lifecycle chain")
				}
			}
			got := lines[r.EventID]
			l := got[0]
			for _, copyOf := range got[1:] { // written twice: the same line
				if copyOf.Chain != l.Chain || copyOf.Seq != l.Seq || copyOf.Hash != l.Hash || copyOf.DetailType != l.DetailType {
					t.Errorf("event %s has two different lines: %+v and %+v", r.EventID, l, copyOf)
				}
			}
			if l.Schema != auditline.Schema || l.DetailType != r.DetailType || l.Decision != auditline.Decision(r.DetailType) ||
				l.Chain != r.Chain || l.Seq != r.Seq || l.PrevHash != r.PrevHash || l.Hash != r.Hash || !l.At().Equal(r.Time) || l.Actor.Kind == "" {
				t.Errorf("line of %s/%d: %+v, want the record's %+v", r.Chain, r.Seq, l, r)
			}
		}
	}
	if exchanges != 1 {
		t.Errorf("%d Token Exchanged records, want 1", exchanges)
	}
	if len(lines) != n {
		t.Errorf("%d distinct events of the partner in the audit log, %d records on its chains", len(lines), n)
	}

	// Each record marked audited once its line is written.
	harness.Eventually(t, time.Minute, func() (bool, string) {
		for _, recs := range records {
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
		}
		return true, ""
	})

	// Delivered again, an event the writer wrote is skipped: still as many lines.
	rec := records[ob.PartnerID][0]
	published, err := events.WithRecord(rec.Detail, events.RecordRef{Chain: rec.Chain, Seq: rec.Seq, PrevHash: rec.PrevHash, Hash: rec.Hash})
	if err != nil {
		t.Fatal(err)
	}
	before := len(lines[rec.EventID])
	skippedBefore := skippedBatches(t, s)
	out, err := env.EventBridge.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		EventBusName: aws.String(s.Provisioned.Bus), Source: aws.String(events.Source), DetailType: aws.String(rec.DetailType),
		Detail: aws.String(string(published)), Time: aws.Time(rec.Time),
	}}})
	if err != nil || out.FailedEntryCount != 0 {
		t.Fatalf("put the event on the bus again: %v", err)
	}
	harness.Eventually(t, time.Minute, func() (bool, string) {
		return skippedBatches(t, s) > skippedBefore, "the audit writer has not skipped the event delivered again"
	})
	lines, all = auditLines(ctx, t, group, ob.PartnerID)
	if got := len(lines[rec.EventID]); got != before {
		t.Errorf("the event delivered again has %d lines, %d before", got, before)
	}

	// Ops read the same through the CLI: the partner's history, each decision once (LocalStack
	// runs no saved query; the CLI reads the lines and collapses copies itself), and the writer's
	// lag, within its budget.
	lanyard := lanyardCLI(t)
	var history struct {
		Rows []map[string]string `json:"rows"`
	}
	if err := json.Unmarshal(lanyard("audit", "query", "partner-history", "--partner", ob.PartnerID, "--prefix", prefix, "-o", "json"), &history); err != nil {
		t.Fatalf("lanyard audit query -o json: %v", err)
	}
	rows := map[string]int{}
	for _, row := range history.Rows {
		if row["partnerId"] != ob.PartnerID {
			t.Errorf("lanyard audit query --partner %s answered a row of %q", ob.PartnerID, row["partnerId"])
		}
		rows[row["eventId"]]++
	}
	for _, recs := range records {
		for _, r := range recs {
			if rows[r.EventID] != 1 {
				t.Errorf("lanyard audit query partner-history shows %s %s %d times, want once", r.DetailType, r.EventID, rows[r.EventID])
			}
		}
	}
	var lag struct {
		LagSeconds float64 `json:"lagSeconds"`
		Behind     bool    `json:"behind"`
	}
	if err := json.Unmarshal(lanyard("audit", "lag", "--prefix", prefix, "-o", "json"), &lag); err != nil {
		t.Fatalf("lanyard audit lag -o json: %v", err)
	}
	if lag.Behind {
		t.Errorf("lanyard audit lag: behind its budget (%.0f s)", lag.LagSeconds)
	}

	// The invite, on the ops chain, names the partner to be, never its code.
	ops, _ := auditLines(ctx, t, group, events.AllPartners)
	invited := false
	for _, ls := range ops {
		l := ls[0]
		if l.DetailType == events.TypeInviteIssued && strings.Contains(string(l.Detail), name) {
			invited = l.Chain == outbox.OpsChain && l.Seq > 0 && l.Actor.Kind == events.ActorOps
		}
	}
	if !invited {
		t.Errorf("no Invite Issued line of %q on the ops chain", name)
	}
	canary.CheckText("audit log group "+group, all)
	checkCanaries(t, s, canary)
}

// skippedBatches counts the audit writer's batches that skipped an event it had written.
func skippedBatches(t *testing.T, s *suite.Suite) int {
	t.Helper()
	lines, err := functionLogLines(t.Context(), s.Provisioned.Functions["audit-writer"])
	if err != nil {
		return 0
	}
	n := 0
	for _, l := range lines {
		if l.Message == "audit batch" && l.Skipped > 0 {
			n++
		}
	}
	return n
}
