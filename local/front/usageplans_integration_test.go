//go:build integration

package front_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"

	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/local/front"
	"github.com/lanyardhq/lanyard/shared/features/usage"
)

// The front's usage plan lookup against LocalStack's API Gateway: a partner enrolled as
// onboarding enrolls it is found with its plan's throttle; another partner, in no plan, is not.
// Through the front, the first gets its burst and then 429; the second is not throttled.
func TestAPIGatewayPlansOnLocalStack(t *testing.T) {
	t.Parallel()
	env, err := harness.Connect(t.Context())
	if err != nil {
		t.Fatalf("connect (run `make local-up`): %v", err)
	}
	client := apigateway.NewFromConfig(env.Config)
	plan, err := client.CreateUsagePlan(t.Context(), &apigateway.CreateUsagePlanInput{
		Name:     aws.String(harness.Name("lanyard-front-test")),
		Throttle: &types.ThrottleSettings{RateLimit: 3, BurstLimit: 6},
	})
	if err != nil {
		t.Fatalf("create usage plan: %v", err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteUsagePlan(context.Background(), &apigateway.DeleteUsagePlanInput{UsagePlanId: plan.Id})
	})

	enrolled, unplanned := "p-"+strings.ToLower(rand.Text()), "p-"+strings.ToLower(rand.Text())
	keyID, err := usage.Enroll(t.Context(), client, enrolled, aws.ToString(plan.Id))
	if err != nil {
		t.Fatalf("enroll: %v", err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteApiKey(context.Background(), &apigateway.DeleteApiKeyInput{ApiKey: aws.String(keyID)})
	})

	src := &front.APIGatewayPlans{Client: client}
	got, found, err := src.Lookup(t.Context(), usage.KeyValue(enrolled))
	if err != nil || !found || got != (front.Throttle{Rate: 3, Burst: 6}) {
		t.Errorf("enrolled partner: %+v, found %t, %v; want rate 3 burst 6", got, found, err)
	}
	if got, found, err := src.Lookup(t.Context(), usage.KeyValue(unplanned)); err != nil || found {
		t.Errorf("partner in no plan: %+v, found %t, %v; want not found", got, found, err)
	}

	// Through the front (its authorizer fake names the identity as the usage identifier).
	fx := newFixture(t, func(c *front.Config) { c.UsagePlans = src })
	for i := range 8 {
		for partner, wantThrottled := range map[string]bool{enrolled: i >= 6, unplanned: false} {
			res := serve(fx.front, request("GET", "/v1/probe", usage.KeyValue(partner), nil))
			if wantThrottled {
				wantProblem(t, res, http.StatusTooManyRequests, "THROTTLED")
			} else if res.status != http.StatusCreated {
				t.Fatalf("request %d of %s: status %d, want 201 (body %s)", i+1, partner, res.status, res.body)
			}
		}
	}
	if n := fx.front.Stats().Throttled; n != 2 {
		t.Errorf("Stats().Throttled = %d, want 2", n)
	}
}
