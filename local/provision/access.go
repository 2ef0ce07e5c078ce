package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	agtypes "github.com/aws/aws-sdk-go-v2/service/apigateway/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"

	"github.com/lanyardhq/lanyard/shared/features/token"
	"github.com/lanyardhq/lanyard/topology"
)

// IAMAPI is the part of IAM the provisioner uses.
type IAMAPI interface {
	GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	CreateRole(context.Context, *iam.CreateRoleInput, ...func(*iam.Options)) (*iam.CreateRoleOutput, error)
	DeleteRole(context.Context, *iam.DeleteRoleInput, ...func(*iam.Options)) (*iam.DeleteRoleOutput, error)
	// What Down takes to empty a role of the policies functions wrote on it (the sts
	// enforcer's deny), which AWS and LocalStack want gone before the role.
	ListRolePolicies(context.Context, *iam.ListRolePoliciesInput, ...func(*iam.Options)) (*iam.ListRolePoliciesOutput, error)
	DeleteRolePolicy(context.Context, *iam.DeleteRolePolicyInput, ...func(*iam.Options)) (*iam.DeleteRolePolicyOutput, error)
	ListAttachedRolePolicies(context.Context, *iam.ListAttachedRolePoliciesInput, ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error)
	DetachRolePolicy(context.Context, *iam.DetachRolePolicyInput, ...func(*iam.Options)) (*iam.DetachRolePolicyOutput, error)
	ListPolicyVersions(context.Context, *iam.ListPolicyVersionsInput, ...func(*iam.Options)) (*iam.ListPolicyVersionsOutput, error)
	DeletePolicyVersion(context.Context, *iam.DeletePolicyVersionInput, ...func(*iam.Options)) (*iam.DeletePolicyVersionOutput, error)
	DeletePolicy(context.Context, *iam.DeletePolicyInput, ...func(*iam.Options)) (*iam.DeletePolicyOutput, error)
}

// APIGatewayAPI is the part of API Gateway the provisioner uses.
type APIGatewayAPI interface {
	GetUsagePlans(context.Context, *apigateway.GetUsagePlansInput, ...func(*apigateway.Options)) (*apigateway.GetUsagePlansOutput, error)
	CreateUsagePlan(context.Context, *apigateway.CreateUsagePlanInput, ...func(*apigateway.Options)) (*apigateway.CreateUsagePlanOutput, error)
	UpdateUsagePlan(context.Context, *apigateway.UpdateUsagePlanInput, ...func(*apigateway.Options)) (*apigateway.UpdateUsagePlanOutput, error)
	DeleteUsagePlan(context.Context, *apigateway.DeleteUsagePlanInput, ...func(*apigateway.Options)) (*apigateway.DeleteUsagePlanOutput, error)
	GetUsagePlanKeys(context.Context, *apigateway.GetUsagePlanKeysInput, ...func(*apigateway.Options)) (*apigateway.GetUsagePlanKeysOutput, error)
	DeleteApiKey(context.Context, *apigateway.DeleteApiKeyInput, ...func(*apigateway.Options)) (*apigateway.DeleteApiKeyOutput, error)
}

var (
	_ IAMAPI        = (*iam.Client)(nil)
	_ APIGatewayAPI = (*apigateway.Client)(nil)
)

// roles creates each declared role in LocalStack's IAM with the trust policy AWS holds it to
// (shared/features/token.TrustPolicy, for the functions' one local role). LocalStack enforces none of
// it, and the role's permissions (the scope grants) are left to the CDK app; what matters
// locally is the ARN that AssumeRole names.
func (p *Provisioner) roles(ctx context.Context, t *topology.Topology, r *Result) error {
	for _, role := range t.Roles {
		name := p.Options.Name(role.Name)
		got, err := p.Clients.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
		if err == nil {
			r.Roles[role.Name] = aws.ToString(got.Role.Arn)
			r.record("role", name, Unchanged, "")
			continue
		}
		if !notFound(err) && !noSuchEntity(err) {
			return fmt.Errorf("get role %s: %w", name, err)
		}
		// The trust AWS holds it to (infra's PartnerAccess builds the same): the functions' role
		// alone, sessions tagged with the partner.
		trust, err := token.TrustPolicy(p.Clients.Role)
		if err != nil {
			return fmt.Errorf("trust policy of role %s: %w", name, err)
		}
		out, err := p.Clients.IAM.CreateRole(ctx, &iam.CreateRoleInput{
			RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trust),
			MaxSessionDuration: aws.Int32(3600),
			Description:        aws.String("Lanyard " + role.Name + ", assumed by " + p.Options.Name(role.AssumedBy)),
		})
		if err != nil {
			return fmt.Errorf("create role %s: %w", name, err)
		}
		r.Roles[role.Name] = aws.ToString(out.Role.Arn)
		r.record("role", name, Created, "assumed by "+role.AssumedBy)
	}
	return nil
}

// usagePlans creates each declared usage plan in LocalStack's API Gateway with its throttle, or
// brings an existing one's throttle in line. `lanyard local`'s front enforces them.
func (p *Provisioner) usagePlans(ctx context.Context, t *topology.Topology, r *Result) error {
	if len(t.UsagePlans) == 0 {
		return nil
	}
	existing := map[string]agtypes.UsagePlan{}
	var position *string
	for {
		page, err := p.Clients.APIGateway.GetUsagePlans(ctx, &apigateway.GetUsagePlansInput{Position: position, Limit: aws.Int32(500)})
		if err != nil {
			return fmt.Errorf("list usage plans: %w", err)
		}
		for _, u := range page.Items {
			existing[aws.ToString(u.Name)] = u
		}
		if page.Position == nil || aws.ToString(page.Position) == aws.ToString(position) {
			break
		}
		position = page.Position
	}
	for _, plan := range t.UsagePlans {
		name := p.Options.Name(plan.Name)
		throttle := &agtypes.ThrottleSettings{RateLimit: plan.RateLimit, BurstLimit: plan.BurstLimit}
		if u, ok := existing[name]; ok {
			r.UsagePlans[plan.Name] = aws.ToString(u.Id)
			if u.Throttle != nil && u.Throttle.RateLimit == plan.RateLimit && u.Throttle.BurstLimit == plan.BurstLimit {
				r.record("usage-plan", name, Unchanged, "")
				continue
			}
			_, err := p.Clients.APIGateway.UpdateUsagePlan(ctx, &apigateway.UpdateUsagePlanInput{
				UsagePlanId: u.Id,
				PatchOperations: []agtypes.PatchOperation{
					{Op: agtypes.OpReplace, Path: aws.String("/throttle/rateLimit"), Value: aws.String(strconv.FormatFloat(plan.RateLimit, 'f', -1, 64))},
					{Op: agtypes.OpReplace, Path: aws.String("/throttle/burstLimit"), Value: aws.String(strconv.Itoa(int(plan.BurstLimit)))},
				},
			})
			if err != nil {
				return fmt.Errorf("update usage plan %s: %w", name, err)
			}
			r.record("usage-plan", name, Updated, "throttle")
			continue
		}
		out, err := p.Clients.APIGateway.CreateUsagePlan(ctx, &apigateway.CreateUsagePlanInput{
			Name: aws.String(name), Throttle: throttle,
			Description: aws.String("Lanyard partners of tier " + plan.Name),
		})
		if err != nil {
			return fmt.Errorf("create usage plan %s: %w", name, err)
		}
		r.UsagePlans[plan.Name] = aws.ToString(out.Id)
		r.record("usage-plan", name, Created, fmt.Sprintf("rate %v/s, burst %d", plan.RateLimit, plan.BurstLimit))
	}
	return nil
}

// usagePlanNames renders the plans' names as the ValueUsagePlans environment value
// (shared/features/usage.PlansEnv).
func (r *Result) usagePlanNames(o Options) (string, error) {
	names := make(map[string]string, len(r.UsagePlans))
	for plan := range r.UsagePlans {
		names[plan] = o.Name(plan)
	}
	b, err := json.Marshal(names)
	if err != nil {
		return "", fmt.Errorf("usage plan names: %w", err)
	}
	return string(b), nil
}

// noSuchEntity reports IAM's not-found error.
func noSuchEntity(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "NoSuchEntity"
}
