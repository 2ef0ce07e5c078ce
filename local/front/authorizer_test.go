package front_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"

	"github.com/lanyardhq/lanyard/local/front"
)

// functionCreds are what a function would sign its API Gateway management calls with.
var functionCreds = aws.Credentials{AccessKeyID: "LSIAQAAAAAAAFUNCTION", SecretAccessKey: "function-secret", SessionToken: "function-session"}

// flushRequest is the request the SDK's apigateway client sends for FlushStageAuthorizersCache:
// DELETE /restapis/{restapi_id}/stages/{stage_name}/cache/authorizers, SigV4 for "apigateway".
func flushRequest(t *testing.T, base, apiID, stage string) *http.Request {
	t.Helper()
	req := newRequest(t, http.MethodDelete, base+"/restapis/"+apiID+"/stages/"+stage+"/cache/authorizers", nil)
	req.Header.Set("Accept", "application/json")
	sign(t, req, nil, functionCreds, "apigateway", epoch)
	return req
}

func TestPartnerKeyAdmission(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		identity       string
		method, target string
		status         int
		responseType   string
		detail         string
		authorizer     int // authorizer calls
	}{
		{name: "allowed", identity: "allow-all", method: "GET", target: "/v1/probe", status: http.StatusCreated, authorizer: 1},
		{name: "identity header missing", method: "GET", target: "/v1/probe",
			status: http.StatusUnauthorized, responseType: "UNAUTHORIZED", detail: "Unauthorized", authorizer: 0},
		{name: "identity header blank", identity: "   ", method: "GET", target: "/v1/probe",
			status: http.StatusUnauthorized, responseType: "UNAUTHORIZED", detail: "Unauthorized", authorizer: 0},
		{name: "authorizer says Unauthorized", identity: "unauthorized", method: "GET", target: "/v1/probe",
			status: http.StatusUnauthorized, responseType: "UNAUTHORIZED", detail: "Unauthorized", authorizer: 1},
		{name: "authorizer fails otherwise", identity: "crash", method: "GET", target: "/v1/probe",
			status: http.StatusInternalServerError, responseType: "DEFAULT_5XX", detail: "The authorizer failed or returned an invalid response", authorizer: 1},
		{name: "explicit deny", identity: "deny", method: "GET", target: "/v1/probe",
			status: http.StatusForbidden, responseType: "ACCESS_DENIED", detail: "User is not authorized to access this resource with an explicit deny", authorizer: 1},
		{name: "policy does not cover the method", identity: "allow-get", method: "POST", target: "/v1/probe/1",
			status: http.StatusForbidden, responseType: "ACCESS_DENIED", detail: "User is not authorized to access this resource", authorizer: 1},
		{name: "context with an object", identity: "nested", method: "GET", target: "/v1/probe",
			status: http.StatusInternalServerError, responseType: "DEFAULT_5XX", detail: "The authorizer failed or returned an invalid response", authorizer: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t)
			res := serve(fx.front, request(tt.method, tt.target, tt.identity, nil))
			if tt.responseType == "" {
				if res.status != tt.status {
					t.Fatalf("status %d, want %d (body %s)", res.status, tt.status, res.body)
				}
			} else if detail := wantProblem(t, res, tt.status, tt.responseType); detail != tt.detail {
				t.Errorf("detail %q, want %q", detail, tt.detail)
			}
			a, r := fx.fn.counts()
			if a != tt.authorizer {
				t.Errorf("authorizer called %d times, want %d", a, tt.authorizer)
			}
			if wantRoute := map[bool]int{true: 1, false: 0}[res.status < 300]; r != wantRoute {
				t.Errorf("route function called %d times, want %d", r, wantRoute)
			}
			if got := fx.front.Stats().AuthorizerInvocations; got != int64(a) {
				t.Errorf("Stats().AuthorizerInvocations = %d, want %d", got, a)
			}
		})
	}
}

func TestAuthorizerEvent(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	req := request("POST", "/local/v1/probe/42?tier=gold&tier=silver", "allow-all", []byte(`{}`))
	req.Header.Add("X-Multi", "a")
	req.Header.Add("X-Multi", "b")
	if res := serve(fx.front, req); res.status != http.StatusCreated {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	fx.fn.mu.Lock()
	ev := fx.fn.authorizer[0]
	fx.fn.mu.Unlock()

	if ev.Type != "REQUEST" || ev.MethodArn != arnPrefix+"POST/v1/probe/42" {
		t.Errorf("type %q methodArn %q", ev.Type, ev.MethodArn)
	}
	if ev.Resource != "/v1/probe/{id}" || ev.Path != "/v1/probe/42" || ev.HTTPMethod != "POST" {
		t.Errorf("resource %q path %q method %q", ev.Resource, ev.Path, ev.HTTPMethod)
	}
	if ev.Headers["Authorization"] != "allow-all" || !reflect.DeepEqual(ev.MultiValueHeaders["X-Multi"], []string{"a", "b"}) {
		t.Errorf("headers %v / %v", ev.Headers, ev.MultiValueHeaders)
	}
	if ev.QueryStringParameters["tier"] != "silver" || !reflect.DeepEqual(ev.MultiValueQueryStringParameters["tier"], []string{"gold", "silver"}) {
		t.Errorf("query %v / %v", ev.QueryStringParameters, ev.MultiValueQueryStringParameters)
	}
	if !reflect.DeepEqual(ev.PathParameters, map[string]string{"id": "42"}) {
		t.Errorf("pathParameters %v", ev.PathParameters)
	}
	rc := ev.RequestContext
	if rc.Path != "/local/v1/probe/42" || rc.AccountID != testAccount || rc.APIID != testAPI || rc.Stage != "local" ||
		rc.ResourcePath != "/v1/probe/{id}" || rc.HTTPMethod != "POST" || rc.RequestID == "" || rc.Identity.SourceIP != "192.0.2.1" {
		t.Errorf("requestContext %+v", rc)
	}
	if route := fx.fn.lastRoute(t); route.RequestContext.RequestID != rc.RequestID {
		t.Errorf("authorizer and route saw request ids %q and %q", rc.RequestID, route.RequestContext.RequestID)
	}
}

func TestAuthorizerContextReachesTheRouteStringified(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	for i := range 2 { // a miss, then a cache hit
		if res := serve(fx.front, request("GET", "/v1/probe", "context", nil)); res.status != http.StatusCreated {
			t.Fatalf("request %d: status %d: %s", i, res.status, res.body)
		}
		raw := fx.fn.lastRouteRaw(t)
		got := raw["requestContext"].(map[string]any)["authorizer"].(map[string]any)
		want := map[string]any{
			"partnerId": "7", "tier": "3", "ratio": "0.5", "active": "true", "none": nil,
			"principalId": "partner-7", "integrationLatency": float64(0),
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("request %d: requestContext.authorizer = %#v, want %#v", i, got, want)
		}
	}
	if a, _ := fx.fn.counts(); a != 1 {
		t.Errorf("authorizer called %d times, want 1", a)
	}
}

func TestAuthorizerCache(t *testing.T) {
	t.Parallel()
	type step struct {
		identity       string
		method, target string
		advance        time.Duration // before the request
		flush          bool          // FlushStageAuthorizersCache before the request
		status         int
		authorizer     int // total authorizer calls after the step
	}
	tests := []struct {
		name  string
		ttl   time.Duration
		steps []step
	}{
		{name: "an Allow is reused inside the TTL across routes it covers", ttl: time.Minute, steps: []step{
			{identity: "allow-all", method: "GET", target: "/v1/probe", status: 201, authorizer: 1},
			{identity: "allow-all", method: "POST", target: "/v1/probe/9", status: 201, authorizer: 1},
			{identity: "allow-all", method: "GET", target: "/local/v1/probe", advance: 59 * time.Second, status: 201, authorizer: 1},
		}},
		{name: "a cached policy naming one route refuses the other", ttl: time.Minute, steps: []step{
			{identity: "allow-get", method: "GET", target: "/v1/probe", status: 201, authorizer: 1},
			{identity: "allow-get", method: "POST", target: "/v1/probe/9", status: 403, authorizer: 1},
			{identity: "allow-get", method: "GET", target: "/v1/probe", status: 201, authorizer: 1},
		}},
		{name: "a policy cached by a refused request still admits the route it names", ttl: time.Minute, steps: []step{
			{identity: "allow-get", method: "POST", target: "/v1/probe/9", status: 403, authorizer: 1},
			{identity: "allow-get", method: "GET", target: "/v1/probe", status: 201, authorizer: 1},
		}},
		{name: "expiry re-evaluates", ttl: time.Minute, steps: []step{
			{identity: "allow-all", method: "GET", target: "/v1/probe", status: 201, authorizer: 1},
			{identity: "allow-all", method: "GET", target: "/v1/probe", advance: time.Minute, status: 201, authorizer: 2},
			{identity: "allow-all", method: "GET", target: "/v1/probe", advance: 30 * time.Second, status: 201, authorizer: 2},
		}},
		{name: "a flush re-evaluates", ttl: time.Minute, steps: []step{
			{identity: "allow-all", method: "GET", target: "/v1/probe", status: 201, authorizer: 1},
			{identity: "allow-all", method: "GET", target: "/v1/probe", flush: true, status: 201, authorizer: 2},
			{identity: "allow-all", method: "GET", target: "/v1/probe", status: 201, authorizer: 2},
		}},
		{name: "a Deny is cached", ttl: time.Minute, steps: []step{
			{identity: "deny", method: "GET", target: "/v1/probe", status: 403, authorizer: 1},
			{identity: "deny", method: "POST", target: "/v1/probe/1", status: 403, authorizer: 1},
		}},
		{name: "Unauthorized is not cached", ttl: time.Minute, steps: []step{
			{identity: "unauthorized", method: "GET", target: "/v1/probe", status: 401, authorizer: 1},
			{identity: "unauthorized", method: "GET", target: "/v1/probe", status: 401, authorizer: 2},
		}},
		{name: "identities are cached apart", ttl: time.Minute, steps: []step{
			{identity: "allow-all", method: "POST", target: "/v1/probe/1", status: 201, authorizer: 1},
			{identity: "allow-get", method: "POST", target: "/v1/probe/1", status: 403, authorizer: 2},
		}},
		{name: "TTL 0 disables caching", ttl: 0, steps: []step{
			{identity: "allow-all", method: "GET", target: "/v1/probe", status: 201, authorizer: 1},
			{identity: "allow-all", method: "GET", target: "/v1/probe", status: 201, authorizer: 2},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t, func(c *front.Config) { c.Topology.Authorizer.ResultTTL = tt.ttl })
			for i, s := range tt.steps {
				fx.clock.Advance(s.advance)
				if s.flush {
					res := serve(fx.front, flushRequest(t, "http://example.com", testAPI, "local"))
					if res.status != http.StatusAccepted {
						t.Fatalf("step %d: flush answered %d: %s", i, res.status, res.body)
					}
				}
				res := serve(fx.front, request(s.method, s.target, s.identity, nil))
				if res.status != s.status {
					t.Fatalf("step %d: %s %s: status %d, want %d (%s)", i, s.method, s.target, res.status, s.status, res.body)
				}
				if res.status == http.StatusForbidden {
					wantProblem(t, res, http.StatusForbidden, "ACCESS_DENIED")
				}
				if a, _ := fx.fn.counts(); a != s.authorizer {
					t.Fatalf("step %d: authorizer called %d times in all, want %d", i, a, s.authorizer)
				}
			}
		})
	}
}

// TestFlushStageAuthorizersCache sends FlushStageAuthorizersCache over HTTP exactly as the SDK's
// apigateway client shapes it (method, path, SigV4 for "apigateway") to the front as the
// functions' API Gateway endpoint.
func TestFlushStageAuthorizersCache(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	srv := httptest.NewServer(fx.front)
	defer srv.Close()

	if res := serve(fx.front, request("GET", "/v1/probe", "allow-all", nil)); res.status != http.StatusCreated {
		t.Fatalf("status %d", res.status)
	}
	res := do(t, srv.Client(), flushRequest(t, srv.URL, testAPI, "local"))
	if res.status != http.StatusAccepted || len(res.body) != 0 || res.header.Get("x-amzn-RequestId") == "" {
		t.Fatalf("flush answered %d %q, request id %q; want 202, empty body, an id", res.status, res.body, res.header.Get("x-amzn-RequestId"))
	}
	if res := serve(fx.front, request("GET", "/v1/probe", "allow-all", nil)); res.status != http.StatusCreated {
		t.Fatalf("status %d", res.status)
	}
	if a, _ := fx.fn.counts(); a != 2 {
		t.Errorf("authorizer called %d times, want 2 (the flush empties the cache)", a)
	}
	if s := fx.front.Stats(); s.CacheFlushes != 1 || s.AuthorizerCacheHits != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestFlushWithTheSDKClient makes the call the way a function does: the SDK's apigateway
// client, its endpoint at the front (AWS_ENDPOINT_URL_API_GATEWAY locally).
func TestFlushWithTheSDKClient(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	srv := httptest.NewServer(fx.front)
	defer srv.Close()

	if res := serve(fx.front, request("GET", "/v1/probe", "allow-all", nil)); res.status != http.StatusCreated {
		t.Fatalf("status %d", res.status)
	}
	client := apigateway.New(apigateway.Options{
		Region:       testRegion,
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.StaticCredentialsProvider{Value: functionCreds},
		HTTPClient:   srv.Client(),
	})
	if _, err := client.FlushStageAuthorizersCache(context.Background(), &apigateway.FlushStageAuthorizersCacheInput{
		RestApiId: aws.String(testAPI), StageName: aws.String("local"),
	}); err != nil {
		t.Fatalf("FlushStageAuthorizersCache: %v", err)
	}
	if res := serve(fx.front, request("GET", "/v1/probe", "allow-all", nil)); res.status != http.StatusCreated {
		t.Fatalf("status %d", res.status)
	}
	if a, _ := fx.fn.counts(); a != 2 {
		t.Errorf("authorizer called %d times, want 2 (the flush empties the cache)", a)
	}
}
