package front

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	"github.com/lanyardhq/lanyard/topology"
)

func TestWildcardMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, value string
		want           bool
	}{
		{"*", "", true},
		{"*", "arn:aws:execute-api:eu-west-1:1:api/local/GET/v1/probe", true},
		{"arn:aws:execute-api:eu-west-1:1:api/*", "arn:aws:execute-api:eu-west-1:1:api/local/GET/v1/probe", true},
		{"arn:aws:execute-api:eu-west-1:1:api/*/GET/*", "arn:aws:execute-api:eu-west-1:1:api/local/GET/v1/probe", true},
		{"arn:aws:execute-api:eu-west-1:1:api/*/GET/*", "arn:aws:execute-api:eu-west-1:1:api/local/POST/v1/probe", false},
		{"arn:aws:execute-api:*:*:api/local/GET/v1/probe", "arn:aws:execute-api:eu-west-1:1:api/local/GET/v1/probe", true},
		{"arn:aws:execute-api:eu-west-1:1:api/local/GET/v1/probe", "arn:aws:execute-api:eu-west-1:1:api/local/GET/v1/probe/1", false},
		{"arn:aws:execute-api:eu-west-1:1:api/local/???/v1/probe", "arn:aws:execute-api:eu-west-1:1:api/local/GET/v1/probe", true},
		{"arn:aws:execute-api:eu-west-1:1:api/local/???/v1/probe", "arn:aws:execute-api:eu-west-1:1:api/local/POST/v1/probe", false},
		{"a*b*c", "abbbc", true},
		{"a*b*c", "acb", false},
		{"**x", "yx", true},
		{"", "", true},
		{"", "a", false},
	}
	for _, tt := range tests {
		if got := wildcardMatch(tt.pattern, tt.value); got != tt.want {
			t.Errorf("wildcardMatch(%q, %q) = %t, want %t", tt.pattern, tt.value, got, tt.want)
		}
	}
}

func TestPolicyEvaluation(t *testing.T) {
	t.Parallel()
	const arn = "arn:aws:execute-api:eu-west-1:1:api/local/POST/v1/probe/7"
	tests := []struct {
		name   string
		doc    string
		want   decision
		errors bool
	}{
		{name: "allow by exact ARN", want: allowed,
			doc: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"` + arn + `"}]}`},
		{name: "statement as one object, lists of resources", want: allowed,
			doc: `{"Statement":{"Effect":"Allow","Action":["execute-api:Invoke"],"Resource":["arn:x","arn:aws:execute-api:eu-west-1:1:api/local/POST/*"]}}`},
		{name: "action wildcard and case", want: allowed,
			doc: `{"Statement":[{"Effect":"Allow","Action":"EXECUTE-API:*","Resource":"*"}]}`},
		{name: "action *", want: allowed,
			doc: `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`},
		{name: "another action does not allow", want: implicitDeny,
			doc: `{"Statement":[{"Effect":"Allow","Action":"execute-api:ManageConnections","Resource":"*"}]}`},
		{name: "another resource does not allow", want: implicitDeny,
			doc: `{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:eu-west-1:1:api/local/GET/*"}]}`},
		{name: "deny wins over allow", want: explicitDeny,
			doc: `{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"*"},{"Effect":"Deny","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:*:*:*/*/POST/*"}]}`},
		{name: "deny elsewhere leaves the allow", want: allowed,
			doc: `{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"*"},{"Effect":"Deny","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:*:*:*/*/GET/*"}]}`},
		{name: "NotResource", want: allowed,
			doc: `{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","NotResource":"arn:aws:execute-api:*:*:*/*/GET/*"}]}`},
		{name: "NotAction deny does not cover Invoke", want: allowed,
			doc: `{"Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"*"},{"Effect":"Deny","NotAction":"execute-api:Invoke","Resource":"*"}]}`},
		{name: "no statement", errors: true, doc: `{"Version":"2012-10-17","Statement":[]}`},
		{name: "not an object", errors: true, doc: `"allow"`},
		{name: "bad effect", errors: true, doc: `{"Statement":[{"Effect":"allow","Action":"*","Resource":"*"}]}`},
		{name: "condition", errors: true, doc: `{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}`},
		{name: "no resource", errors: true, doc: `{"Statement":[{"Effect":"Allow","Action":"*"}]}`},
		{name: "resource and NotResource", errors: true, doc: `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","NotResource":"*"}]}`},
		{name: "resource not a string", errors: true, doc: `{"Statement":[{"Effect":"Allow","Action":"*","Resource":7}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := parsePolicy(json.RawMessage(tt.doc))
			if tt.errors {
				if err == nil {
					t.Fatal("parsePolicy accepted the document")
				}
				return
			}
			if err != nil {
				t.Fatalf("parsePolicy: %v", err)
			}
			if got := p.evaluate(arn); got != tt.want {
				t.Errorf("evaluate = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestParseAuthorizerResponse(t *testing.T) {
	t.Parallel()
	const pol = `"policyDocument":{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
	tests := []struct {
		name    string
		payload string
		context map[string]any
		usage   string
		errors  bool
	}{
		{name: "scalars are stringified, null kept",
			payload: `{"principalId":"p",` + pol + `,"context":{"s":"x","n":12,"f":1.25,"b":false,"z":null},"usageIdentifierKey":"k"}`,
			context: map[string]any{"s": "x", "n": "12", "f": "1.25", "b": "false", "z": nil}, usage: "k"},
		{name: "no context", payload: `{"principalId":"p",` + pol + `}`, context: map[string]any{}},
		{name: "array in context", errors: true, payload: `{"principalId":"p",` + pol + `,"context":{"a":[1]}}`},
		{name: "object in context", errors: true, payload: `{"principalId":"p",` + pol + `,"context":{"a":{"b":1}}}`},
		{name: "no principal", errors: true, payload: `{` + pol + `}`},
		{name: "no policy", errors: true, payload: `{"principalId":"p"}`},
		{name: "null", errors: true, payload: `null`},
		{name: "not JSON", errors: true, payload: `Allow`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := parseAuthorizerResponse([]byte(tt.payload))
			if tt.errors {
				if err == nil {
					t.Fatal("accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.context, tt.context) || res.usageKey != tt.usage || res.principalID != "p" {
				t.Errorf("got context %#v usage %q principal %q", res.context, res.usageKey, res.principalID)
			}
		})
	}
}

func TestParseProxyResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload string
		status  int
		header  http.Header
		body    string
		errors  bool
	}{
		{name: "minimal", payload: `{"statusCode":204}`, status: 204, header: http.Header{}},
		{name: "string status, scalar header values", payload: `{"statusCode":"200","headers":{"X-N":5,"X-B":true},"body":"hi"}`,
			status: 200, header: http.Header{"X-N": {"5"}, "X-B": {"true"}}, body: "hi"},
		{name: "headers merged, a pair given in both once",
			payload: `{"statusCode":200,"headers":{"X-A":"1","X-B":"3"},"multiValueHeaders":{"X-A":["1","2"]}}`,
			status:  200, header: http.Header{"X-A": {"1", "2"}, "X-B": {"3"}}},
		{name: "same name, other value, both kept",
			payload: `{"statusCode":200,"headers":{"X-A":"9"},"multiValueHeaders":{"X-A":["1"]}}`,
			status:  200, header: http.Header{"X-A": {"1", "9"}}},
		{name: "base64 body", payload: `{"statusCode":200,"body":"aGk=","isBase64Encoded":true}`, status: 200, header: http.Header{}, body: "hi"},
		{name: "null fields", payload: `{"statusCode":200,"headers":null,"multiValueHeaders":null,"body":null,"isBase64Encoded":null}`, status: 200, header: http.Header{}},
		{name: "unknown key", errors: true, payload: `{"statusCode":200,"cookies":["a=1"]}`},
		{name: "no status", errors: true, payload: `{"body":"x"}`},
		{name: "status out of range", errors: true, payload: `{"statusCode":99}`},
		{name: "status not a number", errors: true, payload: `{"statusCode":"ok"}`},
		{name: "object body", errors: true, payload: `{"statusCode":200,"body":{"a":1}}`},
		{name: "bad base64", errors: true, payload: `{"statusCode":200,"body":"***","isBase64Encoded":true}`},
		{name: "array payload", errors: true, payload: `[1]`},
		{name: "null payload", errors: true, payload: `null`},
		{name: "header value object", errors: true, payload: `{"statusCode":200,"headers":{"X":{"a":1}}}`},
		{name: "multi-value header not a list", errors: true, payload: `{"statusCode":200,"multiValueHeaders":{"X":"a"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseProxyResponse([]byte(tt.payload))
			if tt.errors {
				if err == nil {
					t.Fatalf("accepted %s", tt.payload)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.status != tt.status || !reflect.DeepEqual(got.headers, tt.header) || string(got.body) != tt.body {
				t.Errorf("got %d %v %q, want %d %v %q", got.status, got.headers, got.body, tt.status, tt.header, tt.body)
			}
		})
	}
}

func TestGatewayResponseResolution(t *testing.T) {
	t.Parallel()
	declared := newGatewayResponses([]topology.GatewayResponse{
		{Type: "ACCESS_DENIED", Status: 403, Title: "denied", Problem: "p#denied"},
		{Type: "DEFAULT_4XX", Status: 0, Title: "bad", Problem: "p#bad"},
		{Type: "DEFAULT_5XX", Status: 0, Title: "internal", Problem: "p#internal"},
	})
	tests := []struct {
		responseType string
		status       int
		title        string
		wantStatus   int
	}{
		{"ACCESS_DENIED", 403, "denied", 403},
		{"INVALID_SIGNATURE", 403, "denied", 403}, // the stand-in
		{"REQUEST_TOO_LARGE", 413, "bad", 413},    // API Gateway's fallback keeps the status
		{"AUTHORIZER_CONFIGURATION_ERROR", 500, "internal", 500},
		{"INTEGRATION_TIMEOUT", 504, "internal", 504},
	}
	for _, tt := range tests {
		d, status := declared.resolve(tt.responseType, tt.status)
		if d.Title != tt.title || status != tt.wantStatus {
			t.Errorf("resolve(%s, %d) = %q %d, want %q %d", tt.responseType, tt.status, d.Title, status, tt.title, tt.wantStatus)
		}
	}
}
