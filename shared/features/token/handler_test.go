package token_test

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/features/token"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

// sessionPolicy is the document the handler must send for resources (after the stage ARN).
func sessionPolicy(resources ...string) string {
	full := make([]string, len(resources))
	for i, r := range resources {
		full[i] = stageARN + "/" + r
	}
	b, _ := json.Marshal(policy.Document{Version: "2012-10-17", Statement: []policy.Statement{
		{Effect: "Allow", Action: []string{"execute-api:Invoke"}, Resource: full},
	}})
	return string(b)
}

// One exchange per tier and scope set: the AssumeRole call the handler makes and the answer.
func TestExchange(t *testing.T) {
	t.Parallel()
	schema := documentSchema(t, "TokenCredentials")
	tests := []struct {
		name     string
		tier     string
		scopes   []string
		duration int32
		policy   string
	}{
		{"sandbox, one scope", "sandbox", []string{"orders:read"}, 900,
			sessionPolicy("GET/v1/orders", "GET/v1/orders/*")},
		{"sandbox, every scope", "sandbox", []string{"orders:read", "inventory:read"}, 900,
			sessionPolicy("GET/v1/inventory", "GET/v1/inventory/*", "GET/v1/orders", "GET/v1/orders/*")},
		{"standard, read and write", "standard", []string{"orders:write", "orders:read"}, 900,
			sessionPolicy("GET/v1/orders", "GET/v1/orders/*", "PATCH/v1/orders/*", "POST/v1/orders", "POST/v1/orders/*/cancel")},
		{"premium: one hour", "premium", []string{"webhooks:write"}, 3600,
			sessionPolicy("DELETE/v1/webhooks/*", "POST/v1/webhooks")},
		{"premium, every scope", "premium", []string{"inventory:read", "orders:read", "orders:write", "shipments:read", "shipments:write", "webhooks:write"}, 3600,
			sessionPolicy("DELETE/v1/webhooks/*", "GET/v1/inventory", "GET/v1/inventory/*", "GET/v1/orders", "GET/v1/orders/*", "GET/v1/shipments", "GET/v1/shipments/*",
				"PATCH/v1/orders/*", "PATCH/v1/shipments/*", "POST/v1/orders", "POST/v1/orders/*/cancel", "POST/v1/shipments", "POST/v1/shipments/*/tracking-events", "POST/v1/webhooks")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, f, _ := fixture(t, entry(tt.tier, tt.scopes...))
			resp, err := h.Handle(t.Context(), tokenRequest(""))
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("%d %v %s", resp.StatusCode, err, resp.Body)
			}
			if resp.Headers["Content-Type"] != "application/json" || resp.Headers["Cache-Control"] != "no-store" {
				t.Errorf("headers %v", resp.Headers)
			}
			validates(t, schema, resp.Body)
			got := decodeCredentials(t, resp.Body)
			want := token.Response{
				AccessKeyID: "ASIAFAKEACCESSKEYID0", SecretAccessKey: "fake-secret-access-key", SessionToken: "fake-session-token",
				Expiration: now.Add(time.Duration(tt.duration) * time.Second),
			}
			if got != want {
				t.Errorf("answer %+v, want %+v", got, want)
			}

			calls := f.calls()
			if len(calls) != 1 {
				t.Fatalf("%d AssumeRole calls", len(calls))
			}
			in := calls[0]
			if aws.ToString(in.RoleArn) != roleARN || aws.ToString(in.RoleSessionName) != "partner-"+partnerID || aws.ToInt32(in.DurationSeconds) != tt.duration {
				t.Errorf("role %s session %s duration %d", aws.ToString(in.RoleArn), aws.ToString(in.RoleSessionName), aws.ToInt32(in.DurationSeconds))
			}
			if aws.ToString(in.Policy) != tt.policy {
				t.Errorf("session policy\n got %s\nwant %s", aws.ToString(in.Policy), tt.policy)
			}
			wantTags := []ststypes.Tag{{Key: aws.String("partner"), Value: aws.String(partnerID)}, {Key: aws.String("key"), Value: aws.String(keyID)}}
			if !reflect.DeepEqual(in.Tags, wantTags) {
				t.Errorf("tags %s", tagString(in.Tags))
			}
			if in.TransitiveTagKeys != nil || in.PolicyArns != nil || in.SourceIdentity != nil || in.ExternalId != nil || in.SerialNumber != nil {
				t.Errorf("unexpected AssumeRole members: %+v", in)
			}
		})
	}
}

func tagString(tags []ststypes.Tag) string {
	var parts []string
	for _, tg := range tags {
		parts = append(parts, aws.ToString(tg.Key)+"="+aws.ToString(tg.Value))
	}
	return strings.Join(parts, ",")
}

// The session policy depends on the set of scopes only: order and repeats in the registry do
// not change a byte.
func TestSessionPolicyIsDeterministic(t *testing.T) {
	t.Parallel()
	var policies []string
	for _, scopes := range [][]string{
		{"orders:read", "orders:write", "inventory:read"},
		{"inventory:read", "orders:write", "orders:read"},
		{"orders:write", "inventory:read", "orders:read", "orders:write"},
	} {
		h, f, _ := fixture(t, entry("standard", scopes...))
		for range 2 {
			if resp, _ := h.Handle(t.Context(), tokenRequest("")); resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, resp.Body)
			}
		}
		for _, in := range f.calls() {
			policies = append(policies, aws.ToString(in.Policy))
		}
	}
	for i, p := range policies {
		if p != policies[0] {
			t.Errorf("call %d sent another policy:\n%s\n%s", i, p, policies[0])
		}
	}
}

// The scopes come from the registry (consistent), not from the authorizer's possibly cached
// context, and only those the tier still allows reach the session.
func TestScopesAreTheRegistrysWithinTheTier(t *testing.T) {
	t.Parallel()
	// A sandbox key carrying orders:write (granted under an older policy, say).
	h, f, _ := fixture(t, entry("sandbox", "orders:read", "orders:write"))
	req := tokenRequest("")
	req.RequestContext.Authorizer["scopes"] = "inventory:read orders:read orders:write"
	resp, _ := h.Handle(t.Context(), req)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, resp.Body)
	}
	if got, want := aws.ToString(f.calls()[0].Policy), sessionPolicy("GET/v1/orders", "GET/v1/orders/*"); got != want {
		t.Errorf("session policy\n got %s\nwant %s", got, want)
	}

	// Nothing left: refused, and STS is not called.
	h, f, _ = fixture(t, entry("sandbox", "orders:write", "webhooks:write"))
	resp, _ = h.Handle(t.Context(), tokenRequest(""))
	if p := problemOf(t, resp); resp.StatusCode != 403 || p.Type != problem.AccessDenied.URI() {
		t.Errorf("%d %s, want 403 access-denied", resp.StatusCode, resp.Body)
	}
	if len(f.calls()) != 0 {
		t.Error("STS called for a key that grants nothing")
	}
}

// No body or an empty object is accepted, whatever the Content-Type; anything else is refused.
func TestBody(t *testing.T) {
	t.Parallel()
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name   string
		body   string
		base64 bool
		status int
		typ    problem.Type
	}{
		{"no body", "", false, 200, problem.Type{}},
		{"empty object", "{}", false, 200, problem.Type{}},
		{"empty object with whitespace", " {\n} \n", false, 200, problem.Type{}},
		{"base64 empty object", b64("{}"), true, 200, problem.Type{}},
		{"base64 nothing", "", true, 200, problem.Type{}},
		{"members", `{"scopes":["orders:read"]}`, false, 400, problem.Validation},
		{"an array", `[]`, false, 400, problem.Validation},
		{"null", `null`, false, 400, problem.Validation},
		{"not JSON", `scopes=orders:read`, false, 400, problem.BadRequest},
		{"two objects", `{}{}`, false, 400, problem.BadRequest},
		{"bad base64", "!!!", true, 400, problem.BadRequest},
	}
	problemSchema := documentSchema(t, "Problem")
	for _, tt := range tests {
		h, f, _ := fixture(t, entry("standard", "orders:read"))
		req := tokenRequest(tt.body)
		req.IsBase64Encoded = tt.base64
		req.Headers = map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
		resp, err := h.Handle(t.Context(), req)
		if err != nil || resp.StatusCode != tt.status {
			t.Errorf("%s: %d %v %s, want %d", tt.name, resp.StatusCode, err, resp.Body, tt.status)
			continue
		}
		if tt.status == 200 {
			continue
		}
		validates(t, problemSchema, resp.Body)
		p := problemOf(t, resp)
		if p.Type != tt.typ.URI() {
			t.Errorf("%s: %s, want %s", tt.name, p.Type, tt.typ.URI())
		}
		if tt.typ == problem.Validation && (len(p.Errors) != 1 || p.Errors[0].Pointer != "" || p.Errors[0].Message != token.EmptyBodyMessage) {
			t.Errorf("%s: errors %+v", tt.name, p.Errors)
		}
		if len(f.calls()) != 0 {
			t.Errorf("%s: STS called for a refused body", tt.name)
		}
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	revoked := entry("standard", "orders:read")
	revoked.Status = registry.StatusRevoked
	expired := entry("standard", "orders:read")
	expired.NotAfter = now
	notYet := entry("standard", "orders:read")
	notYet.NotBefore = now.Add(time.Minute)
	pastGrace := entry("standard", "orders:read")
	pastGrace.Status, pastGrace.GraceUntil = registry.StatusPrevious, now.Add(-time.Second)
	inGrace := entry("standard", "orders:read")
	inGrace.Status, inGrace.GraceUntil = registry.StatusPrevious, now.Add(time.Hour)
	pending := entry("standard", "orders:read")
	pending.Status = registry.StatusPending
	otherPartner := entry("standard", "orders:read")
	otherPartner.PartnerID = "p-zzzzzzzzzzzzzzzzzzzzzzzzzz"
	goneTier := entry("gold", "orders:read")
	active := entry("standard", "orders:read")

	ctxWith := func(edit func(map[string]any)) map[string]any {
		m := tokenRequest("").RequestContext.Authorizer
		edit(m)
		return m
	}
	tests := []struct {
		name  string
		e     registry.Entry
		authz map[string]any
		setup func(*fakeSTS, *dynamodbtest.DynamoDB)
		want  problem.Type
		sts   bool // whether STS is reached
	}{
		{"revoked key", revoked, nil, nil, problem.AccessDenied, false},
		{"expired key", expired, nil, nil, problem.AccessDenied, false},
		{"key not valid yet", notYet, nil, nil, problem.AccessDenied, false},
		{"previous key past its grace", pastGrace, nil, nil, problem.AccessDenied, false},
		{"pending key", pending, nil, nil, problem.AccessDenied, false},
		{"key of another partner", otherPartner, nil, nil, problem.Internal, false},
		{"tier no longer declared", goneTier, nil, nil, problem.Internal, false},
		{"no authorizer context", active, map[string]any{}, nil, problem.Internal, false},
		{"no partner id", active, ctxWith(func(m map[string]any) { delete(m, "partnerId") }), nil, problem.Internal, false},
		{"no key id", active, ctxWith(func(m map[string]any) { delete(m, "keyId") }), nil, problem.Internal, false},
		{"key id not a key id", active, ctxWith(func(m map[string]any) { m["keyId"] = "k-1" }), nil, problem.Internal, false},
		{"key not in the registry", active, ctxWith(func(m map[string]any) { m["keyId"] = "kyyyyyyyyyyyyyyyyyyyy" }), nil, problem.Internal, false},
		{"registry failing", active, nil, func(_ *fakeSTS, db *dynamodbtest.DynamoDB) {
			db.Intercept = func(string, any) error { return errThrottled }
		}, problem.Internal, false},
		{"STS failing", active, nil, func(f *fakeSTS, _ *dynamodbtest.DynamoDB) { f.err = errThrottled }, problem.Internal, true},
		{"STS answering without credentials", active, nil, func(f *fakeSTS, _ *dynamodbtest.DynamoDB) {
			f.answer = &sts.AssumeRoleOutput{}
		}, problem.Internal, true},
		{"STS answering without an expiration", active, nil, func(f *fakeSTS, _ *dynamodbtest.DynamoDB) {
			f.answer = &sts.AssumeRoleOutput{Credentials: &ststypes.Credentials{
				AccessKeyId: aws.String("ASIAFAKEACCESSKEYID0"), SecretAccessKey: aws.String("s"), SessionToken: aws.String("t"),
			}}
		}, problem.Internal, true},
	}
	problemSchema := documentSchema(t, "Problem")
	for _, tt := range tests {
		h, f, db := fixture(t, tt.e)
		if tt.setup != nil {
			tt.setup(f, db)
		}
		req := tokenRequest("")
		if tt.authz != nil {
			req.RequestContext.Authorizer = tt.authz
		}
		resp, err := h.Handle(t.Context(), req)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		validates(t, problemSchema, resp.Body)
		p := problemOf(t, resp)
		if resp.StatusCode != tt.want.Status() || p.Type != tt.want.URI() || p.Detail != tt.want.DefaultDetail() {
			t.Errorf("%s: %d %+v, want %s with its default detail", tt.name, resp.StatusCode, p, tt.want.URI())
		}
		if strings.Contains(resp.Body, "Throttling") || strings.Contains(resp.Body, keyID) || strings.Contains(resp.Body, "gold") || strings.Contains(resp.Body, "p-") {
			t.Errorf("%s: the internal error reached the client: %s", tt.name, resp.Body)
		}
		if got := len(f.calls()) > 0; got != tt.sts {
			t.Errorf("%s: STS reached %t, want %t", tt.name, got, tt.sts)
		}
	}

	// A previous key within its grace still exchanges.
	h, _, _ := fixture(t, inGrace)
	if resp, _ := h.Handle(t.Context(), tokenRequest("")); resp.StatusCode != 200 {
		t.Errorf("previous key within grace: %d %s", resp.StatusCode, resp.Body)
	}
}

// Every partner id NewID makes gives a session name STS accepts, and the tags fit STS's limits.
func TestSessionNameAndTagsFit(t *testing.T) {
	t.Parallel()
	name := token.SessionName(partnerID)
	if name != "partner-"+partnerID || len(name) > 64 {
		t.Errorf("session name %q (%d characters)", name, len(name))
	}
	h, f, _ := fixture(t, entry("standard", "orders:read"))
	if resp, _ := h.Handle(t.Context(), tokenRequest("")); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, resp.Body)
	}
	for _, tg := range f.calls()[0].Tags {
		if k, v := aws.ToString(tg.Key), aws.ToString(tg.Value); len(k) > 128 || len(v) > 256 {
			t.Errorf("tag %s=%s over STS's 128/256 characters", k, v)
		}
	}
}

// The largest tier with every scope fits STS's 2,048 characters under a long stage ARN, and
// Check refuses a stage whose ARN would make some tier's policy too long.
func TestLargestSessionPolicyFits(t *testing.T) {
	t.Parallel()
	h, _, _ := fixture(t, entry("premium"))
	largest := 0
	for _, tier := range h.Policy.Tiers {
		doc, err := h.Policy.SessionPolicy(policy.SizingStageARN, tier.Scopes)
		if err != nil {
			t.Fatalf("%s: %v", tier.Name, err)
		}
		largest = max(largest, len(doc))
	}
	if largest > policy.MaxSessionPolicySize {
		t.Errorf("largest session policy %d characters", largest)
	}
	t.Logf("largest session policy under %s: %d of %d characters", policy.SizingStageARN, largest, policy.MaxSessionPolicySize)

	long := *h
	long.StageARN = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/" + strings.Repeat("s", 128)
	if err := long.Check(); err == nil || !strings.Contains(err.Error(), "tier premium") {
		t.Errorf("Check with a 128-character stage: %v", err)
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	h, _, _ := fixture(t, entry("standard"))
	tests := []struct {
		name string
		edit func(*token.Handler)
		want string
	}{
		{"role ARN of a user", func(h *token.Handler) { h.RoleARN = "arn:aws:iam::123456789012:user/alice" }, "not an IAM role ARN"},
		{"stage ARN of a method", func(h *token.Handler) { h.StageARN = stageARN + "/GET/v1/orders" }, "not an execute-api stage ARN"},
		{"stage ARN without a stage", func(h *token.Handler) { h.StageARN = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5" }, "not an execute-api stage ARN"},
		{"no table", func(h *token.Handler) { h.CredentialsTable = "" }, "no credentials table"},
		{"no outbox", func(h *token.Handler) { h.Outbox = nil }, "no outbox table"},
		{"no lane", func(h *token.Handler) { h.Lane = "" }, "the lane is not a UUID"},
		{"no STS", func(h *token.Handler) { h.STS = nil }, "no STS or DynamoDB client"},
		{"no policy", func(h *token.Handler) { h.Policy = nil }, "no policy"},
	}
	for _, tt := range tests {
		c := *h
		tt.edit(&c)
		if err := c.Check(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
	for _, ok := range []string{
		"arn:aws-us-gov:execute-api:us-gov-west-1:123456789012:a1b2c3d4e5/prod",
		"arn:aws:execute-api:us-east-1:000000000000:abcdef1234/local",
	} {
		c := *h
		c.StageARN = ok
		if err := c.Check(); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

func TestFromEnv(t *testing.T) {
	t.Parallel()
	pol, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg := aws.Config{Region: "eu-west-1"}
	full := map[string]string{
		token.EnvRoleARN: roleARN, token.EnvStageARN: stageARN, token.EnvCredentialsTable: credentialsTable, token.EnvOutboxTable: outboxTable,
	}
	h, err := token.FromEnv(func(k string) string { return full[k] }, cfg, pol)
	if err != nil {
		t.Fatal(err)
	}
	if h.RoleARN != roleARN || h.StageARN != stageARN || h.CredentialsTable != credentialsTable || h.STS == nil || h.DB == nil || h.Now == nil ||
		h.Outbox == nil || h.Outbox.Table != outboxTable {
		t.Errorf("handler %+v", h)
	}
	// Each cold start takes a lane of its own.
	if h2, err := token.FromEnv(func(k string) string { return full[k] }, cfg, pol); err != nil || h2.Lane == h.Lane {
		t.Errorf("two cold starts took lanes %s and %s (%v)", h.Lane, h2.Lane, err)
	}
	_, err = token.FromEnv(func(k string) string {
		if k == token.EnvCredentialsTable {
			return credentialsTable
		}
		return ""
	}, cfg, pol)
	if err == nil || !strings.Contains(err.Error(), "PARTNER_ACCESS_ROLE_ARN, PARTNER_API_ARN") {
		t.Errorf("missing variables: %v", err)
	}
	bad := map[string]string{token.EnvRoleARN: roleARN, token.EnvStageARN: "not-an-arn", token.EnvCredentialsTable: credentialsTable, token.EnvOutboxTable: outboxTable}
	if _, err := token.FromEnv(func(k string) string { return bad[k] }, cfg, pol); err == nil || strings.Contains(err.Error(), "not-an-arn") {
		t.Errorf("malformed stage ARN: %v (the value must not be repeated)", err)
	}
	if _, err := token.FromEnv(func(k string) string { return full[k] }, cfg, nil); err == nil {
		t.Error("no policy accepted")
	}
}
