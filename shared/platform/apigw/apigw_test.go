package apigw_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/lanyardhq/lanyard/shared/platform/apigw"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/platform/tracing"
)

type req = lambdaevents.APIGatewayProxyRequest
type resp = lambdaevents.APIGatewayProxyResponse

// Not parallel: it captures the default logger.
func TestServeAnswersAndLogsByStatus(t *testing.T) {
	tests := []struct {
		name       string
		route      apigw.Route
		err        error
		wantStatus int
		wantLog    string
	}{
		{"ok", apigw.Route{Span: "op"}, nil, 200, ""},
		{"refusal at info", apigw.Route{Span: "op"}, problem.NotFound.New(""), 404, `"level":"INFO","msg":"op refused"`},
		{"fault at error", apigw.Route{Span: "op", Log: "thing"}, errors.New("boom"), 500, `"level":"ERROR","msg":"thing failed"`},
		{"faults only", apigw.Route{Span: "op", FaultsOnly: true}, problem.NotFound.New(""), 500, `"level":"ERROR","msg":"op failed"`},
		{"attrs lead", apigw.Route{Span: "op", Attrs: []any{"partner", "p-1"}}, problem.Conflict.New(""), 409, `"partner":"p-1","status":409`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			prev := slog.Default()
			slog.SetDefault(slog.New(slog.NewJSONHandler(&buf, nil)))
			defer slog.SetDefault(prev)
			r, err := tt.route.Serve(context.Background(), req{}, func(context.Context, *tracing.Span, req) (resp, error) {
				if tt.err != nil {
					return resp{}, tt.err
				}
				return resp{StatusCode: 200}, nil
			})
			if err != nil || r.StatusCode != tt.wantStatus {
				t.Fatalf("Serve = %d, %v; want %d", r.StatusCode, err, tt.wantStatus)
			}
			if tt.wantStatus != 200 && r.Headers["Content-Type"] != problem.ContentType {
				t.Errorf("Content-Type %q", r.Headers["Content-Type"])
			}
			if got := buf.String(); (tt.wantLog == "") != (got == "") || !strings.Contains(got, tt.wantLog) {
				t.Errorf("log %q, want %q", got, tt.wantLog)
			}
		})
	}
}

func TestCheckEmptyBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body string
		b64  bool
		want *problem.Type
	}{
		{"", false, nil}, {" {} ", false, nil}, {"e30=", true, nil},
		{"%%", true, &problem.BadRequest}, {"{", false, &problem.BadRequest},
		{`{"a":1}`, false, &problem.Validation}, {"[]", false, &problem.Validation},
	}
	for _, tt := range tests {
		err := apigw.CheckEmptyBody(req{Body: tt.body, IsBase64Encoded: tt.b64})
		typ, _ := problem.Of(err)
		if (tt.want == nil) != (err == nil) || (tt.want != nil && typ != *tt.want) {
			t.Errorf("CheckEmptyBody(%q) = %v", tt.body, err)
		}
	}
}

func TestCallerOfTrimsAndIgnoresNonStrings(t *testing.T) {
	t.Parallel()
	r := req{}
	r.RequestContext.Authorizer = map[string]any{apigw.ContextPartnerID: " p-1 ", apigw.ContextKeyID: 7, apigw.ContextScopes: "a b"}
	if got, want := apigw.CallerOf(r), (apigw.Caller{PartnerID: "p-1", Scopes: "a b"}); got != want {
		t.Fatalf("CallerOf = %+v, want %+v", got, want)
	}
}

func TestContentTypeChecks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		headers       map[string]string
		multi         map[string][]string
		json, jsonUTF bool
	}{
		{map[string]string{"content-type": "application/json"}, nil, true, true},
		{map[string]string{"Content-Type": "application/json; charset=latin1"}, nil, true, false},
		{map[string]string{"Content-Type": "text/plain"}, nil, false, false},
		{nil, map[string][]string{"Content-Type": {"application/json", "text/plain"}}, false, true},
	}
	for _, tt := range tests {
		r := req{Headers: tt.headers, MultiValueHeaders: tt.multi}
		if got := apigw.CheckJSON(r) == nil; got != tt.json {
			t.Errorf("CheckJSON(%v %v) ok %t", tt.headers, tt.multi, got)
		}
		if got := apigw.CheckJSONUTF8(r) == nil; got != tt.jsonUTF {
			t.Errorf("CheckJSONUTF8(%v %v) ok %t", tt.headers, tt.multi, got)
		}
	}
}
