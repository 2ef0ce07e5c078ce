//go:build integration

package integration

import (
	"testing"

	"github.com/lanyardhq/lanyard/integration/harness"
)

// LocalStack checks no credentials: it must not be reachable from the network. Its gateway
// ignores GATEWAY_LISTEN's host on its own (it binds 0.0.0.0); the executor package's gateway
// bind patch makes it listen on 127.0.0.1 only. DynamoDB Local has no bind option at all (the
// README says what that exposes), so it is not checked here.
func TestLocalStackListensOnLoopbackOnly(t *testing.T) {
	n := harness.RefusedBeyondLoopback(t, "LocalStack", env.LocalStackURL)
	t.Logf("LocalStack at %s checked on %d non-loopback address(es)", env.LocalStackURL, n)
}
