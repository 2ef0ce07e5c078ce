package rotation_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/lanyardhq/lanyard/api"
	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/fakes/ddbfault"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/features/rotation"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
	"github.com/lanyardhq/lanyard/topology"
)

// opsARN is the caller of the admin route in these tests.
const opsARN = "arn:aws:sts::123456789012:assumed-role/ops/jane"

// rotateRequest is the route's proxy event as API Gateway (and `lanyard local`'s front) sends
// it: the caller's ARN in requestContext.identity.
func rotateRequest(id string) lambdaevents.APIGatewayProxyRequest {
	return lambdaevents.APIGatewayProxyRequest{
		HTTPMethod:     "POST",
		Resource:       rotation.RotateResource,
		Path:           "/v1/admin/partners/" + id + "/rotate",
		PathParameters: map[string]string{rotation.PartnerIDParameter: id},
		RequestContext: lambdaevents.APIGatewayProxyRequestContext{
			Identity: lambdaevents.APIGatewayRequestIdentity{UserArn: opsARN, Caller: "AROAEXAMPLE:jane", AccountID: "123456789012"},
		},
	}
}

// admin is the on-demand rotation handler over the fixture's partners table and secrets.
func (fx *fixture) admin() *rotation.AdminHandler {
	return &rotation.AdminHandler{DB: fx.db, Secrets: fx.sm, PartnersTable: testTables.Partners, OutboxTable: testTables.Outbox, SecretPrefix: testSecretPrefix, Now: fx.clock.Now}
}

func (fx *fixture) adminHandle(h *rotation.AdminHandler, req lambdaevents.APIGatewayProxyRequest) lambdaevents.APIGatewayProxyResponse {
	fx.t.Helper()
	resp, err := h.Handle(fx.t.Context(), req)
	if err != nil {
		fx.t.Fatalf("AdminHandler.Handle returned an error, want every failure answered: %v", err)
	}
	fx.c.CheckText("answer", resp.Body)
	return resp
}

// capture tees the canaries' log capture into a buffer the test reads.
func capture(t *testing.T, c *secrettest.Canaries) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(io.MultiWriter(c.Writer(), &buf), &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return &buf
}

// schemaOf compiles a schema of shared/domain/openapi/openapi.json's components.
func schemaOf(t *testing.T, name string) *jsonschema.Schema {
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

func matchesSchema(t *testing.T, name, body string) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(body))
	if err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if err := schemaOf(t, name).Validate(v); err != nil {
		t.Errorf("body does not match schema %s: %v", name, err)
	}
}

// wantProblem checks a problem answer and returns its detail.
func wantProblem(t *testing.T, resp lambdaevents.APIGatewayProxyResponse, want problem.Type) string {
	t.Helper()
	var p problem.Problem
	if err := json.Unmarshal([]byte(resp.Body), &p); err != nil {
		t.Fatalf("answer is not a problem: %v", err)
	}
	if resp.StatusCode != want.Status() || resp.Headers["Content-Type"] != problem.ContentType || p.Type != want.URI() || p.Status != want.Status() {
		t.Errorf("answered %d %s %s, want %d %s", resp.StatusCode, resp.Headers["Content-Type"], p.Type, want.Status(), want.URI())
	}
	matchesSchema(t, "Problem", resp.Body)
	return p.Detail
}

// Ops rotate a partner's key now: the route answers 202 naming the new version, and the
// rotation, Secrets Manager's (the fake runs the production function's four steps as
// RotateSecret does), converges exactly as a scheduled one; the caller is logged.
func TestRotateOnDemand(t *testing.T) {
	c := secrettest.Plant(t)
	logs := capture(t, c)
	fx := newFixture(t, c)
	fx.clock.Advance(time.Hour)
	resp := fx.adminHandle(fx.admin(), rotateRequest(fx.partnerID))
	if resp.StatusCode != 202 || resp.Headers["Content-Type"] != "application/json" {
		t.Fatalf("answered %d %s: %s", resp.StatusCode, resp.Headers["Content-Type"], resp.Body)
	}
	matchesSchema(t, "RotationStarted", resp.Body)
	var started rotation.Started
	if err := json.Unmarshal([]byte(resp.Body), &started); err != nil {
		t.Fatal(err)
	}
	if started.PartnerID != fx.partnerID || started.SecretARN != fx.secretARN || !started.RotationStarted.Equal(start.Add(time.Hour)) {
		t.Errorf("started %+v", started)
	}
	if len(fx.errs) > 0 {
		t.Fatalf("the rotation failed: %v", fx.errs)
	}
	k1 := fx.converged(started.VersionID, fx.key0, fx.version0, start.Add(time.Hour))
	if ok, err := fx.authorize(k1); err != nil || !ok {
		t.Errorf("the new key does not authorize: %v (%v)", ok, err)
	}

	// A second rotation on demand: one previous key at a time.
	resp = fx.adminHandle(fx.admin(), rotateRequest(fx.partnerID))
	var again rotation.Started
	if err := json.Unmarshal([]byte(resp.Body), &again); err != nil || resp.StatusCode != 202 {
		t.Fatalf("second rotation: %d %v", resp.StatusCode, err)
	}
	fx.converged(again.VersionID, k1, started.VersionID, start.Add(time.Hour))

	var requested int
	for line := range strings.SplitSeq(logs.String(), "\n") {
		if strings.Contains(line, `"on-demand rotation requested"`) && strings.Contains(line, `"caller":"`+opsARN+`"`) &&
			strings.Contains(line, `"partner":"`+fx.partnerID+`"`) {
			requested++
		}
	}
	if requested != 2 {
		t.Errorf("%d log lines name the caller of a rotation, want 2", requested)
	}
}

// While a rotation is in progress (AWSPENDING on a version that is not AWSCURRENT), AWS refuses
// another: the route answers 409 naming the pending version, and changes nothing.
func TestRotateOnDemandInProgress(t *testing.T) {
	c := secrettest.Plant(t)
	fx := newFixture(t, c)
	pending := fx.pendingVersion()
	before := fx.snapshot()
	detail := wantProblem(t, fx.adminHandle(fx.admin(), rotateRequest(fx.partnerID)), problem.Conflict)
	if !strings.Contains(detail, "already in progress") || !strings.Contains(detail, pending) || !strings.Contains(detail, fx.partnerID) {
		t.Errorf("detail %q does not say a rotation of %s is in progress on version %s", detail, fx.partnerID, pending)
	}
	fx.unchanged("a refused rotation", before)

	// Once the pending rotation finishes, a rotation on demand starts again.
	if err := fx.steps(pending); err != nil {
		t.Fatalf("the pending rotation: %v", err)
	}
	if resp := fx.adminHandle(fx.admin(), rotateRequest(fx.partnerID)); resp.StatusCode != 202 {
		t.Errorf("after the pending rotation finished: %d %s", resp.StatusCode, resp.Body)
	}
}

// failingSecrets fails RotateSecret with err.
type failingSecrets struct {
	rotation.AdminSecretsAPI
	err error
}

func (f failingSecrets) RotateSecret(context.Context, *secretsmanager.RotateSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error) {
	return nil, f.err
}

// Every refusal is problem+json: unknown or malformed partners 404, a state that forbids the
// rotation 409 with a detail saying which, a failure of the deployment 500. None changes
// anything.
func TestRotateOnDemandRefusals(t *testing.T) {
	c := secrettest.Plant(t)
	cases := []struct {
		name   string
		setup  func(fx *fixture) (*rotation.AdminHandler, lambdaevents.APIGatewayProxyRequest)
		want   problem.Type
		detail string
		// dbFails: every DynamoDB call fails.
		dbFails bool
		// notStarted: the request was recorded, then RotateSecret failed: the chain holds the
		// request and the failure for its version, and nothing else changed.
		notStarted bool
	}{
		{"unknown partner", func(fx *fixture) (*rotation.AdminHandler, lambdaevents.APIGatewayProxyRequest) {
			return fx.admin(), rotateRequest(partners.NewID())
		}, problem.NotFound, "", false, false},
		{"an account claim is no partner", func(fx *fixture) (*rotation.AdminHandler, lambdaevents.APIGatewayProxyRequest) {
			putAccountClaim(fx)
			return fx.admin(), rotateRequest(partners.AccountKeyPrefix + "123456789012")
		}, problem.NotFound, "", false, false},
		{"malformed partner id", func(fx *fixture) (*rotation.AdminHandler, lambdaevents.APIGatewayProxyRequest) {
			return fx.admin(), rotateRequest(strings.ToUpper(fx.partnerID))
		}, problem.NotFound, "", false, false},
		{"no partner id", func(fx *fixture) (*rotation.AdminHandler, lambdaevents.APIGatewayProxyRequest) {
			req := rotateRequest(fx.partnerID)
			req.PathParameters = nil
			return fx.admin(), req
		}, problem.NotFound, "", false, false},
		{"another route", func(fx *fixture) (*rotation.AdminHandler, lambdaevents.APIGatewayProxyRequest) {
			req := rotateRequest(fx.partnerID)
			req.Resource = "/v1/admin/partners/{partnerId}"
			return fx.admin(), req
		}, problem.NotFound, "", false, false},
		{"another method", func(fx *fixture) (*rotation.AdminHandler, lambdaevents.APIGatewayProxyRequest) {
			req := rotateRequest(fx.partnerID)
			req.HTTPMethod = "GET"
			return fx.admin(), req
		}, problem.NotFound, "", false, false},
		{"partner not active", func(fx *fixture) (*rotation.AdminHandler, lambdaevents.APIGatewayProxyRequest) {
			setStatus(fx, fx.partnerID, "suspended")
			return fx.admin(), rotateRequest(fx.partnerID)
		}, problem.Conflict, "is suspended: only an active partner's key is rotated", false, false},
		{"no rotation function", func(fx *fixture) (*rotation.AdminHandler, lambdaevents.APIGatewayProxyRequest) {
			id, _ := addPartner(fx, "sandbox", partners.StatusActive, false)
			return fx.admin(), rotateRequest(id)
		}, problem.Conflict, "has no rotation function: switch rotation on with `lanyard rotation enable p-", false, false},
		{"secret scheduled for deletion", func(fx *fixture) (*rotation.AdminHandler, lambdaevents.APIGatewayProxyRequest) {
			if _, err := fx.sm.DeleteSecret(fx.t.Context(), &secretsmanager.DeleteSecretInput{SecretId: aws.String(fx.secretARN)}); err != nil {
				fx.t.Fatal(err)
			}
			return fx.admin(), rotateRequest(fx.partnerID)
		}, problem.Conflict, "is scheduled for deletion", false, false},
		{"a refusal the description does not explain", func(fx *fixture) (*rotation.AdminHandler, lambdaevents.APIGatewayProxyRequest) {
			h := fx.admin()
			h.Secrets = failingSecrets{AdminSecretsAPI: fx.sm, err: invalidRequest("something else")}
			return h, rotateRequest(fx.partnerID)
		}, problem.Conflict, "Secrets Manager refused to start a rotation of partner p-", false, true},
		{"the partner names a secret outside the prefix", func(fx *fixture) (*rotation.AdminHandler, lambdaevents.APIGatewayProxyRequest) {
			_, other := addPartner(fx, "sandbox", partners.StatusActive, true)
			setSecret(fx, fx.partnerID, other)
			return fx.admin(), rotateRequest(fx.partnerID)
		}, problem.Internal, "", false, false},
		{"Secrets Manager refuses the request", func(fx *fixture) (*rotation.AdminHandler, lambdaevents.APIGatewayProxyRequest) {
			h := fx.admin()
			h.Secrets = failingSecrets{AdminSecretsAPI: fx.sm, err: &smtypes.InvalidParameterException{Message: aws.String("bad token")}}
			return h, rotateRequest(fx.partnerID)
		}, problem.Internal, "", false, true},
		{"DynamoDB fails", func(fx *fixture) (*rotation.AdminHandler, lambdaevents.APIGatewayProxyRequest) {
			return fx.admin(), rotateRequest(fx.partnerID)
		}, problem.Internal, "", true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t, c)
			h, req := tc.setup(fx)
			before := fx.snapshot()
			if tc.dbFails {
				fx.db.Intercept = func(string, any) error { return errors.New("throttled") }
			}
			detail := wantProblem(t, fx.adminHandle(h, req), tc.want)
			fx.db.Intercept = nil
			if !strings.Contains(detail, tc.detail) {
				t.Errorf("detail %q, want it to say %q", detail, tc.detail)
			}
			if tc.want == problem.Internal && detail != problem.Internal.DefaultDetail() {
				t.Errorf("a 500 says %q", detail)
			}
			if tc.notStarted {
				checkNotStarted(t, fx)
				delete(before.Tables, testTables.Outbox)
			}
			fx.unchanged(tc.name, before)
			if len(fx.errs) > 0 {
				t.Errorf("a rotation ran: %v", fx.errs)
			}
		})
	}
}

// The route is the one the document describes and the topology will declare.
func TestRotateResource(t *testing.T) {
	if api.OpRotatePartnerKey != "rotatePartnerKey" || rotation.RotateResource != "/v1/admin/partners/{"+rotation.PartnerIDParameter+"}/rotate" {
		t.Errorf("resource %s", rotation.RotateResource)
	}
	for _, r := range topology.Lanyard().Routes {
		if r.Path == rotation.RotateResource && (r.Method != "POST" || r.Auth != topology.AuthIAM) {
			t.Errorf("the topology declares %s %s with %s, want POST with AWS_IAM", r.Method, r.Path, r.Auth)
		}
	}
}

// setStatus sets a partner's status attribute.
func setStatus(fx *fixture, id, status string) {
	fx.t.Helper()
	updatePartner(fx, id, "status", status)
}

// setSecret sets the secret a partner item names.
func setSecret(fx *fixture, id, arn string) {
	fx.t.Helper()
	updatePartner(fx, id, "secretArn", arn)
}

func updatePartner(fx *fixture, id, attr, value string) {
	fx.t.Helper()
	_, err := fx.db.UpdateItem(fx.t.Context(), &dynamodb.UpdateItemInput{
		TableName:                 aws.String(testTables.Partners),
		Key:                       partners.Key(id),
		UpdateExpression:          aws.String("SET #a = :v"),
		ExpressionAttributeNames:  map[string]string{"#a": attr},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberS{Value: value}},
	})
	if err != nil {
		fx.t.Fatalf("update partner %s: %v", id, err)
	}
}

// checkNotStarted checks the partner's chain ends with a rotation request followed by its
// failure to start, for the same version.
func checkNotStarted(t *testing.T, fx *fixture) {
	t.Helper()
	recs, err := (&outbox.Store{DB: fx.db, Table: testTables.Outbox}).Records(t.Context(), fx.partnerID)
	if err != nil || len(recs) < 2 {
		t.Fatalf("records %d, %v", len(recs), err)
	}
	var req events.CredentialRotationRequested
	var failed events.CredentialRotationFailed
	last := recs[len(recs)-2:]
	if last[0].DetailType != events.TypeCredentialRotationRequested || last[1].DetailType != events.TypeCredentialRotationFailed ||
		json.Unmarshal(last[0].Detail, &req) != nil || json.Unmarshal(last[1].Detail, &failed) != nil {
		t.Fatalf("the chain ends with %s, %s: want the request and its failure", last[0].DetailType, last[1].DetailType)
	}
	if req.VersionID == "" || failed.VersionID != req.VersionID || failed.Step != events.StepCreateSecret || req.Actor != (events.Actor{Kind: events.ActorOps, ID: opsARN}) {
		t.Errorf("request %+v, failure %+v", req, failed)
	}
}

// The request is recorded before the rotation starts, as the version the rotation then
// creates; a request whose record does not commit starts nothing and is answered 500.
func TestRotateOnDemandIsRecorded(t *testing.T) {
	c := secrettest.Plant(t)
	fx := newFixture(t, c)
	resp := fx.adminHandle(fx.admin(), rotateRequest(fx.partnerID))
	var started rotation.Started
	if err := json.Unmarshal([]byte(resp.Body), &started); err != nil || resp.StatusCode != 202 {
		t.Fatalf("rotation: %d %v", resp.StatusCode, err)
	}
	fx.converged(started.VersionID, fx.key0, fx.version0, start)
	recs, err := (&outbox.Store{DB: fx.db, Table: testTables.Outbox}).Records(t.Context(), fx.partnerID)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	var req events.CredentialRotationRequested
	for _, r := range recs {
		kinds = append(kinds, r.DetailType)
		if r.DetailType == events.TypeCredentialRotationRequested {
			if err := json.Unmarshal(r.Detail, &req); err != nil {
				t.Fatal(err)
			}
		}
	}
	if i := slices.Index(kinds, events.TypeCredentialRotationRequested); i < 0 || i > slices.Index(kinds, events.TypeCredentialRotated) {
		t.Errorf("records %v: want the request before the rotation", kinds)
	}
	if req.VersionID != started.VersionID || req.SecretARN != fx.secretARN || req.Actor != (events.Actor{Kind: events.ActorOps, ID: opsARN}) {
		t.Errorf("request %+v, want version %s by %s", req, started.VersionID, opsARN)
	}

	for _, f := range ddbfault.Faults() {
		t.Run(f.Name, func(t *testing.T) {
			fx := newFixture(t, c)
			before := fx.snapshot()
			h := fx.admin()
			failing := &ddbfault.Fake{DynamoDB: fx.db, Fault: &f}
			h.DB = failing
			wantProblem(t, fx.adminHandle(h, rotateRequest(fx.partnerID)), problem.Internal)
			if failing.Calls.Load() != 1 {
				t.Errorf("%d failed transactions, want 1", failing.Calls.Load())
			}
			fx.unchanged("a request whose record did not commit", before)
			if len(fx.errs) > 0 {
				t.Errorf("a rotation ran: %v", fx.errs)
			}
		})
	}
}

// A RotateSecret that fails without refusing (a reset connection, a 5xx) may have started the
// rotation: the chain keeps the request alone, never a failure the rotation might contradict,
// and the caller is told 500.
func TestRotateOnDemandOutcomeUnknownRecordsNoFailure(t *testing.T) {
	c := secrettest.Plant(t)
	fx := newFixture(t, c)
	h := fx.admin()
	h.Secrets = failingSecrets{AdminSecretsAPI: fx.sm, err: errors.New("connection reset")}
	wantProblem(t, fx.adminHandle(h, rotateRequest(fx.partnerID)), problem.Internal)
	recs, err := (&outbox.Store{DB: fx.db, Table: testTables.Outbox}).Records(t.Context(), fx.partnerID)
	if err != nil || len(recs) == 0 {
		t.Fatalf("records %d, %v", len(recs), err)
	}
	if last := recs[len(recs)-1]; last.DetailType != events.TypeCredentialRotationRequested {
		t.Errorf("the chain ends with %s, want the request alone", last.DetailType)
	}
}
