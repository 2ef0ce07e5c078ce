//go:build integration

package suite_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/fakes/iamtest"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/features/stsenforcer"
	"github.com/lanyardhq/lanyard/shared/stores/stsdenies"
	"github.com/lanyardhq/lanyard/topology"
)

// exchangedSession exchanges key for AWS credentials and returns when STS issued them (their
// expiration less the tier's session duration), the secrets planted as canaries.
func exchangedSession(t *testing.T, api partnerAPI, key, tier string) time.Time {
	t.Helper()
	p, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	var duration time.Duration
	for _, tr := range p.Tiers {
		if tr.Name == tier {
			duration = tr.TokenExchange.SessionDuration.Std()
		}
	}
	before := time.Now()
	r := send(t, api.s, http.MethodPost, "/v1/token", "Bearer "+key, "")
	after := time.Now()
	if r.status != http.StatusOK {
		t.Fatalf("POST /v1/token: %d %s", r.status, api.redacted(r.body))
	}
	var creds struct {
		AccessKeyID     string    `json:"accessKeyId"`
		SecretAccessKey string    `json:"secretAccessKey"`
		SessionToken    string    `json:"sessionToken"`
		Expiration      time.Time `json:"expiration"`
	}
	decodeStrict(t, r.body, &creds)
	api.canary.Add("secret access key", creds.SecretAccessKey)
	api.canary.Add("session token", creds.SessionToken)
	issued := creds.Expiration.Add(-duration)
	if issued.Before(before.Add(-2*time.Second)) || issued.After(after.Add(2*time.Second)) {
		t.Fatalf("credentials issued at %s (expiring %s), not during the exchange %s … %s", issued, creds.Expiration, before, after)
	}
	return issued
}

// Credentials a partner exchanged before its revocation are matched by the deny the sts
// enforcer wrote on the partner-access role, read back from LocalStack's IAM and evaluated as
// IAM would (LocalStack enforces no IAM: the documents are what the test checks): the
// partner's session, by its partner tag and issue time, is denied; a bystander's session is
// not, nor is a session the partner would open after the revocation's bucket. Revocation
// Completed lists the gateway and sts enforcers with their latencies.
func TestTokensExchangedBeforeTheRevocationAreDeniedOnTheRole(t *testing.T) {
	canary := secrettest.Plant(t)
	s, _ := shared(t, "lanyard", topology.Lanyard, canary)
	logsOnFailure(t, s)
	api := partnerAPI{t: t, s: s, canary: canary}
	a := api.onboardNew("Cut-off Freight "+harness.Name("t"), "standard", "orders:read")
	b := api.onboardNew("Bystander Freight "+harness.Name("t"), "standard", "orders:read")
	issuedA := exchangedSession(t, api, a.APIKey, "standard")
	issuedB := exchangedSession(t, api, b.APIKey, "standard")

	if r := revokeWith(t, s, a.APIKey, "application/x-www-form-urlencoded", revokeForm(a.APIKey)); r.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.status, api.redacted(r.body))
	}
	id := lastRevocationID(t, s, a.PartnerID)
	done := waitCompleted(t, s, a.PartnerID, id, enforcementWait(t)+90*time.Second)
	latencies := map[string]int64{}
	var longest int64
	for _, e := range done.Enforcers {
		latencies[e.Enforcer] = e.LatencyMS
		longest = max(longest, e.LatencyMS)
	}
	if _, ok := latencies[events.EnforcerSTS]; !ok || len(latencies) != len(topology.Lanyard().Enforcers()) {
		t.Fatalf("Revocation Completed reports %+v, want every declared enforcer's, sts among them", done.Enforcers)
	}
	if sts := latencies[events.EnforcerSTS]; sts <= 0 || done.TimeToEnforceMS != longest {
		t.Errorf("sts latency %d ms, time to enforce %d ms: want a latency, and the longest", sts, done.TimeToEnforceMS)
	}
	revoked := revocationTrail(t, s, a.PartnerID)[events.TypeCredentialRevoked][0].(*events.CredentialRevoked)

	// The role's policies as LocalStack's IAM holds them.
	roleARN := s.Provisioned.Roles["partner-access"]
	role := roleARN[strings.LastIndex(roleARN, "/")+1:]
	docs, err := iamtest.RoleDocuments(t.Context(), env.IAM, role)
	if err != nil {
		t.Fatal(err)
	}
	p, err := iamtest.Parse(docs)
	if err != nil {
		t.Fatalf("the role's policies: %v", err)
	}
	session := func(partner string, issued time.Time) iamtest.Request {
		return iamtest.Request{
			Strings: map[string]string{stsenforcer.PartnerKey: partner},
			Dates:   map[string]time.Time{stsenforcer.IssueTimeKey: issued},
		}
	}
	if !p.Denied(session(a.PartnerID, issuedA)) {
		t.Errorf("the revoked partner's session issued at %s is not denied by the role's policies:\n%s", issuedA, strings.Join(docs, "\n"))
	}
	if p.Denied(session(b.PartnerID, issuedB)) {
		t.Errorf("the bystander's session issued at %s is denied by the role's policies", issuedB)
	}
	tokenFn, _ := topology.Lanyard().Function("token")
	later := stsenforcer.CutoffOf(revoked.Time, tokenFn.Timeout+topology.ClockSkew)
	if p.Denied(session(a.PartnerID, later)) {
		t.Errorf("a session the partner opens after the revocation's bucket (%s) is denied", later)
	}
	// The set the documents were rendered from holds the partner, rendered.
	set := &stsdenies.Store{DB: env.DynamoDB, Table: s.Provisioned.Tables["sts-denies"]}
	st, err := set.State(t.Context())
	if err != nil || st.Rendered < 1 || st.Rendered > st.Version {
		t.Errorf("the set %+v (%v), want a version rendered", st, err)
	}
	checkCanaries(t, s, canary)
}
