package front_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/lanyardhq/lanyard/local/front"
	"github.com/lanyardhq/lanyard/local/invoke"
	"github.com/lanyardhq/lanyard/topology"
	"github.com/lanyardhq/lanyard/topology/topologytest"
)

const (
	testRegion  = "eu-west-1"
	testAccount = "000000000000"
	testAPI     = "lnyd0api01"
	arnPrefix   = "arn:aws:execute-api:" + testRegion + ":" + testAccount + ":" + testAPI + "/local/"

	authorizerLambda = "lanyard-recorder"
	routeLambda      = "lanyard-probe"
)

// localCreds are the local credentials the front checks aws-iam signatures against.
var localCreds = aws.Credentials{AccessKeyID: "LKIAQAAAAAAALOCAL001", SecretAccessKey: "local-secret-access-key", Source: "test"}

var epoch = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// testTopology is the sample declaration with its own authorizer function (so the fake can tell
// authorizer calls from route calls) and one more route, a literal next to a {param}.
func testTopology() *topology.Topology {
	t := topologytest.Sample()
	t.Authorizer = &topology.Authorizer{Function: "recorder", IdentityHeader: "Authorization", ResultTTL: 60 * time.Second}
	t.Routes = append(t.Routes, topology.Route{Method: "POST", Path: "/v1/probe/special", Function: "probe", Auth: topology.AuthPartnerKey})
	return t
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// functions fakes the authorizer and the route function and records what they were sent.
//
// The authorizer answers by the identity header's value: "deny" (explicit Deny), "allow-get"
// (Allow on GET /v1/probe only), "unauthorized" (error "Unauthorized"), "crash" (another error),
// "nested" (a context with an object), "context" (scalar context values), "no-usage" (an Allow
// without a usageIdentifierKey); anything else is an Allow on the whole stage, whose
// usageIdentifierKey is the identity itself when it starts "usage-key-" or "lanyard-usage-"
// (a partner's usage identifier), else "usage-key-7". The route function answers by
// X-Probe-Mode: "fail", "malformed", "binary", "slow", "invoke-error"; otherwise a canned 201.
type functions struct {
	mu          sync.Mutex
	authorizer  []lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest
	routes      []lambdaevents.APIGatewayProxyRequest
	routeRaw    [][]byte
	unknownCall []string
}

func (fn *functions) Invoke(ctx context.Context, function string, payload []byte) (invoke.Result, error) {
	switch function {
	case authorizerLambda:
		var ev lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest
		if err := json.Unmarshal(payload, &ev); err != nil {
			return invoke.Result{}, fmt.Errorf("authorizer event: %w", err)
		}
		fn.mu.Lock()
		fn.authorizer = append(fn.authorizer, ev)
		fn.mu.Unlock()
		return authorizerAnswer(ev.Headers["Authorization"]), nil
	case routeLambda:
		var ev lambdaevents.APIGatewayProxyRequest
		if err := json.Unmarshal(payload, &ev); err != nil {
			return invoke.Result{}, fmt.Errorf("proxy event: %w", err)
		}
		fn.mu.Lock()
		fn.routes = append(fn.routes, ev)
		fn.routeRaw = append(fn.routeRaw, payload)
		fn.mu.Unlock()
		return routeAnswer(ctx, ev.Headers["X-Probe-Mode"])
	default:
		fn.mu.Lock()
		fn.unknownCall = append(fn.unknownCall, function)
		fn.mu.Unlock()
		return invoke.Result{}, fmt.Errorf("no function %s", function)
	}
}

func (fn *functions) counts() (authorizer, routes int) {
	fn.mu.Lock()
	defer fn.mu.Unlock()
	return len(fn.authorizer), len(fn.routes)
}

func (fn *functions) lastRoute(t *testing.T) lambdaevents.APIGatewayProxyRequest {
	t.Helper()
	fn.mu.Lock()
	defer fn.mu.Unlock()
	if len(fn.routes) == 0 {
		t.Fatal("the route function was not invoked")
	}
	return fn.routes[len(fn.routes)-1]
}

func (fn *functions) lastRouteRaw(t *testing.T) map[string]any {
	t.Helper()
	fn.mu.Lock()
	defer fn.mu.Unlock()
	if len(fn.routeRaw) == 0 {
		t.Fatal("the route function was not invoked")
	}
	var m map[string]any
	if err := json.Unmarshal(fn.routeRaw[len(fn.routeRaw)-1], &m); err != nil {
		t.Fatalf("proxy event: %v", err)
	}
	return m
}

func policyAnswer(effect string, resources ...string) map[string]any {
	return map[string]any{
		"principalId": "partner-7",
		"policyDocument": map[string]any{
			"Version":   "2012-10-17",
			"Statement": []any{map[string]any{"Effect": effect, "Action": "execute-api:Invoke", "Resource": resources}},
		},
		"usageIdentifierKey": "usage-key-7",
	}
}

func authorizerAnswer(identity string) invoke.Result {
	var out map[string]any
	switch identity {
	case "unauthorized":
		return invoke.Result{FunctionError: "Unhandled", Payload: []byte(`{"errorMessage":"Unauthorized","errorType":"errorString"}`)}
	case "crash":
		return invoke.Result{FunctionError: "Unhandled", Payload: []byte(`{"errorMessage":"table unreachable","errorType":"OperationError"}`)}
	case "deny":
		out = policyAnswer("Deny", arnPrefix+"*")
	case "allow-get":
		out = policyAnswer("Allow", arnPrefix+"GET/v1/probe")
	case "nested":
		out = policyAnswer("Allow", arnPrefix+"*")
		out["context"] = map[string]any{"partner": map[string]any{"id": "7"}}
	case "context":
		out = policyAnswer("Allow", arnPrefix+"*")
		out["context"] = map[string]any{"partnerId": "7", "tier": 3, "ratio": 0.5, "active": true, "none": nil}
	case "no-usage":
		out = policyAnswer("Allow", arnPrefix+"*")
		delete(out, "usageIdentifierKey")
	default:
		out = policyAnswer("Allow", arnPrefix+"*")
		if strings.HasPrefix(identity, "usage-key-") || strings.HasPrefix(identity, "lanyard-usage-") {
			out["usageIdentifierKey"] = identity
		}
	}
	b, _ := json.Marshal(out)
	return invoke.Result{Payload: b}
}

const cannedResponse = `{"statusCode":201,"headers":{"X-Probe":"yes","Content-Type":"text/plain"},` +
	`"multiValueHeaders":{"Set-Cookie":["a=1","b=2"]},"body":"probed","isBase64Encoded":false}`

func routeAnswer(ctx context.Context, mode string) (invoke.Result, error) {
	switch mode {
	case "fail":
		return invoke.Result{FunctionError: "Unhandled", Payload: []byte(`{"errorMessage":"boom","errorType":"Error"}`)}, nil
	case "malformed":
		return invoke.Result{Payload: []byte(`{"message":"hello"}`)}, nil
	case "object-body":
		return invoke.Result{Payload: []byte(`{"statusCode":200,"body":{"a":1}}`)}, nil
	case "binary":
		return invoke.Result{Payload: []byte(`{"statusCode":"200","headers":{"Content-Type":"application/octet-stream"},"body":"AP8=","isBase64Encoded":true}`)}, nil
	case "slow":
		<-ctx.Done()
		return invoke.Result{}, fmt.Errorf("invoke: %w", ctx.Err())
	case "invoke-error":
		return invoke.Result{}, errors.New("invoke lanyard-probe: connection refused")
	}
	return invoke.Result{Payload: []byte(cannedResponse)}, nil
}

type fixture struct {
	front *front.Front
	clock *clock
	fn    *functions
}

func newFixture(t *testing.T, adjust ...func(*front.Config)) *fixture {
	t.Helper()
	fx := &fixture{clock: &clock{now: epoch}, fn: &functions{}}
	cfg := front.Config{
		Topology:    testTopology(),
		Invoker:     fx.fn,
		Region:      testRegion,
		AccountID:   testAccount,
		APIID:       testAPI,
		Credentials: credentials.StaticCredentialsProvider{Value: localCreds},
		Now:         fx.clock.Now,
		Logger:      nil, // slog.Default at call time, so secrettest.Plant sees the records
	}
	for _, a := range adjust {
		a(&cfg)
	}
	f, err := front.New(cfg)
	if err != nil {
		t.Fatalf("front.New: %v", err)
	}
	fx.front = f
	return fx
}

// response is a finished response with its body read.
type response struct {
	status int
	header http.Header
	body   []byte
}

func serve(h http.Handler, req *http.Request) response {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: body}
}

func do(t *testing.T, client *http.Client, req *http.Request) response {
	t.Helper()
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return response{status: res.StatusCode, header: res.Header, body: body}
}

func request(method, target, identity string, body []byte) *http.Request {
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	if identity != "" {
		req.Header.Set("Authorization", identity)
	}
	return req
}

// declared returns the topology's gateway response of a type.
func declared(t *testing.T, responseType string) topology.GatewayResponse {
	t.Helper()
	for _, g := range topology.GatewayResponses {
		if g.Type == responseType {
			return g
		}
	}
	t.Fatalf("gateway response %s is not declared", responseType)
	return topology.GatewayResponse{}
}

type problemBody struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// wantProblem checks res is the declared gateway response of responseType, with status, as
// problem+json, and returns its detail.
func wantProblem(t *testing.T, res response, status int, responseType string) string {
	t.Helper()
	if res.status != status {
		t.Fatalf("status %d, want %d (body %s)", res.status, status, res.body)
	}
	if ct := res.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	if res.header.Get("x-amzn-RequestId") == "" {
		t.Error("no x-amzn-RequestId header")
	}
	var p problemBody
	dec := json.NewDecoder(bytes.NewReader(res.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("problem body %s: %v", res.body, err)
	}
	d := declared(t, responseType)
	if p.Type != d.Problem || p.Title != d.Title || p.Status != status {
		t.Errorf("problem %+v, want type %s, title %q, status %d", p, d.Problem, d.Title, status)
	}
	return p.Detail
}

func payloadHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// sign signs req with SigV4 for service at the given time, as an AWS SDK would.
func sign(t *testing.T, req *http.Request, body []byte, creds aws.Credentials, service string, at time.Time) {
	t.Helper()
	if err := v4.NewSigner().SignHTTP(req.Context(), creds, req, payloadHash(body), service, testRegion, at); err != nil {
		t.Fatalf("sign: %v", err)
	}
}

func newRequest(t *testing.T, method, url string, body []byte) *http.Request {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, r)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	return req
}

func contains(s []byte, sub string) bool { return strings.Contains(string(s), sub) }

func credentialsProvider() aws.CredentialsProvider {
	return credentials.StaticCredentialsProvider{Value: localCreds}
}
