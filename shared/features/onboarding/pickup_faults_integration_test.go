//go:build integration

package onboarding

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/fakes/ddbfault"
	"github.com/lanyardhq/lanyard/shared/features/invite"
	"github.com/lanyardhq/lanyard/shared/platform/faultinject"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
	"github.com/lanyardhq/lanyard/shared/stores/onboardings"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
)

// An onboarding pick-up whose transaction DynamoDB Local is made to fail (throttled, a 500,
// cancelled) is not carried out: no partner, no collection, no record of it, and the partner is
// answered a 500 without a key; the same pick-up then succeeds, recorded once.
func TestPickUpFailsClosedOnDynamoDBLocal(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	env, err := harness.Connect(ctx)
	if err != nil {
		t.Fatalf("connect (run `make local-up`): %v", err)
	}
	tables := localTables(t, env, "onbf")
	pol, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	prefix := harness.Name("lanyard/onboarding-faults/") + "/"
	handler := func(db *dynamodb.Client) *Handler {
		return &Handler{
			DB: db, Secrets: env.SecretsManager, Tables: tables, Identity: &fakeVerifier{}, Policy: pol, HostAccountID: hostAccount,
			SecretPrefix: prefix, Env: credential.EnvLocal, Now: time.Now,
		}
	}
	h := handler(env.DynamoDB)
	admin := &AdminHandler{DB: env.DynamoDB, Tables: tables, Now: time.Now}
	invites := &invite.Store{DB: env.DynamoDB, Table: tables.Invites, Outbox: &outbox.Store{DB: env.DynamoDB, Table: tables.Outbox}, Now: time.Now}

	for i, f := range ddbfault.Faults() {
		key := strings.ReplaceAll(f.Name, " ", "-")
		t.Run(f.Name, func(t *testing.T) {
			name := acme + " " + strings.Repeat("I", i+1)
			code, _, err := invites.Issue(ctx, name, "premium", time.Hour, opsARN)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := h.Handle(ctx, request("faults-"+key, body(name, code, "shipments:write")))
			if err != nil {
				t.Fatal(err)
			}
			p := accepted(t, resp)
			resp, err = admin.Handle(ctx, adminRequest("POST", ApproveResource, p.OnboardingID, `{"reason":"ok"}`))
			if err != nil {
				t.Fatal(err)
			}
			decided(t, resp)
			o, _, err := onboardings.Get(ctx, env.DynamoDB, tables.Onboardings, p.OnboardingID)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = h.deleteSecret(context.WithoutCancel(ctx), o.PartnerID) })
			token := secret.New(p.PickupToken)
			recordsOf := func() []string {
				t.Helper()
				recs, err := (&outbox.Store{DB: env.DynamoDB, Table: tables.Outbox}).Records(ctx, o.PartnerID)
				if err != nil {
					t.Fatal(err)
				}
				return detailTypes(recs)
			}

			faults := &faultinject.APIFaults{}
			failing := handler(dynamodb.New(env.DynamoDB.Options(), func(o *dynamodb.Options) { o.APIOptions = append(o.APIOptions, faults.Install) }))
			faults.Arm(faultinject.APIRule{Match: func(op string, _ any) bool { return op == "TransactWriteItems" }, At: 1, Err: f.Answer})
			resp, _ = failing.Handle(ctx, pickupRequest("faults-pick", p.OnboardingID, token))
			faults.Clear()
			if resp.StatusCode < 500 || strings.Contains(resp.Body, "apiKey") || strings.Contains(resp.Body, "lnyd_") {
				t.Errorf("answer %d %s, want a 5xx without a key", resp.StatusCode, resp.Body)
			}
			if n := countOf(faults.Calls(), "TransactWriteItems"); n != 1 || faults.Injected() == 0 {
				t.Errorf("%d transactions, %d attempts failed: want 1 transaction, failed", n, faults.Injected())
			}
			if cur, _, _ := onboardings.Get(ctx, env.DynamoDB, tables.Onboardings, p.OnboardingID); cur.Status != StatusApproved {
				t.Errorf("onboarding %s after the failed pick-up, want approved", cur.Status)
			}
			if _, err := (&partners.Store{DB: env.DynamoDB, Table: tables.Partners}).Get(ctx, o.PartnerID); err == nil {
				t.Error("the failed pick-up left a partner")
			}
			if got, want := recordsOf(), []string{events.TypeOnboardingPending, events.TypeOnboardingApproved}; !slices.Equal(got, want) {
				t.Errorf("outbox %v, want %v", got, want)
			}

			resp, err = h.Handle(ctx, pickupRequest("faults-pick", p.OnboardingID, token))
			if err != nil {
				t.Fatal(err)
			}
			created(t, resp)
			want := []string{events.TypeOnboardingPending, events.TypeOnboardingApproved, events.TypePartnerOnboarded, events.TypeCredentialIssued, events.TypeCredentialPickedUp}
			if got := recordsOf(); !slices.Equal(got, want) {
				t.Errorf("outbox %v, want %v", got, want)
			}
		})
	}
}

func countOf(ops []string, op string) int {
	n := 0
	for _, o := range ops {
		if o == op {
			n++
		}
	}
	return n
}
