package infra

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/features/usage"
)

// usageStack is a small stack: a REST API with one method on a "prod" stage, the usage plans
// of the production policy's tiers, and a role granted enrollment. env nil leaves the stack
// environment-agnostic.
type usageStack struct {
	stack awscdk.Stack
	api   awsapigateway.RestApi
	plans *UsagePlans
	role  awsiam.Role
	tiers []policy.Tier
	tpl   assertions.Template
}

func newUsageStack(t *testing.T, env *awscdk.Environment) usageStack {
	t.Helper()
	p, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	stack := awscdk.NewStack(testApp(t), jsii.String("Usage"), &awscdk.StackProps{Env: env})
	api := awsapigateway.NewRestApi(stack, jsii.String("Api"), &awsapigateway.RestApiProps{
		ApiKeySourceType: awsapigateway.ApiKeySourceType_AUTHORIZER,
		DeployOptions:    &awsapigateway.StageOptions{StageName: jsii.String("prod")},
		CloudWatchRole:   jsii.Bool(false),
	})
	api.Root().AddMethod(jsii.String("GET"), awsapigateway.NewMockIntegration(nil), &awsapigateway.MethodOptions{ApiKeyRequired: jsii.Bool(true)})
	plans, err := NewUsagePlans(stack, "UsagePlans", &UsagePlansProps{API: api, Tiers: p.Tiers})
	if err != nil {
		t.Fatal(err)
	}
	role := awsiam.NewRole(stack, jsii.String("Onboarding"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
	})
	plans.GrantEnroll(role)
	return usageStack{stack: stack, api: api, plans: plans, role: role, tiers: p.Tiers, tpl: assertions.Template_FromStack(stack, nil)}
}

// ref is the CloudFormation Ref of a construct's resource.
func (s usageStack) ref(t *testing.T, node awscdk.CfnElement) map[string]any {
	t.Helper()
	return map[string]any{"Ref": *s.stack.GetLogicalId(node)}
}

// One plan per tier, throttled as the tier declares, on the API's deployed stage, tagged with
// the tier.
func TestUsagePlanPerTier(t *testing.T) {
	s := newUsageStack(t, nil)
	check(t, func() {
		s.tpl.ResourceCountIs(jsii.String("AWS::ApiGateway::UsagePlan"), jsii.Number(len(s.tiers)))
	})
	apiRef := s.ref(t, s.api.Node().DefaultChild().(awscdk.CfnElement))
	stageRef := s.ref(t, s.api.DeploymentStage().Node().DefaultChild().(awscdk.CfnElement))
	for _, tier := range s.tiers {
		plan, ok := s.plans.Plans[tier.Name]
		if !ok {
			t.Errorf("no plan for tier %s", tier.Name)
			continue
		}
		props := s.tpl.ToJSON()
		res := (*props)["Resources"].(map[string]any)[*s.stack.GetLogicalId(plan.Node().DefaultChild().(awscdk.CfnElement))].(map[string]any)
		p := res["Properties"].(map[string]any)
		want := map[string]any{
			"RateLimit":  tier.Throttle.RateLimit,
			"BurstLimit": float64(tier.Throttle.BurstLimit),
		}
		if !reflect.DeepEqual(p["Throttle"], want) {
			t.Errorf("tier %s: throttle %v, want %v", tier.Name, p["Throttle"], want)
		}
		// The API's deployment stage only, with no per-method throttle (CDK writes it empty).
		if stages := p["ApiStages"]; !reflect.DeepEqual(stages, []any{map[string]any{"ApiId": apiRef, "Stage": stageRef, "Throttle": map[string]any{}}}) {
			t.Errorf("tier %s: API stages %v, want the API's deployment stage only", tier.Name, stages)
		}
		if tags := p["Tags"]; !reflect.DeepEqual(tags, []any{map[string]any{"Key": TagTier, "Value": tier.Name}}) {
			t.Errorf("tier %s: tags %v", tier.Name, tags)
		}
		if _, quota := p["Quota"]; quota {
			t.Errorf("tier %s: a quota, none declared", tier.Name)
		}
	}
}

// PlanNamesJSON resolves to the object shared/features/usage reads: every tier, each to its plan's name,
// which is the stack's name and the tier, as the plan itself is named.
func TestPlanNamesJSON(t *testing.T) {
	s := newUsageStack(t, &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("eu-west-1")})
	resolved, ok := s.stack.Resolve(s.plans.PlanNamesJSON()).(string)
	if !ok {
		t.Fatalf("the plan names are not known at synthesis: %v", s.stack.Resolve(s.plans.PlanNamesJSON()))
	}
	var b strings.Builder
	b.WriteString(strings.ReplaceAll(resolved, *s.stack.StackName(), "STACK"))
	plans, err := usage.DecodePlans(b.String())
	if err != nil {
		t.Fatalf("%s: %v", b.String(), err)
	}
	want := map[string]string{}
	for _, tier := range s.tiers {
		want[tier.Name] = "STACK-" + tier.Name
	}
	if !reflect.DeepEqual(plans, want) {
		t.Errorf("plan names %v, want %v", plans, want)
	}
	props := s.tpl.ToJSON()
	for tier, plan := range s.plans.Plans {
		res := (*props)["Resources"].(map[string]any)[*s.stack.GetLogicalId(plan.Node().DefaultChild().(awscdk.CfnElement))].(map[string]any)
		if name := res["Properties"].(map[string]any)["UsagePlanName"]; name != *s.stack.StackName()+"-"+tier {
			t.Errorf("tier %s: plan name %v", tier, name)
		}
	}
}

// GrantEnroll grants exactly what Enroll calls, on exactly these resources.
func TestGrantEnrollIsExact(t *testing.T) {
	s := newUsageStack(t, &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("eu-west-1")})
	const prefix = "arn:aws:apigateway:eu-west-1::"
	tiers := make([]string, 0, len(s.plans.Plans))
	for tier := range s.plans.Plans {
		tiers = append(tiers, tier)
	}
	sort.Strings(tiers)
	post := []any{prefix + "/apikeys", prefix + "/usageplans/*/keys"}
	get := []any{prefix + "/apikeys", prefix + "/usageplans", prefix + "/usageplans/*/keys/*"}
	want := []any{
		map[string]any{"Action": "apigateway:POST", "Effect": "Allow", "Resource": post},
		map[string]any{"Action": "apigateway:GET", "Effect": "Allow", "Resource": get},
		map[string]any{"Action": "apigateway:PUT", "Effect": "Allow",
			"Resource": prefix + "/tags/arn%3Aaws%3Aapigateway%3Aeu-west-1%3A%3A%2Fapikeys%2F*"},
	}

	c, err := newCfn(s.tpl)
	if err != nil {
		t.Fatal(err)
	}
	roleID := *s.stack.GetLogicalId(s.role.Node().DefaultChild().(awscdk.CfnElement))
	var got []any
	for _, id := range c.ofType("AWS::IAM::Policy") {
		p := c.resources[id].Properties
		for _, r := range list(p["Roles"]) {
			if ref, ok := c.target(r); ok && ref.ID == roleID {
				doc := p["PolicyDocument"].(map[string]any)
				got = append(got, doc["Statement"].([]any)...)
			}
		}
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("statements\n%s\nwant\n%s", g, w)
	}
}

// Without a pinned environment the ARNs name the deploying partition and region.
func TestGrantEnrollEnvironmentAgnostic(t *testing.T) {
	s := newUsageStack(t, nil)
	raw, err := json.Marshal(s.tpl.ToJSON())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`{"Ref":"AWS::Partition"}`, `{"Ref":"AWS::Region"}`, `"%3Aapigateway%3A"`, `"%3A%3A%2Fapikeys%2F*"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("the template lacks %s", want)
		}
	}
}
