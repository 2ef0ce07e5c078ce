package onboarding

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/lanyardhq/lanyard/api"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/fakes/secretsmanagertest"
	"github.com/lanyardhq/lanyard/shared/fakes/usagetest"
	"github.com/lanyardhq/lanyard/shared/features/invite"
	"github.com/lanyardhq/lanyard/shared/features/usage"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
	"github.com/lanyardhq/lanyard/shared/stores/idempotency"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

var testTables = Tables{
	Invites:     "invites",
	Partners:    "partners",
	Credentials: "credentials",
	Idempotency: "idempotency",
	Outbox:      "outbox",
	Onboardings: "onboardings",
}

const (
	testSecretPrefix = "lanyard/partners/"
	testKMSKey       = "arn:aws:kms:us-east-1:123456789012:key/0b7f3c1e-5d2a-4a8e-9c61-2f4d8e7a1b90"
	testLease        = 45 * time.Second
	acme             = "Acme Logistics"
)

// start is the fixtures' clock at the beginning of every test.
var start = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// clock is a settable clock shared by the handler, the invites and the Secrets Manager fake.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// secrets is the Secrets Manager fake, keeping count of the secrets that exist and of the calls
// that create one.
type secrets struct {
	*secretsmanagertest.SecretsManager
	mu      sync.Mutex
	live    map[string]bool // by name
	creates int             // CreateSecret calls that made a secret
}

func (s *secrets) CreateSecret(ctx context.Context, in *secretsmanager.CreateSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error) {
	out, err := s.SecretsManager.CreateSecret(ctx, in, opts...)
	if err == nil {
		s.mu.Lock()
		if !s.live[aws.ToString(in.Name)] {
			s.creates++
		}
		s.live[aws.ToString(in.Name)] = true
		s.mu.Unlock()
	}
	return out, err
}

func (s *secrets) DeleteSecret(ctx context.Context, in *secretsmanager.DeleteSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DeleteSecretOutput, error) {
	out, err := s.SecretsManager.DeleteSecret(ctx, in, opts...)
	if err == nil {
		s.mu.Lock()
		delete(s.live, aws.ToString(out.Name))
		s.mu.Unlock()
	}
	return out, err
}

// names lists the secrets that exist, sorted.
func (s *secrets) names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for n := range s.live {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (s *secrets) created() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.creates
}

type fixture struct {
	t       testing.TB
	clock   *clock
	db      *dynamodbtest.DynamoDB
	sm      *secrets
	h       *Handler
	invites *invite.Store
	// gw holds a usage plan per tier, named "plan-<tier>"; plans maps the tier to its id.
	gw    *usagetest.APIGateway
	plans map[string]string
}

// testRotationFunction is the rotation function new partners' secrets are handed to.
const testRotationFunction = "arn:aws:lambda:us-east-1:123456789012:function:lanyard-rotation"

func newFixture(t testing.TB) *fixture {
	t.Helper()
	c := &clock{t: start}
	db := dynamodbtest.NewDynamoDB()
	s := func(name string) dynamodbtest.KeyAttr {
		return dynamodbtest.KeyAttr{Name: name, Type: types.ScalarAttributeTypeS}
	}
	db.CreateTable(testTables.Invites, s(invite.PartitionKey), nil)
	db.CreateTable(testTables.Partners, s("partnerId"), nil)
	db.CreateTable(testTables.Credentials, s("keyId"), nil)
	db.CreateTable(testTables.Idempotency, s(IdempotencyPartitionKey), nil)
	db.CreateTable(testTables.Outbox, s(outbox.PartitionKey), &dynamodbtest.KeyAttr{Name: outbox.SortKey, Type: types.ScalarAttributeTypeN})
	db.CreateTable(testTables.Onboardings, s(OnboardingsPartitionKey), nil)
	sm := &secrets{SecretsManager: secretsmanagertest.New(secretsmanagertest.Options{Now: c.Now}), live: map[string]bool{}}
	pol, err := policy.Default()
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	gw, plans, names := &usagetest.APIGateway{}, map[string]string{}, map[string]string{}
	for _, tier := range pol.Tiers {
		names[tier.Name] = "plan-" + tier.Name
		plans[tier.Name] = gw.AddPlan(names[tier.Name], nil)
	}
	h := &Handler{
		DB:                  db,
		Secrets:             sm,
		Usage:               &usage.Enroller{Client: gw, Names: names},
		RotationFunctionARN: testRotationFunction,
		Tables:              testTables,
		Policy:              pol,
		SecretPrefix:        testSecretPrefix,
		KMSKeyID:            testKMSKey,
		Env:                 credential.EnvLocal,
		Now:                 c.Now,
		Lease:               testLease,
	}
	return &fixture{t: t, clock: c, db: db, sm: sm, h: h, invites: &invite.Store{DB: db, Table: testTables.Invites, Outbox: &outbox.Store{DB: db, Table: testTables.Outbox}, Now: c.Now},
		gw: gw, plans: plans}
}

// issue issues an invite for name into tier, valid for a day.
func (f *fixture) issue(name, tier string) (secret.Value, invite.Invite) {
	f.t.Helper()
	code, inv, err := f.invites.Issue(context.Background(), name, tier, 24*time.Hour, "arn:aws:iam::123456789012:role/ops")
	if err != nil {
		f.t.Fatalf("issue invite: %v", err)
	}
	return code, inv
}

// body is a createPartner request body.
func body(name string, code secret.Value, scopes ...string) string {
	b, err := json.Marshal(map[string]any{"partnerName": name, "inviteCode": code.Reveal(), "scopes": scopes})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// request is a POST /v1/partners with the Idempotency-Key key ("" for none).
func request(key, body string) lambdaevents.APIGatewayProxyRequest {
	h := map[string]string{"Content-Type": "application/json"}
	if key != "" {
		h["Idempotency-Key"] = key
	}
	return lambdaevents.APIGatewayProxyRequest{HTTPMethod: "POST", Path: "/v1/partners", Resource: "/v1/partners", Headers: h, Body: body}
}

func (f *fixture) post(key, body string) lambdaevents.APIGatewayProxyResponse {
	f.t.Helper()
	return f.handle(request(key, body))
}

func (f *fixture) handle(req lambdaevents.APIGatewayProxyRequest) lambdaevents.APIGatewayProxyResponse {
	f.t.Helper()
	resp, err := f.h.Handle(context.Background(), req)
	if err != nil {
		f.t.Fatalf("Handle returned an error, want every failure answered: %v", err)
	}
	return resp
}

// counts is how many items each table holds and how many secrets exist. Partners counts the
// AWS account claims too.
type counts struct {
	Invites, Partners, Credentials, Idempotency, Outbox, Secrets, Onboardings int
}

func (f *fixture) counts() counts {
	return counts{
		Invites:     len(f.db.Items(testTables.Invites)),
		Partners:    len(f.db.Items(testTables.Partners)),
		Credentials: len(f.db.Items(testTables.Credentials)),
		Idempotency: len(f.db.Items(testTables.Idempotency)),
		Outbox:      f.partnerOutboxItems(),
		Secrets:     len(f.sm.names()),
		Onboardings: len(f.db.Items(testTables.Onboardings)),
	}
}

// partnerOutboxItems counts the outbox items of the partners' chains: not the ops chain, where
// the fixture's invites are recorded as they are issued.
func (f *fixture) partnerOutboxItems() int {
	n := 0
	for _, item := range f.db.Items(testTables.Outbox) {
		if c, _ := item[outbox.PartitionKey].(*types.AttributeValueMemberS); c == nil || c.Value != outbox.OpsChain {
			n++
		}
	}
	return n
}

// record reads the onboarding's idempotency record of the header value key, whatever its proof.
func (f *fixture) record(key string) (record, bool) {
	f.t.Helper()
	sum := sha256.Sum256([]byte(key))
	suffix := "#sha256:" + hex.EncodeToString(sum[:])
	for _, item := range f.db.Items(testTables.Idempotency) {
		if s, _ := item[IdempotencyPartitionKey].(*types.AttributeValueMemberS); s != nil &&
			strings.HasPrefix(s.Value, IdempotencyKeyPrefix) && strings.HasSuffix(s.Value, suffix) {
			r, err := idempotency.FromItem(item)
			if err != nil {
				f.t.Fatalf("idempotency record: %v", err)
			}
			return r, true
		}
	}
	return record{}, false
}

// secretExists says whether the partner's secret exists in the fake.
func (f *fixture) secretExists(partnerID string) bool {
	f.t.Helper()
	_, err := f.sm.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(testSecretPrefix + partnerID)})
	var nf *smtypes.ResourceNotFoundException
	switch {
	case err == nil:
		return true
	case errors.As(err, &nf):
		return false
	}
	f.t.Fatalf("describe secret of %s: %v", partnerID, err)
	return false
}

// dump renders every item of every table, for searching.
func (f *fixture) dump() string {
	var b strings.Builder
	for _, table := range []string{testTables.Invites, testTables.Partners, testTables.Credentials, testTables.Idempotency, testTables.Outbox, testTables.Onboardings} {
		for _, item := range f.db.Items(table) {
			fmt.Fprintf(&b, "%s: %s\n", table, itemText(item))
		}
	}
	return b.String()
}

func itemText(item map[string]types.AttributeValue) string {
	var parts []string
	for k, v := range item {
		parts = append(parts, k+"="+valueText(v))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func valueText(v types.AttributeValue) string {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return v.Value
	case *types.AttributeValueMemberN:
		return v.Value
	case *types.AttributeValueMemberL:
		var parts []string
		for _, e := range v.Value {
			parts = append(parts, valueText(e))
		}
		return "[" + strings.Join(parts, ",") + "]"
	case *types.AttributeValueMemberM:
		return itemText(v.Value)
	default:
		return fmt.Sprintf("%T", v)
	}
}

// schemas compiles response schemas of the OpenAPI document.
var schemas = sync.OnceValues(func() (map[string]*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(api.Document()))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(api.DocumentURL, doc); err != nil {
		return nil, err
	}
	out := map[string]*jsonschema.Schema{}
	for _, name := range []string{"OnboardedPartner", "Problem", "PendingOnboarding", "Onboarding", "OnboardingList"} {
		s, err := c.Compile(api.DocumentURL + "#/components/schemas/" + name)
		if err != nil {
			return nil, err
		}
		out[name] = s
	}
	return out, nil
})

func checkSchema(t testing.TB, name, body string) {
	t.Helper()
	all, err := schemas()
	if err != nil {
		t.Fatalf("compile response schemas: %v", err)
	}
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(body))
	if err != nil {
		t.Fatalf("response body is not JSON: %v", err)
	}
	if err := all[name].Validate(inst); err != nil {
		t.Fatalf("response body does not match schema %s: %v", name, err)
	}
}

// answer is a decoded 201 answer.
type answer struct {
	onboarded
	APIKey string `json:"apiKey"`
}

// created checks a 201 answer against the document and decodes it strictly. Failure messages
// never print the body: it holds a key.
func created(t testing.TB, resp lambdaevents.APIGatewayProxyResponse) answer {
	t.Helper()
	if resp.StatusCode != 201 {
		t.Fatalf("status %d, want 201 (problem %s)", resp.StatusCode, problemType(resp.Body))
	}
	for k, want := range map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"} {
		if got := resp.Headers[k]; got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	checkSchema(t, "OnboardedPartner", resp.Body)
	dec := json.NewDecoder(strings.NewReader(resp.Body))
	dec.DisallowUnknownFields()
	var a answer
	if err := dec.Decode(&a); err != nil {
		t.Fatalf("decode 201 body: %v", err)
	}
	return a
}

// refusal checks a problem answer against the document and its catalogue type.
func refusal(t testing.TB, resp lambdaevents.APIGatewayProxyResponse, want problem.Type) problem.Problem {
	t.Helper()
	if resp.StatusCode != want.Status() {
		t.Fatalf("status %d (problem %s), want %d %s", resp.StatusCode, problemType(resp.Body), want.Status(), want.Anchor())
	}
	if ct := resp.Headers["Content-Type"]; ct != problem.ContentType {
		t.Errorf("Content-Type %q, want %q", ct, problem.ContentType)
	}
	checkSchema(t, "Problem", resp.Body)
	dec := json.NewDecoder(strings.NewReader(resp.Body))
	dec.DisallowUnknownFields()
	var p problem.Problem
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("decode problem body: %v", err)
	}
	if p.Type != want.URI() {
		t.Fatalf("problem type %s, want %s", p.Type, want.URI())
	}
	return p
}

// problemType names the problem in a body, for failure messages (never the body itself).
func problemType(body string) string {
	var p struct {
		Type string `json:"type"`
	}
	if json.Unmarshal([]byte(body), &p) != nil || p.Type == "" {
		return "(none)"
	}
	return p.Type
}
