//go:build integration

package main

import (
	"encoding/json"
	"testing"

	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/features/stsproof"
)

// --role-arn signs as a session of the role, assumed with the configured credentials through
// the STS endpoint given: LocalStack's STS says the signer is the role's session, which is
// what an allow-list entry naming the role admits (the local overlay's partner account here;
// LocalStack takes a 12-digit access key id as the account).
func TestIdentityRequestAsRoleAgainstLocalStack(t *testing.T) {
	env, err := harness.Connect(t.Context())
	if err != nil {
		t.Fatalf("connect (run `make local-up`): %v", err)
	}
	identityEnv(t)
	const account = "000000000001"
	t.Setenv("AWS_ACCESS_KEY_ID", account)
	role := "arn:aws:iam::" + account + ":role/lanyard-onboarding"
	server := harness.Name("lanyard-cli")
	code, stdout, stderr := runCLI(append([]string{"identity-request", "--server-id", server, "--sts-endpoint", env.LocalStackURL, "--role-arn", role}, forAcme...)...)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var r stsproof.Request
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("output is not a Request: %v", err)
	}
	if len(r.Headers["X-Amz-Security-Token"]) != 1 {
		t.Error("a role session's request without its session token")
	}
	ep, err := stsproof.ParseEndpoint(env.LocalStackURL)
	if err != nil {
		t.Fatal(err)
	}
	id, err := (&stsproof.Verifier{ServerID: server, Endpoint: ep}).Verify(t.Context(), r, acmeDigest)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want := "arn:aws:sts::" + account + ":assumed-role/lanyard-onboarding/lanyard-identity-request"
	if id.AccountID != account || id.ARN != want {
		t.Errorf("identity %+v, want %s", id, want)
	}
	entry := policy.Account{AccountID: account, Principals: []string{role}}
	if !entry.Admits(id.ARN) {
		t.Errorf("an entry naming %s does not admit %s", role, id.ARN)
	}
}
