package front_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"

	"github.com/lanyardhq/lanyard/local/front"
	"github.com/lanyardhq/lanyard/shared/fakes/usagetest"
	"github.com/lanyardhq/lanyard/shared/features/usage"
)

func enroll(t *testing.T, gw *usagetest.APIGateway, partner, planID string) {
	t.Helper()
	if _, err := usage.Enroll(t.Context(), gw, partner, planID); err != nil {
		t.Fatalf("enroll %s: %v", partner, err)
	}
}

func TestAPIGatewayPlansLookup(t *testing.T) {
	t.Parallel()
	const a, b = "p-aaaaaaaaaaaaaaaaaaaaaaaaaa", "p-bbbbbbbbbbbbbbbbbbbbbbbbbb"
	localStage := types.ApiStage{ApiId: aws.String(testAPI), Stage: aws.String("local")}
	otherStage := types.ApiStage{ApiId: aws.String("otherapi01"), Stage: aws.String("prod")}
	tests := []struct {
		name string
		// setup prepares API Gateway and the source, and returns the usage key to look up.
		setup   func(gw *usagetest.APIGateway, src *front.APIGatewayPlans) string
		want    front.Throttle
		found   bool
		wantErr string
	}{
		{
			name: "an enrolled partner",
			setup: func(gw *usagetest.APIGateway, _ *front.APIGatewayPlans) string {
				enroll(t, gw, a, gw.AddPlan("sandbox", &types.ThrottleSettings{RateLimit: 5, BurstLimit: 10}))
				return usage.KeyValue(a)
			},
			want: front.Throttle{Rate: 5, Burst: 10}, found: true,
		},
		{
			name: "every page of keys is read",
			setup: func(gw *usagetest.APIGateway, _ *front.APIGatewayPlans) string {
				gw.PageSize = 1
				plan := gw.AddPlan("standard", &types.ThrottleSettings{RateLimit: 50, BurstLimit: 100})
				enroll(t, gw, a, plan)
				enroll(t, gw, b, plan)
				return usage.KeyValue(b)
			},
			want: front.Throttle{Rate: 50, Burst: 100}, found: true,
		},
		{
			name:  "no key has the value",
			setup: func(*usagetest.APIGateway, *front.APIGatewayPlans) string { return usage.KeyValue(a) },
		},
		{
			name: "a value that only starts like a key's",
			setup: func(gw *usagetest.APIGateway, _ *front.APIGatewayPlans) string {
				enroll(t, gw, a, gw.AddPlan("sandbox", &types.ThrottleSettings{RateLimit: 5, BurstLimit: 10}))
				return usage.KeyValue(a)[:30]
			},
		},
		{
			name: "a disabled key",
			setup: func(gw *usagetest.APIGateway, _ *front.APIGatewayPlans) string {
				gw.AddKey(usage.KeyName(a), usage.KeyValue(a), false)
				enroll(t, gw, a, gw.AddPlan("sandbox", &types.ThrottleSettings{RateLimit: 5, BurstLimit: 10}))
				return usage.KeyValue(a)
			},
		},
		{
			name: "a key in no plan",
			setup: func(gw *usagetest.APIGateway, _ *front.APIGatewayPlans) string {
				gw.AddKey(usage.KeyName(a), usage.KeyValue(a), true)
				return usage.KeyValue(a)
			},
		},
		{
			name: "a plan without a throttle",
			setup: func(gw *usagetest.APIGateway, _ *front.APIGatewayPlans) string {
				enroll(t, gw, a, gw.AddPlan("unthrottled", nil))
				return usage.KeyValue(a)
			},
		},
		{
			name: "the plan of the front's stage",
			setup: func(gw *usagetest.APIGateway, src *front.APIGatewayPlans) string {
				src.APIID, src.Stage = testAPI, "local"
				enroll(t, gw, a, gw.AddPlan("elsewhere", &types.ThrottleSettings{RateLimit: 1, BurstLimit: 1}, otherStage))
				enroll(t, gw, a, gw.AddPlan("here", &types.ThrottleSettings{RateLimit: 7, BurstLimit: 14}, localStage))
				return usage.KeyValue(a)
			},
			want: front.Throttle{Rate: 7, Burst: 14}, found: true,
		},
		{
			name: "only plans of another stage",
			setup: func(gw *usagetest.APIGateway, src *front.APIGatewayPlans) string {
				src.APIID, src.Stage = testAPI, "local"
				enroll(t, gw, a, gw.AddPlan("elsewhere", &types.ThrottleSettings{RateLimit: 1, BurstLimit: 1}, otherStage))
				return usage.KeyValue(a)
			},
		},
		{
			name: "two plans and no stage to choose by",
			setup: func(gw *usagetest.APIGateway, _ *front.APIGatewayPlans) string {
				enroll(t, gw, a, gw.AddPlan("one", &types.ThrottleSettings{RateLimit: 1, BurstLimit: 1}))
				enroll(t, gw, a, gw.AddPlan("two", &types.ThrottleSettings{RateLimit: 2, BurstLimit: 2}))
				return usage.KeyValue(a)
			},
			wantErr: "API key key000002 is in 2 usage plans (plan000001, plan000003)",
		},
		{
			name: "GetApiKeys fails",
			setup: func(gw *usagetest.APIGateway, _ *front.APIGatewayPlans) string {
				gw.Fail = failing(usagetest.OpGetApiKeys)
				return usage.KeyValue(a)
			},
			wantErr: "API key of usage identifier lanyard-usage-" + a + ": unavailable",
		},
		{
			name: "GetUsagePlans fails",
			setup: func(gw *usagetest.APIGateway, _ *front.APIGatewayPlans) string {
				enroll(t, gw, a, gw.AddPlan("sandbox", &types.ThrottleSettings{RateLimit: 5, BurstLimit: 10}))
				gw.Fail = failing(usagetest.OpGetUsagePlans)
				return usage.KeyValue(a)
			},
			wantErr: "usage plans of API key key000002: unavailable",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gw := &usagetest.APIGateway{}
			src := &front.APIGatewayPlans{Client: gw, Now: (&clock{now: epoch}).Now}
			key := tt.setup(gw, src)
			got, found, err := src.Lookup(t.Context(), key)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Lookup: %v", err)
			}
			if got != tt.want || found != tt.found {
				t.Errorf("Lookup = %+v, %t; want %+v, %t", got, found, tt.want, tt.found)
			}
		})
	}
}

func failing(op string) func(string) error {
	return func(called string) error {
		if called == op {
			return errors.New("unavailable")
		}
		return nil
	}
}

// Answers are kept: a plan found for TTL, a miss for MissTTL; failures not at all.
func TestAPIGatewayPlansCache(t *testing.T) {
	t.Parallel()
	const a, b = "p-aaaaaaaaaaaaaaaaaaaaaaaaaa", "p-bbbbbbbbbbbbbbbbbbbbbbbbbb"
	gw := &usagetest.APIGateway{}
	plan := gw.AddPlan("sandbox", &types.ThrottleSettings{RateLimit: 5, BurstLimit: 10})
	enroll(t, gw, a, plan)
	clk := &clock{now: epoch}
	src := &front.APIGatewayPlans{Client: gw, Now: clk.Now}

	// lookup checks what Lookup answers and whether it asked API Gateway.
	lookup := func(partner string, found, asked bool) {
		t.Helper()
		before := gw.Calls(usagetest.OpGetApiKeys)
		_, ok, err := src.Lookup(t.Context(), usage.KeyValue(partner))
		if err != nil || ok != found {
			t.Fatalf("at +%v: Lookup(%s) found %t, %v; want found %t", clk.Now().Sub(epoch), partner, ok, err, found)
		}
		if did := gw.Calls(usagetest.OpGetApiKeys) > before; did != asked {
			t.Fatalf("at +%v: Lookup(%s) asked API Gateway: %t, want %t", clk.Now().Sub(epoch), partner, did, asked)
		}
	}
	lookup(a, true, true)
	clk.Advance(front.DefaultPlanCacheTTL - time.Millisecond)
	lookup(a, true, false)
	clk.Advance(time.Millisecond)
	lookup(a, true, true)

	// A partner enrolled just after its first request is throttled once the miss expires.
	lookup(b, false, true)
	enroll(t, gw, b, plan)
	clk.Advance(front.DefaultPlanMissTTL - time.Millisecond)
	lookup(b, false, false)
	clk.Advance(time.Millisecond)
	lookup(b, true, true)

	// A failure is not kept.
	gw.Fail = failing(usagetest.OpGetUsagePlans)
	clk.Advance(front.DefaultPlanCacheTTL)
	if _, _, err := src.Lookup(t.Context(), usage.KeyValue(a)); err == nil {
		t.Fatal("a failed lookup answered")
	}
	gw.Fail = nil
	lookup(a, true, true)
}
