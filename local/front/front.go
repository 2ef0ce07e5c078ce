// Package front fronts the declared REST routes on the local machine the way API Gateway fronts
// them in AWS (a REST API, one stage): it matches the route, admits the request as the route's
// authorization says (the REQUEST authorizer with its policy cache for partner-key routes, a
// SigV4 signature made with the local credentials for aws-iam routes), throttles a partner-key
// request by the usage plan of the authorizer's usage identifier, hands the route's function
// the Lambda proxy event through Invoke and turns its proxy response back into HTTP.
// Requests that never reach a function get the declared gateway response as problem+json.
//
// LocalStack community runs no API Gateway authorizers and no IAM auth, which is why this
// exists. The front is also the functions' API Gateway endpoint (AWS_ENDPOINT_URL_API_GATEWAY):
// it answers FlushStageAuthorizersCache itself and passes every other API Gateway management
// call to LocalStack.
package front

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/google/uuid"

	"github.com/lanyardhq/lanyard/local/invoke"
	"github.com/lanyardhq/lanyard/shared/platform/iamarn"
	"github.com/lanyardhq/lanyard/topology"
)

// DefaultStage is the stage name of the local REST API.
const DefaultStage = "local"

// IntegrationTimeout is API Gateway's default (and, for REST APIs, usual) integration timeout.
const IntegrationTimeout = 29 * time.Second

// maxPayload is API Gateway's request payload limit.
const maxPayload = 10 << 20

// Config wires a Front.
type Config struct {
	// Topology declares the routes, the authorizer and the gateway responses.
	Topology *topology.Topology
	// FunctionName maps a declared function name to its Lambda function name
	// (default "lanyard-<name>", as the local provisioner names them).
	FunctionName func(topologyName string) string
	// Invoker calls the functions (LocalStack's Lambda Invoke).
	Invoker invoke.Invoker
	// Region, AccountID, APIID and Stage name the API as AWS would: they make up the method
	// ARNs the authorizer's policies are checked against and the proxy event's requestContext.
	Region    string
	AccountID string
	APIID     string
	Stage     string // default DefaultStage
	// Credentials are the local credentials aws-iam routes must be signed with; their
	// principal is the account's root user (LocalPrincipalARN), as LocalStack takes them.
	Credentials aws.CredentialsProvider
	// Signers are further local principals whose signatures aws-iam routes admit (a test's
	// second caller), each with its own credentials and ARN.
	Signers []Signer
	// Passthrough is LocalStack: API Gateway management calls other than
	// FlushStageAuthorizersCache go there unchanged.
	Passthrough *url.URL
	// Now is the clock (authorizer cache, signature freshness, requestTimeEpoch).
	Now func() time.Time
	// Logger receives one record per request; nil means slog.Default() at the time of the call.
	Logger *slog.Logger
	// IntegrationTimeout bounds each function invocation (default IntegrationTimeout).
	IntegrationTimeout time.Duration
	// UsagePlans, when set, throttles partner-key requests by the usage plan of the
	// authorizer's usageIdentifierKey (APIGatewayPlans asks LocalStack's API Gateway); nil
	// throttles nothing.
	UsagePlans UsagePlanSource
}

// Signer is a local principal that may sign aws-iam requests.
type Signer struct {
	Credentials aws.CredentialsProvider
	// ARN is the principal's IAM ARN, the proxy event's requestContext.identity.userArn.
	ARN string
}

// LocalPrincipalARN is the principal of the local credentials (Config.Credentials) in
// account: the account's root user. `lanyard local` declares it as the deployment's dependent.
func LocalPrincipalARN(account string) string { return "arn:aws:iam::" + account + ":root" }

// Front is the local API Gateway. It is an http.Handler; serve it on 127.0.0.1.
type Front struct {
	cfg       Config
	routes    []*route
	responses gatewayResponses
	cache     *authCache
	signer    *v4.Signer
	// signers are the local principals aws-iam routes admit: the local credentials first.
	signers []Signer
	// dependents are the declared dependents, the only principals a DependentsOnly route
	// admits (as the REST API's resource policy does in AWS).
	dependents []iamarn.Principal
	proxy      *httputil.ReverseProxy
	limiter    *limiter
	stats      counters
}

// Stats counts what the front did, for tests and the local status view.
type Stats struct {
	AuthorizerInvocations int64 // authorizer function calls (cache misses)
	AuthorizerCacheHits   int64 // requests admitted or refused from a cached policy
	FunctionInvocations   int64 // route function calls
	CacheFlushes          int64 // FlushStageAuthorizersCache calls answered
	Passthroughs          int64 // management calls passed to LocalStack
	Throttled             int64 // requests refused (429) by a usage plan's throttle
}

type counters struct {
	authorizerInvocations atomic.Int64
	authorizerCacheHits   atomic.Int64
	functionInvocations   atomic.Int64
	cacheFlushes          atomic.Int64
	passthroughs          atomic.Int64
	throttled             atomic.Int64
}

// New checks cfg against the topology and builds the front.
func New(cfg Config) (*Front, error) {
	t := cfg.Topology
	if t == nil {
		return nil, errors.New("front: no topology")
	}
	if cfg.Invoker == nil {
		return nil, errors.New("front: no invoker")
	}
	if cfg.Region == "" || cfg.AccountID == "" || cfg.APIID == "" {
		return nil, errors.New("front: region, account id and API id are all required")
	}
	if cfg.Stage == "" {
		cfg.Stage = DefaultStage
	}
	if cfg.FunctionName == nil {
		cfg.FunctionName = func(name string) string { return "lanyard-" + name }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.IntegrationTimeout <= 0 {
		cfg.IntegrationTimeout = IntegrationTimeout
	}

	f := &Front{
		cfg:       cfg,
		responses: newGatewayResponses(t.GatewayResponses),
		cache:     newAuthCache(),
		signer:    v4.NewSigner(),
		limiter:   newLimiter(),
	}
	if cfg.Credentials != nil {
		f.signers = append(f.signers, Signer{Credentials: aws.NewCredentialsCache(cfg.Credentials), ARN: LocalPrincipalARN(cfg.AccountID)})
	}
	for _, s := range cfg.Signers {
		if s.Credentials == nil || s.ARN == "" {
			return nil, errors.New("front: a signer needs credentials and an ARN")
		}
		f.signers = append(f.signers, Signer{Credentials: aws.NewCredentialsCache(s.Credentials), ARN: s.ARN})
	}
	deps, err := iamarn.ParseAll(t.Dependents)
	if err != nil {
		return nil, fmt.Errorf("front: %w", err)
	}
	f.dependents = deps
	if a := t.Authorizer; a != nil {
		if _, ok := t.Function(a.Function); !ok {
			return nil, fmt.Errorf("front: authorizer function %q is not declared", a.Function)
		}
		if a.IdentityHeader == "" {
			return nil, errors.New("front: authorizer has no identity header")
		}
	}
	for _, r := range t.Routes {
		rt, err := f.newRoute(r)
		if err != nil {
			return nil, err
		}
		f.routes = append(f.routes, rt)
	}
	if cfg.Passthrough != nil {
		f.proxy = f.newPassthrough(cfg.Passthrough)
	}
	return f, nil
}

func (f *Front) newRoute(r topology.Route) (*route, error) {
	id := r.Method + " " + r.Path
	if _, ok := f.cfg.Topology.Function(r.Function); !ok {
		return nil, fmt.Errorf("front: route %s: function %q is not declared", id, r.Function)
	}
	switch r.Auth {
	case topology.AuthNone:
	case topology.AuthPartnerKey:
		if f.cfg.Topology.Authorizer == nil {
			return nil, fmt.Errorf("front: route %s: partner-key authorization but no authorizer declared", id)
		}
	case topology.AuthIAM:
		if f.cfg.Credentials == nil {
			return nil, fmt.Errorf("front: route %s: aws-iam authorization but no local credentials configured", id)
		}
	default:
		return nil, fmt.Errorf("front: route %s: unknown authorization %q", id, r.Auth)
	}
	rt, err := parseRoute(r)
	if err != nil {
		return nil, fmt.Errorf("front: route %s: %w", id, err)
	}
	rt.lambda = f.cfg.FunctionName(r.Function)
	return rt, nil
}

// Stats returns the counters so far.
func (f *Front) Stats() Stats {
	return Stats{
		AuthorizerInvocations: f.stats.authorizerInvocations.Load(),
		AuthorizerCacheHits:   f.stats.authorizerCacheHits.Load(),
		FunctionInvocations:   f.stats.functionInvocations.Load(),
		CacheFlushes:          f.stats.cacheFlushes.Load(),
		Passthroughs:          f.stats.passthroughs.Load(),
		Throttled:             f.stats.throttled.Load(),
	}
}

// FlushAuthorizerCache empties the authorizer result cache, as FlushStageAuthorizersCache does.
func (f *Front) FlushAuthorizerCache() {
	f.cache.flush()
	f.stats.cacheFlushes.Add(1)
}

func (f *Front) logger() *slog.Logger {
	if f.cfg.Logger != nil {
		return f.cfg.Logger
	}
	return slog.Default()
}

// call is one request on its way through the front.
type call struct {
	r        *http.Request
	id       string // API Gateway's request id
	start    time.Time
	route    *route
	path     string // escaped, without the stage prefix: the proxy event's path
	staged   bool   // the request named the stage ("/local/v1/…"), as on the execute-api domain
	params   map[string]string
	body     []byte
	sourceIP string
	headers  headerSet
	// identity names the caller in the log: a short SHA-256 prefix of the authorizer's identity
	// source (never the value), or the access key id of a signed request.
	identity string
}

// ServeHTTP implements http.Handler.
func (f *Front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &call{r: r, id: uuid.NewString(), start: f.cfg.Now()}
	c.path, c.staged = f.stripStage(r.URL.EscapedPath())
	c.route, c.params = f.match(r.Method, c.path)
	if c.route == nil {
		if isManagement(r.URL.EscapedPath()) {
			f.serveManagement(w, r, c)
			return
		}
		// API Gateway answers an undeclared resource or method as if authentication were missing.
		f.fail(r.Context(), w, c, &gatewayError{
			responseType: respMissingToken, status: http.StatusForbidden,
			errorType: "MissingAuthenticationTokenException", detail: "Missing Authentication Token",
			cause: errors.New("no declared route matches"),
		})
		return
	}
	w.Header().Set("x-amzn-RequestId", c.id)

	body, gerr := readBody(w, r)
	if gerr != nil {
		f.fail(r.Context(), w, c, gerr)
		return
	}
	c.body = body
	c.sourceIP = sourceIP(r)
	c.headers = requestHeaders(r, c.sourceIP)

	var admitted admission
	switch c.route.Auth {
	case topology.AuthPartnerKey:
		admitted, gerr = f.authorize(r.Context(), c)
	case topology.AuthIAM:
		admitted, gerr = f.verifySignature(r.Context(), c)
		if gerr == nil && c.route.DependentsOnly {
			gerr = f.onlyDependents(c, admitted)
		}
	case topology.AuthNone:
	}
	if gerr != nil {
		f.fail(r.Context(), w, c, gerr)
		return
	}

	// Usage-plan throttling, between admission and integration as in API Gateway: by the
	// authorizer's usageIdentifierKey.
	if c.route.Auth == topology.AuthPartnerKey && f.cfg.UsagePlans != nil && (admitted.usageKey != "" || f.apiKeyRequired()) {
		if gerr := f.throttle(r.Context(), admitted.usageKey); gerr != nil {
			f.fail(r.Context(), w, c, gerr)
			return
		}
	}

	status, gerr := f.integrate(r.Context(), w, c, admitted)
	if gerr != nil {
		f.fail(r.Context(), w, c, gerr)
		return
	}
	f.logger().InfoContext(r.Context(), "api request", f.logAttrs(c, status)...)
}

// admission is what admitting a request learned about the caller.
type admission struct {
	authorizer map[string]any // requestContext.authorizer
	usageKey   string         // the authorizer's usageIdentifierKey
	iam        *iamIdentity
}

func (f *Front) logAttrs(c *call, status int) []any {
	attrs := []any{
		"requestId", c.id, "method", c.r.Method, "status", status,
		"latencyMs", f.cfg.Now().Sub(c.start).Milliseconds(),
	}
	if c.route != nil {
		// The resource template, never the path: path parameters may carry tokens.
		attrs = append(attrs, "resource", c.route.Path, "function", c.route.Function)
	}
	if c.identity != "" {
		attrs = append(attrs, "identity", c.identity)
	}
	return attrs
}

// identityHash is the short SHA-256 prefix of a secret the log may carry to correlate requests.
func identityHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:6])
}

// stripStage removes a leading "/<stage>" segment: the front answers both the execute-api
// form of the URL (stage first) and the custom-domain form (no stage).
func (f *Front) stripStage(p string) (string, bool) {
	prefix := "/" + f.cfg.Stage
	switch {
	case p == prefix:
		return "/", true
	case strings.HasPrefix(p, prefix+"/"):
		return p[len(prefix):], true
	}
	return p, false
}

func (f *Front) match(method, path string) (*route, map[string]string) {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	var best *route
	var bestParams map[string]string
	for _, rt := range f.routes {
		if rt.Method != method {
			continue
		}
		params, ok := rt.match(segs)
		if !ok {
			continue
		}
		if best == nil || rt.moreSpecific(best) {
			best, bestParams = rt, params
		}
	}
	return best, bestParams
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *gatewayError) {
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPayload))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, &gatewayError{
				responseType: respRequestTooLarge, status: http.StatusRequestEntityTooLarge,
				errorType: "RequestTooLargeException", detail: "Request Too Long", cause: err,
			}
		}
		return nil, &gatewayError{
			responseType: respDefault4xx, status: http.StatusBadRequest,
			errorType: "BadRequestException", detail: "The request body could not be read",
			cause: fmt.Errorf("read request body: %w", err),
		}
	}
	return body, nil
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
