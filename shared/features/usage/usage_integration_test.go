//go:build integration

package usage_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"

	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/shared/features/usage"
)

func connect(t *testing.T) *apigateway.Client {
	t.Helper()
	env, err := harness.Connect(t.Context())
	if err != nil {
		t.Fatalf("connect (run `make local-up`): %v", err)
	}
	return apigateway.NewFromConfig(env.Config)
}

// newPlan creates a usage plan with a throttle and deletes it when the test ends.
func newPlan(t *testing.T, client *apigateway.Client, throttle *types.ThrottleSettings) string {
	t.Helper()
	out, err := client.CreateUsagePlan(t.Context(), &apigateway.CreateUsagePlanInput{
		Name: aws.String(harness.Name("lanyard-usage-test")), Throttle: throttle,
	})
	if err != nil {
		t.Fatalf("create usage plan: %v", err)
	}
	id := aws.ToString(out.Id)
	t.Cleanup(func() {
		_, _ = client.DeleteUsagePlan(context.Background(), &apigateway.DeleteUsagePlanInput{UsagePlanId: aws.String(id)})
	})
	return id
}

// newPartner is a fresh partner id, shaped as partner.NewID makes them; its API key is
// deleted when the test ends.
func newPartner(t *testing.T, client *apigateway.Client) string {
	t.Helper()
	id := "p-" + strings.ToLower(rand.Text())
	t.Cleanup(func() {
		ctx := context.Background()
		out, err := client.GetApiKeys(ctx, &apigateway.GetApiKeysInput{NameQuery: aws.String(usage.KeyName(id))})
		if err != nil {
			return
		}
		for _, k := range out.Items {
			if aws.ToString(k.Name) == usage.KeyName(id) {
				_, _ = client.DeleteApiKey(ctx, &apigateway.DeleteApiKeyInput{ApiKey: k.Id})
			}
		}
	})
	return id
}

// Enroll against LocalStack's API Gateway: twice is once, and the plan is found from the key
// with its throttle, as the local front looks it up.
func TestEnrollOnLocalStack(t *testing.T) {
	t.Parallel()
	client := connect(t)
	planID := newPlan(t, client, &types.ThrottleSettings{RateLimit: 2.5, BurstLimit: 4})
	partner := newPartner(t, client)

	keyID := enrollTwice(t, client, partner, planID)

	out, err := client.GetUsagePlans(t.Context(), &apigateway.GetUsagePlansInput{KeyId: aws.String(keyID)})
	if err != nil {
		t.Fatalf("GetUsagePlans(KeyId): %v", err)
	}
	if len(out.Items) != 1 || aws.ToString(out.Items[0].Id) != planID {
		t.Fatalf("plans of key %s: %d, want exactly plan %s", keyID, len(out.Items), planID)
	}
	if th := out.Items[0].Throttle; th == nil || th.RateLimit != 2.5 || th.BurstLimit != 4 {
		t.Errorf("throttle %+v, want rate 2.5 burst 4", th)
	}
}

// Two partners in one plan get keys of their own.
func TestEnrollTwoPartnersOnLocalStack(t *testing.T) {
	t.Parallel()
	client := connect(t)
	planID := newPlan(t, client, &types.ThrottleSettings{RateLimit: 1, BurstLimit: 1})
	a, b := newPartner(t, client), newPartner(t, client)
	ka, err := usage.Enroll(t.Context(), client, a, planID)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := usage.Enroll(t.Context(), client, b, planID)
	if err != nil {
		t.Fatal(err)
	}
	if ka == kb {
		t.Fatalf("two partners share key %s", ka)
	}
	keys, err := client.GetUsagePlanKeys(t.Context(), &apigateway.GetUsagePlanKeysInput{UsagePlanId: aws.String(planID)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, k := range keys.Items {
		got[aws.ToString(k.Id)] = aws.ToString(k.Value)
	}
	if got[ka] != usage.KeyValue(a) || got[kb] != usage.KeyValue(b) || len(got) != 2 {
		t.Errorf("plan keys %v, want %s → %s and %s → %s", got, ka, usage.KeyValue(a), kb, usage.KeyValue(b))
	}
}

// Where LocalStack 4.7.0's API Gateway is laxer than AWS, pinned so a LocalStack upgrade that
// changes it is noticed: it accepts CreateUsagePlanKey for a key already in the plan (AWS:
// ConflictException) and for a usage plan that does not exist (AWS: NotFoundException). Enroll
// works either way; usagetest follows AWS.
func TestLocalStackUsagePlanKeyLeniency(t *testing.T) {
	t.Parallel()
	client := connect(t)
	planID := newPlan(t, client, nil)
	partner := newPartner(t, client)
	keyID, err := usage.Enroll(t.Context(), client, partner, planID)
	if err != nil {
		t.Fatal(err)
	}
	for _, plan := range []string{planID, "no-such-plan"} {
		if _, err := client.CreateUsagePlanKey(t.Context(), &apigateway.CreateUsagePlanKeyInput{
			UsagePlanId: aws.String(plan), KeyId: aws.String(keyID), KeyType: aws.String(usage.KeyTypeAPIKey),
		}); err != nil {
			t.Errorf("LocalStack now refuses CreateUsagePlanKey of key %s in plan %s as AWS does (%v): update usagetest's package note and this test", keyID, plan, err)
		}
	}
}

// Disable against LocalStack's API Gateway: the enrolled key is disabled once, and a second
// call changes nothing.
func TestDisableOnLocalStack(t *testing.T) {
	t.Parallel()
	client := connect(t)
	planID := newPlan(t, client, nil)
	partner := newPartner(t, client)
	keyID, err := usage.Enroll(t.Context(), client, partner, planID)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false} {
		changed, err := usage.Disable(t.Context(), client, partner)
		if err != nil || changed != want {
			t.Fatalf("Disable #%d: changed %t, %v; want %t", i+1, changed, err, want)
		}
	}
	key, err := client.GetApiKey(t.Context(), &apigateway.GetApiKeyInput{ApiKey: aws.String(keyID)})
	if err != nil {
		t.Fatal(err)
	}
	if key.Enabled {
		t.Errorf("API key %s still enabled", keyID)
	}
}
