package onboarding

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/features/stsproof"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
)

// replayWindow is the policy's replay window, which the fixture's handler holds to.
func replayWindow(f *fixture) time.Duration { return f.h.Policy.Onboarding.ReplayWindow.Std() }

// windowClosed checks a 409 replay-window-closed answer that shows no key.
func windowClosed(t testing.TB, resp lambdaevents.APIGatewayProxyResponse, key string) {
	t.Helper()
	p := refusal(t, resp, problem.ReplayWindowClosed)
	if p.Detail != problem.ReplayWindowClosed.DefaultDetail() {
		t.Errorf("detail %q", p.Detail)
	}
	if strings.Contains(resp.Body, key) || strings.Contains(resp.Body, "apiKey") {
		t.Error("the answer after the replay window shows the key")
	}
}

// A replay within the policy's replay window answers the key again; one after it gets 409
// replay-window-closed, without the key, for as long as the record is kept, and onboarding
// does not run again. Answers that hold no secret — a refusal, a pending onboarding — replay
// after the window as before.
func TestReplayWindow(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := replayWindow(f)
	code, _ := f.issue(acme, "standard")
	b := body(acme, code, "orders:read")
	first := f.post("k", b)
	got := created(t, first)
	before, creates := f.counts(), f.sm.created()

	f.clock.Advance(w)
	if again := f.post("k", b); again.StatusCode != 201 || again.Body != first.Body {
		t.Errorf("replay at the end of the window: status %d, same body %t", again.StatusCode, again.Body == first.Body)
	}
	f.clock.Advance(time.Millisecond)
	windowClosed(t, f.post("k", b), got.APIKey)
	f.clock.Advance(20 * time.Hour) // the record is still kept
	windowClosed(t, f.post("k", b), got.APIKey)
	want := before
	want.Outbox++ // the replay within the window showed the key again: recorded
	if after := f.counts(); after != want || f.sm.created() != creates {
		t.Errorf("a late replay did something: %+v then %+v, %d then %d secrets created", before, after, creates, f.sm.created())
	}
	// The key still belongs to that request: another body under it is refused as before.
	refusal(t, f.post("k", body(acme, code, "orders:read", "inventory:read")), problem.IdempotencyKeyReused)

	// A refusal replays after the window: it holds no secret.
	other, _ := f.issue("Other Ltd", "sandbox")
	ob := body("Other Ltd", other, "orders:write")
	refused := f.post("r", ob)
	refusal(t, refused, problem.ScopesNotAllowed)
	f.clock.Advance(2 * w)
	if again := f.post("r", ob); again.Body != refused.Body {
		t.Error("the refusal does not replay after the window")
	}

	// So does a pending onboarding's answer, which never shows its token again anyway.
	premium, _ := f.issue("Premium Ltd", "premium")
	pb := body("Premium Ltd", premium, "shipments:write")
	pending := accepted(t, f.post("p", pb))
	f.clock.Advance(2 * w)
	again := accepted(t, f.post("p", pb))
	if again.OnboardingID != pending.OnboardingID || again.PickupToken != "" {
		t.Errorf("pending replay after the window: onboarding %s, token shown %t", again.OnboardingID, again.PickupToken != "")
	}
}

// The pick-up's key is shown again within the window only.
func TestPickUpReplayWindow(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := replayWindow(f)
	p, token := f.pend("onboard", acme, "shipments:write")
	decided(t, f.approve(p.OnboardingID, `{"reason":"ok"}`))
	first := f.pickup("pick", p.OnboardingID, token)
	got := created(t, first)
	f.clock.Advance(w)
	if again := f.pickup("pick", p.OnboardingID, token); again.StatusCode != 201 || again.Body != first.Body {
		t.Errorf("pick-up replay at the end of the window: status %d, same body %t", again.StatusCode, again.Body == first.Body)
	}
	f.clock.Advance(time.Millisecond)
	windowClosed(t, f.pickup("pick", p.OnboardingID, token), got.APIKey)
}

// The same Idempotency-Key with another invite is another request. Whoever copies or guesses
// a partner's header and sends it with another invite — before the partner, or after it —
// gets an onboarding (or a refusal) of their own: never the partner's answer, and the partner's
// own request goes through.
func TestIdempotencyKeyScopedToTheInvite(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const header = "0b9e6c4e-5f27-4d55-9a5e-squat"
	victimCode, _ := f.issue(acme, "standard")
	malloryCode, _ := f.issue("Mallory Ltd", "standard")

	// Mallory sends the header first, with her own invite: her own onboarding…
	m := created(t, f.post(header, body("Mallory Ltd", malloryCode, "orders:read")))
	// … and the victim's onboarding under the same header is not blocked.
	vb := body(acme, victimCode, "orders:read")
	vResp := f.post(header, vb)
	v := created(t, vResp)
	if v.PartnerID == m.PartnerID || v.KeyID == m.KeyID {
		t.Fatalf("the victim got Mallory's onboarding: %s / %s", v.PartnerID, m.PartnerID)
	}

	// After the victim, a copy of the header with yet another invite: its own onboarding.
	thirdCode, _ := f.issue("Third Ltd", "sandbox")
	third := f.post(header, body("Third Ltd", thirdCode, "orders:read"))
	x := created(t, third)
	if x.PartnerID == v.PartnerID || strings.Contains(third.Body, v.APIKey) {
		t.Error("another invite under the victim's header got the victim's answer")
	}
	// A guessed invite code under it: its own refusal.
	guess := secret.New("lnyd_inv_" + strings.Repeat("A", 43))
	refusal(t, f.post(header, body(acme, guess, "orders:read")), problem.InviteInvalid)

	// The victim's replay still answers the victim's own key.
	if again := f.post(header, vb); again.StatusCode != 201 || again.Body != vResp.Body {
		t.Errorf("the victim's replay: status %d, same body %t", again.StatusCode, again.Body == vResp.Body)
	}
	if c := f.counts(); c.Idempotency != 4 || c.Partners != 3 || c.Secrets != 3 {
		t.Errorf("counts %+v, want 4 records, 3 partners and 3 secrets", c)
	}
	if strings.Contains(f.dump(), header) {
		t.Error("a table holds the Idempotency-Key")
	}
}

// A pick-up's record is scoped to its token: the same header with another onboarding's token
// is that onboarding's own pick-up, and never blocks or answers this one.
func TestPickUpIdempotencyKeyScopedToTheToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const header = "pickup-squat"
	pv, tv := f.pend("ov", acme, "shipments:write")
	pm, tm := f.pend("om", "Mallory Ltd", "shipments:write")
	decided(t, f.approve(pv.OnboardingID, `{"reason":"ok"}`))
	decided(t, f.approve(pm.OnboardingID, `{"reason":"ok"}`))

	m := created(t, f.pickup(header, pm.OnboardingID, tm))
	first := f.pickup(header, pv.OnboardingID, tv)
	v := created(t, first)
	if v.PartnerID == m.PartnerID || strings.Contains(first.Body, m.APIKey) {
		t.Fatal("the victim's pick-up got Mallory's answer")
	}
	// Mallory's token with the victim's onboarding under the header: refused like any wrong token.
	refusal(t, f.pickup(header, pv.OnboardingID, tm), problem.PickupInvalid)
	if again := f.pickup(header, pv.OnboardingID, tv); again.StatusCode != 201 || again.Body != first.Body {
		t.Errorf("the victim's pick-up replay: status %d, same body %t", again.StatusCode, again.Body == first.Body)
	}
}

// An STS onboarding's record is scoped to the verified AWS account: another account's proof
// under the same header is another request.
func TestSTSIdempotencyKeyScopedToTheAccount(t *testing.T) {
	t.Parallel()
	f, v := stsFixture(t)
	otherID := stsproof.Identity{AccountID: "555566667777", ARN: "arn:aws:sts::555566667777:assumed-role/mallory/m", UserID: "AROAOTHER:m"}
	f.h.Policy.Accounts = append(f.h.Policy.Accounts, policy.Account{AccountID: otherID.AccountID,
		Principals: []string{"arn:aws:iam::555566667777:role/mallory"}, Tier: "sandbox", Description: "test"})
	const header = "sts-squat"

	m := created(t, f.post(header, stsBody("Mallory Ltd", v.sign(otherID), "orders:read")))
	vb := stsBody("Local Ltd", v.sign(sandboxID), "orders:read")
	first := f.post(header, vb)
	got := created(t, first)
	if got.PartnerID == m.PartnerID {
		t.Fatal("the victim got Mallory's onboarding")
	}
	if again := f.post(header, vb); again.Body != first.Body {
		t.Error("the victim's replay differs")
	}
}

// A replay of an STS onboarding checks the proof again before it answers: once STS no longer
// accepts the signed request, the replay gets the refusal, not the key.
func TestSTSReplayRechecksTheProof(t *testing.T) {
	t.Parallel()
	f, v := stsFixture(t)
	auth := v.sign(sandboxID)
	b := stsBody("Local Ltd", auth, "orders:read")
	first := f.post("sts", b)
	got := created(t, first)
	calls := v.callCount()
	if again := f.post("sts", b); again.Body != first.Body {
		t.Error("the replay differs")
	}
	if v.callCount() != calls+1 {
		t.Errorf("the replay asked STS %d times, want once", v.callCount()-calls)
	}
	v.mu.Lock()
	delete(v.ids, auth) // the signature has expired
	v.mu.Unlock()
	late := f.post("sts", b)
	refusal(t, late, problem.IdentityProofInvalid)
	if strings.Contains(late.Body, got.APIKey) {
		t.Error("the refusal shows the key")
	}
}

// No Idempotency-Key reaches a log, a trace, a problem body or a table, on any path: an
// onboarding and its replay, a key reused with another body, a request in flight, a failed
// attempt and its retry, a replay after the window, a pick-up and its refusals, an STS proof.
// Not parallel: Plant captures the process-wide logger and tracer.
func TestIdempotencyKeyNeverLeaks(t *testing.T) {
	c := secrettest.Plant(t)
	f, v := stsFixture(t)
	problems := map[string]string{}
	check := func(name string, resp lambdaevents.APIGatewayProxyResponse) lambdaevents.APIGatewayProxyResponse {
		if resp.StatusCode >= 400 {
			problems[name] = resp.Body
		}
		return resp
	}
	key := func(label string) string { return c.New("idempotency-key-" + label).Reveal() }

	code, _ := f.issue(acme, "standard")
	c.Add("invite code", code.Reveal())
	k1, b := key("first"), body(acme, code, "orders:read")
	got := created(t, f.post(k1, b))
	c.Add("api key", got.APIKey)
	created(t, f.post(k1, b))
	check("reused", f.post(k1, body(acme, code, "orders:read", "inventory:read")))

	second, _ := f.issue("Second Ltd", "standard")
	c.Add("second invite code", second.Reveal())
	k2, b2 := key("in-flight"), body("Second Ltd", second, "orders:read")
	var fired, failed atomic.Bool
	f.db.Intercept = func(op string, _ any) error {
		if op == "TransactWriteItems" && fired.CompareAndSwap(false, true) {
			check("in flight", f.post(k2, b2))
			failed.Store(true)
			return errors.New("injected: InternalServerError")
		}
		return nil
	}
	check("internal", f.post(k2, b2))
	f.db.Intercept = nil
	if !failed.Load() {
		t.Error("the in-flight request did not run")
	}
	retried := created(t, f.post(k2, b2))
	c.Add("retried api key", retried.APIKey)

	f.clock.Advance(replayWindow(f) + time.Second)
	check("window closed", f.post(k1, b))

	p, token := f.pend(key("pend"), "Premium Ltd", "shipments:write")
	c.Add("pick-up token", token.Reveal())
	decided(t, f.approve(p.OnboardingID, `{"reason":"ok"}`))
	k3 := key("pickup")
	picked := created(t, f.pickup(k3, p.OnboardingID, token))
	c.Add("picked api key", picked.APIKey)
	check("pick-up reused", f.pickup(k3, p.OnboardingID, mustToken(t)))

	auth := v.sign(sandboxID)
	c.Add("identity request signature", auth)
	k4 := key("sts")
	sts := created(t, f.post(k4, stsBody("Local Ltd", auth, "orders:read")))
	c.Add("sts api key", sts.APIKey)
	check("sts reused", f.post(k4, stsBody("Local Ltd", auth, "inventory:read")))

	for name, p := range problems {
		c.CheckText("problem body ("+name+")", p)
	}
	c.CheckText("tables", f.dump())
}
