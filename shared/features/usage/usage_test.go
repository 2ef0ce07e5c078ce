package usage_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"

	"github.com/lanyardhq/lanyard/shared/fakes/usagetest"
	"github.com/lanyardhq/lanyard/shared/features/usage"
)

const partnerID = "p-abcdefghijklmnopqrstuvwxyz"

func TestKeyValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		partner, value, name string
	}{
		{partnerID, "lanyard-usage-p-abcdefghijklmnopqrstuvwxyz", "lanyard-p-abcdefghijklmnopqrstuvwxyz"},
		{"p-234567abcdefghijklmnopqrst", "lanyard-usage-p-234567abcdefghijklmnopqrst", "lanyard-p-234567abcdefghijklmnopqrst"},
	}
	for _, tt := range tests {
		t.Run(tt.partner, func(t *testing.T) {
			t.Parallel()
			v := usage.KeyValue(tt.partner)
			if v != tt.value || usage.KeyName(tt.partner) != tt.name {
				t.Errorf("KeyValue %q KeyName %q, want %q %q", v, usage.KeyName(tt.partner), tt.value, tt.name)
			}
			if len(v) < 20 || len(v) > 128 {
				t.Errorf("value of %d characters, outside API Gateway's 20 to 128", len(v))
			}
			if back, ok := usage.PartnerID(v); !ok || back != tt.partner {
				t.Errorf("PartnerID(%q) = %q, %t", v, back, ok)
			}
		})
	}
	for _, v := range []string{"", "lanyard-usage-", "usage-key-7", "lanyard-p-abc"} {
		if id, ok := usage.PartnerID(v); ok {
			t.Errorf("PartnerID(%q) = %q, want not ours", v, id)
		}
	}
}

// enrollTwice enrolls a partner twice in planID and checks the second enrollment changed
// nothing: the same key, one key of that name, the right name, value and tag. It runs against
// the fake here and against LocalStack in the integration test.
func enrollTwice(t *testing.T, client usage.APIGatewayAPI, partner, planID string) string {
	t.Helper()
	ctx := t.Context()
	first, err := usage.Enroll(ctx, client, partner, planID)
	if err != nil {
		t.Fatalf("first enrollment: %v", err)
	}
	second, err := usage.Enroll(ctx, client, partner, planID)
	if err != nil {
		t.Fatalf("second enrollment: %v", err)
	}
	if first == "" || first != second {
		t.Fatalf("key ids %q then %q, want one key", first, second)
	}
	out, err := client.GetApiKeys(ctx, &apigateway.GetApiKeysInput{NameQuery: aws.String(usage.KeyName(partner)), IncludeValues: aws.Bool(true)})
	if err != nil {
		t.Fatalf("GetApiKeys: %v", err)
	}
	n := 0
	for _, k := range out.Items {
		if aws.ToString(k.Name) != usage.KeyName(partner) {
			continue
		}
		n++
		if aws.ToString(k.Id) != first || aws.ToString(k.Value) != usage.KeyValue(partner) || !k.Enabled {
			t.Errorf("key %s value %q enabled %t, want %s %q enabled", aws.ToString(k.Id), aws.ToString(k.Value), k.Enabled, first, usage.KeyValue(partner))
		}
		if k.Tags[usage.TagPartner] != partner {
			t.Errorf("tags %v, want %s=%s", k.Tags, usage.TagPartner, partner)
		}
	}
	if n != 1 {
		t.Errorf("%d keys named %s, want 1", n, usage.KeyName(partner))
	}
	if _, err := client.GetUsagePlanKey(ctx, &apigateway.GetUsagePlanKeyInput{UsagePlanId: aws.String(planID), KeyId: aws.String(first)}); err != nil {
		t.Errorf("the key is not in plan %s: %v", planID, err)
	}
	return first
}

func TestEnrollTwiceIsIdempotent(t *testing.T) {
	t.Parallel()
	fake := &usagetest.APIGateway{}
	planID := fake.AddPlan("sandbox", &types.ThrottleSettings{RateLimit: 5, BurstLimit: 10})
	keyID := enrollTwice(t, fake, partnerID, planID)
	if got := fake.PlanKeys(planID); !reflect.DeepEqual(got, []string{keyID}) {
		t.Errorf("plan keys %v, want [%s]", got, keyID)
	}
	// The retry found the key by name and value and checked the plan; nothing was created.
	for op, want := range map[string]int{
		usagetest.OpCreateApiKey: 2, usagetest.OpGetApiKeys: 2, // one lookup by the retry, one by the check
		usagetest.OpCreateUsagePlanKey: 2, usagetest.OpGetUsagePlanKey: 2,
	} {
		if n := fake.Calls(op); n != want {
			t.Errorf("%s called %d times, want %d", op, n, want)
		}
	}
}

func TestEnroll(t *testing.T) {
	t.Parallel()
	stage := types.ApiStage{ApiId: aws.String("abcdef1234"), Stage: aws.String("prod")}
	boom := errors.New("TooManyRequestsException: slow down")
	tests := []struct {
		name string
		// setup prepares the fake and returns the plan to enroll in.
		setup     func(f *usagetest.APIGateway) string
		partner   string // default partnerID
		noPartner bool   // enroll the partner id ""
		wantErr   string // "" for success
		// wantKey, on success, is the key id expected ("" for a new one).
		wantKey string
		calls   map[string]int
	}{
		{
			name:  "a new partner",
			setup: func(f *usagetest.APIGateway) string { return f.AddPlan("sandbox", nil, stage) },
			calls: map[string]int{usagetest.OpCreateApiKey: 1, usagetest.OpGetApiKeys: 0, usagetest.OpCreateUsagePlanKey: 1, usagetest.OpGetUsagePlanKey: 0},
		},
		{
			name: "the key exists but is in no plan",
			setup: func(f *usagetest.APIGateway) string {
				f.AddKey(usage.KeyName(partnerID), usage.KeyValue(partnerID), true)
				return f.AddPlan("sandbox", nil, stage)
			},
			wantKey: "key000001",
			calls:   map[string]int{usagetest.OpCreateApiKey: 1, usagetest.OpGetApiKeys: 1, usagetest.OpCreateUsagePlanKey: 1, usagetest.OpGetUsagePlanKey: 0},
		},
		{
			name: "the lookup reads every page and skips names that only share the prefix",
			setup: func(f *usagetest.APIGateway) string {
				f.PageSize = 1
				f.AddKey(usage.KeyName(partnerID)+"-old", "another-value-of-twenty-chars", true)
				f.AddKey(usage.KeyName(partnerID)+"x", "yet-another-value-of-twenty", true)
				f.AddKey(usage.KeyName(partnerID), usage.KeyValue(partnerID), true)
				return f.AddPlan("sandbox", nil, stage)
			},
			wantKey: "key000003",
			calls:   map[string]int{usagetest.OpGetApiKeys: 3},
		},
		{
			name: "the value is held by a key of another name",
			setup: func(f *usagetest.APIGateway) string {
				f.AddKey("hand-made", usage.KeyValue(partnerID), true)
				return f.AddPlan("sandbox", nil, stage)
			},
			wantErr: "held by a key of another name",
			calls:   map[string]int{usagetest.OpCreateUsagePlanKey: 0},
		},
		{
			name: "the key is in another plan on the same stage",
			setup: func(f *usagetest.APIGateway) string {
				standard := f.AddPlan("standard", nil, stage)
				if _, err := usage.Enroll(context.Background(), f, partnerID, standard); err != nil {
					panic(err)
				}
				return f.AddPlan("sandbox", nil, stage)
			},
			wantErr: "cannot reference multiple Usage Plans with the same API Stage",
		},
		{
			name:    "an unknown plan",
			setup:   func(*usagetest.APIGateway) string { return "nope" },
			wantErr: "Invalid Usage Plan ID specified",
		},
		{
			name: "CreateApiKey fails",
			setup: func(f *usagetest.APIGateway) string {
				f.Fail = failOn(usagetest.OpCreateApiKey, boom)
				return f.AddPlan("sandbox", nil, stage)
			},
			wantErr: "create API key lanyard-p-abcdefghijklmnopqrstuvwxyz: TooManyRequestsException",
			calls:   map[string]int{usagetest.OpCreateUsagePlanKey: 0},
		},
		{
			name: "the lookup after a conflict fails",
			setup: func(f *usagetest.APIGateway) string {
				f.AddKey(usage.KeyName(partnerID), usage.KeyValue(partnerID), true)
				f.Fail = failOn(usagetest.OpGetApiKeys, boom)
				return f.AddPlan("sandbox", nil, stage)
			},
			wantErr: "look up API key lanyard-p-abcdefghijklmnopqrstuvwxyz: TooManyRequestsException",
		},
		{
			name: "CreateUsagePlanKey fails",
			setup: func(f *usagetest.APIGateway) string {
				f.Fail = failOn(usagetest.OpCreateUsagePlanKey, boom)
				return f.AddPlan("sandbox", nil, stage)
			},
			wantErr: "to usage plan plan000001: TooManyRequestsException",
		},
		{
			name:      "no partner id",
			setup:     func(f *usagetest.APIGateway) string { return f.AddPlan("sandbox", nil) },
			noPartner: true,
			wantErr:   "no partner id",
			calls:     map[string]int{usagetest.OpCreateApiKey: 0},
		},
		{
			name:    "a partner id with a space",
			setup:   func(f *usagetest.APIGateway) string { return f.AddPlan("sandbox", nil) },
			partner: "p-abc defghijklmnopqrstuvwxy",
			wantErr: "has a character other than",
			calls:   map[string]int{usagetest.OpCreateApiKey: 0},
		},
		{
			name:    "a partner id too long for a key value",
			setup:   func(f *usagetest.APIGateway) string { return f.AddPlan("sandbox", nil) },
			partner: "p-" + strings.Repeat("a", 120),
			wantErr: "outside 20 to 128",
			calls:   map[string]int{usagetest.OpCreateApiKey: 0},
		},
		{
			name:    "no plan id",
			setup:   func(*usagetest.APIGateway) string { return "" },
			wantErr: "no usage plan id",
			calls:   map[string]int{usagetest.OpCreateApiKey: 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := &usagetest.APIGateway{}
			planID := tt.setup(fake)
			before := map[string]int{}
			for op := range tt.calls {
				before[op] = fake.Calls(op)
			}
			partner := tt.partner
			if partner == "" && !tt.noPartner {
				partner = partnerID
			}
			keyID, err := usage.Enroll(t.Context(), fake, partner, planID)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if keyID != "" {
					t.Errorf("key id %q with an error", keyID)
				}
			} else {
				if err != nil {
					t.Fatalf("Enroll: %v", err)
				}
				if tt.wantKey != "" && keyID != tt.wantKey {
					t.Errorf("key id %s, want the existing %s", keyID, tt.wantKey)
				}
				if got := fake.PlanKeys(planID); !reflect.DeepEqual(got, []string{keyID}) {
					t.Errorf("plan keys %v, want [%s]", got, keyID)
				}
			}
			for op, want := range tt.calls {
				if n := fake.Calls(op) - before[op]; n != want {
					t.Errorf("%s called %d times, want %d", op, n, want)
				}
			}
		})
	}
}

func failOn(op string, err error) func(string) error {
	return func(called string) error {
		if called == op {
			return err
		}
		return nil
	}
}

func TestPlansEnvironment(t *testing.T) {
	t.Parallel()
	plans := map[string]string{"sandbox": "a1b2c3", "premium": "d4e5f6"}
	s, err := usage.EncodePlans(plans)
	if err != nil {
		t.Fatal(err)
	}
	back, err := usage.DecodePlans(s)
	if err != nil || !reflect.DeepEqual(back, plans) {
		t.Fatalf("DecodePlans(%s) = %v, %v", s, back, err)
	}
	for _, bad := range []string{"", "{}", "[]", `{"sandbox":""}`, `{"":"a1b2c3"}`, `{"sandbox":1}`} {
		if _, err := usage.DecodePlans(bad); err == nil {
			t.Errorf("DecodePlans(%q) accepted it", bad)
		}
	}
	if _, err := usage.EncodePlans(nil); err == nil {
		t.Error("EncodePlans accepted no plans")
	}
}

func TestResolvePlans(t *testing.T) {
	t.Parallel()
	gw := &usagetest.APIGateway{PageSize: 1}
	sandbox := gw.AddPlan("lanyard-sandbox", nil)
	standard := gw.AddPlan("lanyard-standard", nil)
	gw.AddPlan("another-app-sandbox", nil)
	ids, err := usage.ResolvePlans(t.Context(), gw, map[string]string{"sandbox": "lanyard-sandbox", "standard": "lanyard-standard"})
	if err != nil || !reflect.DeepEqual(ids, map[string]string{"sandbox": sandbox, "standard": standard}) {
		t.Errorf("ResolvePlans = %v, %v", ids, err)
	}
	if _, err := usage.ResolvePlans(t.Context(), gw, map[string]string{"premium": "lanyard-premium"}); err == nil || !strings.Contains(err.Error(), `"lanyard-premium" of tier premium not found`) {
		t.Errorf("a missing plan: %v", err)
	}
}

func TestEnrollerEnrollsInTheTiersPlan(t *testing.T) {
	t.Parallel()
	gw := &usagetest.APIGateway{}
	sandbox := gw.AddPlan("lanyard-sandbox", nil)
	standard := gw.AddPlan("lanyard-standard", nil)
	e := &usage.Enroller{Client: gw, Names: map[string]string{"sandbox": "lanyard-sandbox", "standard": "lanyard-standard"}}
	if err := e.Enroll(t.Context(), partnerID, "standard"); err != nil {
		t.Fatal(err)
	}
	if err := e.Enroll(t.Context(), partnerID, "standard"); err != nil {
		t.Fatalf("enroll again: %v", err)
	}
	if keys := gw.PlanKeys(standard); len(keys) != 1 || len(gw.PlanKeys(sandbox)) != 0 {
		t.Errorf("standard plan keys %v, sandbox %v", keys, gw.PlanKeys(sandbox))
	}
	if n := gw.Calls(usagetest.OpGetUsagePlans); n != 1 {
		t.Errorf("the plans were listed %d times, want once", n)
	}
	if err := e.Enroll(t.Context(), partnerID, "premium"); err == nil {
		t.Error("enrolled in a tier without a plan")
	}
}

// Disable turns the partner's API key off once: a second call, or a partner without a key,
// changes nothing; another partner's key, and a key of the same name prefix, stay on.
func TestDisable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	fake := &usagetest.APIGateway{PageSize: 1}
	other := partnerID + "x"
	lookalike := fake.AddKey(usage.KeyName(partnerID)+"-copy", usage.KeyValue(partnerID)+"-copy", true)
	mine := fake.AddKey(usage.KeyName(partnerID), usage.KeyValue(partnerID), true)
	theirs := fake.AddKey(usage.KeyName(other), usage.KeyValue(other), true)

	for i, want := range []bool{true, false} {
		changed, err := usage.Disable(ctx, fake, partnerID)
		if err != nil || changed != want {
			t.Fatalf("Disable #%d: changed %t, %v; want %t", i+1, changed, err, want)
		}
	}
	enabled := map[string]bool{}
	for _, k := range fake.Keys() {
		enabled[aws.ToString(k.Id)] = k.Enabled
	}
	if enabled[mine] || !enabled[theirs] || !enabled[lookalike] {
		t.Errorf("enabled %v: want only %s off", enabled, mine)
	}
	if n := fake.Calls(usagetest.OpUpdateApiKey); n != 1 {
		t.Errorf("UpdateApiKey called %d times, want 1", n)
	}
	if changed, err := usage.Disable(ctx, fake, "p-withoutanykey0000000000000"); err != nil || changed {
		t.Errorf("Disable of a partner without a key: changed %t, %v", changed, err)
	}
	// Enable turns the partner's key back on, once, and no other.
	for i, want := range []bool{true, false} {
		changed, err := usage.Enable(ctx, fake, partnerID)
		if err != nil || changed != want {
			t.Fatalf("Enable #%d: changed %t, %v; want %t", i+1, changed, err, want)
		}
	}
	for _, k := range fake.Keys() {
		if !k.Enabled {
			t.Errorf("key %s still disabled after Enable", aws.ToString(k.Id))
		}
	}
	if changed, err := usage.Enable(ctx, fake, "p-withoutanykey0000000000000"); err != nil || changed {
		t.Errorf("Enable of a partner without a key: changed %t, %v", changed, err)
	}
	if _, err := usage.Disable(ctx, fake, "p/../x"); err == nil {
		t.Error("Disable accepted a malformed partner id")
	}
}
