package rollover_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/google/uuid"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/lanyardhq/lanyard/api"
	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/fakes/secretsmanagertest"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/features/authorizer"
	"github.com/lanyardhq/lanyard/shared/features/rollover"
	"github.com/lanyardhq/lanyard/shared/features/rotation"
	"github.com/lanyardhq/lanyard/shared/platform/apigw"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
	"github.com/lanyardhq/lanyard/topology"
)

var testTables = rollover.Tables{Partners: "partners", Credentials: "credentials", Outbox: "outbox"}

const (
	testSecretPrefix = "lanyard/partners/"
	testTier         = "standard" // grace 168h, drain 1h, warning 48h before the grace ends
	rotationLambda   = "arn:aws:lambda:us-east-1:123456789012:function:rotation"
	stageARN         = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/v1"
	restAPIID        = "abcdef1234"
	stageName        = "v1"
)

var (
	start      = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	testScopes = []string{"inventory:read", "orders:read"}
)

// clock is a settable clock shared by the handlers, the rotation function and the Secrets
// Manager fake.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// scanDB adds Scan to the DynamoDB fake, which has none: the table's items in key order,
// Limit items evaluated per page, the filter applied after the limit as DynamoDB applies it.
// The filter is the one expression the retirement sends, read as the Go predicate it means
// (DynamoDB Local checks the expression itself: retirement_integration_test.go).
type scanDB struct {
	*dynamodbtest.DynamoDB
	mu    sync.Mutex
	scans int
	// failScan, when set, fails every Scan.
	failScan error
}

const retirementFilter = "#status = :previous OR #flush = :true"

func (d *scanDB) Scan(_ context.Context, in *dynamodb.ScanInput, _ ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	d.mu.Lock()
	d.scans++
	fail := d.failScan
	d.mu.Unlock()
	if fail != nil {
		return nil, fail
	}
	if got := aws.ToString(in.FilterExpression); got != retirementFilter {
		return nil, fmt.Errorf("scanDB: filter %q is not the one it models", got)
	}
	statusAttr, flushAttr := in.ExpressionAttributeNames["#status"], in.ExpressionAttributeNames["#flush"]
	previous := in.ExpressionAttributeValues[":previous"].(*types.AttributeValueMemberS).Value
	items := d.Items(aws.ToString(in.TableName))
	start := 0
	if in.ExclusiveStartKey != nil {
		last := in.ExclusiveStartKey[registry.PartitionKey].(*types.AttributeValueMemberS).Value
		start = slices.IndexFunc(items, func(it dynamodbtest.Item) bool {
			return it[registry.PartitionKey].(*types.AttributeValueMemberS).Value > last
		})
		if start < 0 {
			start = len(items)
		}
	}
	end := len(items)
	if in.Limit != nil {
		end = min(start+int(*in.Limit), len(items))
	}
	out := &dynamodb.ScanOutput{Items: []map[string]types.AttributeValue{}}
	for _, it := range items[start:end] {
		s, _ := it[statusAttr].(*types.AttributeValueMemberS)
		f, _ := it[flushAttr].(*types.AttributeValueMemberBOOL)
		if (s != nil && s.Value == previous) || (f != nil && f.Value) {
			out.Items = append(out.Items, it)
		}
	}
	out.Count = int32(len(out.Items)) //nolint:gosec // a test's handful of items
	if end < len(items) {
		out.LastEvaluatedKey = map[string]types.AttributeValue{registry.PartitionKey: items[end-1][registry.PartitionKey]}
	}
	return out, nil
}

func (d *scanDB) scanCalls() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.scans
}

// gateway stands in for API Gateway's FlushStageAuthorizersCache.
type gateway struct {
	mu      sync.Mutex
	flushes []string // "restApiId/stage" of each flush answered
	fail    int      // fail the next fail calls
}

func (g *gateway) FlushStageAuthorizersCache(_ context.Context, in *apigateway.FlushStageAuthorizersCacheInput, _ ...func(*apigateway.Options)) (*apigateway.FlushStageAuthorizersCacheOutput, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fail > 0 {
		g.fail--
		return nil, errors.New("injected: API Gateway is unavailable")
	}
	g.flushes = append(g.flushes, aws.ToString(in.RestApiId)+"/"+aws.ToString(in.StageName))
	return &apigateway.FlushStageAuthorizersCacheOutput{}, nil
}

func (g *gateway) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.flushes)
}

// fixture is a deployment's state: the tables, Secrets Manager with the rotation function
// wired as its rotation function, the rollover handler and the retirement, and one onboarded
// partner (more with addPartner).
type fixture struct {
	t      *testing.T
	c      *secrettest.Canaries
	clock  *clock
	db     *scanDB
	sm     *secretsmanagertest.SecretsManager
	gw     *gateway
	policy *policy.Policy
	rot    *rotation.Handler
	h      *rollover.Handler
	r      *rollover.Retirer

	p *testPartner // the first partner
}

// testPartner is one onboarded partner.
type testPartner struct {
	id        string
	secretARN string
	// keys are the partner's keys, oldest first: keys[0] was issued at onboarding, each
	// rotation appends the new one.
	keys []credential.Key
}

func (p *testPartner) key(i int) credential.Key { return p.keys[i] }

// use makes the fixture report to t (a subtest) until the returned function restores it.
func (fx *fixture) use(t *testing.T) func() {
	prev := fx.t
	fx.t = t
	return func() { fx.t = prev }
}

func newFixture(t *testing.T, c *secrettest.Canaries) *fixture {
	t.Helper()
	clk := &clock{t: start}
	db := &scanDB{DynamoDB: dynamodbtest.NewDynamoDB()}
	s := func(name string) dynamodbtest.KeyAttr {
		return dynamodbtest.KeyAttr{Name: name, Type: types.ScalarAttributeTypeS}
	}
	db.CreateTable(testTables.Partners, s(partners.PartitionKey), nil)
	db.CreateTable(testTables.Credentials, s(registry.PartitionKey), nil)
	db.CreateTable(testTables.Outbox, s(outbox.PartitionKey), &dynamodbtest.KeyAttr{Name: outbox.SortKey, Type: types.ScalarAttributeTypeN})
	sm := secretsmanagertest.New(secretsmanagertest.Options{Now: clk.Now})
	pol, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{t: t, c: c, clock: clk, db: db, sm: sm, gw: &gateway{}, policy: pol}
	fx.rot = &rotation.Handler{
		DB: db.DynamoDB, Secrets: sm, Policy: pol, SecretPrefix: testSecretPrefix, Env: credential.EnvLocal, Now: clk.Now,
		Tables: rotation.Tables{Partners: testTables.Partners, Credentials: testTables.Credentials, Outbox: testTables.Outbox},
	}
	// RotateSecret runs the rotation function's four steps, as Secrets Manager does.
	sm.Rotate = func(ctx context.Context, secretID, token string) error {
		for _, step := range []string{events.StepCreateSecret, events.StepSetSecret, events.StepTestSecret, events.StepFinishSecret} {
			err := fx.rot.Handle(ctx, lambdaevents.SecretsManagerSecretRotationEvent{Step: step, SecretID: secretID, ClientRequestToken: token})
			c.CheckError(err)
			if err != nil {
				return err
			}
		}
		return nil
	}
	fx.h = &rollover.Handler{DB: db, Secrets: sm, Tables: testTables, Policy: pol, SecretPrefix: testSecretPrefix, Now: clk.Now}
	fx.r = &rollover.Retirer{
		DB: db, Tables: testTables, Gateway: fx.gw, RestAPIID: restAPIID, Stage: stageName,
		Policy: pol, Now: clk.Now, PageSize: 2,
	}
	fx.p = fx.addPartner()
	return fx
}

// addPartner onboards a partner as onboarding does — its secret (tagged, holding the key), its
// item and the key's registry entry — and switches rotation on.
func (fx *fixture) addPartner() *testPartner {
	t := fx.t
	t.Helper()
	p := &testPartner{id: partners.NewID()}
	k, err := credential.Generate(credential.EnvLocal, nil)
	if err != nil {
		t.Fatal(err)
	}
	fx.c.Add("key issued at onboarding", k.Plaintext().Reveal())
	p.keys = []credential.Key{k}
	version := uuid.NewString()
	out, err := fx.sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
		Name:               aws.String(testSecretPrefix + p.id),
		ClientRequestToken: aws.String(version),
		SecretString:       aws.String(k.Plaintext().Reveal()),
		Tags:               []smtypes.Tag{{Key: aws.String(rotation.PartnerTag), Value: aws.String(p.id)}},
	})
	if err != nil {
		t.Fatalf("create the secret: %v", err)
	}
	p.secretARN = aws.ToString(out.ARN)
	tier, _ := fx.policy.Tier(testTier)
	now := fx.clock.Now()
	if _, err := fx.db.TransactWriteItems(t.Context(), &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		itemtest.Must(partners.PutNew(testTables.Partners, partners.Partner{
			PartnerID: p.id, PartnerName: "Acme Logistics", Tier: testTier, Scopes: testScopes,
			Status: partners.StatusActive, KeyID: string(k.ID()), SecretARN: p.secretARN,
			IdentityMethod: partners.IdentityMethodInvite, InviteID: "inv-1", Justification: "test", PolicyRevision: 1, CreatedAt: now,
		}))(t),
		itemtest.Must(registry.PutNew(testTables.Credentials, registry.Entry{
			KeyID: k.ID(), PartnerID: p.id, Verifier: credential.NewVerifier(k), Scopes: testScopes, Tier: testTier,
			Status: registry.StatusActive, NotBefore: now, NotAfter: now.Add(tier.KeyLifetime.Std()),
			SecretARN: p.secretARN, SecretVersionID: version, CreatedAt: now,
		}))(t),
	}}); err != nil {
		t.Fatalf("onboard: %v", err)
	}
	if _, err := fx.sm.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{
		SecretId:          aws.String(p.secretARN),
		RotationLambdaARN: aws.String(rotationLambda),
		RotationRules:     &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(int64(tier.Rotation.IntervalDays))},
		RotateImmediately: aws.Bool(false),
	}); err != nil {
		t.Fatalf("switch rotation on: %v", err)
	}
	return p
}

// rotate rotates the partner's key through Secrets Manager's RotateSecret and the rotation
// function, and returns the new key.
func (fx *fixture) rotate(p *testPartner) credential.Key {
	t := fx.t
	t.Helper()
	token := uuid.NewString()
	_, err := fx.sm.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{
		SecretId: aws.String(p.secretARN), ClientRequestToken: aws.String(token), RotateImmediately: aws.Bool(true),
	})
	fx.c.CheckError(err)
	if err != nil {
		t.Fatalf("RotateSecret: %v", err)
	}
	out, err := fx.sm.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(p.secretARN)})
	if err != nil {
		t.Fatalf("read AWSCURRENT: %v", err)
	}
	k, err := credential.Parse(aws.ToString(out.SecretString))
	if err != nil || aws.ToString(out.VersionId) != token {
		t.Fatalf("AWSCURRENT is version %s (%v), want the rotation's %s", aws.ToString(out.VersionId), err, token)
	}
	fx.c.Add("key of rotation "+token, k.Plaintext().Reveal())
	p.keys = append(p.keys, k)
	return k
}

// response is a route's answer, or the authorizer's refusal before it.
type response struct {
	// denied is the authorizer's refusal ("deny", "unauthorized"), "" when the route ran.
	denied string
	status int
	header map[string]string
	body   string
}

// call makes a request with key as API Gateway does: the authorizer decides on the key, and
// the route runs with the authorizer's context (every value a string) only when it allowed.
func (fx *fixture) call(key credential.Key, method, resource, body string) response {
	fx.t.Helper()
	ctx, ok, denied := fx.authorize(key)
	if !ok {
		return response{denied: denied}
	}
	return fx.callWith(ctx, method, resource, body)
}

// callWith makes a request with an authorizer context, as API Gateway does when its cache
// holds a decision: without the authorizer running.
func (fx *fixture) callWith(authCtx map[string]any, method, resource, body string) response {
	fx.t.Helper()
	resp, err := fx.h.Handle(fx.t.Context(), lambdaevents.APIGatewayProxyRequest{
		Resource: resource, Path: resource, HTTPMethod: method, Body: body,
		Headers:        map[string]string{"Content-Type": "application/json"},
		RequestContext: lambdaevents.APIGatewayProxyRequestContext{Authorizer: authCtx, ResourcePath: resource, HTTPMethod: method},
	})
	if err != nil {
		fx.t.Fatalf("Handle returned an error: %v", err)
	}
	return response{status: resp.StatusCode, header: resp.Headers, body: resp.Body}
}

// authorize runs the authorizer, the verify path's code, on the key, and returns the context
// of an Allow.
func (fx *fixture) authorize(k credential.Key) (ctx map[string]any, allowed bool, refusal string) {
	fx.t.Helper()
	a := &authorizer.Authorizer{
		Lookup:      &registry.Store{DB: fx.db, Table: testTables.Credentials},
		Routes:      topology.PartnerKeyRoutes(topology.Lanyard().Routes),
		Environment: credential.EnvLocal,
		Now:         fx.clock.Now,
	}
	resp, err := a.Authorize(fx.t.Context(), lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest{
		Type: "REQUEST", MethodArn: stageARN + "/GET/v1/credentials/current", Resource: rollover.CurrentResource, Path: rollover.CurrentResource,
		HTTPMethod: http.MethodGet, Headers: map[string]string{"Authorization": "Bearer " + k.Plaintext().Reveal()},
	})
	fx.c.CheckError(err)
	if errors.Is(err, authorizer.ErrUnauthorized) {
		return nil, false, authorizer.OutcomeUnauthorized
	}
	if err != nil {
		fx.t.Fatalf("authorize: %v", err)
	}
	b, _ := json.Marshal(resp)
	fx.c.CheckText("authorizer response", string(b))
	if len(resp.PolicyDocument.Statement) == 0 || resp.PolicyDocument.Statement[0].Effect != "Allow" {
		return nil, false, authorizer.OutcomeDeny
	}
	return resp.Context, true, ""
}

// contextOf is the authorizer context an Allow of the key gives (every value a string), for
// requests API Gateway answers from its cache.
func (fx *fixture) contextOf(p *testPartner, k credential.Key) map[string]any {
	return map[string]any{
		apigw.ContextPartnerID: p.id, apigw.ContextKeyID: string(k.ID()),
		apigw.ContextTier: testTier, apigw.ContextScopes: strings.Join(testScopes, " "),
	}
}

// entry reads a registry entry.
func (fx *fixture) entry(id credential.KeyID) registry.Entry {
	fx.t.Helper()
	e, err := (&registry.Store{DB: fx.db, Table: testTables.Credentials}).Get(fx.t.Context(), id)
	if err != nil {
		fx.t.Fatalf("registry entry %s: %v", id, err)
	}
	return e
}

// partnerItem reads the partner's raw item.
func (fx *fixture) partnerItem(p *testPartner) map[string]types.AttributeValue {
	fx.t.Helper()
	out, err := fx.db.GetItem(fx.t.Context(), &dynamodb.GetItemInput{TableName: aws.String(testTables.Partners), Key: partners.Key(p.id)})
	if err != nil || out.Item == nil {
		fx.t.Fatalf("partner item: %v", err)
	}
	return out.Item
}

func attrS(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// records decodes the partner's outbox records, checking the chain and each event against its
// schema and the canaries.
func (fx *fixture) records(p *testPartner) []events.Detail {
	fx.t.Helper()
	store := &outbox.Store{DB: fx.db, Table: testTables.Outbox}
	if err := store.VerifyPartner(fx.t.Context(), p.id); err != nil {
		fx.t.Fatalf("the partner's outbox chain does not verify: %v", err)
	}
	recs, err := store.Records(fx.t.Context(), p.id)
	if err != nil {
		fx.t.Fatal(err)
	}
	var out []events.Detail
	for _, r := range recs {
		fx.c.CheckText("outbox record", string(r.Detail))
		env, err := json.Marshal(map[string]any{
			"version": "0", "id": r.EventID, "detail-type": r.DetailType, "source": events.Source,
			"account": "123456789012", "time": r.Time, "region": "us-east-1", "resources": []string{}, "detail": r.Detail,
		})
		if err != nil {
			fx.t.Fatal(err)
		}
		if err := events.Validate(env); err != nil {
			fx.t.Errorf("record %d does not match its schema: %v", r.Seq, err)
		}
		_, d, err := events.Decode(env)
		if err != nil {
			fx.t.Fatalf("record %d: %v", r.Seq, err)
		}
		out = append(out, d)
	}
	return out
}

// ofType returns the details of type T among ds.
func ofType[T events.Detail](ds []events.Detail) []T {
	var out []T
	for _, d := range ds {
		if x, ok := d.(T); ok {
			out = append(out, x)
		}
	}
	return out
}

// tables is every table's items, to compare before and after.
func (fx *fixture) tables() map[string][]dynamodbtest.Item {
	out := map[string][]dynamodbtest.Item{}
	for _, name := range []string{testTables.Partners, testTables.Credentials, testTables.Outbox} {
		out[name] = fx.db.Items(name)
	}
	return out
}

// unchanged fails the test when a table changed since before.
func (fx *fixture) unchanged(what string, before map[string][]dynamodbtest.Item) {
	fx.t.Helper()
	for name, items := range fx.tables() {
		if !reflect.DeepEqual(items, before[name]) {
			fx.t.Errorf("%s changed table %s", what, name) // items hold verifiers: not printed
		}
	}
}

// checkTables hands every item of the tables to the canaries: no key is ever stored in DynamoDB.
func (fx *fixture) checkTables() {
	fx.t.Helper()
	b, err := json.Marshal(fx.tables())
	if err != nil {
		fx.t.Fatal(err)
	}
	fx.c.CheckText("tables", string(b))
}

// run runs the retirement once and checks its error and report against the canaries.
func (fx *fixture) run() (rollover.Report, error) {
	fx.t.Helper()
	rep, err := fx.r.Run(fx.t.Context())
	fx.c.CheckError(err)
	return rep, err
}

// mustRun is run, failing the test on an error.
func (fx *fixture) mustRun() rollover.Report {
	fx.t.Helper()
	rep, err := fx.run()
	if err != nil {
		fx.t.Fatalf("retirement run: %v", err)
	}
	return rep
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

// validates checks a body against a schema of the document.
func validates(t *testing.T, schema, body string) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(body))
	if err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if err := documentSchema(t, schema).Validate(v); err != nil {
		t.Errorf("body does not match %s: %v", schema, err)
	}
}

// decode reads a body strictly into v.
func decode(t *testing.T, body string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode the answer: %v", err)
	}
}

// problemOf reads a problem+json answer.
func problemOf(t *testing.T, r response) (typ, detail string) {
	t.Helper()
	var p struct {
		Type   string `json:"type"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal([]byte(r.body), &p); err != nil {
		t.Fatalf("problem body: %v", err)
	}
	return p.Type, p.Detail
}

func timePtr(t time.Time) *time.Time { return &t }
