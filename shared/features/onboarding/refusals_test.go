package onboarding

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
)

// countingCase is one kind of refusal counter a handler can have.
type countingCase struct {
	name    string
	counter func() *counter // nil: the handler counts nothing
}

// counter is a RefusalCounter that records each reason, and fails or hangs when told to.
type counter struct {
	mu      sync.Mutex
	reasons []string
	err     error
	hang    bool
}

func (c *counter) Add(ctx context.Context, reason string) error {
	c.mu.Lock()
	c.reasons = append(c.reasons, reason)
	err, hang := c.err, c.hang
	c.mu.Unlock()
	if hang {
		<-ctx.Done()
		return ctx.Err()
	}
	return err
}

func (c *counter) got() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.reasons)
}

var countingCases = []countingCase{
	{"no counter", nil},
	{"counting", func() *counter { return &counter{} }},
	{"count fails", func() *counter { return &counter{err: errors.New("ProvisionedThroughputExceededException: throttled")} }},
	{"count hangs", func() *counter { return &counter{hang: true} }},
}

// refusalStep is one request of refusalScript and the reason it is counted under ("": none).
type refusalStep struct {
	name   string
	send   func() lambdaevents.APIGatewayProxyResponse
	status int
	reason string
}

// refusalScript is a run of onboardings and pick-ups on f: the shape check's refusals (not
// counted), the refusals of well-formed requests (counted by problem type, replays again), and
// answers that refuse nothing.
func refusalScript(t *testing.T, f *fixture, v *fakeVerifier, c *secrettest.Canaries) []refusalStep {
	t.Helper()
	code, _ := f.issue(acme, "standard")
	sandbox, _ := f.issue("Sandbox Ltd", "sandbox")
	unknown := c.New("invite-code")
	p, token := f.pend("pend", "Pending Ltd", "orders:read")
	for _, v := range []secret.Value{code, sandbox, token} {
		c.Add("secret", v.Reveal())
	}
	post := func(key, body string) func() lambdaevents.APIGatewayProxyResponse {
		return func() lambdaevents.APIGatewayProxyResponse { return f.post(key, body) }
	}
	pickup := func(key, id string, tok secret.Value) func() lambdaevents.APIGatewayProxyResponse {
		return func() lambdaevents.APIGatewayProxyResponse { return f.pickup(key, id, tok) }
	}
	wrongType := request("ct", body(acme, code, "orders:read"))
	wrongType.Headers["Content-Type"] = "text/plain"
	return []refusalStep{
		// The shape check: not counted.
		{"no idempotency key", post("", body(acme, code, "orders:read")), 400, ""},
		{"not json", func() lambdaevents.APIGatewayProxyResponse { return f.handle(wrongType) }, 415, ""},
		{"invalid body", post("bad", `{"partnerName":"x"}`), 400, ""},
		{"malformed invite code", post("bad-code", body(acme, secret.New(unknown.Reveal()+"!"), "orders:read")), 400, ""},
		{"malformed pick-up id", pickup("bad-id", "onb-1", token), 403, ""},
		// Well-formed and refused: counted by problem type.
		{"unknown invite", post("unknown", body(acme, unknown, "orders:read")), 403, "invite-invalid"},
		{"unknown invite replayed", post("unknown", body(acme, unknown, "orders:read")), 403, "invite-invalid"},
		{"scopes", post("scopes", body("Sandbox Ltd", sandbox, "orders:write")), 403, "scopes-not-allowed"},
		{"forged identity", post("forged", stsBody("Local Ltd", "AWS4-HMAC-SHA256 Credential=forged", "orders:read")), 403, "identity-proof-invalid"},
		{"account not allowed", post("strange", stsBody("Mallory", v.sign(strangeID), "orders:read")), 403, "account-not-allowed"},
		{"root", post("root", stsBody("Local Ltd", v.sign(rootID), "orders:read")), 403, "principal-not-allowed"},
		{"unknown onboarding", pickup("pick-unknown", NewOnboardingID(), token), 403, "pickup-invalid"},
		{"pick-up while pending", pickup("pick-early", p.OnboardingID, token), 409, "conflict"},
		// Accepted, then a refusal of the same key's other body.
		{"onboarded", post("ok", body(acme, code, "orders:read")), 201, ""},
		{"onboarded replayed", post("ok", body(acme, code, "orders:read")), 201, ""},
		{"key reused", post("ok", body(acme, code, "orders:read", "orders:write")), 422, "idempotency-key-reused"},
		{"invite used", post("again", body(acme, code, "orders:read")), 403, "invite-invalid"},
	}
}

// Every well-formed request refused is counted once under its problem type, and nothing else
// is; whatever the counter does — nothing, count, fail, hang past its timeout — every answer
// is the same, and no invite code, pick-up token or key reaches the log of a failing count.
// Not parallel: Plant captures the process-wide logger.
func TestRefusalCountingNeverChangesTheAnswer(t *testing.T) {
	c := secrettest.Plant(t)
	var baseline []lambdaevents.APIGatewayProxyResponse
	for _, cc := range countingCases {
		t.Run(cc.name, func(t *testing.T) {
			f, v := stsFixture(t)
			var cnt *counter
			if cc.counter != nil {
				cnt = cc.counter()
				f.h.Refusals = cnt
				f.h.RefusalCountTimeout = 20 * time.Millisecond
			}
			steps := refusalScript(t, f, v, c)
			var answers []lambdaevents.APIGatewayProxyResponse
			var want []string
			for _, s := range steps {
				resp := s.send()
				if resp.StatusCode != s.status {
					t.Fatalf("%s: status %d (%s), want %d", s.name, resp.StatusCode, problemType(resp.Body), s.status)
				}
				if s.reason != "" {
					want = append(want, s.reason)
					if got := RefusalReason(resp); got != s.reason {
						t.Errorf("%s: reason %q, want %q", s.name, got, s.reason)
					}
				}
				answers = append(answers, resp)
			}
			if cnt != nil && !slices.Equal(cnt.got(), want) {
				t.Errorf("counted %q, want %q", cnt.got(), want)
			}
			if baseline == nil {
				baseline = answers
				return
			}
			for i, s := range steps {
				got, was := answers[i], baseline[i]
				// Refusals hold nothing random: the same bytes. Answers with a key: the same shape.
				if got.StatusCode != was.StatusCode || (got.StatusCode >= 400 && (got.Body != was.Body || !equalHeaders(got.Headers, was.Headers))) {
					t.Errorf("%s: answered %d %s, without a counter %d %s", s.name, got.StatusCode, got.Body, was.StatusCode, was.Body)
				}
			}
		})
	}
}

func equalHeaders(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// RefusalReason reads the problem type of any answer; a body naming no catalogue type is
// "unknown".
func TestRefusalReason(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		resp lambdaevents.APIGatewayProxyResponse
		want string
	}{
		{problem.Response(problem.InviteInvalid.New("").Problem()), "invite-invalid"},
		{problem.Response(problem.NewScopesNotAllowed("sandbox", []string{"orders:write"}).Problem()), "scopes-not-allowed"},
		{lambdaevents.APIGatewayProxyResponse{StatusCode: 403, Body: `{"type":"https://example.com/problems#invite-invalid"}`}, ReasonUnknown},
		{lambdaevents.APIGatewayProxyResponse{StatusCode: 403, Body: `not json`}, ReasonUnknown},
	} {
		if got := RefusalReason(tt.resp); got != tt.want {
			t.Errorf("RefusalReason(%s) = %q, want %q", tt.resp.Body, got, tt.want)
		}
	}
}
