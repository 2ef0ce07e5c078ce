package onboarding

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
)

// No key and no invite code reaches a log, a trace, a problem body or a table, on any path:
// onboarding, replay, every refusal, a failed commit and its retry, a lost race.
// Not parallel: Plant captures the process-wide logger and tracer.
func TestNoSecretLeaks(t *testing.T) {
	c := secrettest.Plant(t)
	f := newFixture(t)
	code, _ := f.issue(acme, "standard")
	c.Add("invite code", code.Reveal())
	b := body(acme, code, "orders:read")
	first := f.post("leak", b)
	got := created(t, first)
	c.Add("api key", got.APIKey)
	if again := f.post("leak", b); again.Body != first.Body {
		t.Error("the replay differs")
	}

	problems := map[string]string{}
	answer := func(name, key, body string, want problem.Type) {
		resp := f.post(key, body)
		refusal(t, resp, want)
		problems[name] = resp.Body
	}
	answer("reused key", "leak", body(acme, code, "orders:read", "orders:write"), problem.IdempotencyKeyReused)
	answer("redeemed invite", "leak-2", b, problem.InviteInvalid)

	canary := c.New("invite-code") // well-formed for the schema, not an invite
	answer("unknown invite", "leak-3", body(acme, canary, "orders:read"), problem.InviteInvalid)
	answer("invalid invite code", "leak-4", body(acme, secret.New(canary.Reveal()+"!"), "orders:read"), problem.Validation)

	other, _ := f.issue("Other Ltd", "sandbox")
	c.Add("sandbox invite code", other.Reveal())
	answer("scopes", "leak-5", body("Other Ltd", other, "orders:write"), problem.ScopesNotAllowed)
	answer("partner name", "leak-6", body("Someone Else", other, "orders:read"), problem.InviteInvalid)

	premium, _ := f.issue("Premium Ltd", "premium")
	c.Add("premium invite code", premium.Reveal())
	pending := accepted(t, f.post("leak-7", body("Premium Ltd", premium, "orders:read")))
	c.Add("pick-up token", pending.PickupToken)

	// A failed commit logs its whole chain; its retry onboards; a lost race deletes a secret.
	third, _ := f.issue("Third Ltd", "standard")
	c.Add("third invite code", third.Reveal())
	var failed atomic.Bool
	f.db.Intercept = func(op string, _ any) error {
		if op == "TransactWriteItems" && failed.CompareAndSwap(false, true) {
			return errors.New("injected: InternalServerError")
		}
		return nil
	}
	answer("internal", "leak-8", body("Third Ltd", third, "orders:read"), problem.Internal)
	retried := created(t, f.post("leak-8", body("Third Ltd", third, "orders:read")))
	c.Add("retried api key", retried.APIKey)

	fourth, _ := f.issue("Fourth Ltd", "standard")
	c.Add("fourth invite code", fourth.Reveal())
	var raced atomic.Bool
	var winner string
	f.db.Intercept = func(op string, _ any) error {
		if op == "TransactWriteItems" && raced.CompareAndSwap(false, true) {
			w := created(t, f.post("leak-winner", body("Fourth Ltd", fourth, "orders:read")))
			c.Add("winner api key", w.APIKey)
			winner = w.PartnerID
		}
		return nil
	}
	answer("lost race", "leak-loser", body("Fourth Ltd", fourth, "orders:read"), problem.InviteInvalid)
	if winner == "" {
		t.Error("the race did not run")
	}

	for name, p := range problems {
		c.CheckText(fmt.Sprintf("problem body (%s)", name), p)
	}
	c.CheckText("tables", f.dump())
}

// No pick-up token, key, invite code or signed identity request (its Authorization header, its
// session token) reaches a log, a trace, a problem body or a table, on any path of the approval
// flow and of STS identity proof: pending and its replay, approve, deny, list, the pick-up and
// its replay and refusals, a failed pick-up and its retry, identity requests accepted and
// refused. Not parallel: Plant captures the process-wide logger and tracer.
func TestNoSecretLeaksApprovalAndSTS(t *testing.T) {
	c := secrettest.Plant(t)
	f, v := stsFixture(t)
	problems := map[string]string{}
	check := func(name string, resp lambdaevents.APIGatewayProxyResponse) {
		if resp.StatusCode >= 400 {
			problems[name] = resp.Body
		}
	}

	code, _ := f.issue(acme, "premium")
	c.Add("invite code", code.Reveal())
	b := body(acme, code, "shipments:write")
	first := accepted(t, f.post("p", b))
	c.Add("pick-up token", first.PickupToken)
	token := secret.New(first.PickupToken)
	if again := accepted(t, f.post("p", b)); again.PickupToken != "" {
		t.Error("the replay shows the token")
	}
	check("pick-up before approval", f.pickup("early", first.OnboardingID, token))
	decided(t, f.approve(first.OnboardingID, `{"reason":"ok"}`))
	var failed atomic.Bool
	f.db.Intercept = func(op string, _ any) error {
		if op == "TransactWriteItems" && failed.CompareAndSwap(false, true) {
			return errors.New("injected: InternalServerError")
		}
		return nil
	}
	check("failed pick-up", f.pickup("pick", first.OnboardingID, token))
	f.db.Intercept = nil
	got := created(t, f.pickup("pick", first.OnboardingID, token))
	c.Add("api key", got.APIKey)
	created(t, f.pickup("pick", first.OnboardingID, token))
	check("second pick-up", f.pickup("pick-2", first.OnboardingID, token))
	wrong := mustToken(t)
	c.Add("wrong pick-up token", wrong.Reveal())
	check("wrong token", f.pickup("wrong", first.OnboardingID, wrong))
	check("unknown onboarding", f.pickup("unknown", NewOnboardingID(), token))

	other, _ := f.issue("Other Ltd", "premium")
	c.Add("other invite code", other.Reveal())
	denied := accepted(t, f.post("d", body("Other Ltd", other, "shipments:write")))
	c.Add("denied pick-up token", denied.PickupToken)
	decided(t, f.deny(denied.OnboardingID, ""))
	check("denied pick-up", f.pickup("denied", denied.OnboardingID, secret.New(denied.PickupToken)))
	list := f.adminHandle(adminRequest("GET", ListResource, "", ""))
	c.CheckText("list", list.Body)

	// STS: accepted, replayed, refused as invalid, not allowed, taken, failing.
	auth := v.sign(sandboxID)
	c.Add("identity request signature", auth)
	sts := stsBody("Local Ltd", auth, "orders:read")
	withToken := strings.Replace(sts, `"X-Amz-Date"`, `"X-Amz-Security-Token":["`+c.New("session-token").Reveal()+`"],"X-Amz-Date"`, 1)
	got = created(t, f.post("sts", withToken))
	c.Add("sts api key", got.APIKey)
	created(t, f.post("sts", withToken))
	forged := c.New("forged-signature").Reveal()
	check("invalid identity request", f.post("forged", stsBody("Local Ltd", forged, "orders:read")))
	strange := v.sign(strangeID)
	c.Add("strange signature", strange)
	check("account not allowed", f.post("strange", stsBody("Mallory", strange, "orders:read")))
	again := v.sign(sandboxID)
	c.Add("second signature", again)
	check("account taken", f.post("again", stsBody("Local Two", again, "orders:read")))
	v.mu.Lock()
	v.err = errors.New("stsproof: verify identity request: connection refused")
	v.mu.Unlock()
	down := v.sign(sandboxID)
	c.Add("signature while STS is down", down)
	check("STS down", f.post("down", stsBody("Local Ltd", down, "orders:read")))

	for name, p := range problems {
		c.CheckText(fmt.Sprintf("problem body (%s)", name), p)
	}
	c.CheckText("tables", f.dump())
}
