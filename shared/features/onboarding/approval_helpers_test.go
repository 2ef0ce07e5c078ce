package onboarding

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
	"github.com/lanyardhq/lanyard/shared/stores/onboardings"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

// opsARN is the caller of the admin routes in these tests.
const opsARN = "arn:aws:sts::123456789012:assumed-role/ops/jane"

// scanDB adds Scan to the DynamoDB fake: every item of the table in key order, PageSize at a
// time (the fake has no Scan; the list reads every page, so paging is what matters here).
type scanDB struct {
	*dynamodbtest.DynamoDB
	PageSize int
}

func (d scanDB) Scan(_ context.Context, in *dynamodb.ScanInput, _ ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	items := d.Items(aws.ToString(in.TableName))
	start := 0
	if in.ExclusiveStartKey != nil {
		last := in.ExclusiveStartKey[OnboardingsPartitionKey].(*types.AttributeValueMemberS).Value
		start = slices.IndexFunc(items, func(it dynamodbtest.Item) bool {
			return it[OnboardingsPartitionKey].(*types.AttributeValueMemberS).Value > last
		})
		if start < 0 {
			start = len(items)
		}
	}
	end := min(start+d.PageSize, len(items))
	out := &dynamodb.ScanOutput{Items: items[start:end], Count: int32(end - start)} //nolint:gosec // a test's handful of items
	if end < len(items) {
		out.LastEvaluatedKey = map[string]types.AttributeValue{OnboardingsPartitionKey: items[end-1][OnboardingsPartitionKey]}
	}
	return out, nil
}

// admin is the admin handler over the fixture's tables and clock.
func (f *fixture) admin() *AdminHandler {
	return &AdminHandler{DB: scanDB{DynamoDB: f.db, PageSize: 3}, Tables: testTables, Now: f.clock.Now}
}

// adminRequest is an admin route's proxy event as API Gateway (and `lanyard local`'s front)
// sends it: the caller's ARN in requestContext.identity.
func adminRequest(method, resource, id, body string) lambdaevents.APIGatewayProxyRequest {
	req := lambdaevents.APIGatewayProxyRequest{
		HTTPMethod: method,
		Resource:   resource,
		Path:       strings.ReplaceAll(resource, "{onboardingId}", id),
		Headers:    map[string]string{},
		Body:       body,
		RequestContext: lambdaevents.APIGatewayProxyRequestContext{
			Identity: lambdaevents.APIGatewayRequestIdentity{UserArn: opsARN, Caller: "AROAEXAMPLE:jane", AccountID: "123456789012"},
		},
	}
	if id != "" {
		req.PathParameters = map[string]string{OnboardingIDParameter: id}
	}
	if body != "" {
		req.Headers["Content-Type"] = "application/json"
	}
	return req
}

func (f *fixture) adminHandle(req lambdaevents.APIGatewayProxyRequest) lambdaevents.APIGatewayProxyResponse {
	f.t.Helper()
	resp, err := f.admin().Handle(context.Background(), req)
	if err != nil {
		f.t.Fatalf("AdminHandler.Handle returned an error, want every failure answered: %v", err)
	}
	return resp
}

func (f *fixture) approve(id, body string) lambdaevents.APIGatewayProxyResponse {
	f.t.Helper()
	return f.adminHandle(adminRequest("POST", ApproveResource, id, body))
}

func (f *fixture) deny(id, body string) lambdaevents.APIGatewayProxyResponse {
	f.t.Helper()
	return f.adminHandle(adminRequest("POST", DenyResource, id, body))
}

// decided checks a 200 answer of approve or deny and decodes it.
func decided(t testing.TB, resp lambdaevents.APIGatewayProxyResponse) View {
	t.Helper()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d (problem %s), want 200", resp.StatusCode, problemType(resp.Body))
	}
	checkSchema(t, "Onboarding", resp.Body)
	var v View
	strictDecode(t, resp.Body, &v)
	return v
}

func strictDecode(t testing.TB, body string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode body: %v", err)
	}
}

// pickupRequest is a POST /v1/onboardings/{id}/pickup with the Idempotency-Key key.
func pickupRequest(key, id string, token secret.Value) lambdaevents.APIGatewayProxyRequest {
	b, _ := json.Marshal(map[string]string{"pickupToken": token.Reveal()})
	return lambdaevents.APIGatewayProxyRequest{
		HTTPMethod:     "POST",
		Resource:       PickupResource,
		Path:           "/v1/onboardings/" + id + "/pickup",
		PathParameters: map[string]string{OnboardingIDParameter: id},
		Headers:        map[string]string{"Content-Type": "application/json", "Idempotency-Key": key},
		Body:           string(b),
	}
}

func (f *fixture) pickup(key, id string, token secret.Value) lambdaevents.APIGatewayProxyResponse {
	f.t.Helper()
	return f.handle(pickupRequest(key, id, token))
}

// pendingBody is a decoded 202 answer.
type pendingBody struct {
	OnboardingID string `json:"onboardingId"`
	Status       string `json:"status"`
	PickupToken  string `json:"pickupToken"`
	ExpiresAt    string `json:"expiresAt"`
	Detail       string `json:"detail"`
}

// accepted checks a 202 answer against the document and decodes it strictly. Failure messages
// never print the body: it holds a pick-up token.
func accepted(t testing.TB, resp lambdaevents.APIGatewayProxyResponse) pendingBody {
	t.Helper()
	if resp.StatusCode != 202 {
		t.Fatalf("status %d (problem %s), want 202", resp.StatusCode, problemType(resp.Body))
	}
	for k, want := range map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"} {
		if got := resp.Headers[k]; got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	checkSchema(t, "PendingOnboarding", resp.Body)
	var p pendingBody
	strictDecode(t, resp.Body, &p)
	return p
}

// pend onboards name into premium with a new invite and returns the 202 answer, the token and
// the invite code.
func (f *fixture) pend(key, name string, scopes ...string) (pendingBody, secret.Value) {
	f.t.Helper()
	code, _ := f.issue(name, "premium")
	p := accepted(f.t, f.post(key, body(name, code, scopes...)))
	return p, secret.New(p.PickupToken)
}

// onboarding reads the onboarding id from the table.
func (f *fixture) onboarding(id string) Onboarding {
	f.t.Helper()
	o, found, err := onboardings.Get(context.Background(), f.db, testTables.Onboardings, id)
	if err != nil || !found {
		f.t.Fatalf("onboarding %s: found %v, %v", id, found, err)
	}
	return o
}

// records reads the partner's outbox records and checks their chain and schemas.
func (f *fixture) records(partnerID string) []outbox.Record {
	f.t.Helper()
	store := &outbox.Store{DB: f.db, Table: testTables.Outbox}
	records, err := store.Records(context.Background(), partnerID)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := store.VerifyPartner(context.Background(), partnerID); err != nil {
		f.t.Errorf("outbox chain of %s: %v", partnerID, err)
	}
	for _, r := range records {
		envelope, _ := json.Marshal(events.Envelope{Version: "0", ID: r.EventID, DetailType: r.DetailType, Source: events.Source,
			Account: "123456789012", Time: r.Time, Region: "us-east-1", Resources: []string{}, Detail: r.Detail})
		if err := events.Validate(envelope); err != nil {
			f.t.Errorf("seq %d: %v", r.Seq, err)
		}
	}
	return records
}

// detailTypes lists the records' detail types.
func detailTypes(records []outbox.Record) []string {
	out := make([]string, len(records))
	for i, r := range records {
		out[i] = r.DetailType
	}
	return out
}
