package onboarding

import (
	"context"
	crand "crypto/rand"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

// Pending → approved → picked up: exactly what an onboarding without approval creates, under
// the reserved partner id and secret version, with the onboarding collected in the same
// decision; a replay shows the key again; a second pick-up is refused.
func TestPickUp(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	p, token := f.pend("onboard", acme, "shipments:write", "orders:read")
	o := f.onboarding(p.OnboardingID)
	f.clock.Advance(time.Hour)
	decided(t, f.approve(p.OnboardingID, `{"reason":"ok"}`))
	f.clock.Advance(time.Hour)
	now := start.Add(2 * time.Hour)

	resp := f.pickup("pick", p.OnboardingID, token)
	got := created(t, resp)
	key, err := credential.Parse(got.APIKey)
	if err != nil {
		t.Fatalf("apiKey does not parse: %v", err)
	}
	wantExpiry := now.Add(90 * 24 * time.Hour) // premium: keyLifetime 2160h, from the pick-up
	if got.PartnerID != o.PartnerID || got.Tier != "premium" || !slices.Equal(got.Scopes, []string{"orders:read", "shipments:write"}) ||
		got.ExpiresAt != wantExpiry.Format(time.RFC3339Nano) || got.KeyID != string(key.ID()) {
		t.Errorf("answer %+v", got.onboarded)
	}

	sv, err := f.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(testSecretPrefix + o.PartnerID)})
	if err != nil || aws.ToString(sv.SecretString) != got.APIKey || aws.ToString(sv.VersionId) != o.SecretVersionID {
		t.Fatalf("secret: %v (version %s, reserved %s)", err, aws.ToString(sv.VersionId), o.SecretVersionID)
	}
	pt, err := (&partners.Store{DB: f.db, Table: testTables.Partners}).Get(ctx, o.PartnerID)
	if err != nil {
		t.Fatal(err)
	}
	if pt.Tier != "premium" || pt.KeyID != got.KeyID || pt.IdentityMethod != partners.IdentityMethodInvite || pt.InviteID != o.InviteID ||
		!pt.CreatedAt.Equal(now) || !strings.Contains(pt.Justification, "approved by "+opsARN) || !strings.Contains(pt.Justification, o.ID) {
		t.Errorf("partner %+v", pt)
	}
	e, err := (&registry.Store{DB: f.db, Table: testTables.Credentials}).Get(ctx, key.ID())
	if err != nil || !e.Verifier.Matches(key) || e.SecretVersionID != o.SecretVersionID || !e.NotAfter.Equal(wantExpiry) {
		t.Errorf("registry entry %+v, %v", e, err)
	}
	if c := f.onboarding(p.OnboardingID); c.Status != StatusCollected || !c.CollectedAt.Equal(now) {
		t.Errorf("onboarding %s collected at %s", c.Status, c.CollectedAt)
	}

	records := f.records(o.PartnerID)
	if want := []string{events.TypeOnboardingPending, events.TypeOnboardingApproved, events.TypePartnerOnboarded, events.TypeCredentialIssued, events.TypeCredentialPickedUp}; !slices.Equal(detailTypes(records), want) {
		t.Fatalf("outbox %v, want %v", detailTypes(records), want)
	}
	ev, _ := records[2].Event()
	po := ev.(*events.PartnerOnboarded)
	if po.Tier != "premium" || po.Identity.Method != events.ProofInvite || po.Justification != pt.Justification || po.Actor.ID != o.PartnerID {
		t.Errorf("Partner Onboarded %+v", po)
	}
	ev, _ = records[4].Event()
	picked := ev.(*events.CredentialPickedUp)
	if picked.KeyID != got.KeyID || picked.Method != events.PickedUpOnboarding || picked.OnboardingID != o.ID ||
		picked.Actor != (events.Actor{Kind: events.ActorPartner, ID: o.PartnerID}) || !picked.Time.Equal(now) {
		t.Errorf("Credential Picked Up %+v", picked)
	}
	if strings.Contains(string(records[4].Detail), got.APIKey) || strings.Contains(string(records[4].Detail), token.Reveal()) {
		t.Error("the pick-up record holds the key or the pick-up token")
	}

	// A replay with the key shows the key again, creating nothing.
	before, creates := f.counts(), f.sm.created()
	if again := f.pickup("pick", p.OnboardingID, token); again.StatusCode != 201 || again.Body != resp.Body {
		t.Errorf("replay: %d, same body %v", again.StatusCode, again.Body == resp.Body)
	}
	// Another key: collected already.
	refusal(t, f.pickup("pick-2", p.OnboardingID, token), problem.PickupInvalid)
	if after := f.counts(); after.Partners != before.Partners || after.Credentials != before.Credentials || after.Secrets != before.Secrets ||
		f.sm.created() != creates {
		t.Errorf("counts %+v then %+v", before, after)
	}
	if !f.secretExists(o.PartnerID) {
		t.Error("a refused pick-up deleted the partner's secret")
	}
	if c := f.counts(); c != (counts{Invites: 1, Partners: 1, Credentials: 1, Idempotency: 3, Outbox: 7, Secrets: 1, Onboardings: 1}) { // the replay recorded
		t.Errorf("counts %+v", c)
	}
	if strings.Contains(f.dump(), got.APIKey) || strings.Contains(f.dump(), token.Reveal()) {
		t.Error("a table holds the key or the pick-up token")
	}
}

// Before the approval: 409, not remembered under the key, so the same key works once ops
// approve.
func TestPickUpPending(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p, token := f.pend("k", acme, "shipments:write")
	before := f.counts()
	pr := refusal(t, f.pickup("pick", p.OnboardingID, token), problem.Conflict)
	if pr.Detail != PickupPendingDetail {
		t.Errorf("detail %q", pr.Detail)
	}
	if f.counts() != before {
		t.Errorf("a pick-up before the approval created something: %+v then %+v", before, f.counts())
	}
	decided(t, f.approve(p.OnboardingID, ""))
	created(t, f.pickup("pick", p.OnboardingID, token))
}

// Everything that is not an approved onboarding with its own token gets one answer, and
// creates nothing: no secret, no partner.
func TestPickUpInvalid(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	denied, dtoken := f.pend("d", "Denied Ltd", "shipments:write")
	decided(t, f.deny(denied.OnboardingID, ""))
	approved, atoken := f.pend("a", "Approved Ltd", "shipments:write")
	decided(t, f.approve(approved.OnboardingID, ""))
	other, otoken := f.pend("o", "Other Ltd", "shipments:write")
	decided(t, f.approve(other.OnboardingID, ""))
	pendingLate, ptoken := f.pend("p", "Pending Ltd", "shipments:write")

	tests := []struct {
		name  string
		id    string
		token secret.Value
		at    time.Duration // after start
	}{
		{"unknown onboarding", NewOnboardingID(), atoken, 0},
		{"malformed onboarding id", "onb-1", atoken, 0},
		{"another onboarding's token", approved.OnboardingID, otoken, 0},
		{"a token of no onboarding", approved.OnboardingID, mustToken(t), 0},
		{"denied", denied.OnboardingID, dtoken, 0},
		{"approved, expired", approved.OnboardingID, atoken, PendingLifetime},
		{"pending, expired", pendingLate.OnboardingID, ptoken, PendingLifetime},
	}
	before := f.counts()
	var bodies []string
	for i, tt := range tests {
		f.clock.Advance(start.Add(tt.at).Sub(f.clock.Now()))
		resp := f.pickup(fmt.Sprintf("invalid-%d", i), tt.id, tt.token)
		p := refusal(t, resp, problem.PickupInvalid)
		if p.Detail != problem.PickupInvalid.DefaultDetail() {
			t.Errorf("%s: detail %q", tt.name, p.Detail)
		}
		bodies = append(bodies, resp.Body)
	}
	for i := range bodies {
		if bodies[i] != bodies[0] {
			t.Errorf("%s answered differently from %s", tests[i].name, tests[0].name)
		}
	}
	after := f.counts()
	if after.Partners != 0 || after.Credentials != 0 || after.Secrets != 0 || f.sm.created() != 0 || after.Outbox != before.Outbox {
		t.Errorf("a refused pick-up created something: %+v then %+v", before, after)
	}
}

func mustToken(t *testing.T) secret.Value {
	t.Helper()
	tok, err := newPickupToken(crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Concurrent pick-ups of one onboarding with different keys: one partner, one secret, one 201.
func TestConcurrentPickUps(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p, token := f.pend("k", acme, "shipments:write")
	decided(t, f.approve(p.OnboardingID, ""))

	const n = 8
	answers := make([]lambdaevents.APIGatewayProxyResponse, n)
	var wg sync.WaitGroup
	ready := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-ready
			resp, err := f.h.Handle(context.Background(), pickupRequest(fmt.Sprintf("pick-%d", i), p.OnboardingID, token))
			if err != nil {
				t.Errorf("Handle: %v", err)
			}
			answers[i] = resp
		})
	}
	close(ready)
	wg.Wait()
	var won lambdaevents.APIGatewayProxyResponse
	for _, a := range answers {
		if a.StatusCode == 201 {
			if won.StatusCode != 0 {
				t.Error("two pick-ups answered 201")
			}
			won = a
			continue
		}
		refusal(t, a, problem.PickupInvalid)
	}
	if won.StatusCode != 201 {
		t.Fatal("no pick-up won")
	}
	got := created(t, won)
	if c := f.counts(); c.Partners != 1 || c.Credentials != 1 || c.Secrets != 1 {
		t.Errorf("counts %+v", c)
	}
	sv, err := f.sm.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(testSecretPrefix + got.PartnerID)})
	if err != nil || aws.ToString(sv.SecretString) != got.APIKey {
		t.Errorf("the secret does not hold the key answered (%v)", err)
	}
}

// The loser of a race for one onboarding keeps its hands off the secret the winner uses.
func TestPickUpRaceLoserKeepsTheSecret(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p, token := f.pend("k", acme, "shipments:write")
	decided(t, f.approve(p.OnboardingID, ""))
	var winner lambdaevents.APIGatewayProxyResponse
	var fired atomic.Bool
	f.db.Intercept = func(op string, _ any) error {
		if op == "TransactWriteItems" && fired.CompareAndSwap(false, true) {
			winner = f.pickup("winner", p.OnboardingID, token)
		}
		return nil
	}
	loser := f.pickup("loser", p.OnboardingID, token)
	f.db.Intercept = nil
	won := created(t, winner)
	refusal(t, loser, problem.PickupInvalid)
	sv, err := f.sm.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(testSecretPrefix + won.PartnerID)})
	if err != nil || aws.ToString(sv.SecretString) != won.APIKey {
		t.Fatalf("the winner's secret: %v", err)
	}
	if again := f.pickup("winner", p.OnboardingID, token); again.Body != winner.Body {
		t.Error("the winner's answer does not replay")
	}
	if again := f.pickup("loser", p.OnboardingID, token); again.Body != loser.Body {
		t.Error("the loser's refusal does not replay")
	}
}

// An approved onboarding that expires between the pick-up's checks and its commit: refused,
// and the secret the pick-up made is deleted once the onboarding is sealed expired.
func TestPickUpExpiresBeforeCommit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p, token := f.pend("k", acme, "shipments:write")
	decided(t, f.approve(p.OnboardingID, ""))
	// The pick-up's clock is read once, before its checks: move the deadline under it instead,
	// between the checks and the commit.
	var fired atomic.Bool
	f.db.Intercept = func(op string, _ any) error {
		if op == "TransactWriteItems" && fired.CompareAndSwap(false, true) {
			o := f.onboarding(p.OnboardingID)
			o.ExpiresAt = f.clock.Now()
			item, err := o.Item()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: &testTables.Onboardings, Item: item}); err != nil {
				t.Error(err)
			}
		}
		return nil
	}
	resp := f.pickup("late", p.OnboardingID, token)
	f.db.Intercept = nil
	refusal(t, resp, problem.PickupInvalid)
	o := f.onboarding(p.OnboardingID)
	if o.Status != StatusExpired {
		t.Errorf("onboarding %s, want sealed expired", o.Status)
	}
	if f.secretExists(o.PartnerID) {
		t.Error("the secret of the uncollected onboarding was left")
	}
	if c := f.counts(); c.Partners != 0 || c.Credentials != 0 {
		t.Errorf("counts %+v", c)
	}
	refusal(t, f.pickup("later", p.OnboardingID, token), problem.PickupInvalid)
}

// A pick-up that fails after creating the secret releases its claim; the retry converges on
// the same secret and partner.
func TestPickUpRetryAfterFailure(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p, token := f.pend("k", acme, "shipments:write")
	decided(t, f.approve(p.OnboardingID, ""))
	fail := true
	f.db.Intercept = func(op string, _ any) error {
		if op == "TransactWriteItems" && fail {
			fail = false
			return fmt.Errorf("injected: InternalServerError")
		}
		return nil
	}
	refusal(t, f.pickup("pick", p.OnboardingID, token), problem.Internal)
	f.db.Intercept = nil
	if c := f.counts(); c.Secrets != 1 || c.Partners != 0 {
		t.Fatalf("after the failure: %+v", c)
	}
	got := created(t, f.pickup("pick", p.OnboardingID, token))
	if got.PartnerID != f.onboarding(p.OnboardingID).PartnerID || f.sm.created() != 1 {
		t.Errorf("partner %s, %d secrets created", got.PartnerID, f.sm.created())
	}
}

// Malformed pick-ups are refused before anything is read or recorded.
func TestPickUpMalformed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p, token := f.pend("k", acme, "shipments:write")
	with := func(mutate func(*lambdaevents.APIGatewayProxyRequest)) lambdaevents.APIGatewayProxyRequest {
		r := pickupRequest("m", p.OnboardingID, token)
		mutate(&r)
		return r
	}
	tests := []struct {
		name string
		req  lambdaevents.APIGatewayProxyRequest
		want problem.Type
	}{
		{"no idempotency key", with(func(r *lambdaevents.APIGatewayProxyRequest) { delete(r.Headers, "Idempotency-Key") }), problem.MissingIdempotencyKey},
		{"text/plain", with(func(r *lambdaevents.APIGatewayProxyRequest) { r.Headers["Content-Type"] = "text/plain" }), problem.UnsupportedMediaType},
		{"not JSON", with(func(r *lambdaevents.APIGatewayProxyRequest) { r.Body = "{" }), problem.BadRequest},
		{"no token", with(func(r *lambdaevents.APIGatewayProxyRequest) { r.Body = "{}" }), problem.Validation},
		{"not a token", with(func(r *lambdaevents.APIGatewayProxyRequest) { r.Body = `{"pickupToken":"lnyd_inv_x"}` }), problem.Validation},
	}
	before := f.counts()
	for _, tt := range tests {
		refusal(t, f.handle(tt.req), tt.want)
	}
	if f.counts() != before {
		t.Errorf("a malformed pick-up was recorded: %+v then %+v", before, f.counts())
	}
}
