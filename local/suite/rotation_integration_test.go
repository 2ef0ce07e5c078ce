//go:build integration

package suite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dynamotypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/partnersecret"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
	"github.com/lanyardhq/lanyard/topology"
)

// Onboarding switches the partner secret's rotation on (the tier's interval, the rotation
// function, RotateImmediately=false through the local patch); LocalStack's own RotateSecret
// then drives the production rotation function through the four steps, twice: each time the
// new key becomes AWSCURRENT and authorizes, the key it replaced stays valid as previous, and
// one previous key at a time — the second rotation retires the first key.
func TestRotationThroughLocalStack(t *testing.T) {
	canary := secrettest.Plant(t)
	s, prefix := shared(t, "lanyard", topology.Lanyard, canary)
	logsOnFailure(t, s)
	api := partnerAPI{t: t, s: s, canary: canary}
	ctx := t.Context()
	name := "Rotating Freight " + harness.Name("t")
	ob := api.onboardNew(name, "standard", "orders:read")
	secretID := partnersecret.Name(partnersecret.Prefix(prefix), ob.PartnerID)

	desc, err := env.SecretsManager.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretID)})
	if err != nil {
		t.Fatalf("describe the partner's secret: %v", err)
	}
	if !aws.ToBool(desc.RotationEnabled) || desc.RotationRules == nil || aws.ToInt64(desc.RotationRules.AutomaticallyAfterDays) != 30 ||
		!strings.HasSuffix(aws.ToString(desc.RotationLambdaARN), ":function:"+s.Provisioned.Functions["rotation"]) {
		t.Fatalf("rotation after onboarding: enabled %v, rules %+v, function %s", aws.ToBool(desc.RotationEnabled), desc.RotationRules, aws.ToString(desc.RotationLambdaARN))
	}

	keys := []string{ob.APIKey}
	for round := 1; round <= 2; round++ {
		if _, err := env.SecretsManager.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(secretID)}); err != nil {
			t.Fatalf("rotation %d: %v", round, err)
		}
		cur, err := env.SecretsManager.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)})
		if err != nil {
			t.Fatalf("rotation %d: read AWSCURRENT: %v", round, err)
		}
		key := aws.ToString(cur.SecretString)
		canary.Add(fmt.Sprintf("key of rotation %d", round), key)
		if key == keys[len(keys)-1] {
			t.Fatalf("rotation %d: AWSCURRENT still holds the key it replaced", round)
		}
		prev, err := env.SecretsManager.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID), VersionStage: aws.String(partnersecret.StagePrevious)})
		if err != nil || aws.ToString(prev.SecretString) != keys[len(keys)-1] {
			t.Errorf("rotation %d: AWSPREVIOUS is not the key replaced (%v)", round, err)
		}
		keys = append(keys, key)
		noStrandedPending(t, secretID)
		// The new key and the one it replaced both authorize.
		for i, k := range keys[len(keys)-2:] {
			if me := send(t, s, http.MethodGet, "/v1/partners/me", "Bearer "+k, ""); me.status != http.StatusOK {
				t.Errorf("rotation %d: key %d answered %d", round, len(keys)-2+i, me.status)
			}
		}
	}

	// The registry: the last key active, the one before previous with a grace, the first retired.
	reg := &registry.Store{DB: env.DynamoDB, Table: s.Provisioned.Tables["credentials"]}
	want := []registry.Status{registry.StatusRetired, registry.StatusPrevious, registry.StatusActive}
	for i, k := range keys {
		parsed, err := credential.Parse(k)
		if err != nil {
			t.Fatalf("key %d does not parse: %v", i, err)
		}
		e, err := reg.Get(ctx, parsed.ID())
		if err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
		if e.Status != want[i] || (e.Status == registry.StatusPrevious && !e.GraceUntil.After(time.Now().Add(6*24*time.Hour))) {
			t.Errorf("key %d: status %s grace until %s, want %s (a week's grace for standard)", i, e.Status, e.GraceUntil, want[i])
		}
	}
	store := &outbox.Store{DB: env.DynamoDB, Table: s.Provisioned.Tables["outbox"]}
	recs, err := store.Records(ctx, ob.PartnerID)
	if err != nil {
		t.Fatal(err)
	}
	rotated := 0
	for _, rec := range recs {
		if rec.DetailType == "Credential Rotated" {
			rotated++
		}
	}
	if rotated != 2 {
		t.Errorf("%d Credential Rotated records, want 2", rotated)
	}
	if err := store.VerifyPartner(ctx, ob.PartnerID); err != nil {
		t.Errorf("the partner's audit chain: %v", err)
	}
	checkCanaries(t, s, canary)
}

// noStrandedPending fails the test when AWSPENDING sits on a version that is not AWSCURRENT.
func noStrandedPending(t *testing.T, secretID string) {
	t.Helper()
	d, err := env.SecretsManager.DescribeSecret(context.WithoutCancel(t.Context()), &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretID)})
	if err != nil {
		t.Fatal(err)
	}
	for version, stages := range d.VersionIdsToStages {
		pending, current := false, false
		for _, st := range stages {
			pending = pending || st == partnersecret.StagePending
			current = current || st == partnersecret.StageCurrent
		}
		if pending && !current {
			t.Errorf("AWSPENDING stranded on version %s", version)
		}
	}
}

// After a rotation the partner picks the new key up with the old one, acknowledges with the new
// one (the old one is refused), and the retirement function — run by its schedule, nobody
// invoking it — retires the old key once its drain has passed, records Credential Retired and
// flushes the authorizer cache; the old key then stops working and the new one goes on.
func TestPickUpAcknowledgeAndRetireThroughLocal(t *testing.T) {
	t.Parallel() // a deployment of its own (see the package doc)
	canary := secrettest.Plant(t)
	s, prefix := start(t, topology.Lanyard(), canary.Logger())
	logsOnFailure(t, s)
	api := partnerAPI{t: t, s: s, canary: canary}
	ctx := t.Context()
	name := "Switching Freight " + harness.Name("t")
	ob := api.onboardNew(name, "standard", "orders:read")
	secretID := partnersecret.Name(partnersecret.Prefix(prefix), ob.PartnerID)
	if _, err := env.SecretsManager.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(secretID)}); err != nil {
		t.Fatalf("rotate: %v", err)
	}

	// The pick-up, with the old key.
	cur := send(t, s, http.MethodGet, "/v1/credentials/current", "Bearer "+ob.APIKey, "")
	if cur.status != http.StatusOK || cur.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET /v1/credentials/current with the old key: %d", cur.status)
	}
	var picked struct {
		KeyID       string    `json:"keyId"`
		APIKey      string    `json:"apiKey"`
		ExpiresAt   time.Time `json:"expiresAt"`
		CallerKey   string    `json:"callerKey"`
		PreviousKey *struct {
			KeyID      string    `json:"keyId"`
			GraceUntil time.Time `json:"graceUntil"`
		} `json:"previousKey"`
	}
	decodeStrict(t, cur.body, &picked)
	canary.Add("new key", picked.APIKey)
	if picked.APIKey == ob.APIKey || picked.CallerKey != "previous" || picked.PreviousKey == nil || picked.PreviousKey.KeyID != ob.KeyID {
		t.Fatalf("pick-up answered key %s, caller %s, previous %+v", picked.KeyID, picked.CallerKey, picked.PreviousKey)
	}

	// Acknowledging with the old key is refused; with the new one it sets the retirement time.
	wantFunctionProblem(t, send(t, s, http.MethodPost, "/v1/credentials/ack", "Bearer "+ob.APIKey, ""), http.StatusConflict, "conflict")
	if ack := send(t, s, http.MethodPost, "/v1/credentials/ack", "Bearer "+picked.APIKey, ""); ack.status != http.StatusOK {
		t.Fatalf("ack with the new key: %d %s", ack.status, ack.body)
	}
	reg := &registry.Store{DB: env.DynamoDB, Table: s.Provisioned.Tables["credentials"]}
	old, err := reg.Get(ctx, credential.KeyID(ob.KeyID))
	if err != nil {
		t.Fatal(err)
	}
	if old.AcknowledgedAt.IsZero() || old.RetireAt.IsZero() || old.RetireAt.After(old.AcknowledgedAt.Add(time.Hour+time.Second)) {
		t.Fatalf("after the ack: acknowledged %s, retire at %s (standard drains an hour)", old.AcknowledgedAt, old.RetireAt)
	}

	// An hour is long for a test: the drain is compressed to a second by moving the retirement
	// time the acknowledgement set (as --rotation-day compresses rotation days). Nobody invokes
	// the retirement function: its schedule, an EventBridge rule LocalStack fires every minute,
	// does.
	flushes := s.Front.Stats().CacheFlushes
	if _, err := env.DynamoDB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.Provisioned.Tables["credentials"]), Key: registry.Key(credential.KeyID(ob.KeyID)),
		UpdateExpression:          aws.String("SET #r = :soon"),
		ExpressionAttributeNames:  map[string]string{"#r": registry.AttrRetireAt},
		ExpressionAttributeValues: map[string]dynamotypes.AttributeValue{":soon": &dynamotypes.AttributeValueMemberS{Value: registry.FormatTime(time.Now().Add(time.Second))}},
	}); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 150*time.Second, func() (bool, string) {
		old, err := reg.Get(ctx, credential.KeyID(ob.KeyID))
		if err != nil {
			return false, err.Error()
		}
		return old.Status == registry.StatusRetired, fmt.Sprintf("the old key is %s, not retired by the scheduled run", old.Status)
	})
	harness.Eventually(t, 30*time.Second, func() (bool, string) {
		got := s.Front.Stats().CacheFlushes
		return got > flushes, fmt.Sprintf("the authorizer cache was not flushed (%d flushes before, %d after)", flushes, got)
	})
	// The authorizer's own lookups are cached for keyCacheTtl (30 s): within that, the old key
	// stops working, and the new one goes on.
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		me := send(t, s, http.MethodGet, "/v1/partners/me", "Bearer "+ob.APIKey, "")
		return me.status == http.StatusForbidden, fmt.Sprintf("the retired key answered %d", me.status)
	})
	if me := send(t, s, http.MethodGet, "/v1/partners/me", "Bearer "+picked.APIKey, ""); me.status != http.StatusOK {
		t.Errorf("the new key answered %d", me.status)
	}
	store := &outbox.Store{DB: env.DynamoDB, Table: s.Provisioned.Tables["outbox"]}
	recs, err := store.Records(ctx, ob.PartnerID)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, rec := range recs {
		types = append(types, rec.DetailType)
	}
	if !slices.Contains(types, "Credential Retired") {
		t.Errorf("outbox records %v: no Credential Retired", types)
	}
	// The rotated key's pick-up is recorded once, however many times it was fetched.
	recordedOnce(t, s, ob.PartnerID, events.TypeCredentialPickedUp, 1)
	checkCanaries(t, s, canary)
}

// Onboarding switches the partner secret's rotation on with RotateImmediately=false, and
// Secrets Manager (LocalStack, through the local patch) tests that configuration by running
// only testSecret on a temporary AWSPENDING version holding a copy of the current key. For
// partners of two tiers onboarded through the API, the rotation function passes that test:
// it logs the step done, no Credential Rotation Failed is on any chain, DescribeSecret shows
// rotation enabled with the next rotation the tier's interval away, nothing rotated and the
// test's version gone, and the test changed nothing: the onboarded key stays active and
// authorizes.
func TestOnboardingSwitchesRotationOnWithoutAFailure(t *testing.T) {
	canary := secrettest.Plant(t)
	s, prefix := shared(t, "lanyard", topology.Lanyard, canary)
	logsOnFailure(t, s)
	api := partnerAPI{t: t, s: s, canary: canary}
	ctx := t.Context()
	type enabled struct {
		tier        string
		days        int64 // the tier's rotation interval (policy/policy.json)
		ob          onboarded
		secretID    string
		onboardedAt time.Time
	}
	partners := []*enabled{{tier: "sandbox", days: 7}, {tier: "standard", days: 30}, {tier: "standard", days: 30}}
	for i, p := range partners {
		p.onboardedAt = time.Now()
		p.ob = api.onboardNew(fmt.Sprintf("Enabled Freight %d %s", i, harness.Name("t")), p.tier, "orders:read")
		p.secretID = partnersecret.Name(partnersecret.Prefix(prefix), p.ob.PartnerID)
	}

	// On AWS the configuration test runs after RotateSecret has answered: wait until the
	// rotation function has logged testSecret's outcome for every partner.
	outcomes, passed := map[string]string{}, map[string]bool{}
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		lines, err := functionLogLines(ctx, s.Provisioned.Functions["rotation"])
		if err != nil {
			return false, err.Error()
		}
		for _, l := range lines {
			switch {
			case l.Message == configurationTestPassed:
				passed[l.Partner] = true
			case l.Step == events.StepTestSecret && (l.Message == "rotation step done" || l.Message == "rotation step failed"):
				outcomes[l.Partner] = l.Message
			}
		}
		for _, p := range partners {
			if _, ok := outcomes[p.ob.PartnerID]; !ok {
				return false, fmt.Sprintf("no testSecret outcome logged yet for partner %s (outcomes %v)", p.ob.PartnerID, outcomes)
			}
		}
		return true, ""
	})
	var ids []string
	for _, p := range partners {
		ids = append(ids, p.ob.PartnerID)
	}
	failures, err := rotationFailures(ctx, prefix, s.Provisioned.Tables["outbox"], ids...)
	if err != nil {
		t.Fatal(err)
	}
	if len(failures) > 0 {
		t.Errorf("onboarding left Credential Rotation Failed behind:\n%s", strings.Join(failures, "\n"))
	}

	reg := &registry.Store{DB: env.DynamoDB, Table: s.Provisioned.Tables["credentials"]}
	for _, p := range partners {
		if got := outcomes[p.ob.PartnerID]; got != "rotation step done" || !passed[p.ob.PartnerID] {
			t.Errorf("partner %s (%s): testSecret logged %q, the configuration test passed: %t", p.ob.PartnerID, p.tier, got, passed[p.ob.PartnerID])
		}
		d, err := env.SecretsManager.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(p.secretID)})
		if err != nil {
			t.Fatalf("describe the secret of partner %s: %v", p.ob.PartnerID, err)
		}
		if !aws.ToBool(d.RotationEnabled) || d.RotationRules == nil || aws.ToInt64(d.RotationRules.AutomaticallyAfterDays) != p.days {
			t.Errorf("partner %s (%s): rotation enabled %v, rules %+v; want enabled every %d days", p.ob.PartnerID, p.tier, aws.ToBool(d.RotationEnabled), d.RotationRules, p.days)
		}
		want := p.onboardedAt.Add(time.Duration(p.days) * 24 * time.Hour)
		if d.NextRotationDate == nil || d.NextRotationDate.Sub(want).Abs() > 24*time.Hour {
			t.Errorf("partner %s (%s): NextRotationDate %v, want about %s", p.ob.PartnerID, p.tier, d.NextRotationDate, want.UTC())
		}
		if d.LastRotatedDate != nil {
			t.Errorf("partner %s: LastRotatedDate %s, want none: nothing was rotated", p.ob.PartnerID, d.LastRotatedDate)
		}
		if len(d.VersionIdsToStages) != 1 {
			t.Errorf("partner %s: versions %v, want the onboarded one only (the test's AWSPENDING version removed)", p.ob.PartnerID, d.VersionIdsToStages)
		}
		for v, stages := range d.VersionIdsToStages {
			if !slices.Equal(stages, []string{partnersecret.StageCurrent}) {
				t.Errorf("partner %s: version %s staged %v, want AWSCURRENT only", p.ob.PartnerID, v, stages)
			}
		}
		e, err := reg.Get(ctx, credential.KeyID(p.ob.KeyID))
		if err != nil || e.Status != registry.StatusActive || e.PartnerID != p.ob.PartnerID {
			t.Errorf("partner %s: the onboarded key's entry %s of %s (%v), want active", p.ob.PartnerID, e.Status, e.PartnerID, err)
		}
		if me := send(t, s, http.MethodGet, "/v1/partners/me", "Bearer "+p.ob.APIKey, ""); me.status != http.StatusOK {
			t.Errorf("partner %s: the onboarded key answered %d", p.ob.PartnerID, me.status)
		}
	}
	checkCanaries(t, s, canary)
}

// configurationTestPassed is what the rotation function logs when testSecret passes Secrets
// Manager's test of the rotation configuration (shared/features/rotation's configurationTest).
const configurationTestPassed = "testSecret: the rotation configuration's test passed (the pending version is a copy of the current key)"

// logLine is the part of a function's JSON log line the tests read.
type logLine struct {
	Message string `json:"message"`
	Step    string `json:"step"`
	Partner string `json:"partner"`
	Skipped int    `json:"skipped"` // the audit writer's batch lines
}

// functionLogLines reads the JSON lines the deployed function fn wrote to CloudWatch Logs.
func functionLogLines(ctx context.Context, fn string) ([]logLine, error) {
	p := cloudwatchlogs.NewFilterLogEventsPaginator(env.Logs, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("/aws/lambda/" + fn)})
	var lines []logLine
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("read the logs of %s: %w", fn, err)
		}
		for _, e := range page.Events {
			for text := range strings.SplitSeq(aws.ToString(e.Message), "\n") {
				var l logLine
				if i := strings.Index(text, "{"); i >= 0 && json.Unmarshal([]byte(text[i:]), &l) == nil {
					lines = append(lines, l)
				}
			}
		}
	}
	return lines, nil
}

// noRotationFailure fails the test if any partner's outbox chain in the suite under prefix
// holds Credential Rotation Failed. Onboarding switches rotation on, and the configuration
// test Secrets Manager runs then must pass; no test provokes a failing rotation, so start and
// startScheduled run this when the test ends, before the deployment is removed (and the
// shared deployments, when the package's tests are done). A topology without an
// outbox table, or a suite that never started, has nothing to check.
func noRotationFailure(t *testing.T, prefix string, tp *topology.Topology) {
	t.Helper()
	if !slices.ContainsFunc(tp.Tables, func(tb topology.Table) bool { return tb.Name == "outbox" }) {
		return
	}
	failures, err := rotationFailures(context.Background(), prefix, prefix+"-outbox")
	switch {
	case gone(err):
	case err != nil:
		t.Errorf("look for Credential Rotation Failed: %v", err)
	case len(failures) > 0:
		t.Errorf("the test left Credential Rotation Failed behind:\n%s", strings.Join(failures, "\n"))
	}
}

// rotationFailures describes every Credential Rotation Failed record of the outbox table
// (partner, step, reason, version), reading the whole table consistently; of the partners
// named only, when any are.
func rotationFailures(ctx context.Context, prefix, table string, partners ...string) ([]string, error) {
	p := dynamodb.NewScanPaginator(env.DynamoDB, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	var out []string
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("scan the outbox of %s: %w", prefix, err)
		}
		for _, item := range page.Items {
			if _, seq, err := outbox.KeyOf(item); err != nil || seq == outbox.HeadSeq {
				continue
			}
			rec, err := outbox.RecordFromItem(item)
			if err != nil {
				return nil, err
			}
			if rec.DetailType != events.TypeCredentialRotationFailed || len(partners) > 0 && !slices.Contains(partners, rec.Chain) {
				continue
			}
			var f events.CredentialRotationFailed
			if err := json.Unmarshal(rec.Detail, &f); err != nil {
				return nil, fmt.Errorf("outbox record %s/%d: %w", rec.Chain, rec.Seq, err)
			}
			out = append(out, fmt.Sprintf("partner %s: %s failed (%s), version %s", rec.Chain, f.Step, f.Reason, f.VersionID))
		}
	}
	return out, nil
}
