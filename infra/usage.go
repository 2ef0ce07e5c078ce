package infra

import (
	"errors"
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/lanyardhq/lanyard/shared/domain/policy"
)

// TagTier carries a usage plan's tier name.
const TagTier = "lanyard:tier"

// UsagePlansProps configures the usage plans.
type UsagePlansProps struct {
	// API is the REST API the plans throttle. Its API keys must come from the authorizer
	// (ApiKeySourceType AUTHORIZER) and its partner-key methods must require an API key
	// (ApiKeyRequired), or no plan applies to any call.
	API awsapigateway.RestApi
	// Stage is the stage the plans apply to; nil means the API's deployment stage.
	Stage awsapigateway.Stage
	// Tiers are the policy's tiers: one plan each, throttled as the tier declares.
	Tiers []policy.Tier
}

// UsagePlans is one usage plan per tier on the API's stage: the per-partner token bucket
// (rate and burst) each tier declares. Onboarding adds each partner's API key to its tier's
// plan (shared/features/usage.Enroll), with the grant GrantEnroll gives.
type UsagePlans struct {
	constructs.Construct
	// Plans are the plans by tier name.
	Plans map[string]awsapigateway.UsagePlan
}

// NewUsagePlans defines a usage plan for each tier. Tier names must be unique; an error names
// a tier declared twice.
func NewUsagePlans(scope constructs.Construct, id string, props *UsagePlansProps) (*UsagePlans, error) {
	if props == nil || props.API == nil || len(props.Tiers) == 0 {
		return nil, errors.New("usage plans: an API and at least one tier are required")
	}
	seen := map[string]bool{}
	for _, tier := range props.Tiers {
		if seen[tier.Name] {
			return nil, fmt.Errorf("usage plans: tier %q declared twice", tier.Name)
		}
		seen[tier.Name] = true
	}
	c := constructs.NewConstruct(scope, &id)
	stage := props.Stage
	if stage == nil {
		stage = props.API.DeploymentStage()
	}
	u := &UsagePlans{Construct: c, Plans: map[string]awsapigateway.UsagePlan{}}
	for _, tier := range props.Tiers {
		plan := awsapigateway.NewUsagePlan(c, jsii.String(pascal(tier.Name)), &awsapigateway.UsagePlanProps{
			Name:        usagePlanName(c, tier.Name),
			Description: jsii.String("Lanyard tier " + tier.Name + ": the throttle each of its partners gets"),
			Throttle: &awsapigateway.ThrottleSettings{
				RateLimit:  jsii.Number(tier.Throttle.RateLimit),
				BurstLimit: jsii.Number(float64(tier.Throttle.BurstLimit)),
			},
			ApiStages: &[]*awsapigateway.UsagePlanPerApiStage{{Api: props.API, Stage: stage}},
		})
		tag(plan, TagTier, tier.Name)
		u.Plans[tier.Name] = plan
	}
	return u, nil
}

// usagePlanName is a tier's plan name: the stack's name and the tier. The functions find their
// plans by it (shared/features/usage.ResolvePlans): naming the ids in their environment would make the
// functions depend on the plans, the plans on the stage and the stage on the functions.
func usagePlanName(scope constructs.IConstruct, tier string) *string {
	return awscdk.Fn_Join(jsii.String("-"), &[]*string{awscdk.Stack_Of(scope).StackName(), jsii.String(tier)})
}

// PlanNamesJSON is the JSON object of each tier's plan name, which shared/features/usage.DecodePlans
// reads: the value of the onboarding function's usage.PlansEnv.
func (u *UsagePlans) PlanNamesJSON() *string {
	names := map[string]any{}
	for tier := range u.Plans {
		names[tier] = usagePlanName(u.Construct, tier)
	}
	return awscdk.Stack_Of(u.Construct).ToJsonString(names, nil)
}

// GrantEnroll lets grantee call what shared/features/usage.Enroll calls, and nothing more:
//
//   - CreateApiKey: apigateway:POST on /apikeys, and, since the key is created with tags,
//     apigateway:PUT on the tags of API keys (/tags/<URL-encoded API key ARN>);
//   - GetApiKeys (finding the key of a retried onboarding): apigateway:GET on /apikeys;
//   - GetUsagePlans (finding the plans by name): apigateway:GET on /usageplans;
//   - CreateUsagePlanKey: apigateway:POST on /usageplans/*/keys;
//   - GetUsagePlanKey (a retry's key already in the plan): apigateway:GET on
//     /usageplans/*/keys/*.
//
// The plan keys are granted on every plan (*), not on these plans' ids: a grant naming the ids
// makes the function's role depend on the plans, which depend on the API's stage, which depends
// on the function. Nothing but API keys and plan memberships can be changed with it.
func (u *UsagePlans) GrantEnroll(grantee awsiam.IGrantable) awsiam.Grant {
	stack := awscdk.Stack_Of(u.Construct)
	arn := func(resource string) *string {
		return stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("apigateway"), Account: jsii.String(""), Resource: jsii.String(resource),
			ArnFormat: awscdk.ArnFormat_NO_RESOURCE_NAME,
		})
	}
	apiKeys := arn("/apikeys")
	// The tags resource names the tagged resource's ARN URL-encoded: the API keys to come.
	keyTags := arn("/tags/arn%3A" + *stack.Partition() + "%3Aapigateway%3A" + *stack.Region() + "%3A%3A%2Fapikeys%2F*")

	plans := arn("/usageplans")
	planKeys := arn("/usageplans/*/keys")
	planKey := arn("/usageplans/*/keys/*")

	grant := func(action string, resources ...*string) awsiam.Grant {
		return awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
			Grantee: grantee, Actions: jsii.Strings(action), ResourceArns: &resources,
		})
	}
	return grant("apigateway:POST", apiKeys, planKeys).
		Combine(grant("apigateway:GET", apiKeys, plans, planKey)).
		Combine(grant("apigateway:PUT", keyTags))
}

// GrantDisableKeys lets grantee find the partners' API keys by name (GET on the API keys) and
// disable them (PATCH on an API key): what usage.Disable calls, and nothing on the plans.
func (u *UsagePlans) GrantDisableKeys(grantee awsiam.IGrantable) awsiam.Grant {
	stack := awscdk.Stack_Of(u.Construct)
	arn := func(resource string) *string {
		return stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("apigateway"), Account: jsii.String(""), Resource: jsii.String(resource),
			ArnFormat: awscdk.ArnFormat_NO_RESOURCE_NAME,
		})
	}
	grant := func(action string, resources ...*string) awsiam.Grant {
		return awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
			Grantee: grantee, Actions: jsii.Strings(action), ResourceArns: &resources,
		})
	}
	return grant("apigateway:GET", arn("/apikeys")).Combine(grant("apigateway:PATCH", arn("/apikeys/*")))
}
