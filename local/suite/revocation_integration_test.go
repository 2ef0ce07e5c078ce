//go:build integration

package suite_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/local/suite"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/partnersecret"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/features/usage"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
	"github.com/lanyardhq/lanyard/shared/stores/revocations"
	"github.com/lanyardhq/lanyard/topology"
)

// enforcementWait is how long after a revocation the gateway enforcer flushes the stage a
// second time: the authorizer's key-cache TTL (the policy's) and its timeout (the topology's).
func enforcementWait(t *testing.T) time.Duration {
	t.Helper()
	p, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	return p.Authorizer.KeyCacheTTL.Std() + topology.AuthorizerTimeout
}

// refusedByTheGateway says the front itself refused r: the authorizer's Deny (API Gateway's
// ACCESS_DENIED response, with its x-amzn-ErrorType), not a function reading the registry.
func refusedByTheGateway(r reply) bool {
	return r.status == http.StatusForbidden && r.header.Get("x-amzn-ErrorType") != ""
}

// revocationTrail reads the revocation events of partnerID's audit chain, by detail type, and
// checks the chain.
func revocationTrail(t *testing.T, s *suite.Suite, partnerID string) map[string][]events.Detail {
	t.Helper()
	store := &outbox.Store{DB: env.DynamoDB, Table: s.Provisioned.Tables["outbox"]}
	recs, err := store.Records(t.Context(), partnerID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]events.Detail{}
	for _, rec := range recs {
		switch rec.DetailType {
		case events.TypeCredentialRevoked, events.TypeRevocationEnforced, events.TypeRevocationCompleted, events.TypeRevocationStalled:
			d, err := rec.Event()
			if err != nil {
				t.Fatal(err)
			}
			out[rec.DetailType] = append(out[rec.DetailType], d)
		}
	}
	if err := store.VerifyPartner(t.Context(), partnerID); err != nil {
		t.Errorf("the audit chain of %s: %v", partnerID, err)
	}
	return out
}

// waitCompleted waits for the Revocation Completed of revocationID on partnerID's audit chain.
func waitCompleted(t *testing.T, s *suite.Suite, partnerID, revocationID string, within time.Duration) *events.RevocationCompleted {
	t.Helper()
	var done *events.RevocationCompleted
	harness.Eventually(t, within, func() (bool, string) {
		for _, d := range revocationTrail(t, s, partnerID)[events.TypeRevocationCompleted] {
			if c := d.(*events.RevocationCompleted); c.RevocationID == revocationID {
				done = c
				return true, ""
			}
		}
		return false, "no Revocation Completed of " + revocationID + " yet"
	})
	return done
}

// lastRevocationID is the revocation id of partnerID's latest Credential Revoked.
func lastRevocationID(t *testing.T, s *suite.Suite, partnerID string) string {
	t.Helper()
	revoked := revocationTrail(t, s, partnerID)[events.TypeCredentialRevoked]
	if len(revoked) == 0 {
		t.Fatalf("partner %s has no Credential Revoked", partnerID)
	}
	return revoked[len(revoked)-1].(*events.CredentialRevoked).RevocationID
}

// apiKeyEnabled says whether partnerID's API Gateway API key is enabled.
func apiKeyEnabled(t *testing.T, partnerID string) bool {
	t.Helper()
	out, err := env.APIGateway.GetApiKeys(t.Context(), &apigateway.GetApiKeysInput{
		NameQuery: aws.String(usage.KeyName(partnerID)), IncludeValues: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range out.Items {
		if aws.ToString(k.Name) == usage.KeyName(partnerID) {
			return k.Enabled
		}
	}
	t.Fatalf("partner %s has no API key", partnerID)
	return false
}

// A key that just succeeded — its Allow in the front's cache, its entry just read by a warm
// authorizer instance — is refused by the gateway itself from the moment its revoke call
// returns: the revoke handler flushed the stage after its commit, and the authorizer keeps no
// key in memory (keyCacheTtl 0s), so the next request meets the registry. It can no longer
// pick up, acknowledge, exchange tokens or revoke. The gateway enforcer takes Credential
// Revoked through its queue, flushes again once the authorizer's cache and timeout ran out,
// disables the partner's API key (its only key is revoked) and reports; the tracker records
// Revocation Completed with the enforcer's latency. A bystander's key works throughout.
func TestRevokedKeyIsRefusedWithinASecondAndTheRevocationIsProved(t *testing.T) {
	canary := secrettest.Plant(t)
	s, _ := shared(t, "lanyard", topology.Lanyard, canary)
	logsOnFailure(t, s)
	api := partnerAPI{t: t, s: s, canary: canary}
	a := api.onboardNew("Revoked Freight "+harness.Name("t"), "standard", "orders:read")
	b := api.onboardNew("Bystander Freight "+harness.Name("t"), "standard", "orders:read")
	for _, k := range []string{a.APIKey, b.APIKey} {
		if r := send(t, s, http.MethodGet, "/v1/partners/me", "Bearer "+k, ""); r.status != http.StatusOK {
			t.Fatalf("before the revocation: %d %s", r.status, api.redacted(r.body))
		}
	}
	if !apiKeyEnabled(t, a.PartnerID) {
		t.Fatal("the partner's API key is disabled before any revocation")
	}

	if r := revokeWith(t, s, a.APIKey, "application/x-www-form-urlencoded", revokeForm(a.APIKey)); r.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.status, api.redacted(r.body))
	}
	returned := time.Now()
	first := send(t, s, http.MethodGet, "/v1/partners/me", "Bearer "+a.APIKey, "")
	if !refusedByTheGateway(first) {
		t.Fatalf("the first request after the revoke returned (%s later): %d %v %s, want the gateway's 403",
			time.Since(returned), first.status, first.header, api.redacted(first.body))
	}
	if took := time.Since(returned); took > time.Second {
		t.Errorf("the gateway refused the revoked key %s after the revoke returned, want within a second", took)
	}
	for _, r := range []reply{
		send(t, s, http.MethodGet, "/v1/credentials/current", "Bearer "+a.APIKey, ""),
		send(t, s, http.MethodPost, "/v1/credentials/ack", "Bearer "+a.APIKey, ""),
		send(t, s, http.MethodPost, "/v1/token", "Bearer "+a.APIKey, ""),
		revokeWith(t, s, a.APIKey, "application/x-www-form-urlencoded", revokeForm(b.APIKey)),
	} {
		canary.CheckText("refusal of "+r.path, string(r.body))
		if !refusedByTheGateway(r) {
			t.Errorf("%s %s with the revoked key: %d %s, want the gateway's 403", r.method, r.path, r.status, api.redacted(r.body))
		}
	}

	id := lastRevocationID(t, s, a.PartnerID)
	done := waitCompleted(t, s, a.PartnerID, id, enforcementWait(t)+60*time.Second)
	if len(done.Enforcers) != 1 || done.Enforcers[0].Enforcer != events.EnforcerGateway {
		t.Fatalf("Revocation Completed reports %+v, want the gateway enforcer's alone", done.Enforcers)
	}
	gw := done.Enforcers[0]
	if wait := enforcementWait(t).Milliseconds(); gw.LatencyMS < wait || done.TimeToEnforceMS != gw.LatencyMS {
		t.Errorf("gateway latency %d ms, time to enforce %d ms: want at least the enforcer's wait, %d ms, and equal", gw.LatencyMS, done.TimeToEnforceMS, wait)
	}
	trail := revocationTrail(t, s, a.PartnerID)
	if n := len(trail[events.TypeRevocationEnforced]); n != 1 {
		t.Errorf("%d Revocation Enforced, want 1", n)
	}
	rev, reports, err := (&revocations.Store{DB: env.DynamoDB, Table: s.Provisioned.Tables["revocations"]}).Get(t.Context(), id)
	if err != nil || rev.Status != revocations.StatusCompleted || len(reports) != 1 {
		t.Errorf("the revocation's item: %+v, %d reports, %v", rev, len(reports), err)
	}
	if apiKeyEnabled(t, a.PartnerID) {
		t.Error("the partner's API key is still enabled with every key revoked")
	}
	if !apiKeyEnabled(t, b.PartnerID) {
		t.Error("the bystander's API key was disabled")
	}
	if r := send(t, s, http.MethodGet, "/v1/partners/me", "Bearer "+b.APIKey, ""); r.status != http.StatusOK {
		t.Errorf("the bystander's key: %d %s", r.status, api.redacted(r.body))
	}
	checkCanaries(t, s, canary)
}

// Every revocation event delivered again, twice and out of order — the partner's two Credential
// Revoked in reverse order, each twice, and a Revocation Enforced twice — changes nothing: the
// gateway enforcer finds its reports and reports nothing more, the tracker finds the
// revocations completed, and the registry, the revocations and the audit chain stay as they
// were. Each redelivery reaches its function through the bus, its rule and its queue.
func TestRevocationEventsDeliveredAgainAndOutOfOrderChangeNothing(t *testing.T) {
	canary := secrettest.Plant(t)
	s, prefix := shared(t, "lanyard", topology.Lanyard, canary)
	logsOnFailure(t, s)
	api := partnerAPI{t: t, s: s, canary: canary}
	ctx := t.Context()
	a := api.onboardNew("Replayed Freight "+harness.Name("t"), "standard", "orders:read")

	// Two keys (a rotation), two revocations: the previous key, then the current one.
	secretID := partnersecret.Name(partnersecret.Prefix(prefix), a.PartnerID)
	if _, err := env.SecretsManager.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(secretID)}); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	cur, err := env.SecretsManager.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)})
	if err != nil {
		t.Fatal(err)
	}
	current := aws.ToString(cur.SecretString)
	canary.Add("current key", current)
	var ids []string
	for _, token := range []string{a.APIKey, current} {
		if r := revokeWith(t, s, current, "application/x-www-form-urlencoded", revokeForm(token)); r.status != http.StatusOK {
			t.Fatalf("revoke: %d %s", r.status, api.redacted(r.body))
		}
		ids = append(ids, lastRevocationID(t, s, a.PartnerID))
	}
	for _, id := range ids {
		waitCompleted(t, s, a.PartnerID, id, enforcementWait(t)+60*time.Second)
	}
	before := revocationTrail(t, s, a.PartnerID)
	revTable := &revocations.Store{DB: env.DynamoDB, Table: s.Provisioned.Tables["revocations"]}
	items := func() string {
		t.Helper()
		var b strings.Builder
		for _, id := range ids {
			rev, reports, err := revTable.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%+v %+v\n", rev, reports)
		}
		return b.String()
	}
	itemsBefore := items()
	reg := &registry.Store{DB: env.DynamoDB, Table: s.Provisioned.Tables["credentials"]}
	keyStatuses := func() []registry.Status {
		t.Helper()
		var out []registry.Status
		for _, k := range []string{a.APIKey, current} {
			key, err := credential.Parse(k)
			if err != nil {
				t.Fatal("a key does not parse")
			}
			e, err := reg.Get(ctx, key.ID())
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, e.Status)
		}
		return out
	}
	statusesBefore := keyStatuses()

	// Deliver again: the later revocation first, each twice, then a report twice.
	detail := func(d events.Detail) string {
		t.Helper()
		_, raw, err := events.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return string(raw)
	}
	revoked := before[events.TypeCredentialRevoked]
	enforced := before[events.TypeRevocationEnforced]
	if len(revoked) != 2 || len(enforced) != 2 {
		t.Fatalf("%d Credential Revoked and %d Revocation Enforced before the replay, want 2 and 2", len(revoked), len(enforced))
	}
	enforcerLines := countLines(t, s, "revocation-gateway", "revocation enforced already")
	trackerLines := countLines(t, s, "revocation-tracker", "revocation report settled")
	putEvents(t, s.Provisioned.Bus, []event{
		{events.TypeCredentialRevoked, detail(revoked[1])}, {events.TypeCredentialRevoked, detail(revoked[1])},
		{events.TypeCredentialRevoked, detail(revoked[0])}, {events.TypeCredentialRevoked, detail(revoked[0])},
		{events.TypeRevocationEnforced, detail(enforced[0])}, {events.TypeRevocationEnforced, detail(enforced[0])},
	})
	// Each function says it took each redelivery: the enforcer found its report, the tracker
	// found the revocation completed.
	harness.Eventually(t, 60*time.Second, func() (bool, string) {
		e := countLines(t, s, "revocation-gateway", "revocation enforced already") - enforcerLines
		k := countLines(t, s, "revocation-tracker", "revocation report settled") - trackerLines
		return e >= 4 && k >= 2, fmt.Sprintf("the enforcer took %d of 4 redeliveries, the tracker %d of 2", e, k)
	})

	after := revocationTrail(t, s, a.PartnerID)
	for _, dt := range []string{events.TypeCredentialRevoked, events.TypeRevocationEnforced, events.TypeRevocationCompleted, events.TypeRevocationStalled} {
		if len(after[dt]) != len(before[dt]) {
			t.Errorf("%d %s after the redeliveries, %d before", len(after[dt]), dt, len(before[dt]))
		}
	}
	if got := items(); got != itemsBefore {
		t.Errorf("the revocations' items changed:\nbefore %s\nafter  %s", itemsBefore, got)
	}
	if got := keyStatuses(); !slices.Equal(got, statusesBefore) {
		t.Errorf("key statuses %v, before %v", got, statusesBefore)
	}
	checkCanaries(t, s, canary)
}

// countLines counts the lines of the declared function's log that hold message.
func countLines(t *testing.T, s *suite.Suite, function, message string) int {
	t.Helper()
	lines, err := functionLogLines(t.Context(), s.Provisioned.Functions[function])
	if err != nil {
		return 0 // no log group yet: the function has not run
	}
	n := 0
	for _, l := range lines {
		if l.Message == message {
			n++
		}
	}
	return n
}
