package front

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
)

// authResult is what API Gateway caches from a REQUEST authorizer: the policy, not a decision,
// so every request is checked against it with its own method ARN.
type authResult struct {
	principalID string
	policy      policy
	context     map[string]any // string values, or nil for null
	usageKey    string
}

// authCache is the authorizer result cache, keyed on the identity source's value (kept only
// as its SHA-256).
type authCache struct {
	mu      sync.Mutex
	entries map[[sha256.Size]byte]cacheEntry
}

type cacheEntry struct {
	result  *authResult
	expires time.Time
}

func newAuthCache() *authCache {
	return &authCache{entries: map[[sha256.Size]byte]cacheEntry{}}
}

func (c *authCache) get(key [sha256.Size]byte, now time.Time) (*authResult, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	if !now.Before(e.expires) {
		delete(c.entries, key)
		return nil, false
	}
	return e.result, true
}

func (c *authCache) put(key [sha256.Size]byte, r *authResult, expires, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= 1024 {
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
	}
	c.entries[key] = cacheEntry{result: r, expires: expires}
}

func (c *authCache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
}

// methodArn is the ARN of the method a request invokes, as the authorizer's policy names it.
func (f *Front) methodArn(c *call) string {
	return fmt.Sprintf("arn:aws:execute-api:%s:%s:%s/%s/%s/%s",
		f.cfg.Region, f.cfg.AccountID, f.cfg.APIID, f.cfg.Stage, c.r.Method, strings.TrimPrefix(c.path, "/"))
}

func unauthorized(cause error) *gatewayError {
	return &gatewayError{
		responseType: respUnauthorized, status: http.StatusUnauthorized,
		errorType: "UnauthorizedException", detail: "Unauthorized", cause: cause,
	}
}

// authorizerError is API Gateway's 500 for an authorizer that failed or answered wrongly.
func authorizerError(cause error) *gatewayError {
	return &gatewayError{
		responseType: respAuthorizerConfig, status: http.StatusInternalServerError,
		errorType: "AuthorizerConfigurationException", detail: "The authorizer failed or returned an invalid response",
		cause: cause,
	}
}

// authorize admits a partner-key request as API Gateway's REQUEST authorizer does.
func (f *Front) authorize(ctx context.Context, c *call) (admission, *gatewayError) {
	a := f.cfg.Topology.Authorizer
	// The identity source is the header's last value, as in the event's headers map.
	values := c.r.Header.Values(a.IdentityHeader)
	if len(values) == 0 || strings.TrimSpace(values[len(values)-1]) == "" {
		return admission{}, unauthorized(errors.New("identity source missing: authorizer not called"))
	}
	source := values[len(values)-1]
	c.identity = identityHash(source)
	key := sha256.Sum256([]byte(source))
	arn := f.methodArn(c)

	ttl := a.ResultTTL
	res, hit := (*authResult)(nil), false
	if ttl > 0 {
		res, hit = f.cache.get(key, f.cfg.Now())
	}
	latency := int64(0)
	if hit {
		f.stats.authorizerCacheHits.Add(1)
	} else {
		started := f.cfg.Now()
		var gerr *gatewayError
		res, gerr = f.callAuthorizer(ctx, c, arn)
		if gerr != nil {
			return admission{}, gerr
		}
		latency = f.cfg.Now().Sub(started).Milliseconds()
		if ttl > 0 {
			now := f.cfg.Now()
			f.cache.put(key, res, now.Add(ttl), now)
		}
	}

	switch res.policy.evaluate(arn) {
	case allowed:
	case explicitDeny:
		return admission{}, &gatewayError{
			responseType: respAccessDenied, status: http.StatusForbidden, errorType: "AccessDeniedException",
			detail: "User is not authorized to access this resource with an explicit deny",
			cause:  fmt.Errorf("policy of principal %q denies %s (cached: %t)", res.principalID, arn, hit),
		}
	default:
		return admission{}, &gatewayError{
			responseType: respAccessDenied, status: http.StatusForbidden, errorType: "AccessDeniedException",
			detail: "User is not authorized to access this resource",
			cause:  fmt.Errorf("policy of principal %q does not allow %s (cached: %t)", res.principalID, arn, hit),
		}
	}

	authz := make(map[string]any, len(res.context)+2)
	for k, v := range res.context {
		authz[k] = v
	}
	authz["principalId"] = res.principalID
	authz["integrationLatency"] = latency
	return admission{authorizer: authz, usageKey: res.usageKey}, nil
}

func (f *Front) callAuthorizer(ctx context.Context, c *call, arn string) (*authResult, *gatewayError) {
	name := f.cfg.FunctionName(f.cfg.Topology.Authorizer.Function)
	query, multiQuery := queryParameters(c.r)
	params := c.params
	if params == nil {
		params = map[string]string{}
	}
	ev := lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest{
		Type:                            "REQUEST",
		MethodArn:                       arn,
		Resource:                        c.route.Path,
		Path:                            c.path,
		HTTPMethod:                      c.r.Method,
		Headers:                         c.headers.single,
		MultiValueHeaders:               c.headers.multi,
		QueryStringParameters:           query,
		MultiValueQueryStringParameters: multiQuery,
		PathParameters:                  params,
		RequestContext: lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequestContext{
			Path:         f.requestContextPath(c),
			AccountID:    f.cfg.AccountID,
			ResourceID:   c.route.resourceID,
			Stage:        f.cfg.Stage,
			RequestID:    c.id,
			Identity:     lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequestIdentity{SourceIP: c.sourceIP},
			ResourcePath: c.route.Path,
			HTTPMethod:   c.r.Method,
			APIID:        f.cfg.APIID,
		},
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return nil, authorizerError(fmt.Errorf("encode authorizer event: %w", err))
	}
	ictx, cancel := context.WithTimeout(ctx, f.cfg.IntegrationTimeout)
	defer cancel()
	f.stats.authorizerInvocations.Add(1)
	out, err := f.cfg.Invoker.Invoke(ictx, name, payload)
	if err != nil {
		return nil, authorizerError(fmt.Errorf("invoke authorizer %s: %w", name, err))
	}
	if out.FunctionError != "" {
		// A function error whose message is exactly "Unauthorized" is the authorizer's way of
		// answering 401; any other is a failed authorizer.
		var doc struct {
			ErrorMessage string `json:"errorMessage"`
		}
		if json.Unmarshal(out.Payload, &doc) == nil && doc.ErrorMessage == "Unauthorized" {
			return nil, unauthorized(fmt.Errorf("authorizer %s answered Unauthorized", name))
		}
		return nil, authorizerError(fmt.Errorf("authorizer %s failed (%s, %s)", name, out.FunctionError, errorType(out.Payload)))
	}
	res, err := parseAuthorizerResponse(out.Payload)
	if err != nil {
		return nil, authorizerError(fmt.Errorf("authorizer %s: invalid response: %w", name, err))
	}
	return res, nil
}

// parseAuthorizerResponse reads an authorizer's output: principalId and policyDocument are
// required; context values must be strings, numbers, booleans or null and reach the route
// stringified, as API Gateway passes them to a Lambda proxy integration.
func parseAuthorizerResponse(payload []byte) (*authResult, error) {
	var out struct {
		PrincipalID        json.RawMessage            `json:"principalId"`
		PolicyDocument     json.RawMessage            `json:"policyDocument"`
		Context            map[string]json.RawMessage `json:"context"`
		UsageIdentifierKey json.RawMessage            `json:"usageIdentifierKey"`
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, errors.New("not a JSON object with the authorizer output's shape")
	}
	principal, ok, err := scalar(out.PrincipalID)
	if err != nil || !ok {
		return nil, errors.New("principalId missing or not a string")
	}
	pol, err := parsePolicy(out.PolicyDocument)
	if err != nil {
		return nil, err
	}
	res := &authResult{principalID: principal, policy: pol, context: make(map[string]any, len(out.Context))}
	for k, v := range out.Context {
		s, ok, err := scalar(v)
		if err != nil {
			return nil, fmt.Errorf("context value %q: must be a string, number or boolean", k)
		}
		if ok {
			res.context[k] = s
		} else {
			res.context[k] = nil
		}
	}
	if res.usageKey, _, err = scalar(out.UsageIdentifierKey); err != nil {
		return nil, errors.New("usageIdentifierKey is not a string")
	}
	return res, nil
}
