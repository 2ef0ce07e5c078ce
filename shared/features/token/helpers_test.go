package token_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/lanyardhq/lanyard/api"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/features/token"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

const (
	credentialsTable = "credentials"
	outboxTable      = "outbox"
	lane             = "0193a4b2-7c1d-7e8f-9a0b-1c2d3e4f5a6b"
	roleARN          = "arn:aws:iam::123456789012:role/lanyard-PartnerAccessRole-1A2B3C4D5E6F"
	stageARN         = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod"
	partnerID        = "p-abcdefghijklmnopqrstuvwxyz"
	keyID            = "ku36uznzhc225sgjotcsh"
)

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// fakeSTS records every AssumeRole input and answers with credentials expiring after the
// requested duration, or with err.
type fakeSTS struct {
	mu     sync.Mutex
	inputs []*sts.AssumeRoleInput
	err    error
	// secretKey and sessionToken are what the credentials carry; answer, when set, replaces
	// the whole answer.
	secretKey, sessionToken string
	answer                  *sts.AssumeRoleOutput
}

func (f *fakeSTS) AssumeRole(_ context.Context, in *sts.AssumeRoleInput, _ ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inputs = append(f.inputs, in)
	if f.err != nil {
		return nil, f.err
	}
	if f.answer != nil {
		return f.answer, nil
	}
	secretKey, sessionToken := f.secretKey, f.sessionToken
	if secretKey == "" {
		secretKey, sessionToken = "fake-secret-access-key", "fake-session-token"
	}
	return &sts.AssumeRoleOutput{
		Credentials: &ststypes.Credentials{
			AccessKeyId:     aws.String("ASIAFAKEACCESSKEYID0"),
			SecretAccessKey: aws.String(secretKey),
			SessionToken:    aws.String(sessionToken),
			Expiration:      aws.Time(now.Add(time.Duration(aws.ToInt32(in.DurationSeconds)) * time.Second)),
		},
		AssumedRoleUser: &ststypes.AssumedRoleUser{
			Arn:           aws.String("arn:aws:sts::123456789012:assumed-role/lanyard-PartnerAccessRole-1A2B3C4D5E6F/" + aws.ToString(in.RoleSessionName)),
			AssumedRoleId: aws.String("AROAFAKE:" + aws.ToString(in.RoleSessionName)),
		},
		SessionTokenUtilization: aws.Int32(20),
	}, nil
}

func (f *fakeSTS) calls() []*sts.AssumeRoleInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*sts.AssumeRoleInput(nil), f.inputs...)
}

// entry is an active key of the partner in tier, valid around now.
func entry(tier string, scopes ...string) registry.Entry {
	key, err := credential.Generate(credential.EnvTest, nil)
	if err != nil {
		panic(err)
	}
	return registry.Entry{
		KeyID: keyID, PartnerID: partnerID, Verifier: credential.NewVerifier(key),
		Scopes: scopes, Tier: tier, Status: registry.StatusActive,
		NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(90 * 24 * time.Hour),
		SecretARN:       "arn:aws:secretsmanager:eu-west-1:123456789012:secret:lanyard/partners/" + partnerID + "-AbCdEf",
		SecretVersionID: "00000000-0000-4000-8000-000000000000", CreatedAt: now.Add(-24 * time.Hour),
	}
}

// fixture is a handler over a fake STS and a fake registry holding e.
func fixture(t *testing.T, e registry.Entry) (*token.Handler, *fakeSTS, *dynamodbtest.DynamoDB) {
	t.Helper()
	pol, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	db := dynamodbtest.NewDynamoDB()
	db.CreateTable(credentialsTable, dynamodbtest.KeyAttr{Name: registry.PartitionKey, Type: "S"}, nil)
	if _, err := db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(credentialsTable), Item: itemtest.Must(e.Item())(t)}); err != nil {
		t.Fatal(err)
	}
	db.CreateTable(outboxTable, dynamodbtest.KeyAttr{Name: outbox.PartitionKey, Type: "S"}, &dynamodbtest.KeyAttr{Name: outbox.SortKey, Type: "N"})
	db.CreateIndex(outboxTable, outbox.ChainsIndex, dynamodbtest.KeyAttr{Name: "owner", Type: "S"}, &dynamodbtest.KeyAttr{Name: outbox.PartitionKey, Type: "S"})
	f := &fakeSTS{}
	h := &token.Handler{
		STS: f, DB: db, CredentialsTable: credentialsTable,
		Outbox: &outbox.Store{DB: db, Table: outboxTable}, Lane: lane,
		RoleARN: roleARN, StageARN: stageARN, Policy: pol,
		Now: func() time.Time { return now },
	}
	if err := h.Check(); err != nil {
		t.Fatal(err)
	}
	return h, f, db
}

// tokenRequest is POST /v1/token as API Gateway passes it after the authorizer allowed the key.
func tokenRequest(body string) lambdaevents.APIGatewayProxyRequest {
	return lambdaevents.APIGatewayProxyRequest{
		HTTPMethod: "POST",
		Path:       "/v1/token",
		Body:       body,
		RequestContext: lambdaevents.APIGatewayProxyRequestContext{Authorizer: map[string]any{
			"principalId": partnerID, "partnerId": partnerID, "keyId": keyID, "tier": "standard", "scopes": "orders:read",
		}},
	}
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

// decodeCredentials reads a 200 body strictly.
func decodeCredentials(t *testing.T, body string) token.Response {
	t.Helper()
	var got token.Response
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("decode the answer: %v", err)
	}
	return got
}

// problemOf reads a problem body.
func problemOf(t *testing.T, resp lambdaevents.APIGatewayProxyResponse) problem.Problem {
	t.Helper()
	var p problem.Problem
	if err := json.Unmarshal([]byte(resp.Body), &p); err != nil {
		t.Fatalf("problem body: %v", err)
	}
	return p
}

var errThrottled = errors.New("api error Throttling: Rate exceeded")
