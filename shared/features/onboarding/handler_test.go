package onboarding

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
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
	"github.com/lanyardhq/lanyard/shared/fakes/usagetest"
	"github.com/lanyardhq/lanyard/shared/features/invite"
	"github.com/lanyardhq/lanyard/shared/features/usage"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
	"github.com/lanyardhq/lanyard/shared/stores/invites"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

func TestOnboard(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	code, inv := f.issue(acme, "standard")

	resp := f.post("key-1", body(acme, code, "orders:write", "orders:read"))
	got := created(t, resp)
	if resp.Headers["Content-Type"] != "application/json" || resp.Headers["Cache-Control"] != "no-store" {
		t.Errorf("headers %v", resp.Headers)
	}
	// The secret rotates through the rotation function on the tier's schedule, from now on.
	rot, err := f.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(testSecretPrefix + got.PartnerID)})
	if err != nil || !aws.ToBool(rot.RotationEnabled) || aws.ToString(rot.RotationLambdaARN) != testRotationFunction ||
		rot.RotationRules == nil || aws.ToInt64(rot.RotationRules.AutomaticallyAfterDays) != 30 {
		t.Errorf("rotation of the partner's secret: %+v, %v", rot, err)
	}
	// The partner's usage identifier is in its tier's usage plan, and in no other.
	keys := f.gw.Keys()
	if len(keys) != 1 || aws.ToString(keys[0].Value) != usage.KeyValue(got.PartnerID) ||
		!slices.Equal(f.gw.PlanKeys(f.plans["standard"]), []string{aws.ToString(keys[0].Id)}) || len(f.gw.PlanKeys(f.plans["sandbox"])) != 0 {
		t.Errorf("usage: keys %d, standard plan %v, sandbox plan %v", len(keys), f.gw.PlanKeys(f.plans["standard"]), f.gw.PlanKeys(f.plans["sandbox"]))
	}

	// The answer.
	key, err := credential.Parse(got.APIKey)
	if err != nil {
		t.Fatalf("apiKey does not parse: %v", err)
	}
	wantExpiry := start.Add(90 * 24 * time.Hour) // standard: keyLifetime 2160h
	switch {
	case !partners.ValidID(got.PartnerID):
		t.Errorf("partnerId %q is not a partner id", got.PartnerID)
	case got.KeyID != string(key.ID()):
		t.Errorf("keyId %s, the key's id is %s", got.KeyID, key.ID())
	case key.Env() != credential.EnvLocal:
		t.Errorf("key environment %s, want %s", key.Env(), credential.EnvLocal)
	case !slices.Equal(got.Scopes, []string{"orders:read", "orders:write"}):
		t.Errorf("scopes %v, want sorted [orders:read orders:write]", got.Scopes)
	case got.Tier != "standard":
		t.Errorf("tier %s", got.Tier)
	case got.ExpiresAt != wantExpiry.Format(time.RFC3339Nano):
		t.Errorf("expiresAt %s, want %s", got.ExpiresAt, wantExpiry.Format(time.RFC3339Nano))
	}
	id := got.PartnerID

	// The secret: the key, under the partner's name, the claim's version id, the stack's key.
	rec, ok := f.record("key-1")
	if !ok {
		t.Fatal("no idempotency record")
	}
	sv, err := f.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(testSecretPrefix + id)})
	if err != nil {
		t.Fatalf("read the secret: %v", err)
	}
	if aws.ToString(sv.SecretString) != got.APIKey {
		t.Error("the secret does not hold the key answered")
	}
	if aws.ToString(sv.VersionId) != rec.SecretVersionID {
		t.Errorf("secret version %s, the record's is %s", aws.ToString(sv.VersionId), rec.SecretVersionID)
	}
	desc, err := f.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(testSecretPrefix + id)})
	if err != nil {
		t.Fatalf("describe the secret: %v", err)
	}
	if aws.ToString(desc.KmsKeyId) != testKMSKey {
		t.Errorf("secret KmsKeyId %s", aws.ToString(desc.KmsKeyId))
	}
	if len(desc.Tags) != 1 || aws.ToString(desc.Tags[0].Key) != PartnerTag || aws.ToString(desc.Tags[0].Value) != id {
		t.Errorf("secret tags %v", desc.Tags)
	}
	secretARN := aws.ToString(sv.ARN)

	// The partner.
	p, err := (&partners.Store{DB: f.db, Table: testTables.Partners}).Get(ctx, id)
	if err != nil {
		t.Fatalf("partner: %v", err)
	}
	wantJustification := "scopes [orders:read orders:write] within tier standard allowance [inventory:read orders:read orders:write shipments:read] (policy revision " + strconv.Itoa(f.h.Policy.Revision) + ")"
	wantPartner := partners.Partner{
		PartnerID: id, PartnerName: acme, Tier: "standard", Scopes: []string{"orders:read", "orders:write"},
		Status: partners.StatusActive, KeyID: got.KeyID, SecretARN: secretARN, IdentityMethod: partners.IdentityMethodInvite,
		InviteID: inv.ID, Justification: wantJustification, PolicyRevision: f.h.Policy.Revision, CreatedAt: start,
	}
	if fmt.Sprint(p) != fmt.Sprint(wantPartner) {
		t.Errorf("partner\n got %+v\nwant %+v", p, wantPartner)
	}

	// The registry entry verifies the key answered.
	e, err := (&registry.Store{DB: f.db, Table: testTables.Credentials}).Get(ctx, key.ID())
	if err != nil {
		t.Fatalf("registry: %v", err)
	}
	switch {
	case !e.Verifier.Matches(key):
		t.Error("the registry's verifier does not match the key answered")
	case e.PartnerID != id || e.Status != registry.StatusActive || e.Tier != "standard":
		t.Errorf("registry entry partner %s status %s tier %s", e.PartnerID, e.Status, e.Tier)
	case !e.NotBefore.Equal(start) || !e.NotAfter.Equal(wantExpiry) || !e.GraceUntil.IsZero():
		t.Errorf("registry window %s – %s, grace %s", e.NotBefore, e.NotAfter, e.GraceUntil)
	case e.SecretARN != secretARN || e.SecretVersionID != rec.SecretVersionID:
		t.Errorf("registry secret %s version %s", e.SecretARN, e.SecretVersionID)
	case !slices.Equal(e.Scopes, got.Scopes):
		t.Errorf("registry scopes %v", e.Scopes)
	}
	if ok, reason := e.Accepts(start); !ok {
		t.Errorf("the registry does not accept the key now: %s", reason)
	}

	// The invite is redeemed by the partner.
	out, err := f.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(testTables.Invites), Key: invites.Key(inv.Hash)})
	if err != nil {
		t.Fatal(err)
	}
	redeemed, err := invites.FromItem(out.Item)
	if err != nil {
		t.Fatal(err)
	}
	if redeemed.Status != invite.StatusRedeemed || redeemed.RedeemedBy != id || !redeemed.RedeemedAt.Equal(start) {
		t.Errorf("invite status %s by %s at %s", redeemed.Status, redeemed.RedeemedBy, redeemed.RedeemedAt)
	}

	// The outbox: Partner Onboarded then Credential Issued, chained, valid events.
	store := &outbox.Store{DB: f.db, Table: testTables.Outbox}
	records, err := store.Records(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != 2 || records[0].Seq != 1 || records[0].DetailType != events.TypePartnerOnboarded ||
		records[1].Seq != 2 || records[1].DetailType != events.TypeCredentialIssued {
		t.Fatalf("outbox records %v, want seq 1 Partner Onboarded and seq 2 Credential Issued", records)
	}
	if err := outbox.Verify(records); err != nil {
		t.Errorf("outbox chain: %v", err)
	}
	if err := store.VerifyPartner(ctx, id); err != nil {
		t.Errorf("outbox head: %v", err)
	}
	for _, r := range records {
		envelope, _ := json.Marshal(events.Envelope{Version: "0", ID: r.EventID, DetailType: r.DetailType, Source: events.Source,
			Account: "123456789012", Time: r.Time, Region: "us-east-1", Resources: []string{}, Detail: r.Detail})
		if err := events.Validate(envelope); err != nil {
			t.Errorf("seq %d: %v", r.Seq, err)
		}
	}
	onboardedEvent, err := records[0].Event()
	if err != nil {
		t.Fatal(err)
	}
	po := onboardedEvent.(*events.PartnerOnboarded)
	if po.PartnerName != acme || po.Tier != "standard" || po.Justification != wantJustification ||
		po.Identity.Method != events.ProofInvite || po.Actor != (events.Actor{Kind: events.ActorPartner, ID: id}) ||
		!slices.Equal(po.Scopes, got.Scopes) || !po.Time.Equal(start) {
		t.Errorf("Partner Onboarded %+v", po)
	}
	issuedEvent, err := records[1].Event()
	if err != nil {
		t.Fatal(err)
	}
	ci := issuedEvent.(*events.CredentialIssued)
	if ci.KeyID != got.KeyID || ci.SecretARN != secretARN || !ci.NotBefore.Equal(start) || !ci.ExpiresAt.Equal(wantExpiry) ||
		!slices.Equal(ci.Scopes, got.Scopes) {
		t.Errorf("Credential Issued %+v", ci)
	}

	// The record: completed with the answer, without the key.
	if rec.State != stateCompleted || rec.StatusCode != 201 || rec.PartnerID != id || rec.SecretARN != secretARN ||
		rec.PurgeAt != start.Add(24*time.Hour).Unix() {
		t.Errorf("idempotency record %+v", rec)
	}
	stored, _ := json.Marshal(got.onboarded)
	if rec.ResponseBody != string(stored) {
		t.Errorf("stored answer %s, want %s", rec.ResponseBody, stored)
	}

	// Exactly these items, and the key in none of them.
	if c := f.counts(); c != (counts{Invites: 1, Partners: 1, Credentials: 1, Idempotency: 1, Outbox: 3, Secrets: 1}) {
		t.Errorf("counts %+v", c)
	}
	if strings.Contains(f.dump(), got.APIKey) || strings.Contains(f.dump(), code.Reveal()) {
		t.Error("a table holds the key or the invite code")
	}
}

// A replay with the same key and body within the replay window gets the same answer, key
// included, and creates nothing but the record of the key shown again (Credential Picked Up,
// method replay); the body may be spelled differently. Once the record's
// lifetime is over the key is new again (TestReplayWindow: in between).
func TestReplay(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	code, _ := f.issue(acme, "standard")
	first := f.post("replay", body(acme, code, "orders:read", "inventory:read"))
	created(t, first)
	before, creates := f.counts(), f.sm.created()

	respelled := fmt.Sprintf("{\n \"scopes\": [\"inventory:read\", \"orders:read\"],\n \"inviteCode\": %q,\n \"partnerName\": %q\n}", code.Reveal(), acme)
	for i, b := range []string{body(acme, code, "orders:read", "inventory:read"), respelled} {
		f.clock.Advance(time.Minute)
		again := f.post("replay", b)
		if again.StatusCode != first.StatusCode || again.Body != first.Body || fmt.Sprint(again.Headers) != fmt.Sprint(first.Headers) {
			t.Errorf("replay %d differs from the first answer (status %d)", i, again.StatusCode)
		}
	}
	want := before
	want.Outbox += 2 // the key shown again, twice
	if after := f.counts(); after != want || f.sm.created() != creates {
		t.Errorf("a replay created something: %+v then %+v, %d then %d secrets created", before, after, creates, f.sm.created())
	}

	// 24 hours after the first request the key is forgotten (even though TTL has not deleted
	// the record yet): the request is new, and its invite is spent.
	f.clock.Advance(RecordLifetime - 2*time.Minute)
	late := f.post("replay", body(acme, code, "orders:read", "inventory:read"))
	refusal(t, late, problem.InviteInvalid)
	if f.counts().Idempotency != 1 {
		t.Errorf("idempotency records %d, want the old one replaced", f.counts().Idempotency)
	}
}

func TestKeyReusedWithAnotherBody(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	code, _ := f.issue(acme, "standard")
	first := f.post("k", body(acme, code, "orders:read"))
	created(t, first)
	before := f.counts()

	for _, b := range []string{
		body(acme, code, "orders:read", "orders:write"),
		body("Acme Logistics Ltd", code, "orders:read"),
	} {
		refusal(t, f.post("k", b), problem.IdempotencyKeyReused)
	}
	if after := f.counts(); after != before {
		t.Errorf("a refused reuse created something: %+v then %+v", before, after)
	}
	if again := f.post("k", body(acme, code, "orders:read")); again.Body != first.Body {
		t.Error("the first answer no longer replays")
	}
}

// A request with the key of one still in flight gets 409 and changes nothing.
func TestInFlight(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	code, _ := f.issue(acme, "standard")
	b := body(acme, code, "orders:read")
	var second lambdaevents.APIGatewayProxyResponse
	var fired atomic.Bool
	f.db.Intercept = func(op string, _ any) error {
		if op == "TransactWriteItems" && fired.CompareAndSwap(false, true) {
			second = f.post("same", b) // while the first is about to commit
		}
		return nil
	}
	first := f.post("same", b)
	created(t, first)
	refusal(t, second, problem.IdempotencyInFlight)
	if c := f.counts(); c.Partners != 1 || c.Secrets != 1 {
		t.Errorf("counts %+v", c)
	}
	if again := f.post("same", b); again.Body != first.Body {
		t.Error("the answer does not replay after the 409")
	}
}

// An attempt that dies after creating the secret and before committing (and cannot release its
// claim) leaves an in-flight claim: until its lease runs out a retry gets 409, then the retry
// takes over and converges on the recorded partner id and the secret already created.
func TestTakeOverExpiredLease(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	code, _ := f.issue(acme, "standard")
	b := body(acme, code, "orders:read")

	crash := errors.New("injected: the function timed out")
	f.db.Intercept = func(op string, _ any) error {
		if op == "TransactWriteItems" || op == "UpdateItem" {
			return crash
		}
		return nil
	}
	p := refusal(t, f.post("crash", b), problem.Internal)
	if p.Detail != problem.Internal.DefaultDetail() {
		t.Errorf("500 detail %q", p.Detail)
	}
	f.db.Intercept = nil

	rec, ok := f.record("crash")
	if !ok || rec.State != stateInFlight || rec.LeaseUntil != start.Add(testLease).UnixMilli() {
		t.Fatalf("record after the crash: %+v", rec)
	}
	left, err := f.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(testSecretPrefix + rec.PartnerID)})
	if err != nil {
		t.Fatalf("the crashed attempt left no secret: %v", err)
	}

	f.clock.Advance(testLease - time.Millisecond)
	refusal(t, f.post("crash", b), problem.IdempotencyInFlight)

	f.clock.Advance(time.Millisecond)
	got := created(t, f.post("crash", b))
	if got.PartnerID != rec.PartnerID {
		t.Errorf("partner %s, the claim recorded %s", got.PartnerID, rec.PartnerID)
	}
	if got.APIKey != aws.ToString(left.SecretString) {
		t.Error("the key answered is not the one the crashed attempt stored")
	}
	if c := f.counts(); c != (counts{Invites: 1, Partners: 1, Credentials: 1, Idempotency: 1, Outbox: 3, Secrets: 1}) {
		t.Errorf("counts %+v", c)
	}
	key, _ := credential.Parse(got.APIKey)
	e, err := (&registry.Store{DB: f.db, Table: testTables.Credentials}).Get(ctx, key.ID())
	if err != nil || !e.Verifier.Matches(key) || e.SecretVersionID != rec.SecretVersionID {
		t.Errorf("registry entry %v, %v", e, err)
	}
}

// Concurrent requests with one Idempotency-Key: one partner, one secret, and every answer the
// same 201 or a 409.
func TestConcurrentSameKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	code, _ := f.issue(acme, "standard")
	b := body(acme, code, "orders:read")

	const n = 16
	answers := make([]lambdaevents.APIGatewayProxyResponse, n)
	var wg sync.WaitGroup
	ready := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-ready
			resp, err := f.h.Handle(context.Background(), request("one-key", b))
			if err != nil {
				t.Errorf("Handle: %v", err)
			}
			answers[i] = resp
		})
	}
	close(ready)
	wg.Wait()

	var first string
	var ok201, conflicts int
	for _, a := range answers {
		switch a.StatusCode {
		case 201:
			ok201++
			if first == "" {
				first = a.Body
			} else if a.Body != first {
				t.Error("two 201 answers differ")
			}
		case 409:
			refusal(t, a, problem.IdempotencyInFlight)
			conflicts++
		default:
			t.Errorf("answer %d (%s)", a.StatusCode, problemType(a.Body))
		}
	}
	if ok201 == 0 {
		t.Error("no request onboarded")
	}
	if c := f.counts(); c.Partners != 1 || c.Credentials != 1 || c.Secrets != 1 || c.Idempotency != 1 {
		t.Errorf("counts %+v", c)
	}
	t.Logf("%d × 201, %d × 409", ok201, conflicts)
}

// Two requests with different keys and one invite: the invite's condition lets one commit; the
// other deletes the secret it created and is refused, and its refusal replays.
func TestRaceForOneInvite(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	code, _ := f.issue(acme, "standard")
	b := body(acme, code, "orders:read")

	var winner lambdaevents.APIGatewayProxyResponse
	var fired atomic.Bool
	f.db.Intercept = func(op string, _ any) error {
		if op == "TransactWriteItems" && fired.CompareAndSwap(false, true) {
			// The loser has looked the invite up and created its secret; the winner does all.
			winner = f.post("winner", b)
		}
		return nil
	}
	loser := f.post("loser", b)
	f.db.Intercept = nil

	won := created(t, winner)
	lost := refusal(t, loser, problem.InviteInvalid)
	lostRec, _ := f.record("loser")
	if lostRec.State != stateCompleted || lostRec.StatusCode != 403 {
		t.Errorf("loser's record %+v", lostRec)
	}
	if f.secretExists(lostRec.PartnerID) {
		t.Error("the loser's secret was not deleted")
	}
	if !f.secretExists(won.PartnerID) {
		t.Error("the winner's secret is gone")
	}
	if c := f.counts(); c != (counts{Invites: 1, Partners: 1, Credentials: 1, Idempotency: 2, Outbox: 3, Secrets: 1}) {
		t.Errorf("counts %+v", c)
	}
	if again := f.post("loser", b); again.Body != loser.Body || again.StatusCode != 403 {
		t.Errorf("the loser's replay: %d", again.StatusCode)
	}
	if lost.Detail != problem.InviteInvalid.DefaultDetail() {
		t.Errorf("detail %q", lost.Detail)
	}
}

// The same race with goroutines, many keys at once.
func TestConcurrentKeysOneInvite(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	code, _ := f.issue(acme, "standard")
	b := body(acme, code, "orders:read")

	const n = 8
	answers := make([]lambdaevents.APIGatewayProxyResponse, n)
	var wg sync.WaitGroup
	ready := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-ready
			resp, err := f.h.Handle(context.Background(), request(fmt.Sprintf("key-%d", i), b))
			if err != nil {
				t.Errorf("Handle: %v", err)
			}
			answers[i] = resp
		})
	}
	close(ready)
	wg.Wait()
	won := 0
	for _, a := range answers {
		if a.StatusCode == 201 {
			won++
			continue
		}
		refusal(t, a, problem.InviteInvalid)
	}
	if won != 1 {
		t.Errorf("%d requests onboarded, want 1", won)
	}
	if c := f.counts(); c.Partners != 1 || c.Credentials != 1 || c.Secrets != 1 || c.Idempotency != n {
		t.Errorf("counts %+v", c)
	}
}

// Unknown, malformed, redeemed and expired invites and a partner name the invite was not issued
// for all get the same answer.
func TestInviteInvalid(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	redeemedCode, _ := f.issue("Redeemed Ltd", "standard")
	created(t, f.post("redeem", body("Redeemed Ltd", redeemedCode, "orders:read")))
	expiringCode, _ := f.issue("Late Ltd", "standard")
	f.clock.Advance(24 * time.Hour) // the invites issued above expire now

	tests := []struct {
		name string
		body string
	}{
		{"unknown", body(acme, invite.NewCode(), "orders:read")},
		{"malformed", body(acme, secret.New("not-an-invite-code-at-all"), "orders:read")},
		{"redeemed", body("Redeemed Ltd", redeemedCode, "orders:read")},
		{"expired", body("Late Ltd", expiringCode, "orders:read")},
	}
	fresh, _ := f.issue(acme, "standard")
	tests = append(tests, struct {
		name string
		body string
	}{"another partner name", body("Acme", fresh, "orders:read")})

	before := f.counts()
	var bodies []string
	for _, tt := range tests {
		resp := f.post("invalid-"+strings.ReplaceAll(tt.name, " ", "-"), tt.body)
		p := refusal(t, resp, problem.InviteInvalid)
		if p.Detail != problem.InviteInvalid.DefaultDetail() {
			t.Errorf("%s: detail %q", tt.name, p.Detail)
		}
		bodies = append(bodies, resp.Body)
		if again := f.post("invalid-"+strings.ReplaceAll(tt.name, " ", "-"), tt.body); again.Body != resp.Body || again.StatusCode != 403 {
			t.Errorf("%s: the refusal does not replay", tt.name)
		}
	}
	for i := range bodies {
		if bodies[i] != bodies[0] {
			t.Errorf("%s answered differently from %s", tests[i].name, tests[0].name)
		}
	}
	after := f.counts()
	if after.Partners != before.Partners || after.Secrets != before.Secrets || after.Outbox != before.Outbox ||
		after.Idempotency != before.Idempotency+len(tests) {
		t.Errorf("counts %+v then %+v", before, after)
	}
	if f.sm.created() != 1 {
		t.Errorf("%d secrets created, want only the first partner's", f.sm.created())
	}
}

func TestScopesNotAllowed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	code, _ := f.issue(acme, "sandbox")
	b := body(acme, code, "orders:read", "orders:write", "webhooks:write")
	resp := f.post("scopes", b)
	p := refusal(t, resp, problem.ScopesNotAllowed)
	if !slices.Equal(p.DeniedScopes, []string{"orders:write", "webhooks:write"}) {
		t.Errorf("deniedScopes %v", p.DeniedScopes)
	}
	if !strings.Contains(p.Detail, "tier sandbox") {
		t.Errorf("detail %q", p.Detail)
	}
	if c := f.counts(); c != (counts{Invites: 1, Idempotency: 1}) {
		t.Errorf("counts %+v", c)
	}
	if again := f.post("scopes", b); again.Body != resp.Body {
		t.Error("the refusal does not replay")
	}
	// The invite still works for what the tier allows.
	created(t, f.post("scopes-2", body(acme, code, "orders:read")))
}

// Malformed requests are refused before the claim: nothing is recorded under the key.
func TestMalformedRequests(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	code, _ := f.issue(acme, "standard")
	good := body(acme, code, "orders:read")
	with := func(mutate func(*lambdaevents.APIGatewayProxyRequest)) lambdaevents.APIGatewayProxyRequest {
		r := request("malformed", good)
		mutate(&r)
		return r
	}
	tests := []struct {
		name string
		req  lambdaevents.APIGatewayProxyRequest
		want problem.Type
	}{
		{"no idempotency key", request("", good), problem.MissingIdempotencyKey},
		{"empty idempotency key", with(func(r *lambdaevents.APIGatewayProxyRequest) { r.Headers["Idempotency-Key"] = "" }), problem.MissingIdempotencyKey},
		{"idempotency key with a space", with(func(r *lambdaevents.APIGatewayProxyRequest) { r.Headers["Idempotency-Key"] = "a b" }), problem.MissingIdempotencyKey},
		{"idempotency key too long", with(func(r *lambdaevents.APIGatewayProxyRequest) {
			r.Headers["Idempotency-Key"] = strings.Repeat("k", 129)
		}), problem.MissingIdempotencyKey},
		{"no content type", with(func(r *lambdaevents.APIGatewayProxyRequest) { delete(r.Headers, "Content-Type") }), problem.UnsupportedMediaType},
		{"text/plain", with(func(r *lambdaevents.APIGatewayProxyRequest) { r.Headers["Content-Type"] = "text/plain" }), problem.UnsupportedMediaType},
		{"not JSON", with(func(r *lambdaevents.APIGatewayProxyRequest) { r.Body = "{" }), problem.BadRequest},
		{"empty body", with(func(r *lambdaevents.APIGatewayProxyRequest) { r.Body = "" }), problem.BadRequest},
		{"missing field", with(func(r *lambdaevents.APIGatewayProxyRequest) {
			r.Body = fmt.Sprintf(`{"inviteCode":%q,"scopes":["orders:read"]}`, code.Reveal())
		}), problem.Validation},
		{"bad scope", with(func(r *lambdaevents.APIGatewayProxyRequest) { r.Body = body(acme, code, "Orders") }), problem.Validation},
		{"no scopes", with(func(r *lambdaevents.APIGatewayProxyRequest) { r.Body = body(acme, code) }), problem.Validation},
		{"repeated scope", with(func(r *lambdaevents.APIGatewayProxyRequest) { r.Body = body(acme, code, "orders:read", "orders:read") }), problem.Validation},
		{"unknown field", with(func(r *lambdaevents.APIGatewayProxyRequest) {
			r.Body = fmt.Sprintf(`{"partnerName":%q,"inviteCode":%q,"scopes":["orders:read"],"tier":"premium"}`, acme, code.Reveal())
		}), problem.Validation},
		{"bad base64", with(func(r *lambdaevents.APIGatewayProxyRequest) { r.IsBase64Encoded = true; r.Body = "%%%" }), problem.BadRequest},
	}
	for _, tt := range tests {
		p := refusal(t, f.handle(tt.req), tt.want)
		if tt.want == problem.Validation && len(p.Errors) == 0 {
			t.Errorf("%s: validation problem without errors", tt.name)
		}
	}
	if c := f.counts(); c != (counts{Invites: 1}) {
		t.Errorf("a malformed request was recorded or created something: %+v", c)
	}
	if f.db.Calls("PutItem") != 0 {
		t.Errorf("PutItem calls %d: a malformed request reached the idempotency table", f.db.Calls("PutItem"))
	}

	// The same key then works for a well-formed request, sent base64-encoded.
	r := request("malformed", base64.StdEncoding.EncodeToString([]byte(good)))
	r.IsBase64Encoded = true
	created(t, f.handle(r))
}

// A DynamoDB failure on the transaction answers 500 with the fixed detail and releases the
// claim: the retry succeeds at once, with the same partner and the secret already created.
func TestTransactionFailure(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	code, _ := f.issue(acme, "standard")
	b := body(acme, code, "orders:read")
	injected := errors.New("injected: InternalServerError")
	fail := true
	f.db.Intercept = func(op string, _ any) error {
		if op == "TransactWriteItems" && fail {
			fail = false
			return injected
		}
		return nil
	}
	p := refusal(t, f.post("tx", b), problem.Internal)
	if p.Detail != problem.Internal.DefaultDetail() || p.Status != 500 {
		t.Errorf("500 problem %+v", p)
	}
	rec, _ := f.record("tx")
	if rec.State != stateInFlight || rec.LeaseUntil != 0 {
		t.Errorf("the claim was not released: %+v", rec)
	}
	if c := f.counts(); c.Partners != 0 || c.Credentials != 0 || c.Outbox != 0 || c.Secrets != 1 {
		t.Errorf("counts after the failure %+v", c)
	}

	got := created(t, f.post("tx", b))
	if got.PartnerID != rec.PartnerID {
		t.Errorf("partner %s, the claim's %s", got.PartnerID, rec.PartnerID)
	}
	if c := f.counts(); c != (counts{Invites: 1, Partners: 1, Credentials: 1, Idempotency: 1, Outbox: 3, Secrets: 1}) {
		t.Errorf("counts %+v", c)
	}
	if f.sm.created() != 1 {
		t.Errorf("%d secrets created", f.sm.created())
	}
}

// A claim taken over by another attempt: the slow attempt cannot commit, answers 409 and deletes
// nothing; the attempt that took over answers 201.
func TestLeaseLostAtCommit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	code, _ := f.issue(acme, "standard")
	b := body(acme, code, "orders:read")
	var other lambdaevents.APIGatewayProxyResponse
	var fired atomic.Bool
	f.db.Intercept = func(op string, _ any) error {
		if op == "TransactWriteItems" && fired.CompareAndSwap(false, true) {
			f.clock.Advance(testLease) // the slow attempt's lease runs out
			other = f.post("slow", b)
		}
		return nil
	}
	slow := f.post("slow", b)
	refusal(t, slow, problem.IdempotencyInFlight)
	got := created(t, other)
	if !f.secretExists(got.PartnerID) {
		t.Error("the secret was deleted")
	}
	if c := f.counts(); c != (counts{Invites: 1, Partners: 1, Credentials: 1, Idempotency: 1, Outbox: 3, Secrets: 1}) {
		t.Errorf("counts %+v", c)
	}
	if again := f.post("slow", b); again.Body != other.Body {
		t.Error("the answer does not replay")
	}
}

// An attempt dies after creating its secret; another request redeems the invite meanwhile. The
// retry takes the claim over, is refused, and deletes the secret the dead attempt left.
func TestRefusalAfterTakeOverDeletesTheLeftSecret(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	code, _ := f.issue(acme, "standard")
	b := body(acme, code, "orders:read")
	f.db.Intercept = func(op string, _ any) error {
		if op == "TransactWriteItems" || op == "UpdateItem" {
			return errors.New("injected: the function timed out")
		}
		return nil
	}
	refusal(t, f.post("dead", b), problem.Internal)
	f.db.Intercept = nil
	dead, _ := f.record("dead")
	if !f.secretExists(dead.PartnerID) {
		t.Fatal("the dead attempt left no secret")
	}

	won := created(t, f.post("other", b))
	f.clock.Advance(testLease)
	resp := f.post("dead", b)
	refusal(t, resp, problem.InviteInvalid)
	if f.secretExists(dead.PartnerID) {
		t.Error("the dead attempt's secret is still there")
	}
	if !f.secretExists(won.PartnerID) {
		t.Error("the onboarded partner's secret is gone")
	}
	if c := f.counts(); c != (counts{Invites: 1, Partners: 1, Credentials: 1, Idempotency: 2, Outbox: 3, Secrets: 1}) {
		t.Errorf("counts %+v", c)
	}
	if again := f.post("dead", b); again.Body != resp.Body {
		t.Error("the refusal does not replay")
	}
}

// A failed enrollment in the usage plan answers 500 and releases the claim: the retry enrolls
// and onboards, with one key in the plan.
func TestOnboardRetriesAFailedEnrollment(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	code, _ := f.issue(acme, "standard")
	fail := true
	f.gw.Fail = func(op string) error {
		if fail && op == usagetest.OpCreateUsagePlanKey {
			return errors.New("throttled")
		}
		return nil
	}
	if resp := f.post("key-1", body(acme, code, "orders:read")); resp.StatusCode != 500 {
		t.Fatalf("enrollment failing: %d %s", resp.StatusCode, resp.Body)
	}
	fail = false
	got := created(t, f.post("key-1", body(acme, code, "orders:read")))
	if keys := f.gw.PlanKeys(f.plans["standard"]); len(keys) != 1 || len(f.gw.Keys()) != 1 {
		t.Errorf("after the retry: plan keys %v, keys %d (partner %s)", keys, len(f.gw.Keys()), got.PartnerID)
	}
}
