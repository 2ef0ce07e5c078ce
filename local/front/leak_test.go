package front_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/lanyardhq/lanyard/local/front"
	"github.com/lanyardhq/lanyard/local/invoke"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
)

// TestPartnerKeysNeverLeak sends canary partner keys as the identity header through every
// outcome and checks that no log record, response body or header carries them. Plant captures
// slog.Default, so this test does not run in parallel.
func TestPartnerKeysNeverLeak(t *testing.T) {
	c := secrettest.Plant(t)
	behaviour := map[string]string{} // canary plaintext → the fake authorizer's answer
	keys := map[string]string{}
	for _, b := range []string{"allow-all", "allow-get", "deny", "unauthorized", "crash", "nested"} {
		key := c.New("api-key-" + b)
		behaviour[key.Reveal()] = b
		keys[b] = key.Reveal()
	}

	inner := &functions{}
	fx := newFixture(t, func(cfg *front.Config) {
		cfg.Invoker = invoke.Func(func(ctx context.Context, function string, payload []byte) (invoke.Result, error) {
			if function != authorizerLambda {
				return inner.Invoke(ctx, function, payload)
			}
			var ev lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest
			if err := json.Unmarshal(payload, &ev); err != nil {
				return invoke.Result{}, fmt.Errorf("authorizer event: %w", err)
			}
			return authorizerAnswer(behaviour[ev.Headers["Authorization"]]), nil
		})
	})

	tests := []struct {
		name, method, target, key, mode string
		status                          int
	}{
		{"allowed", "GET", "/v1/probe", "allow-all", "", http.StatusCreated},
		{"allowed from the cache", "POST", "/v1/probe/1", "allow-all", "", http.StatusCreated},
		{"function fails", "POST", "/v1/probe/2", "allow-all", "fail", http.StatusBadGateway},
		{"not covered", "POST", "/v1/probe/1", "allow-get", "", http.StatusForbidden},
		{"not covered, cached", "POST", "/v1/probe/1", "allow-get", "", http.StatusForbidden},
		{"denied", "GET", "/v1/probe", "deny", "", http.StatusForbidden},
		{"unauthorized", "GET", "/v1/probe", "unauthorized", "", http.StatusUnauthorized},
		{"authorizer crashes", "GET", "/v1/probe", "crash", "", http.StatusInternalServerError},
		{"nested context", "GET", "/v1/probe", "nested", "", http.StatusInternalServerError},
		{"undeclared route", "GET", "/v1/nothing", "allow-all", "", http.StatusForbidden},
		{"aws-iam route", "POST", "/v1/admin/probe", "allow-all", "", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := request(tt.method, tt.target, keys[tt.key], nil)
			if tt.mode != "" {
				req.Header.Set("X-Probe-Mode", tt.mode)
			}
			res := serve(fx.front, req)
			if res.status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.status, tt.status, res.body)
			}
			c.CheckText("response body", string(res.body))
			c.CheckText("response headers", fmt.Sprint(res.header))
		})
	}

	// A SigV4-looking header whose credential is a key.
	req := request("POST", "/v1/admin/probe", "AWS4-HMAC-SHA256 Credential="+keys["allow-all"]+"/20250601/eu-west-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=00", nil)
	req.Header.Set("X-Amz-Date", "20250601T120000Z")
	res := serve(fx.front, req)
	if res.status != http.StatusForbidden {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	c.CheckText("response body", string(res.body))
	c.CheckText("stats", fmt.Sprintf("%+v", fx.front.Stats()))
}
