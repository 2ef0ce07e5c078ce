package onboarding

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/features/invite"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
	"github.com/lanyardhq/lanyard/shared/stores/invites"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
)

// A tier that needs an approval: 202, a pending onboarding holding the token's hash only, the
// invite redeemed, Onboarding Pending in the outbox — and no secret, partner or key.
func TestOnboardPending(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	code, inv := f.issue(acme, "premium")
	resp := f.post("pending", body(acme, code, "shipments:write", "orders:read"))
	got := accepted(t, resp)

	if !ValidOnboardingID(got.OnboardingID) || got.Status != "pending" || got.Detail != "" {
		t.Errorf("answer %s %s detail %q", got.OnboardingID, got.Status, got.Detail)
	}
	wantExpiry := start.Add(7 * 24 * time.Hour)
	if got.ExpiresAt != wantExpiry.Format(time.RFC3339Nano) {
		t.Errorf("expiresAt %s, want %s", got.ExpiresAt, wantExpiry.Format(time.RFC3339Nano))
	}
	token := got.PickupToken
	if !strings.HasPrefix(token, PickupTokenPrefix) || len(token) != len(PickupTokenPrefix)+43 || strings.Trim(token[len(PickupTokenPrefix):], base62) != "" {
		t.Errorf("pick-up token of %d characters is not lnyd_pku_ and 43 base62", len(token))
	}

	o := f.onboarding(got.OnboardingID)
	rec, _ := f.record("pending")
	want := Onboarding{
		ID: got.OnboardingID, PartnerID: rec.PartnerID, SecretVersionID: rec.SecretVersionID, PartnerName: acme,
		Tier: "premium", Scopes: []string{"orders:read", "shipments:write"}, IdentityMethod: events.ProofInvite,
		InviteID: inv.ID, PickupTokenHash: o.PickupTokenHash, Status: StatusPending, Justification: o.Justification,
		PolicyRevision: f.h.Policy.Revision, CreatedAt: start, ExpiresAt: wantExpiry,
	}
	if fmt.Sprint(o) != fmt.Sprint(want) {
		t.Errorf("onboarding\n got %+v\nwant %+v", o, want)
	}
	if !partners.ValidID(o.PartnerID) || !strings.Contains(o.Justification, "tier premium") {
		t.Errorf("reserved partner %q, justification %q", o.PartnerID, o.Justification)
	}
	sum := PickupTokenHash(secret.New(token))
	if o.PickupTokenHash != sum || !strings.HasPrefix(sum, "sha256:") || len(sum) != len("sha256:")+64 {
		t.Errorf("stored hash %q, the token's %q", o.PickupTokenHash, sum)
	}

	// The invite is spent on the reserved partner.
	out, err := f.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &testTables.Invites, Key: invites.Key(inv.Hash)})
	if err != nil {
		t.Fatal(err)
	}
	redeemed, _ := invites.FromItem(out.Item)
	if redeemed.Status != invite.StatusRedeemed || redeemed.RedeemedBy != o.PartnerID {
		t.Errorf("invite %s by %s", redeemed.Status, redeemed.RedeemedBy)
	}

	records := f.records(o.PartnerID)
	if !slices.Equal(detailTypes(records), []string{events.TypeOnboardingPending}) {
		t.Fatalf("outbox %v", detailTypes(records))
	}
	ev, _ := records[0].Event()
	op := ev.(*events.OnboardingPending)
	if op.OnboardingID != o.ID || op.Tier != "premium" || op.PartnerName != acme || !op.ExpiresAt.Equal(wantExpiry) ||
		op.Identity != (events.Identity{Method: events.ProofInvite}) || op.Actor != (events.Actor{Kind: events.ActorPartner, ID: o.PartnerID}) ||
		!slices.Equal(op.Scopes, o.Scopes) || op.Justification != o.Justification {
		t.Errorf("Onboarding Pending %+v", op)
	}

	if rec.State != stateCompleted || rec.StatusCode != 202 || rec.SecretARN != "" || strings.Contains(rec.ResponseBody, "pickupToken") {
		t.Errorf("idempotency record %+v", rec)
	}
	if c := f.counts(); c != (counts{Invites: 1, Idempotency: 1, Outbox: 2, Onboardings: 1}) {
		t.Errorf("counts %+v", c)
	}
	if f.sm.created() != 0 {
		t.Errorf("%d secrets created for a pending onboarding", f.sm.created())
	}
	if strings.Contains(f.dump(), token) || strings.Contains(f.dump(), code.Reveal()) {
		t.Error("a table holds the pick-up token or the invite code")
	}
}

// A replay of a pending onboarding answers 202 again, the same body without the token and
// saying why; nothing more is created.
func TestPendingReplay(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	code, _ := f.issue(acme, "premium")
	b := body(acme, code, "shipments:write")
	first := accepted(t, f.post("k", b))
	before := f.counts()
	f.clock.Advance(time.Hour)
	again := f.post("k", b)
	got := accepted(t, again)
	if got.OnboardingID != first.OnboardingID || got.Status != "pending" || got.ExpiresAt != first.ExpiresAt ||
		got.PickupToken != "" || got.Detail != PickupTokenShownOnce {
		t.Errorf("replay %+v (token shown: %v)", got, got.PickupToken != "")
	}
	if f.counts() != before {
		t.Errorf("the replay created something: %+v then %+v", before, f.counts())
	}
	// The token of the first answer still works.
	refusal(t, f.pickup("early", first.OnboardingID, secret.New(first.PickupToken)), problem.Conflict)
	// The invite is spent: another key is a new request, refused.
	refusal(t, f.post("k2", b), problem.InviteInvalid)
}

// Approve: the onboarding moves to approved, decided by the caller's ARN, with its event, in
// one transaction; the answer is the onboarding.
func TestApprove(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p, _ := f.pend("k", acme, "shipments:write")
	f.clock.Advance(2 * time.Hour)
	v := decided(t, f.approve(p.OnboardingID, `{"reason":"contract signed"}`))
	now := start.Add(2 * time.Hour)
	if v.Status != StatusApproved || v.DecidedBy != opsARN || v.DecidedAt != now.Format(time.RFC3339Nano) ||
		v.Reason != "contract signed" || v.OnboardingID != p.OnboardingID || v.Tier != "premium" {
		t.Errorf("answer %+v", v)
	}
	o := f.onboarding(p.OnboardingID)
	if o.Status != StatusApproved || o.DecidedBy != opsARN || !o.DecidedAt.Equal(now) || o.Reason != "contract signed" {
		t.Errorf("stored %+v", o)
	}
	records := f.records(o.PartnerID)
	if !slices.Equal(detailTypes(records), []string{events.TypeOnboardingPending, events.TypeOnboardingApproved}) {
		t.Fatalf("outbox %v", detailTypes(records))
	}
	ev, _ := records[1].Event()
	a := ev.(*events.OnboardingApproved)
	if a.Actor != (events.Actor{Kind: events.ActorOps, ID: opsARN}) || a.OnboardingID != o.ID || a.Reason != "contract signed" ||
		a.Tier != "premium" || !a.ExpiresAt.Equal(o.ExpiresAt) || !a.Time.Equal(now) {
		t.Errorf("Onboarding Approved %+v", a)
	}
	if c := f.counts(); c.Partners != 0 || c.Secrets != 0 || c.Credentials != 0 {
		t.Errorf("an approval issued something: %+v", c)
	}
}

// Deny, without a body: denied, no reason, its event; nothing is ever issued for it.
func TestDeny(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p, token := f.pend("k", acme, "shipments:write")
	for _, req := range []string{""} {
		v := decided(t, f.deny(p.OnboardingID, req))
		if v.Status != StatusDenied || v.DecidedBy != opsARN || v.Reason != "" {
			t.Errorf("answer %+v", v)
		}
	}
	o := f.onboarding(p.OnboardingID)
	records := f.records(o.PartnerID)
	if !slices.Equal(detailTypes(records), []string{events.TypeOnboardingPending, events.TypeOnboardingDenied}) {
		t.Fatalf("outbox %v", detailTypes(records))
	}
	ev, _ := records[1].Event()
	if d := ev.(*events.OnboardingDenied); d.Actor.ID != opsARN || d.Reason != "" || d.OnboardingID != o.ID {
		t.Errorf("Onboarding Denied %+v", d)
	}
	refusal(t, f.pickup("after-deny", p.OnboardingID, token), problem.PickupInvalid)
	if c := f.counts(); c.Partners != 0 || c.Secrets != 0 || c.Credentials != 0 || f.sm.created() != 0 {
		t.Errorf("a denied onboarding issued something: %+v", c)
	}
}

// Approve and deny only a pending onboarding that has not expired; anything else is 409 (or
// 404) and changes nothing.
func TestDecideConditions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	approved, _ := f.pend("a", "Approved Ltd", "shipments:write")
	decided(t, f.approve(approved.OnboardingID, ""))
	denied, _ := f.pend("d", "Denied Ltd", "shipments:write")
	decided(t, f.deny(denied.OnboardingID, `{}`))
	collected, ctoken := f.pend("c", "Collected Ltd", "shipments:write")
	decided(t, f.approve(collected.OnboardingID, ""))
	created(t, f.pickup("c", collected.OnboardingID, ctoken))
	expiring, _ := f.pend("e", "Late Ltd", "shipments:write")
	f.clock.Advance(PendingLifetime)

	tests := []struct {
		name string
		do   func(string, string) lambdaevents.APIGatewayProxyResponse
		id   string
		want problem.Type
	}{
		{"approve approved", f.approve, approved.OnboardingID, problem.Conflict},
		{"deny approved", f.deny, approved.OnboardingID, problem.Conflict},
		{"approve denied", f.approve, denied.OnboardingID, problem.Conflict},
		{"deny denied", f.deny, denied.OnboardingID, problem.Conflict},
		{"approve collected", f.approve, collected.OnboardingID, problem.Conflict},
		{"approve expired", f.approve, expiring.OnboardingID, problem.Conflict},
		{"deny expired", f.deny, expiring.OnboardingID, problem.Conflict},
		{"unknown", f.approve, NewOnboardingID(), problem.NotFound},
		{"malformed id", f.deny, "onb-x", problem.NotFound},
	}
	before, changes := f.counts(), len(f.db.Changes(testTables.Onboardings))
	for _, tt := range tests {
		p := refusal(t, tt.do(tt.id, ""), tt.want)
		if tt.want == problem.Conflict && !strings.Contains(p.Detail, tt.id) {
			t.Errorf("%s: detail %q does not name the onboarding", tt.name, p.Detail)
		}
	}
	if f.counts() != before || len(f.db.Changes(testTables.Onboardings)) != changes {
		t.Errorf("a refused decision changed something")
	}
	if o := f.onboarding(expiring.OnboardingID); o.Status != StatusPending || o.Effective(f.clock.Now()) != StatusExpired {
		t.Errorf("expired onboarding stored %s, shows %s", o.Status, o.Effective(f.clock.Now()))
	}
}

// A decision racing another: the one that commits second is answered 409 naming the state the
// first left.
func TestDecideRace(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p, _ := f.pend("k", acme, "shipments:write")
	var fired atomic.Bool
	f.db.Intercept = func(op string, _ any) error {
		if op == "TransactWriteItems" && fired.CompareAndSwap(false, true) {
			decided(t, f.deny(p.OnboardingID, `{"reason":"first"}`))
		}
		return nil
	}
	resp := f.approve(p.OnboardingID, "")
	f.db.Intercept = nil
	pr := refusal(t, resp, problem.Conflict)
	if !strings.Contains(pr.Detail, "is denied") {
		t.Errorf("detail %q", pr.Detail)
	}
	if o := f.onboarding(p.OnboardingID); o.Status != StatusDenied || o.Reason != "first" {
		t.Errorf("stored %+v", o)
	}
	if got := detailTypes(f.records(f.onboarding(p.OnboardingID).PartnerID)); !slices.Equal(got, []string{events.TypeOnboardingPending, events.TypeOnboardingDenied}) {
		t.Errorf("outbox %v", got)
	}
}

// The decision body: optional, JSON, the schema's.
func TestDecisionBody(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p, _ := f.pend("k", acme, "shipments:write")
	text := adminRequest("POST", ApproveResource, p.OnboardingID, `{"reason":"x"}`)
	text.Headers["Content-Type"] = "text/plain"
	tests := []struct {
		name string
		req  func() lambdaevents.APIGatewayProxyRequest
		want problem.Type
	}{
		{"not JSON", func() lambdaevents.APIGatewayProxyRequest {
			return adminRequest("POST", ApproveResource, p.OnboardingID, "{")
		}, problem.BadRequest},
		{"unknown field", func() lambdaevents.APIGatewayProxyRequest {
			return adminRequest("POST", ApproveResource, p.OnboardingID, `{"why":"x"}`)
		}, problem.Validation},
		{"empty reason", func() lambdaevents.APIGatewayProxyRequest {
			return adminRequest("POST", DenyResource, p.OnboardingID, `{"reason":""}`)
		}, problem.Validation},
		{"text/plain", func() lambdaevents.APIGatewayProxyRequest { return text }, problem.UnsupportedMediaType},
		{"wrong method", func() lambdaevents.APIGatewayProxyRequest {
			return adminRequest("GET", ApproveResource, p.OnboardingID, "")
		}, problem.NotFound},
		{"unknown route", func() lambdaevents.APIGatewayProxyRequest {
			return adminRequest("POST", "/v1/admin/onboardings/{onboardingId}/bless", p.OnboardingID, "")
		}, problem.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			refusal(t, f.adminHandle(tt.req()), tt.want)
		})
	}
	if o := f.onboarding(p.OnboardingID); o.Status != StatusPending {
		t.Errorf("a refused decision decided: %s", o.Status)
	}
	// White space is no body; without an IAM ARN the caller id is recorded.
	req := adminRequest("POST", ApproveResource, p.OnboardingID, " \n")
	req.RequestContext.Identity.UserArn = ""
	if v := decided(t, f.adminHandle(req)); v.DecidedBy != "AROAEXAMPLE:jane" {
		t.Errorf("decidedBy %q", v.DecidedBy)
	}
}

// The list: every onboarding or those with one status now, newest first, at most 100.
func TestList(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var ids []string // in creation order
	for i := range 7 {
		p, _ := f.pend(fmt.Sprintf("k%d", i), fmt.Sprintf("Partner %d", i), "shipments:write")
		ids = append(ids, p.OnboardingID)
		f.clock.Advance(time.Hour)
	}
	decided(t, f.approve(ids[1], ""))
	decided(t, f.deny(ids[2], `{"reason":"no"}`))
	f.clock.Advance(PendingLifetime - 6*time.Hour) // ids[0] is 7 h older than 7 days, ids[1] (approved) 6 h: both expired

	list := func(status string) List {
		t.Helper()
		req := adminRequest("GET", ListResource, "", "")
		if status != "" {
			req.QueryStringParameters = map[string]string{"status": status}
		}
		resp := f.adminHandle(req)
		if resp.StatusCode != 200 {
			t.Fatalf("list %q: status %d (%s)", status, resp.StatusCode, problemType(resp.Body))
		}
		checkSchema(t, "OnboardingList", resp.Body)
		var l List
		strictDecode(t, resp.Body, &l)
		return l
	}
	idsOf := func(l List) []string {
		var out []string
		for _, v := range l.Onboardings {
			out = append(out, v.OnboardingID)
		}
		return out
	}
	all := list("")
	if want := []string{ids[6], ids[5], ids[4], ids[3], ids[2], ids[1], ids[0]}; !slices.Equal(idsOf(all), want) || all.Truncated {
		t.Errorf("all: %v truncated %v, want newest first %v", idsOf(all), all.Truncated, want)
	}
	for status, want := range map[string][]string{
		"pending":   {ids[6], ids[5], ids[4], ids[3]},
		"expired":   {ids[1], ids[0]},
		"denied":    {ids[2]},
		"approved":  nil,
		"collected": nil,
	} {
		if got := idsOf(list(status)); !slices.Equal(got, want) {
			t.Errorf("status %s: %v, want %v", status, got, want)
		}
	}
	if v := all.Onboardings[4]; v.Status != StatusDenied || v.Reason != "no" || v.DecidedBy != opsARN || v.Identity.Method != events.ProofInvite || v.Identity.InviteID == "" {
		t.Errorf("denied view %+v", v)
	}
	if strings.Contains(fmt.Sprint(all), "sha256:") {
		t.Error("the list shows a token hash")
	}

	for _, bad := range []map[string]string{{"status": "waiting"}, {"status": ""}} {
		req := adminRequest("GET", ListResource, "", "")
		req.QueryStringParameters = bad
		p := refusal(t, f.adminHandle(req), problem.BadRequest)
		if !strings.Contains(p.Detail, "pending, approved, denied, collected, expired") {
			t.Errorf("detail %q", p.Detail)
		}
	}
	req := adminRequest("GET", ListResource, "", "")
	req.MultiValueQueryStringParameters = map[string][]string{"status": {"pending", "denied"}}
	refusal(t, f.adminHandle(req), problem.BadRequest)
}

func TestListCapsAt100(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	for i := range MaxListed + 5 {
		o := Onboarding{
			ID: NewOnboardingID(), PartnerID: partners.NewID(), SecretVersionID: "v", PartnerName: "P", Tier: "premium",
			Scopes: []string{"shipments:write"}, IdentityMethod: events.ProofInvite, InviteID: invite.NewID(),
			PickupTokenHash: "sha256:x", Status: StatusPending, Justification: "j", PolicyRevision: 1,
			CreatedAt: start.Add(time.Duration(i) * time.Second), ExpiresAt: start.Add(PendingLifetime),
		}
		item, err := o.Item()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &testTables.Onboardings, Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	resp := f.adminHandle(adminRequest("GET", ListResource, "", ""))
	var l List
	strictDecode(t, resp.Body, &l)
	if len(l.Onboardings) != MaxListed || !l.Truncated || l.Onboardings[0].CreatedAt != start.Add((MaxListed+4)*time.Second).Format(time.RFC3339Nano) {
		t.Errorf("%d listed, truncated %v, first created %s", len(l.Onboardings), l.Truncated, l.Onboardings[0].CreatedAt)
	}
	checkSchema(t, "OnboardingList", resp.Body)
}
