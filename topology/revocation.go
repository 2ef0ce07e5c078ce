package topology

import (
	"time"

	"github.com/lanyardhq/lanyard/shared/domain/policy"
)

// AuthorizerTimeout is the partner-key authorizer function's timeout: how long after reading
// the registry an authorizer's Allow can still reach API Gateway's cache.
const AuthorizerTimeout = 5 * time.Second

// keyCacheTTLFallback is the longest authorizer.keyCacheTtl the policy accepts: what the
// gateway enforcer waits out should the embedded policy not load (the build gate and
// TestProductionDeclarationIsValid refuse such a build), erring towards a later flush.
const keyCacheTTLFallback = 5 * time.Minute

// gatewayEnforcerWork bounds what the gateway enforcer does for a batch besides its wait: the
// coalesced flush (a second at most), the registry and API key reads, the commit.
const gatewayEnforcerWork = 30 * time.Second

// SecretRecoveryDays is the policy's revocation.secretRecoveryWindow in days: the recovery
// window of a secret the secret enforcer deletes (7 to 30, which the policy's validation
// holds; 30, Secrets Manager's default, should the embedded policy not load).
func SecretRecoveryDays() int64 {
	p, err := policy.Default()
	if err != nil {
		return 30
	}
	return p.Revocation.SecretRecoveryDays()
}

// AuthorizerKeyCacheTTL is the policy's authorizer.keyCacheTtl (policy/policy.json): how long
// an authorizer instance may keep a key in memory.
func AuthorizerKeyCacheTTL() time.Duration {
	p, err := policy.Default()
	if err != nil {
		return keyCacheTTLFallback
	}
	return p.Authorizer.KeyCacheTTL.Std()
}

// GatewayEnforcerTimeout is the gateway enforcer function's timeout: its wait after a
// revocation (the key-cache TTL and the authorizer's timeout) and its work, in whole seconds.
func GatewayEnforcerTimeout() time.Duration {
	return (AuthorizerKeyCacheTTL() + AuthorizerTimeout + gatewayEnforcerWork + time.Second - 1).Truncate(time.Second)
}

// STSEnforcerTimeout is the sts enforcer function's timeout: a batch's renders of the deny
// (a scan of the set, a few IAM writes each) and its waits for the set's lease.
const STSEnforcerTimeout = time.Minute

// ClockSkew is the margin kept between the clocks of Lambda instances and AWS services.
const ClockSkew = 5 * time.Second

// STSEnforcerLease is how long a writer of the sts deny holds the set's lease: longer than the
// function's timeout, which ends any invocation that took it, plus the clocks' skew, so no two
// writers ever render at once.
func STSEnforcerLease() time.Duration { return STSEnforcerTimeout + 6*ClockSkew }
