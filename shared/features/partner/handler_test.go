package partner_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
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
	"github.com/lanyardhq/lanyard/shared/features/partner"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

var keyNotAfter = time.Date(2027, 2, 21, 12, 0, 0, 0, time.UTC)

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

// putCredential writes a registry entry of the partner's key, as shared/stores/registry stores it.
func putCredential(t *testing.T, db *dynamodbtest.DynamoDB, keyID, partnerID string, notAfter time.Time) {
	t.Helper()
	putCredentialStatus(t, db, keyID, partnerID, notAfter, registry.StatusActive)
}

// putCredentialStatus is putCredential of a key in status.
func putCredentialStatus(t *testing.T, db *dynamodbtest.DynamoDB, keyID, partnerID string, notAfter time.Time, status registry.Status) {
	t.Helper()
	key, err := credential.Generate(credential.EnvTest, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := registry.Entry{
		KeyID: credential.KeyID(keyID), PartnerID: partnerID, Verifier: credential.NewVerifier(key),
		Scopes: []string{"orders:read", "orders:write"}, Tier: "standard", Status: status,
		NotBefore: notAfter.Add(-90 * 24 * time.Hour), NotAfter: notAfter,
		SecretARN:       "arn:aws:secretsmanager:us-east-1:000000000000:secret:lanyard/partners/" + partnerID + "-AbCdEf",
		SecretVersionID: "00000000-0000-4000-8000-000000000000", CreatedAt: notAfter.Add(-90 * 24 * time.Hour),
	}
	if _, err := db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: strPtr(credentialsTable), Item: itemtest.Must(e.Item())(t)}); err != nil {
		t.Fatal(err)
	}
}

func strPtr(s string) *string { return &s }

func fixture(t *testing.T) (*partner.Handler, *dynamodbtest.DynamoDB, partners.Partner) {
	t.Helper()
	db := newDB(t)
	p := acme()
	if _, err := db.TransactWriteItems(t.Context(), &dynamodb.TransactWriteItemsInput{
		TransactItems: []types.TransactWriteItem{itemtest.Must(partners.PutNew(partnersTable, p))(t)},
	}); err != nil {
		t.Fatal(err)
	}
	putCredential(t, db, p.KeyID, p.PartnerID, keyNotAfter)
	return &partner.Handler{DB: db, PartnersTable: partnersTable, CredentialsTable: credentialsTable,
		Now: func() time.Time { return keyNotAfter.Add(-30 * 24 * time.Hour) }}, db, p
}

func meRequest(authorizer map[string]any) lambdaevents.APIGatewayProxyRequest {
	return lambdaevents.APIGatewayProxyRequest{
		HTTPMethod:     "GET",
		Path:           "/v1/partners/me",
		RequestContext: lambdaevents.APIGatewayProxyRequestContext{Authorizer: authorizer},
	}
}

func authz(p partners.Partner, scopes string) map[string]any {
	return map[string]any{"partnerId": p.PartnerID, "keyId": p.KeyID, "scopes": scopes, "principalId": p.PartnerID}
}

func TestGetOwnPartner(t *testing.T) {
	t.Parallel()
	h, _, p := fixture(t)
	profileSchema := documentSchema(t, "PartnerProfile")
	cases := []struct {
		name   string
		scopes string
		want   []string
	}{
		{"sorted already", "orders:read orders:write", []string{"orders:read", "orders:write"}},
		{"unsorted, repeated, odd spacing", " orders:write  orders:read orders:write ", []string{"orders:read", "orders:write"}},
		{"the key's scopes, not the partner's", "orders:read", []string{"orders:read"}},
	}
	for _, c := range cases {
		resp, err := h.Handle(t.Context(), meRequest(authz(p, c.scopes)))
		if err != nil || resp.StatusCode != 200 || resp.Headers["Content-Type"] != "application/json" {
			t.Fatalf("%s: %d %v %s", c.name, resp.StatusCode, err, resp.Body)
		}
		validates(t, profileSchema, resp.Body)
		var got partner.Profile
		dec := json.NewDecoder(strings.NewReader(resp.Body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil {
			t.Fatal(err)
		}
		want := partner.Profile{
			PartnerID: p.PartnerID, PartnerName: p.PartnerName, Tier: p.Tier, Scopes: c.want,
			KeyID: p.KeyID, KeyExpiresAt: keyNotAfter,
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %+v, want %+v", c.name, got, want)
		}
	}
}

func TestGetOwnPartnerRefuses(t *testing.T) {
	t.Parallel()
	acmeP := acme()
	orphan := acme()
	orphan.PartnerID = "p-cccccccccccccccccccccccccc"
	cases := []struct {
		name  string
		setup func(t *testing.T, db *dynamodbtest.DynamoDB)
		authz map[string]any
		want  problem.Type
	}{
		{"no authorizer context", nil, nil, problem.Internal},
		{"no partner id", nil, map[string]any{"keyId": acmeP.KeyID, "scopes": "orders:read"}, problem.Internal},
		{"no key id", nil, map[string]any{"partnerId": acmeP.PartnerID, "scopes": "orders:read"}, problem.Internal},
		{"no scopes", nil, map[string]any{"partnerId": acmeP.PartnerID, "keyId": acmeP.KeyID}, problem.Internal},
		{"blank scopes", nil, authz(acmeP, "  "), problem.Internal},
		{"partner id not a string", nil, map[string]any{"partnerId": 7, "keyId": acmeP.KeyID, "scopes": "orders:read"}, problem.Internal},
		{"unknown partner", func(t *testing.T, db *dynamodbtest.DynamoDB) {
			putCredential(t, db, "kzzzzzzzzzzzzzzzzzzzz", orphan.PartnerID, keyNotAfter)
		}, map[string]any{"partnerId": orphan.PartnerID, "keyId": "kzzzzzzzzzzzzzzzzzzzz", "scopes": "orders:read"}, problem.NotFound},
		{"key not in the registry", nil, map[string]any{"partnerId": acmeP.PartnerID, "keyId": "kyyyyyyyyyyyyyyyyyyyy", "scopes": "orders:read"}, problem.Internal},
		{"key of another partner", func(t *testing.T, db *dynamodbtest.DynamoDB) {
			putCredential(t, db, "kxxxxxxxxxxxxxxxxxxxx", orphan.PartnerID, keyNotAfter)
		}, map[string]any{"partnerId": acmeP.PartnerID, "keyId": "kxxxxxxxxxxxxxxxxxxxx", "scopes": "orders:read"}, problem.Internal},
		{"revoked key", func(t *testing.T, db *dynamodbtest.DynamoDB) {
			putCredentialStatus(t, db, acmeP.KeyID, acmeP.PartnerID, keyNotAfter, registry.StatusRevoked)
		}, authz(acmeP, "orders:read"), problem.AccessDenied},
		{"expired key", func(t *testing.T, db *dynamodbtest.DynamoDB) {
			putCredential(t, db, acmeP.KeyID, acmeP.PartnerID, keyNotAfter.Add(-31*24*time.Hour))
		}, authz(acmeP, "orders:read"), problem.AccessDenied},
		{"table failing", func(_ *testing.T, db *dynamodbtest.DynamoDB) {
			db.Intercept = func(string, any) error { return errors.New("throttled") }
		}, authz(acmeP, "orders:read"), problem.Internal},
	}
	problemSchema := documentSchema(t, "Problem")
	for _, c := range cases {
		h, db, _ := fixture(t)
		if c.setup != nil {
			c.setup(t, db)
		}
		resp, err := h.Handle(t.Context(), meRequest(c.authz))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		validates(t, problemSchema, resp.Body)
		var got problem.Problem
		_ = json.Unmarshal([]byte(resp.Body), &got)
		if resp.StatusCode != c.want.Status() || got.Type != c.want.URI() || got.Detail != c.want.DefaultDetail() {
			t.Errorf("%s: %d %+v, want %s with its default detail", c.name, resp.StatusCode, got, c.want.URI())
		}
		if strings.Contains(resp.Body, "throttled") || strings.Contains(resp.Body, "registry") {
			t.Errorf("%s: the internal error reached the client: %s", c.name, resp.Body)
		}
	}
}
