package introspect_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"hash/crc32"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/lanyardhq/lanyard/api"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/features/introspect"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

const (
	table     = "credentials"
	partnerID = "p-aaaaaaaaaaaaaaaaaaaaaaaaaa"
	// dependent is the declared dependent: a role, which signs as one of its sessions.
	dependent = "arn:aws:iam::111122223333:role/service/billing-api"
	session   = "arn:aws:sts::111122223333:assumed-role/billing-api/i-0abc"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

type fixture struct {
	t  *testing.T
	c  *secrettest.Canaries
	db *dynamodbtest.DynamoDB
	h  *introspect.Handler
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := dynamodbtest.NewDynamoDB()
	db.CreateTable(table, dynamodbtest.KeyAttr{Name: "keyId", Type: types.ScalarAttributeTypeS}, nil)
	deps, err := introspect.ParseDependents(" " + dependent + ", arn:aws:iam::111122223333:user/auditor ")
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, c: secrettest.Plant(t), db: db,
		h: &introspect.Handler{DB: db, CredentialsTable: table, Dependents: deps, Now: func() time.Time { return t0.Add(time.Hour) }}}
}

// register puts a key of the partner with status, and returns it, planted as a canary.
func (fx *fixture) register(status registry.Status, edit func(*registry.Entry)) credential.Key {
	fx.t.Helper()
	k, err := credential.Generate(credential.EnvLocal, nil)
	if err != nil {
		fx.t.Fatal(err)
	}
	fx.c.Add("partner-key", k.Plaintext().Reveal())
	e := registry.Entry{
		KeyID: k.ID(), PartnerID: partnerID, Verifier: credential.NewVerifier(k),
		Scopes: []string{"orders:read", "orders:write"}, Tier: "standard", Status: status,
		NotBefore: t0, NotAfter: t0.Add(90 * 24 * time.Hour), CreatedAt: t0.Add(-time.Second),
		SecretARN: "arn:aws:secretsmanager:us-east-1:000000000000:secret:lanyard/partners/p-x-AbCdEf", SecretVersionID: "v1",
	}
	if edit != nil {
		edit(&e)
	}
	if _, err := fx.db.TransactWriteItems(fx.t.Context(), &dynamodb.TransactWriteItemsInput{
		TransactItems: []types.TransactWriteItem{itemtest.Must(registry.PutNew(table, e))(fx.t)},
	}); err != nil {
		fx.t.Fatal(err)
	}
	return k
}

func request(caller, contentType, body string) lambdaevents.APIGatewayProxyRequest {
	return lambdaevents.APIGatewayProxyRequest{
		Resource: introspect.Resource, Path: introspect.Resource, HTTPMethod: http.MethodPost,
		Headers: map[string]string{"Content-Type": contentType}, Body: body,
		RequestContext: lambdaevents.APIGatewayProxyRequestContext{
			Identity: lambdaevents.APIGatewayRequestIdentity{UserArn: caller, AccountID: "111122223333"},
		},
	}
}

func form(token string) string { return url.Values{"token": {token}}.Encode() }

func (fx *fixture) call(req lambdaevents.APIGatewayProxyRequest) lambdaevents.APIGatewayProxyResponse {
	fx.t.Helper()
	resp, err := fx.h.Handle(fx.t.Context(), req)
	if err != nil {
		fx.t.Fatalf("Handle returned an error: %v", err)
	}
	fx.c.CheckText("response body", resp.Body)
	return resp
}

const inactive = `{"active":false}`

func TestIntrospection(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	active := fx.register(registry.StatusActive, nil)
	grace := t0.Add(48 * time.Hour)
	previous := fx.register(registry.StatusPrevious, func(e *registry.Entry) { e.GraceUntil = grace })
	drained := t0.Add(2 * time.Hour)
	acknowledged := fx.register(registry.StatusPrevious, func(e *registry.Entry) { e.GraceUntil, e.RetireAt = grace, drained })
	revoked := fx.register(registry.StatusRevoked, func(e *registry.Entry) { e.RevokedAt = t0 })
	retired := fx.register(registry.StatusRetired, nil)
	pending := fx.register(registry.StatusPending, nil)
	expired := fx.register(registry.StatusActive, func(e *registry.Entry) { e.NotAfter = t0.Add(time.Minute) })
	pastGrace := fx.register(registry.StatusPrevious, func(e *registry.Entry) { e.GraceUntil = t0 })
	unknown, err := credential.Generate(credential.EnvLocal, nil)
	if err != nil {
		t.Fatal(err)
	}
	fx.c.Add("unknown-key", unknown.Plaintext().Reveal())
	genuine := active.Plaintext().Reveal()
	forgedToken := forgeSecret(t, active)
	fx.c.Add("forged-key", forgedToken)

	schema := documentSchema(t, "IntrospectionResponse")
	want := func(exp time.Time) string {
		b, err := json.Marshal(introspect.Answer{Active: true, Scope: "orders:read orders:write", ClientID: partnerID,
			TokenType: "Bearer", Exp: exp.Unix(), Iat: t0.Add(-time.Second).Unix()})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, tc := range []struct {
		name, token, want string
	}{
		{"the active key", genuine, want(t0.Add(90 * 24 * time.Hour))},
		{"a previous key within its grace", previous.Plaintext().Reveal(), want(grace)},
		{"an acknowledged previous key, until its drain", acknowledged.Plaintext().Reveal(), want(drained)},
		{"a revoked key", revoked.Plaintext().Reveal(), inactive},
		{"a retired key", retired.Plaintext().Reveal(), inactive},
		{"a pending key", pending.Plaintext().Reveal(), inactive},
		{"an expired key", expired.Plaintext().Reveal(), inactive},
		{"a previous key past its grace", pastGrace.Plaintext().Reveal(), inactive},
		{"an unknown key", unknown.Plaintext().Reveal(), inactive},
		{"a key whose checksum is wrong", genuine[:len(genuine)-1] + map[bool]string{true: "1", false: "0"}[strings.HasSuffix(genuine, "0")], inactive},
		{"a forged secret under a live key id", forgedToken, inactive},
		{"the key id alone", string(active.ID()), inactive},
		{"not a key at all", "hello", inactive},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := fx.call(request(session, "application/x-www-form-urlencoded", form(tc.token)))
			if resp.StatusCode != http.StatusOK || resp.Body != tc.want {
				t.Errorf("answer %d %s, want 200 %s", resp.StatusCode, resp.Body, tc.want)
			}
			validates(t, schema, resp.Body)
			if resp.Headers["Content-Type"] != "application/json" || resp.Headers["Cache-Control"] != "no-store" {
				t.Errorf("headers %v", resp.Headers)
			}
		})
	}
	// A token_type_hint, whatever it says, changes nothing.
	resp := fx.call(request(session, "application/x-www-form-urlencoded; charset=utf-8", form(genuine)+"&token_type_hint=refresh_token"))
	if resp.Body != want(t0.Add(90*24*time.Hour)) {
		t.Errorf("with a hint: %s", resp.Body)
	}
	// A user dependent is admitted too.
	if resp := fx.call(request("arn:aws:iam::111122223333:user/auditor", "application/x-www-form-urlencoded", form(genuine))); resp.StatusCode != http.StatusOK {
		t.Errorf("a user dependent: %d %s", resp.StatusCode, resp.Body)
	}
}

// Only a declared dependent may introspect: anyone else is refused with access-denied, the
// answer API Gateway's resource policy gives, before the body is read (a malformed one too).
func TestOnlyDeclaredDependentsMayIntrospect(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	genuine := fx.register(registry.StatusActive, nil).Plaintext().Reveal()
	for _, tc := range []struct{ name, caller, body string }{
		{"another role of the account", "arn:aws:sts::111122223333:assumed-role/ops/alice", form(genuine)},
		{"the dependent role's name in another account", "arn:aws:sts::999999999999:assumed-role/billing-api/x", form(genuine)},
		{"the account's root user", "arn:aws:iam::111122223333:root", form(genuine)},
		{"no caller ARN", "", form(genuine)},
		{"a stranger with a malformed body", "arn:aws:iam::111122223333:user/mallory", "token="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := fx.call(request(tc.caller, "application/x-www-form-urlencoded", tc.body))
			wantProblem(t, resp, problem.AccessDenied)
		})
	}
	// No dependent declared: nobody.
	fx.h.Dependents = nil
	wantProblem(t, fx.call(request(session, "application/x-www-form-urlencoded", form(genuine))), problem.AccessDenied)
}

func TestMalformedRequestsAreRefused(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	key := fx.register(registry.StatusActive, nil).Plaintext().Reveal()
	for _, tc := range []struct{ name, contentType, body string }{
		{"JSON", "application/json", `{"token":"` + key + `"}`},
		{"no token", "application/x-www-form-urlencoded", "token_type_hint=access_token"},
		{"an empty token", "application/x-www-form-urlencoded", "token="},
		{"two tokens", "application/x-www-form-urlencoded", form(key) + "&" + form(key)},
		{"two hints", "application/x-www-form-urlencoded", form(key) + "&token_type_hint=a&token_type_hint=b"},
		{"a body that does not decode", "application/x-www-form-urlencoded", "token=%zz" + key},
		{"a body too large", "application/x-www-form-urlencoded", form(key) + "&pad=" + strings.Repeat("x", 5000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantProblem(t, fx.call(request(session, tc.contentType, tc.body)), problem.IntrospectionRequestInvalid)
		})
	}
	req := request(session, "application/x-www-form-urlencoded", form(key))
	req.Resource = "/v1/revoke"
	wantProblem(t, fx.call(req), problem.NotFound)
}

// A failed registry read is a fault (500), never an inactive answer a dependent would take for
// a revocation.
func TestRegistryFailureIsAFault(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	key := fx.register(registry.StatusActive, nil).Plaintext().Reveal()
	fx.db.Intercept = func(string, any) error { return errors.New("throttled") }
	wantProblem(t, fx.call(request(session, "application/x-www-form-urlencoded", form(key))), problem.Internal)
}

func TestParseDependents(t *testing.T) {
	t.Parallel()
	if ps, err := introspect.ParseDependents(""); err != nil || len(ps) != 0 {
		t.Errorf("none declared: %v, %v", ps, err)
	}
	if _, err := introspect.ParseDependents(dependent + ",arn:aws:iam::*:root"); err == nil {
		t.Error("a wildcard account was read")
	}
}

func wantProblem(t *testing.T, resp lambdaevents.APIGatewayProxyResponse, want problem.Type) {
	t.Helper()
	var p struct {
		Type   string `json:"type"`
		Status int    `json:"status"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &p); err != nil || resp.StatusCode != want.Status() || p.Type != want.URI() {
		t.Errorf("answer %d %s, want %d %s", resp.StatusCode, resp.Body, want.Status(), want.URI())
	}
}

// forgeSecret returns a well-formed token with k's key id and another secret: its checksum is
// right, so only the registry's verifier can tell.
func forgeSecret(t *testing.T, k credential.Key) string {
	t.Helper()
	const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	other, err := credential.Generate(k.Env(), nil)
	if err != nil {
		t.Fatal(err)
	}
	body := k.Plaintext().Reveal()[:32] + other.Plaintext().Reveal()[32:64]
	crc := crc32.ChecksumIEEE([]byte(body))
	sum := make([]byte, 6)
	for i := 5; i >= 0; i-- {
		sum[i] = base62[crc%62]
		crc /= 62
	}
	forged, err := credential.Parse(body + string(sum))
	if err != nil || forged.ID() != k.ID() {
		t.Fatalf("forged key does not parse as key %s: %v", k.ID(), err)
	}
	return forged.Plaintext().Reveal()
}

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
