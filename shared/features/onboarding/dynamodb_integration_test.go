//go:build integration

package onboarding

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/features/invite"
	"github.com/lanyardhq/lanyard/shared/features/stsproof"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

// The approval flow against DynamoDB Local and LocalStack's Secrets Manager: every condition
// expression, transaction and the list's Scan as DynamoDB itself evaluates them.
func TestApprovalFlowOnDynamoDBLocal(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	env, err := harness.Connect(ctx)
	if err != nil {
		t.Fatalf("connect (run `make local-up`): %v", err)
	}
	tables := localTables(t, env, "onb")
	pol, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	pol.Accounts = append(pol.Accounts, testPolicy...)
	v := &fakeVerifier{ids: map[string]stsproof.Identity{}, bound: map[string]string{}}
	h := &Handler{
		DB: env.DynamoDB, Secrets: env.SecretsManager, Tables: tables, Identity: v, Policy: pol, HostAccountID: hostAccount,
		SecretPrefix: harness.Name("lanyard/onboarding-it/") + "/", Env: credential.EnvLocal, Now: time.Now,
	}
	admin := &AdminHandler{DB: env.DynamoDB, Tables: tables, Now: time.Now}
	call := func(hf func(context.Context, lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error), req lambdaevents.APIGatewayProxyRequest) lambdaevents.APIGatewayProxyResponse {
		t.Helper()
		resp, err := hf(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	// An invite into premium: pending, approved, picked up once.
	invites := &invite.Store{DB: env.DynamoDB, Table: tables.Invites, Outbox: &outbox.Store{DB: env.DynamoDB, Table: tables.Outbox}, Now: time.Now}
	code, _, err := invites.Issue(ctx, acme, "premium", time.Hour, opsARN)
	if err != nil {
		t.Fatal(err)
	}
	p := accepted(t, call(h.Handle, request("it-1", body(acme, code, "shipments:write"))))
	token := secret.New(p.PickupToken)
	refusal(t, call(h.Handle, pickupRequest("it-pick", p.OnboardingID, token)), problem.Conflict)
	decided(t, call(admin.Handle, adminRequest("POST", ApproveResource, p.OnboardingID, `{"reason":"ok"}`)))
	refusal(t, call(admin.Handle, adminRequest("POST", DenyResource, p.OnboardingID, "")), problem.Conflict)
	first := call(h.Handle, pickupRequest("it-pick", p.OnboardingID, token))
	got := created(t, first)
	t.Cleanup(func() { _ = h.deleteSecret(context.Background(), got.PartnerID) })
	if again := call(h.Handle, pickupRequest("it-pick", p.OnboardingID, token)); again.Body != first.Body {
		t.Error("the pick-up does not replay")
	}
	refusal(t, call(h.Handle, pickupRequest("it-pick-2", p.OnboardingID, token)), problem.PickupInvalid)
	recs, err := (&outbox.Store{DB: env.DynamoDB, Table: tables.Outbox}).Records(ctx, got.PartnerID)
	if err != nil {
		t.Fatal(err)
	}
	// The replay showed the key again: a pick-up of its own (method replay).
	if want := []string{events.TypeOnboardingPending, events.TypeOnboardingApproved, events.TypePartnerOnboarded, events.TypeCredentialIssued, events.TypeCredentialPickedUp, events.TypeCredentialPickedUp}; !slices.Equal(detailTypes(recs), want) {
		t.Errorf("outbox %v", detailTypes(recs))
	}

	// An STS proof into premium: the account is claimed while pending, freed by the denial.
	denied := accepted(t, call(h.Handle, request("it-2", stsBody("Globex", v.sign(premiumID), "shipments:write"))))
	refusal(t, call(h.Handle, request("it-3", stsBody("Globex", v.sign(premiumID), "shipments:write"))), problem.Conflict)
	decided(t, call(admin.Handle, adminRequest("POST", DenyResource, denied.OnboardingID, `{"reason":"no"}`)))
	refusal(t, call(h.Handle, pickupRequest("it-pick-3", denied.OnboardingID, secret.New(denied.PickupToken))), problem.PickupInvalid)
	again := accepted(t, call(h.Handle, request("it-4", stsBody("Globex", v.sign(premiumID), "shipments:write"))))

	// The list, by a real Scan.
	resp := call(admin.Handle, adminRequest("GET", ListResource, "", ""))
	var l List
	if err := json.Unmarshal([]byte(resp.Body), &l); err != nil || resp.StatusCode != 200 {
		t.Fatalf("list: %d %v", resp.StatusCode, err)
	}
	var ids []string
	for _, o := range l.Onboardings {
		ids = append(ids, o.OnboardingID+" "+string(o.Status))
	}
	want := []string{again.OnboardingID + " pending", denied.OnboardingID + " denied", p.OnboardingID + " collected"}
	if !slices.Equal(ids, want) {
		t.Errorf("list %v, want %v", ids, want)
	}
}

// table creates an on-demand table keyed pk (S) and sk (N, when named) in DynamoDB Local,
// deleted when the test ends.
func table(t *testing.T, env *harness.Env, prefix, pk, sk string) string {
	t.Helper()
	name := harness.Name(prefix)
	attrs := []types.AttributeDefinition{{AttributeName: aws.String(pk), AttributeType: types.ScalarAttributeTypeS}}
	schema := []types.KeySchemaElement{{AttributeName: aws.String(pk), KeyType: types.KeyTypeHash}}
	if sk != "" {
		attrs = append(attrs, types.AttributeDefinition{AttributeName: aws.String(sk), AttributeType: types.ScalarAttributeTypeN})
		schema = append(schema, types.KeySchemaElement{AttributeName: aws.String(sk), KeyType: types.KeyTypeRange})
	}
	if _, err := env.DynamoDB.CreateTable(t.Context(), &dynamodb.CreateTableInput{
		TableName: aws.String(name), AttributeDefinitions: attrs, KeySchema: schema, BillingMode: types.BillingModePayPerRequest,
	}); err != nil {
		t.Fatalf("create table %s: %v", name, err)
	}
	t.Cleanup(func() {
		_, _ = env.DynamoDB.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	if err := dynamodb.NewTableExistsWaiter(env.DynamoDB).Wait(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 30*time.Second); err != nil {
		t.Fatalf("table %s never became active: %v", name, err)
	}
	return name
}

// localTables creates the onboarding's tables in DynamoDB Local, named after prefix.
func localTables(t *testing.T, env *harness.Env, prefix string) Tables {
	t.Helper()
	return Tables{
		Invites: table(t, env, prefix+"-invites", invite.PartitionKey, ""), Partners: table(t, env, prefix+"-partners", "partnerId", ""),
		Credentials: table(t, env, prefix+"-credentials", "keyId", ""), Idempotency: table(t, env, prefix+"-idempotency", IdempotencyPartitionKey, ""),
		Outbox: table(t, env, prefix+"-outbox", outbox.PartitionKey, outbox.SortKey), Onboardings: table(t, env, prefix+"-onboardings", OnboardingsPartitionKey, ""),
	}
}
