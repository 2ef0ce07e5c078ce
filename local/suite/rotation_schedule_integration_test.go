//go:build integration

package suite_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dynamotypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/local/suite"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/partnersecret"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
	"github.com/lanyardhq/lanyard/topology"
)

// startScheduled is start with the rotation scheduler compressed: a rotation "day" lasts day
// and the scheduler looks for due secrets every interval. Otherwise the same: a fresh prefix,
// free ports, and the same removal when the test ends.
func startScheduled(t *testing.T, tp *topology.Topology, logger *slog.Logger, day, interval time.Duration) (*suite.Suite, string) {
	t.Helper()
	prefix := harness.Name("lanyard")
	// Registered first, so it runs last and also removes what a failed Start left behind.
	t.Cleanup(func() { down(t, prefix, tp) })
	t.Cleanup(func() { noRotationFailure(t, prefix, tp) })
	began := time.Now()
	opts := suiteOptions(tp, prefix, logger)
	opts.RotationDay, opts.RotationInterval = day, interval
	s, err := suite.Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("start the suite (run `scripts/build.sh local` first): %v", err)
	}
	t.Logf("suite %s up in %s at %s (rotation day %s, scheduler every %s)", prefix, time.Since(began).Round(time.Millisecond), s.APIURL, day, interval)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("close the suite: %v", err)
		}
		select {
		case err := <-s.Err():
			t.Errorf("the suite stopped on its own: %v", err)
		default:
		}
	})
	return s, prefix
}

// A scheduled rotation fires through `lanyard local` without anyone calling RotateSecret: a
// sandbox partner (rotation every 7 days, compressed to 7 seconds) gets a new AWSCURRENT key
// from the suite's scheduler, LocalStack and the production rotation function; the new key
// works on GET /v1/partners/me, the registry holds it active and the key it replaced previous
// (the onboarded key still authorizes, in its grace), and Credential Rotated is on the
// partner's audit chain.
func TestScheduledRotationThroughLocal(t *testing.T) {
	t.Parallel() // a deployment of its own (see the package doc)
	canary := secrettest.Plant(t)
	s, prefix := startScheduled(t, topology.Lanyard(), canary.Logger(), time.Second, 200*time.Millisecond)
	logsOnFailure(t, s)
	api := partnerAPI{t: t, s: s, canary: canary}
	ctx := t.Context()
	name := "Scheduled Freight " + harness.Name("t")
	inv := api.invite(name, "sandbox")
	r := api.onboard(harness.Name("idem"), onboardBody(name, inv.InviteCode, "orders:read"))
	if r.status != http.StatusCreated {
		t.Fatalf("onboard: %d %s", r.status, api.redacted(r.body))
	}
	onboardedAt := time.Now()
	var ob onboarded
	decodeStrict(t, r.body, &ob)
	canary.Add("onboarded key", ob.APIKey)
	secretID := partnersecret.Name(partnersecret.Prefix(prefix), ob.PartnerID)

	desc, err := env.SecretsManager.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretID)})
	if err != nil {
		t.Fatalf("describe the partner's secret: %v", err)
	}
	if !aws.ToBool(desc.RotationEnabled) || desc.RotationRules == nil || aws.ToInt64(desc.RotationRules.AutomaticallyAfterDays) != 7 {
		t.Fatalf("rotation after onboarding: enabled %v, rules %+v; want every 7 days (sandbox)", aws.ToBool(desc.RotationEnabled), desc.RotationRules)
	}
	first := currentVersion(desc.VersionIdsToStages)
	if first == "" {
		t.Fatalf("no AWSCURRENT version: %v", desc.VersionIdsToStages)
	}

	// Nobody calls RotateSecret here: the suite's scheduler does, once the 7 "days" are up.
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		d, err := env.SecretsManager.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretID)})
		if err != nil {
			return false, err.Error()
		}
		if cur := currentVersion(d.VersionIdsToStages); cur != first && cur != "" {
			return true, ""
		}
		return false, fmt.Sprintf("AWSCURRENT still on the onboarded version (versions %v)", d.VersionIdsToStages)
	})
	t.Logf("first scheduled rotation seen %s after onboarding", time.Since(onboardedAt).Round(100*time.Millisecond))
	// The 7 compressed days count from the secret's creation, which the onboarding answer can
	// follow by seconds on a loaded machine (it switches rotation on, and LocalStack runs the
	// configuration test before answering). CreatedDate is kept in whole seconds: the due time
	// can fall up to a second early.
	if desc.CreatedDate == nil {
		t.Fatal("the partner's secret has no CreatedDate")
	}
	if d := time.Since(*desc.CreatedDate); d < 5*time.Second {
		t.Errorf("the secret rotated %s after it was created, well before its 7 compressed days", d)
	}

	// The scheduler keeps rotating every 7 s: read the key, the front and the registry until
	// they are seen between two rotations.
	reg := &registry.Store{DB: env.DynamoDB, Table: s.Provisioned.Tables["credentials"]}
	harness.Eventually(t, 20*time.Second, func() (bool, string) {
		cur, err := env.SecretsManager.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)})
		if err != nil {
			return false, "read AWSCURRENT: " + err.Error()
		}
		plain := aws.ToString(cur.SecretString)
		canary.Add("key in version "+aws.ToString(cur.VersionId), plain)
		if plain == ob.APIKey {
			return false, "AWSCURRENT holds the onboarded key"
		}
		key, err := credential.Parse(plain)
		if err != nil {
			return false, "AWSCURRENT does not hold a key: " + err.Error()
		}
		me := send(t, s, http.MethodGet, "/v1/partners/me", "Bearer "+plain, "") //nolint:contextcheck // send uses the test's context, t.Context()
		if me.status != http.StatusOK {
			return false, fmt.Sprintf("GET /v1/partners/me with the new key answered %d", me.status)
		}
		var prof profile
		decodeStrict(t, me.body, &prof)
		if prof.KeyID != string(key.ID()) || prof.PartnerID != ob.PartnerID {
			return false, fmt.Sprintf("profile %+v for key %s", prof, key.ID())
		}
		statuses, err := partnerKeys(ctx, s.Provisioned.Tables["credentials"], ob.PartnerID)
		if err != nil {
			return false, err.Error()
		}
		var active, previous []string
		for id, st := range statuses {
			switch st {
			case registry.StatusActive:
				active = append(active, id)
			case registry.StatusPrevious:
				previous = append(previous, id)
			}
		}
		if !slices.Equal(active, []string{string(key.ID())}) || len(previous) != 1 {
			return false, fmt.Sprintf("registry of %s: %v; want %s alone active and one previous key", ob.PartnerID, statuses, key.ID())
		}
		e, err := reg.Get(ctx, credential.KeyID(previous[0]))
		if err != nil || !e.GraceUntil.After(time.Now().Add(23*time.Hour)) {
			return false, fmt.Sprintf("previous key %s: grace until %s (%v); want a day's grace (sandbox)", previous[0], e.GraceUntil, err)
		}
		return true, ""
	})

	// The onboarded key is previous (or, after a second rotation, retired); while previous it
	// still authorizes.
	first0, err := credential.Parse(ob.APIKey)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := reg.Get(ctx, first0.ID()); err != nil || (e.Status != registry.StatusPrevious && e.Status != registry.StatusRetired) {
		t.Errorf("the onboarded key is %s (%v), want previous or retired", e.Status, err)
	} else if e.Status == registry.StatusPrevious {
		if me := send(t, s, http.MethodGet, "/v1/partners/me", "Bearer "+ob.APIKey, ""); me.status != http.StatusOK {
			t.Errorf("the onboarded key, previous, answered %d", me.status)
		}
	}
	noStrandedPending(t, secretID)

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
	if rotated == 0 {
		t.Error("no Credential Rotated on the partner's audit chain")
	}
	if err := store.VerifyPartner(ctx, ob.PartnerID); err != nil {
		t.Errorf("the partner's audit chain: %v", err)
	}
	checkCanaries(t, s, canary)
}

// currentVersion is the version holding AWSCURRENT, or "".
func currentVersion(stages map[string][]string) string {
	for v, labels := range stages {
		if slices.Contains(labels, partnersecret.StageCurrent) {
			return v
		}
	}
	return ""
}

// partnerKeys reads the status of each of the partner's keys from the registry, by key id
// (a consistent scan: the suite's table holds a handful of keys).
func partnerKeys(ctx context.Context, table, partnerID string) (map[string]registry.Status, error) {
	out := map[string]registry.Status{}
	p := dynamodb.NewScanPaginator(env.DynamoDB, &dynamodb.ScanInput{
		TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		FilterExpression:          aws.String("partnerId = :p"),
		ExpressionAttributeValues: map[string]dynamotypes.AttributeValue{":p": &dynamotypes.AttributeValueMemberS{Value: partnerID}},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("scan the registry: %w", err)
		}
		for _, item := range page.Items {
			e, err := registry.EntryFromItem(item)
			if err != nil {
				return nil, err
			}
			out[string(e.KeyID)] = e.Status
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no keys of %s in the registry", partnerID)
	}
	return out, nil
}

// Ops rotate a partner's key now through the API (`lanyard rotate`): the route, SigV4-signed,
// asks Secrets Manager (LocalStack) to rotate, which runs the production rotation function
// before it answers; the 202 names the version that is AWSCURRENT now, and its key works.
// Unsigned requests and unknown partners are refused.
func TestRotateOnDemandThroughLocal(t *testing.T) {
	canary := secrettest.Plant(t)
	s, prefix := shared(t, "lanyard", topology.Lanyard, canary)
	logsOnFailure(t, s)
	api := partnerAPI{t: t, s: s, canary: canary}
	ctx := t.Context()
	name := "On Demand Freight " + harness.Name("t")
	ob := api.onboardNew(name, "standard", "orders:read")
	secretID := partnersecret.Name(partnersecret.Prefix(prefix), ob.PartnerID)
	path := "/v1/admin/partners/" + ob.PartnerID + "/rotate"

	send(t, s, http.MethodPost, path, "", "").wantProblem(t, "MISSING_AUTHENTICATION_TOKEN", http.StatusForbidden)
	wantFunctionProblem(t, sendSigned(t, s, "/v1/admin/partners/p-aaaaaaaaaaaaaaaaaaaaaaaaaa/rotate", "", localCreds, time.Now()), http.StatusNotFound, "not-found")

	var versions []string
	for round := 1; round <= 2; round++ {
		resp := sendSigned(t, s, path, "", localCreds, time.Now())
		if resp.status != http.StatusAccepted {
			t.Fatalf("rotation %d: %d %s", round, resp.status, api.redacted(resp.body))
		}
		var started struct {
			PartnerID       string    `json:"partnerId"`
			SecretARN       string    `json:"secretArn"`
			VersionID       string    `json:"versionId"`
			RotationStarted time.Time `json:"rotationStarted"`
		}
		decodeStrict(t, resp.body, &started)
		if started.PartnerID != ob.PartnerID || !strings.Contains(started.SecretARN, ":secret:"+secretID+"-") || started.VersionID == "" {
			t.Fatalf("rotation %d: %+v", round, started)
		}
		versions = append(versions, started.VersionID)
		// LocalStack ran the four steps inside RotateSecret: the version is current already.
		d, err := env.SecretsManager.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretID)})
		if err != nil {
			t.Fatal(err)
		}
		if cur := currentVersion(d.VersionIdsToStages); cur != started.VersionID {
			t.Fatalf("rotation %d: AWSCURRENT on %s, the answer named %s", round, cur, started.VersionID)
		}
		noStrandedPending(t, secretID)
		cur, err := env.SecretsManager.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)})
		if err != nil {
			t.Fatal(err)
		}
		canary.Add(fmt.Sprintf("key of rotation %d", round), aws.ToString(cur.SecretString))
		if me := send(t, s, http.MethodGet, "/v1/partners/me", "Bearer "+aws.ToString(cur.SecretString), ""); me.status != http.StatusOK {
			t.Errorf("rotation %d: the new key answered %d", round, me.status)
		}
	}
	statuses, err := partnerKeys(ctx, s.Provisioned.Tables["credentials"], ob.PartnerID)
	if err != nil {
		t.Fatal(err)
	}
	count := map[registry.Status]int{}
	for _, st := range statuses {
		count[st]++
	}
	if count[registry.StatusActive] != 1 || count[registry.StatusPrevious] != 1 || count[registry.StatusRetired] != 1 || len(statuses) != 3 {
		t.Errorf("registry after two rotations on demand: %v; want one active, one previous, one retired", statuses)
	}
	// The function logged who asked.
	if logs := functionLogs(t, s)["rotation-admin"]; !strings.Contains(logs, "on-demand rotation requested") || !strings.Contains(logs, `"caller"`) {
		t.Errorf("the rotation-admin function's log does not name the caller")
	}
	// Each request is on the partner's chain, as the version its rotation created.
	for i, d := range recordedOnce(t, s, ob.PartnerID, events.TypeCredentialRotationRequested, 2) {
		if req := d.(*events.CredentialRotationRequested); req.VersionID != versions[i] || req.Actor.Kind != events.ActorOps {
			t.Errorf("recorded %+v, want version %s by ops", req, versions[i])
		}
	}
	checkCanaries(t, s, canary)
}
