//go:build integration

package suite_test

import (
	"fmt"
	"io"
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
	if len(done.Enforcers) != 2 || !slices.ContainsFunc(done.Enforcers, func(e events.EnforcerReport) bool { return e.Enforcer == events.EnforcerSTS }) {
		t.Fatalf("Revocation Completed reports %+v, want the gateway and sts enforcers'", done.Enforcers)
	}
	i := slices.IndexFunc(done.Enforcers, func(e events.EnforcerReport) bool { return e.Enforcer == events.EnforcerGateway })
	if i < 0 {
		t.Fatalf("Revocation Completed reports %+v, want the gateway enforcer's", done.Enforcers)
	}
	gw := done.Enforcers[i]
	if wait := enforcementWait(t).Milliseconds(); gw.LatencyMS < wait || done.TimeToEnforceMS < gw.LatencyMS {
		t.Errorf("gateway latency %d ms, time to enforce %d ms: want at least the enforcer's wait, %d ms, and the time to enforce no shorter", gw.LatencyMS, done.TimeToEnforceMS, wait)
	}
	trail := revocationTrail(t, s, a.PartnerID)
	if n := len(trail[events.TypeRevocationEnforced]); n != 2 {
		t.Errorf("%d Revocation Enforced, want 2", n)
	}
	rev, reports, err := (&revocations.Store{DB: env.DynamoDB, Table: s.Provisioned.Tables["revocations"]}).Get(t.Context(), id)
	if err != nil || rev.Status != revocations.StatusCompleted || len(reports) != 2 {
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
	if len(revoked) != 2 || len(enforced) != 4 {
		t.Fatalf("%d Credential Revoked and %d Revocation Enforced before the replay, want 2 and 4 (gateway and sts)", len(revoked), len(enforced))
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

// The race of a request in flight during the revoke: its authorizer invocation read the key,
// still active, before the revocation committed, and answers Allow after the revoke handler's
// flush, so the gateway caches an Allow for a revoked key. The deployment's authorizer pauses
// 3 seconds after its registry read (its faultinject build: an SDK-layer fault, the one way to
// hold an invocation between its read and its answer), and ops revoke the key meanwhile
// (SigV4, no authorizer). The in-flight request and the next one pass the gateway, and only
// the functions' own registry checks refuse them; the gateway enforcer's flush, once the
// authorizer's cache and timeout ran out, ends that: from then on the gateway itself refuses
// the key. No request with the key succeeds after the revoke returned.
func TestRequestInFlightDuringTheRevokeIsRefusedOnceTheGatewayEnforcerFlushes(t *testing.T) {
	t.Parallel() // a deployment of its own (see the package doc): its authorizer pauses
	const pause = 3 * time.Second
	canary := secrettest.Plant(t)
	s, _ := start(t, topology.Lanyard(), canary.Logger())
	logsOnFailure(t, s)
	api := partnerAPI{t: t, s: s, canary: canary}
	armAuthorizerPause(t, s, pause)
	// A malformed key makes no AWS call: it starts the paused authorizer without a pause.
	if r := send(t, s, http.MethodGet, "/v1/partners/me", "Bearer not-a-key", ""); r.status != http.StatusUnauthorized {
		t.Fatalf("a malformed key: %d", r.status)
	}

	// The race needs the in-flight invocation's read before the commit; ops' revocation goes
	// through the front, a function and a transaction, the read is one GetItem. Should the
	// read ever come second, the request is refused at the gateway and the race is tried again
	// with a new partner.
	var a onboarded
	var revoked time.Time
	for attempt := 1; ; attempt++ {
		a = api.onboardNew("In-flight Freight "+harness.Name("t"), "standard", "orders:read")
		started := s.Front.Stats().AuthorizerInvocations
		inflight := make(chan reply, 1)
		go func() { inflight <- sendQuiet(s, http.MethodGet, "/v1/partners/me", "Bearer "+a.APIKey) }()
		harness.Eventually(t, 10*time.Second, func() (bool, string) {
			return s.Front.Stats().AuthorizerInvocations > started, "the front has not invoked the authorizer yet"
		})
		body := fmt.Sprintf(`{"all":true,"reason":%q}`, events.RevocationCompromised)
		if r := sendSigned(t, s, "/v1/admin/partners/"+a.PartnerID+"/revoke", body, localCreds, time.Now()); r.status != http.StatusOK {
			t.Fatalf("ops revoke: %d %s", r.status, api.redacted(r.body))
		}
		revoked = time.Now()
		r := <-inflight
		if r.status == 0 {
			t.Fatalf("the in-flight request failed: %s", r.body)
		}
		if r.status == http.StatusOK {
			t.Fatal("the in-flight request succeeded after its key was revoked")
		}
		if !refusedByTheGateway(r) {
			break // it passed the gateway: the race happened
		}
		if attempt == 3 {
			t.Fatalf("in %d attempts the in-flight invocation never read the key before the revocation committed", attempt)
		}
	}

	// The gateway now holds an Allow for the revoked key: the next request passes it, and the
	// function refuses it.
	if r := send(t, s, http.MethodGet, "/v1/partners/me", "Bearer "+a.APIKey, ""); r.status != http.StatusForbidden || refusedByTheGateway(r) {
		t.Fatalf("right after the race: %d %v, want the function's 403 behind the gateway's cached Allow", r.status, r.header)
	}
	deadline := enforcementWait(t) + 30*time.Second
	harness.Eventually(t, deadline, func() (bool, string) {
		r := send(t, s, http.MethodGet, "/v1/partners/me", "Bearer "+a.APIKey, "")
		if r.status == http.StatusOK {
			t.Fatalf("the revoked key succeeded %s after its revocation", time.Since(revoked))
		}
		return refusedByTheGateway(r), fmt.Sprintf("%s after the revocation the gateway still lets the key through", time.Since(revoked).Round(time.Millisecond))
	})
	refusedAt := time.Since(revoked)
	if refusedAt < enforcementWait(t)-time.Second {
		t.Errorf("the gateway refused the key %s after the revocation, before the enforcer's flush was due (%s): the race was not what this test shows", refusedAt, enforcementWait(t))
	}
	t.Logf("the gateway refused the key %s after the revocation (enforcer's flush due after %s)", refusedAt.Round(time.Millisecond), enforcementWait(t))
	waitCompleted(t, s, a.PartnerID, lastRevocationID(t, s, a.PartnerID), deadline+30*time.Second)
	checkCanaries(t, s, canary)
}

// sendQuiet is send for a goroutine: it never fails the test, and answers status 0 and the
// error as body when the request fails.
func sendQuiet(s *suite.Suite, method, path, key string) reply {
	req, err := http.NewRequest(method, s.APIURL+path, nil)
	if err != nil {
		return reply{body: []byte(err.Error())}
	}
	req.Header.Set("Authorization", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return reply{body: []byte(err.Error())}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{body: []byte(err.Error())}
	}
	return reply{method: method, path: path, status: resp.StatusCode, header: resp.Header, body: body}
}
