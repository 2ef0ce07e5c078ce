// Package authorizer is the partner-key REQUEST authorizer's decision (flow 2 of the design):
//
//  1. read the key from the Authorization header and check its grammar and checksum
//     (shared/domain/credential) — a malformed key is refused before any I/O;
//  2. look the key id up in the registry, a consistent read; an in-memory cache (KeyCacheTTL,
//     the policy's authorizer.keyCacheTtl) may hold active keys' entries, but the policy sets
//     it to 0s: API Gateway already caches the policy, so the authorizer runs only on a miss,
//     and an entry kept in memory would let a key revoked since through — and put a fresh
//     Allow in API Gateway's cache right after the revoke handler's flush
//     (BenchmarkKeyCacheTTL measures both sides);
//  3. SHA-256 the key and compare it in constant time with the entry's verifier;
//  4. check the entry's status, validity window and grace (registry.Entry.Accepts);
//  5. Allow, with a policy that lists every route the key's scopes permit: API Gateway caches
//     the policy (authorizer.cacheTtl) under the Authorization header and reuses it on every
//     route, so the policy must cover the routes the key may call, not just the one called.
//     The Allow names the partner's usage identifier (usageIdentifierKey, usage.KeyValue): the
//     API takes its API keys from the authorizer, and throttles the partner by that key's
//     usage plan, its tier's.
//
// The answers, as API Gateway turns them into responses:
//
//   - no key, a malformed key, an unknown key id, a wrong secret: the error "Unauthorized"
//     (ErrUnauthorized), which API Gateway answers with 401 and does not cache;
//   - a key whose secret matched but that is revoked, pending, expired, not yet valid, or
//     previous past its grace: an explicit Deny on the whole stage for the partner, which
//     API Gateway answers with 403 and caches — right for a key that will not come back;
//     a Deny names no usage identifier;
//   - a registry read that failed: another error, which API Gateway answers with 500.
//
// Each decision logs one line (key id, partner, outcome, reason) and traces one span
// ("authorize", annotated with the partner when known). The key, the header and the verifier
// never reach a log, an error or a trace.
package authorizer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/features/usage"
	"github.com/lanyardhq/lanyard/shared/platform/apigw"
	"github.com/lanyardhq/lanyard/shared/platform/tracing"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

// ErrUnauthorized is the error API Gateway turns into 401 Unauthorized: it matches this exact
// message, capital U included.
var ErrUnauthorized = errors.New("Unauthorized")

// Lookup reads a key's registry entry; an unknown key id is an error matching
// registry.ErrNotFound.
type Lookup interface {
	Get(ctx context.Context, id credential.KeyID) (registry.Entry, error)
}

var _ Lookup = (*registry.Store)(nil)

// Outcomes, as logged.
const (
	OutcomeAllow        = "allow"
	OutcomeDeny         = "deny"         // 403: the key is genuine but not usable now
	OutcomeUnauthorized = "unauthorized" // 401
	OutcomeError        = "error"        // 500
)

// Reasons of the refusals that are not the registry's (registry.Reason* are the others).
const (
	ReasonNoCredentials     = "no-credentials"
	ReasonUnsupportedScheme = "unsupported-scheme"
	ReasonDuplicateHeader   = "duplicate-header"
	ReasonMalformed         = "malformed-key"
	ReasonChecksum          = "checksum-mismatch"
	ReasonWrongEnvironment  = "wrong-environment"
	ReasonUnknownKey        = "unknown-key"
	ReasonVerifierMismatch  = "verifier-mismatch"
	ReasonNoRoutes          = "no-permitted-routes"
	ReasonLookupFailed      = "lookup-failed"
	ReasonBadMethodARN      = "bad-method-arn"
)

// Authorizer decides partner-key requests. Set its fields before the first call and leave them;
// it is safe for concurrent use.
type Authorizer struct {
	// Lookup reads the registry (a *registry.Store).
	Lookup Lookup
	// Routes are the API's partner-key routes (generated from the topology into the
	// function's package; topology.PartnerKeyRoutes); the policy lists those whose Scope is ""
	// or one of the key's scopes.
	Routes []Route
	// KeyCacheTTL is how long a registry entry found is reused (the policy's
	// authorizer.keyCacheTtl); 0 or less reads the registry on every request.
	KeyCacheTTL time.Duration
	// CacheSize bounds the key cache (0: DefaultCacheSize).
	CacheSize int
	// Environment, when set, is the only key environment accepted (credential.EnvLive in
	// AWS, credential.EnvLocal under lanyard local): a key minted for another deployment is
	// refused before any I/O.
	Environment credential.Environment
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Logger receives one line per decision (nil: slog.Default()).
	Logger *slog.Logger

	once   sync.Once
	grants []routeGrant
	cache  *keyCache
}

func (a *Authorizer) init() {
	a.once.Do(func() {
		a.grants = routeGrants(a.Routes)
		a.cache = newKeyCache(a.CacheSize)
	})
}

func (a *Authorizer) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// decision is what Authorize answers and logs.
type decision struct {
	outcome string
	reason  string
	keyID   credential.KeyID
	partner string
	cached  bool
	detail  error // for the log: a fixed credential refusal or the lookup's failure
}

// Authorize decides one request; it is the Lambda handler. See the package documentation for
// the answers.
func (a *Authorizer) Authorize(ctx context.Context, req lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest) (lambdaevents.APIGatewayCustomAuthorizerResponse, error) {
	ctx, span := tracing.Start(ctx, "authorize")
	resp, d, err := a.decide(ctx, req)
	if d.partner != "" {
		span.Annotate("partner", d.partner)
	}
	span.Annotate("outcome", d.outcome)
	if d.outcome == OutcomeError {
		span.End(err)
	} else {
		span.End(nil) // a refusal is an answer, not a fault
	}
	a.log(ctx, req, d)
	return resp, err
}

func (a *Authorizer) log(ctx context.Context, req lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest, d decision) {
	logger := a.Logger
	if logger == nil {
		logger = slog.Default()
	}
	level, msg := slog.LevelInfo, "request authorized"
	switch d.outcome {
	case OutcomeDeny, OutcomeUnauthorized:
		msg = "request refused"
	case OutcomeError:
		level, msg = slog.LevelError, "authorizer failed"
	}
	if !logger.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("outcome", d.outcome),
		slog.String("reason", d.reason),
		slog.String("keyId", string(d.keyID)),
		slog.String("partner", d.partner),
		slog.Bool("cached", d.cached),
		slog.String("method", req.HTTPMethod),
		slog.String("resource", req.Resource),
	}
	if d.detail != nil {
		attrs = append(attrs, slog.String("error", d.detail.Error()))
	}
	logger.LogAttrs(ctx, level, msg, attrs...)
}

func (a *Authorizer) decide(ctx context.Context, req lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest) (lambdaevents.APIGatewayCustomAuthorizerResponse, decision, error) {
	a.init()
	var none lambdaevents.APIGatewayCustomAuthorizerResponse

	// 1. The key, with no I/O.
	var key credential.Key
	var err error
	if len(req.MultiValueHeaders) > 0 {
		key, err = credential.FromMultiValueHeaders(req.MultiValueHeaders)
	} else {
		key, err = credential.FromHeaders(req.Headers)
	}
	if err != nil {
		// credential's refusals are fixed messages: they never hold the header's value.
		return none, decision{outcome: OutcomeUnauthorized, reason: headerReason(err), detail: err}, ErrUnauthorized
	}
	d := decision{keyID: key.ID()}
	if a.Environment != "" && key.Env() != a.Environment {
		d.outcome, d.reason = OutcomeUnauthorized, ReasonWrongEnvironment
		return none, d, ErrUnauthorized
	}
	stage, err := stageARN(req.MethodArn)
	if err != nil {
		d.outcome, d.reason, d.detail = OutcomeError, ReasonBadMethodARN, err
		return none, d, fmt.Errorf("authorize key %s: %w", d.keyID, err)
	}

	// 2. The registry entry, through the cache.
	now := a.now()
	c, hit := a.cache.get(d.keyID, now)
	d.cached = hit
	if !hit {
		e, err := a.Lookup.Get(ctx, d.keyID)
		switch {
		case errors.Is(err, registry.ErrNotFound):
			d.outcome, d.reason = OutcomeUnauthorized, ReasonUnknownKey
			return none, d, ErrUnauthorized
		case err != nil:
			d.outcome, d.reason, d.detail = OutcomeError, ReasonLookupFailed, err
			return none, d, fmt.Errorf("authorize key %s: %w", d.keyID, err)
		}
		c = &cached{entry: e, grant: newGrant(a.grants, e.Scopes)}
		// Only active keys are kept: a previous key's acknowledgement and retirement must
		// reach the next decision the flush of API Gateway's cache lets through, and it is in
		// use for the short while of a rotation only.
		if a.KeyCacheTTL > 0 && e.Status == registry.StatusActive {
			a.cache.put(d.keyID, c, now.Add(a.KeyCacheTTL), now)
		}
	}
	e := &c.entry

	// 3. The secret: SHA-256 and a constant-time comparison.
	if !e.Verifier.Matches(key) {
		d.outcome, d.reason = OutcomeUnauthorized, ReasonVerifierMismatch
		return none, d, ErrUnauthorized
	}
	d.partner = e.PartnerID

	// 4. Status, window, grace: a genuine key that is not usable now is denied (403).
	ok, reason := e.Accepts(now)
	d.reason = reason
	if !ok {
		d.outcome = OutcomeDeny
		return a.deny(stage, e), d, nil
	}

	// 5. Allow every route the scopes permit.
	resources := c.grant.resources(stage)
	if len(resources) == 0 {
		d.outcome, d.reason = OutcomeDeny, ReasonNoRoutes
		return a.deny(stage, e), d, nil
	}
	d.outcome = OutcomeAllow
	return lambdaevents.APIGatewayCustomAuthorizerResponse{
		PrincipalID:    e.PartnerID,
		PolicyDocument: policy("Allow", resources),
		Context: map[string]any{
			apigw.ContextPartnerID: e.PartnerID,
			apigw.ContextKeyID:     string(e.KeyID),
			apigw.ContextTier:      e.Tier,
			apigw.ContextScopes:    c.grant.scopes,
		},
		UsageIdentifierKey: usage.KeyValue(e.PartnerID),
	}, d, nil
}

// deny is an explicit Deny of the whole stage for the key's partner.
func (*Authorizer) deny(stage string, e *registry.Entry) lambdaevents.APIGatewayCustomAuthorizerResponse {
	return lambdaevents.APIGatewayCustomAuthorizerResponse{
		PrincipalID:    e.PartnerID,
		PolicyDocument: policy("Deny", []string{stage + "/*"}),
		Context: map[string]any{
			apigw.ContextPartnerID: e.PartnerID,
			apigw.ContextKeyID:     string(e.KeyID),
		},
	}
}

// headerReason names a credential refusal for the log.
func headerReason(err error) string {
	switch {
	case errors.Is(err, credential.ErrNoCredentials):
		return ReasonNoCredentials
	case errors.Is(err, credential.ErrUnsupportedScheme):
		return ReasonUnsupportedScheme
	case errors.Is(err, credential.ErrDuplicateHeader):
		return ReasonDuplicateHeader
	case errors.Is(err, credential.ErrChecksum):
		return ReasonChecksum
	}
	return ReasonMalformed
}
