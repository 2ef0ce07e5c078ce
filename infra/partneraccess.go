package infra

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/domain/sessiontag"
)

// The actions around the partner-access role.
var (
	// PartnerAccessAssumeActions are what the token function's role may do on the role: assume
	// it, and tag the session (a session tag needs sts:TagSession on both sides).
	PartnerAccessAssumeActions = []string{"sts:AssumeRole", "sts:TagSession"}
	// PartnerAccessRevokeActions are what the sts revocation enforcer may do on the role: keep
	// its inline deny policy (aws:PrincipalTag/partner, aws:TokenIssueTime) and list the
	// managed policies attached.
	PartnerAccessRevokeActions = []string{"iam:DeleteRolePolicy", "iam:ListAttachedRolePolicies", "iam:PutRolePolicy"}
	// PartnerAccessAttachActions are what it may do on the role with its own managed policies,
	// and with no other (the condition on iam:PolicyARN).
	PartnerAccessAttachActions = []string{"iam:AttachRolePolicy", "iam:DetachRolePolicy"}
	// PartnerAccessPolicyActions are what it may do on its own managed policies (under
	// stsenforcer.ManagedPath, named after the role): create them and keep their versions.
	PartnerAccessPolicyActions = []string{"iam:CreatePolicy", "iam:CreatePolicyVersion", "iam:DeletePolicyVersion", "iam:ListPolicyVersions"}
)

// RevokedSessionsPath is the IAM path of the sts enforcer's managed policies
// (shared/features/stsenforcer.ManagedPath; a test keeps them equal).
const RevokedSessionsPath = "/lanyard-revoked-sessions/"

// minRoleSession is IAM's floor for a role's MaxSessionDuration.
const minRoleSession = time.Hour

// PartnerAccessProps configures the partner-access role.
type PartnerAccessProps struct {
	// TokenRole is the token function's role: the one principal that may assume the role.
	TokenRole awsiam.IRole
	// StageARN is the partner API stage's execute-api ARN,
	// "arn:<partition>:execute-api:<region>:<account>:<api>/<stage>" (ExecuteAPIStageARN builds
	// it for an API of this app; a token is fine). The scopes' grants resolve under it.
	StageARN *string
	// Policy supplies every scope's grants and the tiers' session durations.
	Policy *policy.Policy
}

// PartnerAccess is the role POST /v1/token hands out sessions of. Its trust policy admits the
// token function's role alone, and only for sessions tagged partner=<id> (the tag revocation
// keys on); its permissions are one customer managed policy, the union of every scope's
// grants, so that the role's inline policy quota (10,240 characters) is left whole to the
// revocation enforcer's deny.
type PartnerAccess struct {
	constructs.Construct
	Role awsiam.Role
	// Grants is the role's managed policy: execute-api:Invoke on the routes the scopes grant.
	Grants awsiam.ManagedPolicy
	// Boundary is the role's permissions boundary, the same grants: no policy written on the
	// role later (the revocation enforcer's) can allow more.
	Boundary awsiam.ManagedPolicy
}

// NewPartnerAccess defines the partner-access role. An error says which prop is missing, or
// that the policy's scopes grant nothing or a wildcard action.
func NewPartnerAccess(scope constructs.Construct, id string, props *PartnerAccessProps) (*PartnerAccess, error) {
	if props == nil || props.TokenRole == nil || props.StageARN == nil || props.Policy == nil {
		return nil, errors.New("partner access: TokenRole, StageARN and Policy are required")
	}
	pol := props.Policy
	// The policy's grants are checked before anything is defined.
	stmts := pol.Permissions(*props.StageARN, pol.ScopeNames())
	if len(stmts) == 0 {
		return nil, errors.New("partner access: the policy's scopes grant nothing")
	}
	for _, s := range stmts {
		for _, a := range s.Action {
			switch {
			case a == "":
				return nil, errors.New("partner access: an empty action")
			case strings.HasSuffix(a, "*"):
				return nil, fmt.Errorf("partner access: wildcard action %q", a)
			}
		}
	}
	c := constructs.NewConstruct(scope, &id)

	longest := minRoleSession
	for _, t := range pol.Tiers {
		longest = max(longest, t.TokenExchange.SessionDuration.Std())
	}
	var statements []awsiam.PolicyStatement
	for _, s := range stmts {
		statements = append(statements, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Effect:    awsiam.Effect_ALLOW,
			Actions:   jsii.Strings(s.Action...),
			Resources: jsii.Strings(s.Resource...),
		}))
	}
	// The same grants bound the role: the sts revocation enforcer writes the role's inline
	// policy and managed policies of its own, and whatever they said, no session could do more.
	boundary := awsiam.NewManagedPolicy(c, jsii.String("Boundary"), &awsiam.ManagedPolicyProps{
		Description: jsii.String(fmt.Sprintf("Lanyard partner access boundary: at most what the scopes of policy revision %d grant", pol.Revision)),
		Statements:  &statements,
	})
	tokenRole := props.TokenRole.RoleArn()
	partnerTag := "aws:RequestTag/" + tagPartner
	role := awsiam.NewRole(c, jsii.String("Role"), &awsiam.RoleProps{
		PermissionsBoundary: boundary,
		Description:         jsii.String("Lanyard partner access: sessions handed out by POST /v1/token, narrowed to the partner's scopes and tagged with the partner"),
		// Sessions without the partner tag cannot be created: revocation could not reach them.
		AssumedBy: awsiam.NewPrincipalWithConditions(awsiam.NewArnPrincipal(tokenRole), &map[string]any{
			"Null": map[string]any{partnerTag: "false"},
		}),
		MaxSessionDuration: seconds(longest.Seconds()),
	})
	// The token function sets exactly the partner and key tags, none transitive.
	role.AssumeRolePolicy().AddStatements(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Effect:     awsiam.Effect_ALLOW,
		Principals: &[]awsiam.IPrincipal{awsiam.NewArnPrincipal(tokenRole)},
		Actions:    jsii.Strings("sts:TagSession"),
		Conditions: &map[string]any{
			"Null": map[string]any{partnerTag: "false", "sts:TransitiveTagKeys": "true"},
			"ForAllValues:StringEquals": map[string]any{
				"aws:TagKeys": []string{tagKey, tagPartner},
			},
		},
	}))

	grants := awsiam.NewManagedPolicy(c, jsii.String("Grants"), &awsiam.ManagedPolicyProps{
		Description: jsii.String(fmt.Sprintf("Lanyard partner access: what the scopes of policy revision %d grant", pol.Revision)),
		Statements:  &statements,
		Roles:       &[]awsiam.IRole{role},
	})
	return &PartnerAccess{Construct: c, Role: role, Grants: grants, Boundary: boundary}, nil
}

// Tag keys as the token function sets them (shared/domain/sessiontag).
const (
	tagPartner = sessiontag.Partner
	tagKey     = sessiontag.Key
)

// GrantAssume lets grantee (the token function's role, which the trust policy names) assume
// the role with session tags, on this role only.
func (p *PartnerAccess) GrantAssume(grantee awsiam.IGrantable) awsiam.Grant {
	return awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings(PartnerAccessAssumeActions...),
		ResourceArns: jsii.Strings(*p.Role.RoleArn()),
	})
}

// GrantRevocation lets grantee (the sts revocation enforcer) keep the deny on
// aws:PrincipalTag/partner and aws:TokenIssueTime: put and delete the role's inline policy,
// create and version its own managed policies ("<role name>-<n>" under RevokedSessionsPath)
// and attach them to the role, nothing else: no other policy may be attached, and no other
// managed policy written.
func (p *PartnerAccess) GrantRevocation(grantee awsiam.IGrantable) {
	roleArn := jsii.Strings(*p.Role.RoleArn())
	awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee: grantee, Actions: jsii.Strings(PartnerAccessRevokeActions...), ResourceArns: roleArn,
	})
	policies := p.RevokedSessionsPolicies()
	grantee.GrantPrincipal().AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:    jsii.Strings(PartnerAccessAttachActions...),
		Resources:  roleArn,
		Conditions: &map[string]any{"ArnLike": map[string]any{"iam:PolicyARN": policies}},
	}))
	grantee.GrantPrincipal().AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings(PartnerAccessPolicyActions...),
		Resources: &[]*string{policies},
	}))
}

// RevokedSessionsPolicies is the ARN pattern of the sts enforcer's managed policies.
func (p *PartnerAccess) RevokedSessionsPolicies() *string {
	return awscdk.Stack_Of(p.Role).FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("iam"), Region: jsii.String(""), Resource: jsii.String("policy"),
		ResourceName: awscdk.Fn_Join(jsii.String(""), jsii.Strings(RevokedSessionsPath[1:], *p.Role.RoleName(), "-*")),
		ArnFormat:    awscdk.ArnFormat_SLASH_RESOURCE_NAME,
	})
}

// ExecuteAPIStageARN is the execute-api ARN of an API's stage,
// "arn:<partition>:execute-api:<region>:<account>:<api id>/<stage>".
func ExecuteAPIStageARN(api awsapigateway.IRestApi, stage string) *string {
	return awscdk.Stack_Of(api).FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("execute-api"),
		Resource:     api.RestApiId(),
		ResourceName: jsii.String(stage),
		ArnFormat:    awscdk.ArnFormat_SLASH_RESOURCE_NAME,
	})
}
