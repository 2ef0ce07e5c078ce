//go:build integration

package stsproof_test

import (
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/shared/features/stsproof"
)

// The happy path against LocalStack's STS: a request signed with the local credentials for
// LocalStack's endpoint is verified, and STS says who signed it. (LocalStack checks no
// signatures: the refusals are the unit tests'.)
func TestVerifyAgainstLocalStack(t *testing.T) {
	env, err := harness.Connect(t.Context())
	if err != nil {
		t.Fatalf("connect (run `make local-up`): %v", err)
	}
	ep, err := stsproof.ParseEndpoint(env.LocalStackURL)
	if err != nil {
		t.Fatalf("LocalStack endpoint: %v", err)
	}
	creds := aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}
	id := harness.Name("lanyard-it")
	r, err := stsproof.Sign(t.Context(), creds, harness.Region, ep, id, digest, time.Now())
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	v := &stsproof.Verifier{ServerID: id, Endpoint: ep}
	got, err := v.Verify(t.Context(), r, digest)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.AccountID != harness.Account {
		t.Errorf("account = %q, want %q", got.AccountID, harness.Account)
	}
	if a, err := arn.Parse(got.ARN); err != nil || a.AccountID != harness.Account {
		t.Errorf("ARN %q: %v", got.ARN, err)
	}
	if got.UserID == "" {
		t.Error("no user id")
	}

	// The same request for another deployment is refused before LocalStack sees it.
	other := &stsproof.Verifier{ServerID: id + "-other", Endpoint: ep}
	if _, err := other.Verify(t.Context(), r, digest); !errors.Is(err, stsproof.ErrInvalid) {
		t.Errorf("Verify for another server id = %v, want ErrInvalid", err)
	}
}
