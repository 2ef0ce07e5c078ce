package invite_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/lanyardhq/lanyard/api"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/features/invite"
	"github.com/lanyardhq/lanyard/shared/platform/logging"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
)

// documentSchema compiles a schema of shared/domain/openapi/openapi.json's components.
func documentSchema(t *testing.T, name string) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(api.Document()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(api.DocumentURL, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(api.DocumentURL + "#/components/schemas/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validates(t *testing.T, s *jsonschema.Schema, body string) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(body))
	if err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if err := s.Validate(v); err != nil {
		t.Errorf("body does not match the schema: %v", err)
	}
}

func newHandler(t *testing.T) (*invite.Handler, *invite.Store, *dynamodbtest.DynamoDB) {
	t.Helper()
	s, db, _ := newStore(t)
	p, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	return &invite.Handler{Invites: s, Policy: p}, s, db
}

func request(body string) lambdaevents.APIGatewayProxyRequest {
	return lambdaevents.APIGatewayProxyRequest{
		HTTPMethod: "POST",
		Path:       "/v1/admin/invites",
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       body,
		RequestContext: lambdaevents.APIGatewayProxyRequestContext{
			Identity: lambdaevents.APIGatewayRequestIdentity{UserArn: opsARN, Caller: "AIDAEXAMPLE"},
		},
	}
}

func TestCreateInvite(t *testing.T) {
	c := secrettest.Plant(t)
	h, s, _ := newHandler(t)
	inviteSchema := documentSchema(t, "Invite")
	for _, tc := range []struct {
		name, body string
		expiresIn  time.Duration
	}{
		{"default expiry", `{"partnerName":"Acme Logistics","tier":"standard"}`, invite.DefaultExpiresIn},
		{"an hour", `{"partnerName":"Acme Logistics","tier":"sandbox","expiresIn":3600}`, time.Hour},
		{"needs approval later", `{"partnerName":"Globex","tier":"premium","expiresIn":2592000}`, 30 * 24 * time.Hour},
	} {
		resp, err := h.Handle(t.Context(), request(tc.body))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if resp.StatusCode != 201 || resp.Headers["Cache-Control"] != "no-store" || resp.Headers["Content-Type"] != "application/json" {
			t.Fatalf("%s: status %d, headers %v", tc.name, resp.StatusCode, resp.Headers)
		}
		validates(t, inviteSchema, resp.Body)
		var got invite.Created
		dec := json.NewDecoder(strings.NewReader(resp.Body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		c.Add("invite code "+tc.name, got.InviteCode)

		var req map[string]any
		_ = json.Unmarshal([]byte(tc.body), &req)
		if got.PartnerName != req["partnerName"] || got.Tier != req["tier"] || !strings.HasPrefix(got.InviteID, invite.IDPrefix) {
			t.Errorf("%s: answered %s %s %s", tc.name, got.InviteID, got.PartnerName, got.Tier)
		}
		if want := t0.Add(tc.expiresIn).Truncate(time.Second); !got.ExpiresAt.Equal(want) {
			t.Errorf("%s: expires at %s, want %s", tc.name, got.ExpiresAt, want)
		}
		// The code answered is the stored invite's, for the creator the request names.
		inv, err := s.Lookup(t.Context(), secret.New(got.InviteCode))
		if err != nil || inv.ID != got.InviteID || inv.CreatedBy != opsARN {
			t.Errorf("%s: lookup of the answered code: %+v, %v", tc.name, inv, err)
		}
	}
}

func TestCreateInviteCreator(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		id   lambdaevents.APIGatewayRequestIdentity
		want string
	}{
		{"user ARN", lambdaevents.APIGatewayRequestIdentity{UserArn: opsARN, Caller: "AIDAEXAMPLE"}, opsARN},
		{"caller only", lambdaevents.APIGatewayRequestIdentity{Caller: "AIDAEXAMPLE"}, "AIDAEXAMPLE"},
		{"nobody", lambdaevents.APIGatewayRequestIdentity{}, "unknown"},
	}
	for _, c := range cases {
		h, s, _ := newHandler(t)
		req := request(`{"partnerName":"Acme","tier":"standard"}`)
		req.RequestContext.Identity = c.id
		resp, _ := h.Handle(t.Context(), req)
		var got invite.Created
		_ = json.Unmarshal([]byte(resp.Body), &got)
		inv, err := s.Lookup(t.Context(), secret.New(got.InviteCode))
		if err != nil || inv.CreatedBy != c.want {
			t.Errorf("%s: created by %q (%v), want %q", c.name, inv.CreatedBy, err, c.want)
		}
	}
}

func TestCreateInviteRefuses(t *testing.T) {
	valid := `{"partnerName":"Acme","tier":"standard"}`
	withHeaders := func(body string, headers map[string]string) lambdaevents.APIGatewayProxyRequest {
		r := request(body)
		r.Headers = headers
		return r
	}
	noPremium, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	noPremium.Tiers = slices.DeleteFunc(noPremium.Tiers, func(t policy.Tier) bool { return t.Name == "premium" })

	cases := []struct {
		name    string
		req     lambdaevents.APIGatewayProxyRequest
		policy  *policy.Policy
		want    problem.Type
		pointer string // the validation error expected, if any
	}{
		{"bad JSON", request(`{"partnerName":`), nil, problem.BadRequest, ""},
		{"empty body", request(``), nil, problem.BadRequest, ""},
		{"base64 not decoding", func() lambdaevents.APIGatewayProxyRequest {
			r := request("!!!")
			r.IsBase64Encoded = true
			return r
		}(), nil, problem.BadRequest, ""},
		{"no content type", withHeaders(valid, nil), nil, problem.UnsupportedMediaType, ""},
		{"text/plain", withHeaders(valid, map[string]string{"Content-Type": "text/plain"}), nil, problem.UnsupportedMediaType, ""},
		{"form", withHeaders(valid, map[string]string{"content-type": "application/x-www-form-urlencoded"}), nil, problem.UnsupportedMediaType, ""},
		{"latin-1 JSON", withHeaders(valid, map[string]string{"Content-Type": "application/json; charset=iso-8859-1"}), nil, problem.UnsupportedMediaType, ""},
		{"unknown tier", request(`{"partnerName":"Acme","tier":"gold"}`), nil, problem.Validation, "/tier"},
		{"tier not in the policy", request(`{"partnerName":"Acme","tier":"premium"}`), noPremium, problem.Validation, "/tier"},
		{"no partner name", request(`{"tier":"standard"}`), nil, problem.Validation, "/partnerName"},
		{"expiry too short", request(`{"partnerName":"Acme","tier":"standard","expiresIn":60}`), nil, problem.Validation, "/expiresIn"},
		{"expiry too long", request(`{"partnerName":"Acme","tier":"standard","expiresIn":2592001}`), nil, problem.Validation, "/expiresIn"},
		{"unknown field", request(`{"partnerName":"Acme","tier":"standard","expires":"7d"}`), nil, problem.Validation, "/expires"},
	}
	problemSchema := documentSchema(t, "Problem")
	for _, c := range cases {
		h, _, db := newHandler(t)
		if c.policy != nil {
			h.Policy = c.policy
		}
		resp, err := h.Handle(t.Context(), c.req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		validates(t, problemSchema, resp.Body)
		var p problem.Problem
		if err := json.Unmarshal([]byte(resp.Body), &p); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != c.want.Status() || p.Type != c.want.URI() || resp.Headers["Content-Type"] != problem.ContentType {
			t.Errorf("%s: %d %s, want %d %s", c.name, resp.StatusCode, p.Type, c.want.Status(), c.want.URI())
		}
		if c.pointer != "" && !slices.ContainsFunc(p.Errors, func(f problem.FieldError) bool { return f.Pointer == c.pointer }) {
			t.Errorf("%s: errors %v, want one at %s", c.name, p.Errors, c.pointer)
		}
		if n := len(db.Items(invitesTable)); n != 0 {
			t.Errorf("%s: %d invites stored", c.name, n)
		}
	}
}

func TestCreateInviteAcceptsBase64AndCharset(t *testing.T) {
	t.Parallel()
	h, _, _ := newHandler(t)
	req := request(base64.StdEncoding.EncodeToString([]byte(`{"partnerName":"Acme","tier":"standard"}`)))
	req.IsBase64Encoded = true
	req.Headers = map[string]string{"content-type": "application/json; charset=UTF-8"}
	resp, _ := h.Handle(t.Context(), req)
	if resp.StatusCode != 201 {
		t.Errorf("status %d: %s", resp.StatusCode, resp.Body)
	}
}

// A failing table gives the fixed internal problem; the log has the cause.
func TestCreateInviteStoreFails(t *testing.T) {
	c := secrettest.Plant(t)
	h, _, db := newHandler(t)
	db.Intercept = func(string, any) error { return errors.New("ProvisionedThroughputExceededException: slow down") }
	resp, err := h.Handle(t.Context(), request(`{"partnerName":"Acme","tier":"standard"}`))
	if err != nil {
		t.Fatal(err)
	}
	var p problem.Problem
	_ = json.Unmarshal([]byte(resp.Body), &p)
	if resp.StatusCode != 500 || p.Type != problem.Internal.URI() || p.Detail != problem.Internal.DefaultDetail() {
		t.Errorf("answered %d %+v, want the fixed internal problem", resp.StatusCode, p)
	}
	c.CheckText("response", resp.Body)
	if strings.Contains(resp.Body, "slow down") {
		t.Error("the internal error reached the client")
	}
}

// The log names the invite, its tier and its creator, and never the code.
func TestCreateInviteLogs(t *testing.T) {
	var logs bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(logging.NewJSON(&logs, slog.LevelDebug))
	t.Cleanup(func() { slog.SetDefault(prev) })
	h, _, _ := newHandler(t)
	resp, _ := h.Handle(t.Context(), request(`{"partnerName":"Acme","tier":"standard"}`))
	var got invite.Created
	_ = json.Unmarshal([]byte(resp.Body), &got)
	var line map[string]any
	for l := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && (m["msg"] == "invite issued" || m["message"] == "invite issued") {
			line = m
		}
	}
	if line == nil || line["inviteId"] != got.InviteID || line["tier"] != "standard" || line["createdBy"] != opsARN {
		t.Errorf("log line %v, want inviteId, tier and createdBy", line)
	}
	if got.InviteCode == "" || strings.Contains(logs.String(), got.InviteCode) {
		t.Error("the invite code is in the log (or was not answered)")
	}
}
