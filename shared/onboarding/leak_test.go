package onboarding

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/lanyardhq/lanyard/shared/problem"
	"github.com/lanyardhq/lanyard/shared/secret"
	"github.com/lanyardhq/lanyard/shared/secret/secrettest"
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
	answer("approval", "leak-7", body("Premium Ltd", premium, "orders:read"), problem.AccessDenied)

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
