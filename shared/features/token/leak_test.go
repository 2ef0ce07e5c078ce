package token_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/shared/fakes/ddbfault"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/features/token"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

// The secret access key and the session token reach the response body and nothing else: no
// log line, error, trace segment or problem body, on success or failure. (Not parallel: Plant
// swaps the process's logger and tracer.)
func TestNoCredentialSecretsInLogsErrorsOrTraces(t *testing.T) {
	c := secrettest.Plant(t)
	secretKey, sessionToken := c.New("secret-access-key"), c.New("session-token")

	h, f, db := fixture(t, entry("premium", "orders:read", "webhooks:write"))
	f.secretKey, f.sessionToken = secretKey.Reveal(), sessionToken.Reveal()
	resp, err := h.Handle(t.Context(), tokenRequest("{}"))
	c.CheckError(err)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := decodeCredentials(t, resp.Body)
	if got.SecretAccessKey != secretKey.Reveal() || got.SessionToken != sessionToken.Reveal() {
		t.Error("the answer does not carry the credentials STS returned")
	}

	// The Go value that holds them renders redacted, however it is printed.
	creds := token.Credentials{AccessKeyID: got.AccessKeyID, SecretAccessKey: secretKey, SessionToken: sessionToken, Expiration: got.Expiration}
	b, _ := json.Marshal(creds)
	c.CheckText("credentials as JSON", string(b))
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		c.CheckText("credentials as "+verb, fmt.Sprintf(verb, creds))
	}

	// Failures after STS answered — the record not committed, STS failing — and refusals:
	// nothing secret in the problem or the log.
	throttled := ddbfault.Faults()[0]
	h.Outbox.DB = &ddbfault.Fake{DynamoDB: db, Fault: &throttled}
	resp, err = h.Handle(t.Context(), tokenRequest(""))
	c.CheckError(err)
	c.CheckText("problem body", resp.Body)
	if resp.StatusCode != 503 {
		t.Errorf("record not committed: %d", resp.StatusCode)
	}
	f.err = errThrottled
	resp, err = h.Handle(t.Context(), tokenRequest(""))
	c.CheckError(err)
	c.CheckText("problem body", resp.Body)
	if resp.StatusCode != 500 {
		t.Errorf("STS failing: %d", resp.StatusCode)
	}
	revoked := entry("standard", "orders:read")
	revoked.Status = registry.StatusRevoked
	h2, f2, _ := fixture(t, revoked)
	f2.secretKey, f2.sessionToken = secretKey.Reveal(), sessionToken.Reveal()
	resp, err = h2.Handle(t.Context(), tokenRequest(`{"x":1}`))
	c.CheckError(err)
	c.CheckText("problem body", resp.Body)

	if leaks := c.Leaks(); len(leaks) > 0 {
		t.Errorf("leaks: %s", strings.Join(leaks, "; "))
	}
}
