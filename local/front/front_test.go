package front_test

import (
	"encoding/base64"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/local/front"
	"github.com/lanyardhq/lanyard/topology"
	"github.com/lanyardhq/lanyard/topology/topologytest"
)

func TestNewRefusesInconsistentConfig(t *testing.T) {
	t.Parallel()
	base := func() front.Config {
		return front.Config{Topology: testTopology(), Invoker: &functions{}, Region: testRegion, AccountID: testAccount, APIID: testAPI}
	}
	tests := []struct {
		name   string
		adjust func(*front.Config)
	}{
		{"no topology", func(c *front.Config) { c.Topology = nil }},
		{"no invoker", func(c *front.Config) { c.Invoker = nil }},
		{"no API id", func(c *front.Config) { c.APIID = "" }},
		{"aws-iam route without credentials", func(c *front.Config) {}},
		{"partner-key route without authorizer", func(c *front.Config) { c.Topology.Authorizer = nil }},
		{"route to undeclared function", func(c *front.Config) {
			c.Topology.Routes = append(c.Topology.Routes, topology.Route{Method: "GET", Path: "/v1/x", Function: "ghost", Auth: topology.AuthNone})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := base()
			tt.adjust(&cfg)
			if _, err := front.New(cfg); err == nil {
				t.Fatal("New accepted the config")
			}
		})
	}
}

func TestProxyEvent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		method      string
		target      string
		contentType string
		body        []byte
		header      http.Header
		// want
		resource, path, ctxPath string
		params                  map[string]string
		query                   map[string]string
		multiQuery              map[string][]string
		eventBody               string
		base64                  bool
	}{
		{
			name: "path parameter, query and multi-value headers", method: "POST",
			target: "/v1/probe/p%20q?x=1&x=2&y=a%2Bb", contentType: "application/json", body: []byte(`{"a":1}`),
			header:   http.Header{"X-Multi": {"one", "two"}},
			resource: "/v1/probe/{id}", path: "/v1/probe/p%20q", ctxPath: "/v1/probe/p%20q",
			params: map[string]string{"id": "p%20q"},
			query:  map[string]string{"x": "2", "y": "a+b"}, multiQuery: map[string][]string{"x": {"1", "2"}, "y": {"a+b"}},
			eventBody: `{"a":1}`,
		},
		{
			name: "binary body is base64", method: "POST", target: "/v1/probe/42",
			contentType: "application/octet-stream", body: []byte{0x00, 0xff, 0x10},
			resource: "/v1/probe/{id}", path: "/v1/probe/42", ctxPath: "/v1/probe/42",
			params:    map[string]string{"id": "42"},
			eventBody: base64.StdEncoding.EncodeToString([]byte{0x00, 0xff, 0x10}), base64: true,
		},
		{
			name: "invalid UTF-8 under a text type is base64", method: "POST", target: "/v1/probe/42",
			contentType: "text/plain", body: []byte{0xc3, 0x28},
			resource: "/v1/probe/{id}", path: "/v1/probe/42", ctxPath: "/v1/probe/42",
			params:    map[string]string{"id": "42"},
			eventBody: base64.StdEncoding.EncodeToString([]byte{0xc3, 0x28}), base64: true,
		},
		{
			name: "stage in the URL, as on the execute-api domain", method: "GET", target: "/local/v1/probe",
			resource: "/v1/probe", path: "/v1/probe", ctxPath: "/local/v1/probe",
		},
		{
			name: "a literal segment wins over a path parameter", method: "POST", target: "/v1/probe/special",
			resource: "/v1/probe/special", path: "/v1/probe/special", ctxPath: "/v1/probe/special",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t)
			req := request(tt.method, tt.target, "allow-all", tt.body)
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			for k, vs := range tt.header {
				for _, v := range vs {
					req.Header.Add(k, v)
				}
			}
			res := serve(fx.front, req)
			if res.status != http.StatusCreated {
				t.Fatalf("status %d, body %s", res.status, res.body)
			}
			ev := fx.fn.lastRoute(t)
			if ev.Resource != tt.resource || ev.Path != tt.path || ev.HTTPMethod != tt.method {
				t.Errorf("resource %q path %q method %q, want %q %q %q", ev.Resource, ev.Path, ev.HTTPMethod, tt.resource, tt.path, tt.method)
			}
			if !reflect.DeepEqual(ev.PathParameters, tt.params) {
				t.Errorf("pathParameters %v, want %v", ev.PathParameters, tt.params)
			}
			if !reflect.DeepEqual(ev.QueryStringParameters, tt.query) || !reflect.DeepEqual(ev.MultiValueQueryStringParameters, tt.multiQuery) {
				t.Errorf("query %v / %v, want %v / %v", ev.QueryStringParameters, ev.MultiValueQueryStringParameters, tt.query, tt.multiQuery)
			}
			if ev.Body != tt.eventBody || ev.IsBase64Encoded != tt.base64 {
				t.Errorf("body %q (base64 %t), want %q (%t)", ev.Body, ev.IsBase64Encoded, tt.eventBody, tt.base64)
			}
			for k, vs := range tt.header {
				if got := ev.MultiValueHeaders[k]; !reflect.DeepEqual(got, vs) {
					t.Errorf("multiValueHeaders[%s] = %v, want %v", k, got, vs)
				}
				if got := ev.Headers[k]; got != vs[len(vs)-1] {
					t.Errorf("headers[%s] = %q, want the last value %q", k, got, vs[len(vs)-1])
				}
			}
			if ev.Headers["Host"] != "example.com" || ev.Headers["X-Forwarded-For"] != "192.0.2.1" {
				t.Errorf("Host %q, X-Forwarded-For %q", ev.Headers["Host"], ev.Headers["X-Forwarded-For"])
			}

			rc := ev.RequestContext
			want := map[string]string{
				"accountId": testAccount, "apiId": testAPI, "stage": "local", "httpMethod": tt.method,
				"resourcePath": tt.resource, "path": tt.ctxPath, "sourceIp": "192.0.2.1",
				"requestId": res.header.Get("x-amzn-RequestId"),
			}
			got := map[string]string{
				"accountId": rc.AccountID, "apiId": rc.APIID, "stage": rc.Stage, "httpMethod": rc.HTTPMethod,
				"resourcePath": rc.ResourcePath, "path": rc.Path, "sourceIp": rc.Identity.SourceIP,
				"requestId": rc.RequestID,
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("requestContext %v, want %v", got, want)
			}
			if rc.RequestID == "" || rc.ResourceID == "" {
				t.Errorf("requestId %q resourceId %q", rc.RequestID, rc.ResourceID)
			}
			if rc.RequestTimeEpoch != epoch.UnixMilli() || rc.RequestTime != "01/Jun/2025:12:00:00 +0000" {
				t.Errorf("request time %d %q", rc.RequestTimeEpoch, rc.RequestTime)
			}
			if rc.Authorizer["principalId"] != "partner-7" {
				t.Errorf("authorizer %v", rc.Authorizer)
			}
		})
	}
}

func TestProxyEventWithoutQueryOrParameters(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	res := serve(fx.front, request("GET", "/v1/open", "", nil))
	if res.status != http.StatusCreated {
		t.Fatalf("status %d", res.status)
	}
	raw := fx.fn.lastRouteRaw(t)
	for _, k := range []string{"queryStringParameters", "multiValueQueryStringParameters", "pathParameters"} {
		if v, ok := raw[k]; !ok || v != nil {
			t.Errorf("%s = %v, want null as API Gateway sends", k, v)
		}
	}
	if rc := raw["requestContext"].(map[string]any); rc["authorizer"] != nil {
		t.Errorf("open route got authorizer %v", rc["authorizer"])
	}
}

func TestProxyResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode        string
		status      int
		contentType string
		body        []byte
		header      http.Header
	}{
		{mode: "", status: http.StatusCreated, contentType: "text/plain", body: []byte("probed"),
			header: http.Header{"X-Probe": {"yes"}, "Set-Cookie": {"a=1", "b=2"}}},
		{mode: "binary", status: http.StatusOK, contentType: "application/octet-stream", body: []byte{0x00, 0xff}},
	}
	for _, tt := range tests {
		t.Run("mode "+tt.mode, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t)
			req := request("GET", "/v1/open", "", nil)
			req.Header.Set("X-Probe-Mode", tt.mode)
			res := serve(fx.front, req)
			if res.status != tt.status || res.header.Get("Content-Type") != tt.contentType || string(res.body) != string(tt.body) {
				t.Fatalf("got %d %q %q, want %d %q %q", res.status, res.header.Get("Content-Type"), res.body, tt.status, tt.contentType, tt.body)
			}
			for k, vs := range tt.header {
				if got := res.header.Values(k); !reflect.DeepEqual(got, vs) {
					t.Errorf("header %s = %v, want %v", k, got, vs)
				}
			}
			if res.header.Get("x-amzn-RequestId") == "" {
				t.Error("no x-amzn-RequestId")
			}
		})
	}
}

func TestOpenRouteSkipsTheAuthorizer(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	res := serve(fx.front, request("GET", "/v1/open", "", nil))
	if res.status != http.StatusCreated {
		t.Fatalf("status %d, body %s", res.status, res.body)
	}
	if a, r := fx.fn.counts(); a != 0 || r != 1 {
		t.Errorf("authorizer calls %d, route calls %d; want 0 and 1", a, r)
	}
}

func TestUndeclaredRoutesAreMissingAuthenticationToken(t *testing.T) {
	t.Parallel()
	tests := []struct{ method, target string }{
		{"GET", "/v2/nothing"},
		{"DELETE", "/v1/probe"},      // declared path, undeclared method
		{"GET", "/v1/probe/1/extra"}, // deeper than any template
		{"GET", "/v1/probe/"},        // empty segment
		{"get", "/v1/probe"},         // methods are case-sensitive
		{"GET", "/"},
		{"GET", "/other-stage/v1/open"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t)
			res := serve(fx.front, request(tt.method, tt.target, "allow-all", nil))
			if detail := wantProblem(t, res, http.StatusForbidden, "MISSING_AUTHENTICATION_TOKEN"); detail != "Missing Authentication Token" {
				t.Errorf("detail %q", detail)
			}
			if res.header.Get("x-amzn-ErrorType") != "MissingAuthenticationTokenException" {
				t.Errorf("x-amzn-ErrorType %q", res.header.Get("x-amzn-ErrorType"))
			}
			if a, r := fx.fn.counts(); a+r != 0 {
				t.Errorf("%d authorizer and %d route calls for an undeclared route", a, r)
			}
		})
	}
}

func TestFunctionFailuresAreGatewayErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode   string
		status int
		detail string
	}{
		{"fail", http.StatusBadGateway, "Internal server error"},
		{"malformed", http.StatusBadGateway, "Internal server error"},
		{"object-body", http.StatusBadGateway, "Internal server error"},
		{"invoke-error", http.StatusInternalServerError, "Internal server error"},
		{"slow", http.StatusGatewayTimeout, "Endpoint request timed out"},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t, func(c *front.Config) { c.IntegrationTimeout = 20 * time.Millisecond })
			req := request("GET", "/v1/open", "", nil)
			req.Header.Set("X-Probe-Mode", tt.mode)
			res := serve(fx.front, req)
			if detail := wantProblem(t, res, tt.status, "DEFAULT_5XX"); detail != tt.detail {
				t.Errorf("detail %q, want %q", detail, tt.detail)
			}
			if contains(res.body, "boom") || contains(res.body, "connection refused") {
				t.Errorf("internal error reached the client: %s", res.body)
			}
		})
	}
}

func TestRequestTooLarge(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	res := serve(fx.front, request("POST", "/v1/probe/1", "allow-all", make([]byte, 10<<20+1)))
	// REQUEST_TOO_LARGE is not declared: API Gateway falls back to DEFAULT_4XX, keeping 413.
	wantProblem(t, res, http.StatusRequestEntityTooLarge, "DEFAULT_4XX")
	if a, r := fx.fn.counts(); a+r != 0 {
		t.Errorf("%d authorizer and %d route calls", a, r)
	}
}

func TestProductionTopologyBuilds(t *testing.T) {
	t.Parallel()
	for name, topo := range map[string]*topology.Topology{"lanyard": topology.Lanyard(), "sample": topologytest.Sample()} {
		if _, err := front.New(front.Config{Topology: topo, Invoker: &functions{}, Region: testRegion, AccountID: testAccount, APIID: testAPI,
			Credentials: credentialsProvider()}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
