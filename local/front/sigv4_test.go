package front_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/lanyardhq/lanyard/local/front"
	"github.com/lanyardhq/lanyard/topology"
)

func TestIAMRoutes(t *testing.T) {
	t.Parallel()
	otherSecret := localCreds
	otherSecret.SecretAccessKey = "not-the-local-secret"
	otherKey := localCreds
	otherKey.AccessKeyID = "LKIAQAAAAAAAOTHER001"
	body := []byte(`{"partnerId":"7","reason":"rotation drill"}`)

	tests := []struct {
		name      string
		path      string
		prepare   func(t *testing.T, req *http.Request)
		status    int
		errorType string
		detail    string // prefix
	}{
		{name: "signed with the local credentials", path: "/v1/admin/probe?dry=true", status: http.StatusCreated,
			prepare: func(t *testing.T, req *http.Request) { sign(t, req, body, localCreds, "execute-api", epoch) }},
		{name: "signed, stage in the URL", path: "/local/v1/admin/probe", status: http.StatusCreated,
			prepare: func(t *testing.T, req *http.Request) { sign(t, req, body, localCreds, "execute-api", epoch) }},
		{name: "signed 4 minutes ago", path: "/v1/admin/probe", status: http.StatusCreated,
			prepare: func(t *testing.T, req *http.Request) {
				sign(t, req, body, localCreds, "execute-api", epoch.Add(-4*time.Minute))
			}},
		{name: "unsigned", path: "/v1/admin/probe", status: http.StatusForbidden,
			errorType: "MissingAuthenticationTokenException", detail: "Missing Authentication Token",
			prepare: func(*testing.T, *http.Request) {}},
		{name: "signed with another secret", path: "/v1/admin/probe", status: http.StatusForbidden,
			errorType: "InvalidSignatureException", detail: "The request signature we calculated does not match",
			prepare: func(t *testing.T, req *http.Request) { sign(t, req, body, otherSecret, "execute-api", epoch) }},
		{name: "signed with another access key", path: "/v1/admin/probe", status: http.StatusForbidden,
			errorType: "UnrecognizedClientException", detail: "The security token included in the request is invalid.",
			prepare: func(t *testing.T, req *http.Request) { sign(t, req, body, otherKey, "execute-api", epoch) }},
		{name: "signed 10 minutes ago", path: "/v1/admin/probe", status: http.StatusForbidden,
			errorType: "InvalidSignatureException",
			detail:    "Signature expired: 20250601T115000Z is now earlier than 20250601T115500Z (20250601T120000Z - 5 min.)",
			prepare: func(t *testing.T, req *http.Request) {
				sign(t, req, body, localCreds, "execute-api", epoch.Add(-10*time.Minute))
			}},
		{name: "signed 10 minutes ahead", path: "/v1/admin/probe", status: http.StatusForbidden,
			errorType: "InvalidSignatureException", detail: "Signature not yet current",
			prepare: func(t *testing.T, req *http.Request) {
				sign(t, req, body, localCreds, "execute-api", epoch.Add(10*time.Minute))
			}},
		{name: "signed for another service", path: "/v1/admin/probe", status: http.StatusForbidden,
			errorType: "InvalidSignatureException", detail: "Credential should be scoped to correct service",
			prepare: func(t *testing.T, req *http.Request) { sign(t, req, body, localCreds, "apigateway", epoch) }},
		{name: "body changed after signing", path: "/v1/admin/probe", status: http.StatusForbidden,
			errorType: "InvalidSignatureException", detail: "The request signature we calculated does not match",
			prepare: func(t *testing.T, req *http.Request) { sign(t, req, []byte(`{}`), localCreds, "execute-api", epoch) }},
		{name: "signed header changed after signing", path: "/v1/admin/probe", status: http.StatusForbidden,
			errorType: "InvalidSignatureException", detail: "The request signature we calculated does not match",
			prepare: func(t *testing.T, req *http.Request) {
				req.Header.Set("X-Amz-Target", "one")
				sign(t, req, body, localCreds, "execute-api", epoch)
				req.Header.Set("X-Amz-Target", "two")
			}},
		{name: "not a SigV4 header", path: "/v1/admin/probe", status: http.StatusForbidden,
			errorType: "IncompleteSignatureException", detail: "Authorization header requires 'Credential' parameter.",
			prepare: func(_ *testing.T, req *http.Request) { req.Header.Set("Authorization", "Bearer abc") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t)
			srv := httptest.NewServer(fx.front)
			defer srv.Close()
			req := newRequest(t, http.MethodPost, srv.URL+tt.path, body)
			req.Header.Set("Content-Type", "application/json")
			tt.prepare(t, req)
			res := do(t, srv.Client(), req)

			_, routes := fx.fn.counts()
			if tt.status != http.StatusCreated {
				responseType := "ACCESS_DENIED" // INVALID_SIGNATURE is answered as ACCESS_DENIED
				if tt.errorType == "MissingAuthenticationTokenException" {
					responseType = "MISSING_AUTHENTICATION_TOKEN"
				}
				if detail := wantProblem(t, res, tt.status, responseType); !strings.HasPrefix(detail, tt.detail) {
					t.Errorf("detail %q, want it to start with %q", detail, tt.detail)
				}
				if got := res.header.Get("x-amzn-ErrorType"); got != tt.errorType {
					t.Errorf("x-amzn-ErrorType %q, want %q", got, tt.errorType)
				}
				if routes != 0 {
					t.Errorf("the function was invoked for a refused request")
				}
				return
			}
			if res.status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.status, tt.status, res.body)
			}
			ev := fx.fn.lastRoute(t)
			id := ev.RequestContext.Identity
			if id.AccessKey != localCreds.AccessKeyID || id.UserArn != "arn:aws:iam::"+testAccount+":root" ||
				id.AccountID != testAccount || id.Caller != testAccount {
				t.Errorf("identity %+v", id)
			}
			if ev.Body != string(body) || ev.Resource != "/v1/admin/probe" {
				t.Errorf("body %q resource %q", ev.Body, ev.Resource)
			}
			if ev.RequestContext.Authorizer != nil {
				t.Errorf("authorizer context on an aws-iam route: %v", ev.RequestContext.Authorizer)
			}
			if a, _ := fx.fn.counts(); a != 0 {
				t.Errorf("authorizer called for an aws-iam route")
			}
		})
	}
}

func TestIAMRouteWithSessionCredentials(t *testing.T) {
	t.Parallel()
	session := aws.Credentials{AccessKeyID: "ASIAQAAAAAAALOCAL001", SecretAccessKey: "s", SessionToken: "token-1"}
	for _, tt := range []struct {
		name   string
		creds  aws.Credentials
		status int
	}{
		{"same session", session, http.StatusCreated},
		{"other session token", aws.Credentials{AccessKeyID: session.AccessKeyID, SecretAccessKey: "s", SessionToken: "token-2"}, http.StatusForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t, func(c *front.Config) { c.Credentials = credentials.StaticCredentialsProvider{Value: session} })
			req := newRequest(t, http.MethodPost, "http://example.com/v1/admin/probe", nil)
			sign(t, req, nil, tt.creds, "execute-api", epoch)
			if res := serve(fx.front, req); res.status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.status, tt.status, res.body)
			}
		})
	}
}

// A route restricted to the declared dependents admits only them, as the REST API's resource
// policy does in AWS: another local signer, its signature good, is refused with an explicit
// deny before any function runs; each signer's ARN reaches the function as the caller's.
func TestDependentsOnlyRoute(t *testing.T) {
	t.Parallel()
	other := aws.Credentials{AccessKeyID: "LKIAQAAAAAAAOTHER01", SecretAccessKey: "other-secret", Source: "test"}
	const otherARN = "arn:aws:iam::000000000000:user/observer"
	for _, tt := range []struct {
		name       string
		dependents []string
		creds      aws.Credentials
		status     int
		userArn    string
	}{
		{"the local credentials, declared", []string{front.LocalPrincipalARN(testAccount)}, localCreds, http.StatusCreated, front.LocalPrincipalARN(testAccount)},
		{"another signer, not declared", []string{front.LocalPrincipalARN(testAccount)}, other, http.StatusForbidden, ""},
		{"another signer, declared", []string{otherARN}, other, http.StatusCreated, otherARN},
		{"the local credentials, not declared", []string{otherARN}, localCreds, http.StatusForbidden, ""},
		{"nobody declared", nil, localCreds, http.StatusForbidden, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t, func(c *front.Config) {
				tp := testTopology()
				for i := range tp.Routes {
					if tp.Routes[i].Auth == topology.AuthIAM {
						tp.Routes[i].DependentsOnly = true
					}
				}
				tp.Dependents = tt.dependents
				c.Topology = tp
				c.Signers = []front.Signer{{Credentials: credentials.StaticCredentialsProvider{Value: other}, ARN: otherARN}}
			})
			req := newRequest(t, http.MethodPost, "http://example.com/v1/admin/probe", nil)
			sign(t, req, nil, tt.creds, "execute-api", epoch)
			res := serve(fx.front, req)
			if res.status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.status, tt.status, res.body)
			}
			_, routes := fx.fn.counts()
			if tt.status != http.StatusCreated {
				wantProblem(t, res, http.StatusForbidden, "ACCESS_DENIED")
				if routes != 0 {
					t.Error("the function ran for a principal that is not a dependent")
				}
				return
			}
			if got := fx.fn.lastRoute(t).RequestContext.Identity.UserArn; got != tt.userArn {
				t.Errorf("userArn %q, want %q", got, tt.userArn)
			}
		})
	}
}
