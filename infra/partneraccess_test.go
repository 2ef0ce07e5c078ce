package infra

import (
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/features/stsenforcer"
	"github.com/lanyardhq/lanyard/shared/features/token"
)

const partnerStageARN = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod"

// partnerAccessApp is a small stack: a token role, a bystander role, the partner-access role
// built from the production policy, the token role granted to assume it and an enforcer role
// granted to revoke.
type partnerAccessApp struct {
	tpl    assertions.Template
	c      cfn
	pol    *policy.Policy
	access string // logical ids
	token  string
	other  string
	revoke string
}

func synthesizePartnerAccess(t *testing.T, stageARN func(awscdk.Stack) *string) partnerAccessApp {
	t.Helper()
	pol, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	stack := awscdk.NewStack(testApp(t), jsii.String("PartnerAccessTest"), nil)
	lambdaRole := func(id string) awsiam.Role {
		return awsiam.NewRole(stack, jsii.String(id), &awsiam.RoleProps{
			AssumedBy: awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		})
	}
	tokenRole, other, enforcer := lambdaRole("TokenRole"), lambdaRole("OtherRole"), lambdaRole("EnforcerRole")
	pa, err := NewPartnerAccess(stack, "PartnerAccess", &PartnerAccessProps{TokenRole: tokenRole, StageARN: stageARN(stack), Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	pa.GrantAssume(tokenRole)
	pa.GrantRevocation(enforcer)
	tpl := assertions.Template_FromStack(stack, nil)
	c, err := newCfn(tpl)
	if err != nil {
		t.Fatal(err)
	}
	id := func(r awsiam.Role) string { return *stack.GetLogicalId(r.Node().DefaultChild().(awsiam.CfnRole)) }
	return partnerAccessApp{tpl: tpl, c: c, pol: pol, access: id(pa.Role), token: id(tokenRole), other: id(other), revoke: id(enforcer)}
}

func literalStage(awscdk.Stack) *string { return jsii.String(partnerStageARN) }

// The trust policy names the token role and nothing else, allows sts:AssumeRole and
// sts:TagSession, requires the partner tag and allows only the partner and key tags, none
// transitive.
func TestPartnerAccessTrust(t *testing.T) {
	a := synthesizePartnerAccess(t, literalStage)
	role := a.c.resources[a.access]
	tokenArn := map[string]any{"Fn::GetAtt": []any{a.token, "Arn"}}
	var actions []string
	for _, s := range statements(prop(role, "AssumeRolePolicyDocument")) {
		if s.Effect != "Allow" {
			t.Errorf("trust statement %+v", s)
		}
		if !reflect.DeepEqual(s.Principal, map[string]any{"AWS": tokenArn}) {
			t.Errorf("trust principal %v, want exactly the token role", s.Principal)
		}
		cond, _ := s.Condition.(map[string]any)
		null, _ := cond["Null"].(map[string]any)
		if null["aws:RequestTag/partner"] != "false" {
			t.Errorf("%v: the partner tag is not required: %v", s.Actions, s.Condition)
		}
		if slices.Contains(s.Actions, "sts:TagSession") {
			keys, _ := cond["ForAllValues:StringEquals"].(map[string]any)
			if got := stringSet(keys["aws:TagKeys"]); !slices.Equal(got, []string{"key", "partner"}) {
				t.Errorf("tag keys allowed %v, want key and partner", got)
			}
			if null["sts:TransitiveTagKeys"] != "true" {
				t.Errorf("transitive tags not refused: %v", s.Condition)
			}
		}
		actions = append(actions, s.Actions...)
	}
	sort.Strings(actions)
	if !slices.Equal(actions, []string{"sts:AssumeRole", "sts:TagSession"}) {
		t.Errorf("trust actions %v, want sts:AssumeRole and sts:TagSession", actions)
	}

	// The same document `lanyard local` creates the role with (token.TrustPolicy).
	const principal = "arn:aws:iam::123456789012:role/token"
	raw, _ := json.Marshal(prop(role, "AssumeRolePolicyDocument"))
	got := strings.ReplaceAll(string(raw), `{"Fn::GetAtt":["`+a.token+`","Arn"]}`, `"`+principal+`"`)
	want, err := token.TrustPolicy(principal)
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	_ = json.Unmarshal([]byte(got), &g)
	_ = json.Unmarshal([]byte(want), &w)
	if !reflect.DeepEqual(g, w) {
		t.Errorf("trust policy differs from token.TrustPolicy:\n got %s\nwant %s", got, want)
	}

	longest := 0.0
	for _, tier := range a.pol.Tiers {
		longest = max(longest, tier.TokenExchange.SessionDuration.Std().Seconds())
	}
	if got, _ := number(prop(role, "MaxSessionDuration")); got < longest || got < 3600 {
		t.Errorf("MaxSessionDuration %v, want at least %v and IAM's 3600", got, longest)
	}
	if p := prop(role, "Policies"); p != nil {
		t.Errorf("the role has inline policies %v: their quota is the revocation enforcer's", p)
	}
}

// The role may do what the scopes grant, on the routes they name, and nothing else: one managed
// policy of execute-api:Invoke on exactly the resolved routes, never a wildcard action.
func TestPartnerAccessGrants(t *testing.T) {
	a := synthesizePartnerAccess(t, literalStage)
	var want []string
	for _, s := range a.pol.Scopes {
		for _, g := range s.Grants {
			for _, r := range g.Resources {
				want = append(want, partnerStageARN+"/"+r)
			}
		}
	}
	sort.Strings(want)
	want = slices.Compact(want)

	policies := a.c.ofType("AWS::IAM::ManagedPolicy")
	if len(policies) != 2 {
		t.Fatalf("%d managed policies, want 2 (the grants and the boundary)", len(policies))
	}
	var mp, boundary = a.c.resources[policies[0]], policies[1]
	if prop(mp, "Roles") == nil {
		mp, boundary = a.c.resources[policies[1]], policies[0]
	}
	roles := list(prop(mp, "Roles"))
	if len(roles) != 1 || !reflect.DeepEqual(roles[0], map[string]any{"Ref": a.access}) {
		t.Errorf("managed policy attached to %v, want the partner-access role only", roles)
	}
	// The boundary is the same grants, attached to nothing: whatever the revocation
	// enforcer writes on the role, a session can do no more.
	if got := prop(a.c.resources[a.access], "PermissionsBoundary"); !reflect.DeepEqual(got, map[string]any{"Ref": boundary}) {
		t.Errorf("the role's permissions boundary is %v, want the boundary policy %s", got, boundary)
	}
	if b := a.c.resources[boundary]; prop(b, "Roles") != nil || !reflect.DeepEqual(prop(b, "PolicyDocument"), prop(mp, "PolicyDocument")) {
		t.Errorf("the boundary %v differs from the grants %v, or is attached", prop(b, "PolicyDocument"), prop(mp, "PolicyDocument"))
	}
	var got []string
	for _, s := range statements(prop(mp, "PolicyDocument")) {
		if s.Effect != "Allow" || !slices.Equal(s.Actions, []string{"execute-api:Invoke"}) {
			t.Errorf("statement %+v, want Allow execute-api:Invoke", s)
		}
		for _, r := range s.Resources {
			rs, ok := r.(string)
			if !ok {
				t.Errorf("resource %v is not a literal", r)
			}
			got = append(got, rs)
		}
	}
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("resources\n got %v\nwant %v", got, want)
	}
	for _, id := range a.c.ofType("AWS::IAM::Policy") {
		for _, r := range list(prop(a.c.resources[id], "Roles")) {
			if tgt, ok := a.c.target(r); ok && tgt.ID == a.access {
				t.Errorf("policy %s is attached to the partner-access role", id)
			}
		}
	}
	noWildcardActions(t, a.tpl)
}

// noWildcardActions fails for any Allow statement of the template with a wildcard action.
func noWildcardActions(t *testing.T, tpl assertions.Template) {
	t.Helper()
	raw, err := json.Marshal(tpl.ToJSON())
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	eachStatement(doc, func(st statement) {
		for _, act := range st.Actions {
			if st.Effect == "Allow" && strings.Contains(act, "*") {
				t.Errorf("statement allows %q", act)
			}
		}
	})
}

// The token role may assume and tag sessions of the partner-access role and of nothing else;
// no other role may; the enforcer may manage its inline policies and nothing more.
func TestPartnerAccessGrantsOnTheRole(t *testing.T) {
	a := synthesizePartnerAccess(t, literalStage)
	grantsOn := func(role string) map[string][]string { // action → resources
		out := map[string][]string{}
		for _, g := range a.c.grantsOf(role) {
			res := g.Resource.ID + "." + g.Resource.Attr
			if g.Any {
				res = "*"
			}
			out[g.Action] = append(out[g.Action], res)
		}
		return out
	}
	accessArn := a.access + ".Arn"
	want := map[string][]string{"sts:AssumeRole": {accessArn}, "sts:TagSession": {accessArn}}
	if got := grantsOn(a.token); !reflect.DeepEqual(got, want) {
		t.Errorf("token role may %v, want %v", got, want)
	}
	if got := grantsOn(a.other); len(got) != 0 {
		t.Errorf("a bystander role may %v", got)
	}
	want = map[string][]string{
		"iam:DeleteRolePolicy": {accessArn}, "iam:ListAttachedRolePolicies": {accessArn}, "iam:PutRolePolicy": {accessArn},
		"iam:AttachRolePolicy": {accessArn}, "iam:DetachRolePolicy": {accessArn},
		"iam:CreatePolicy": {"policies"}, "iam:CreatePolicyVersion": {"policies"}, "iam:DeletePolicyVersion": {"policies"},
		"iam:ListPolicyVersions": {"policies"},
	}
	got := grantsOn(a.revoke)
	for action, res := range got {
		for i, r := range res {
			if isRevokedSessionsARN(r) {
				res[i] = "policies"
			}
		}
		got[action] = res
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("enforcer may %v, want %v", got, want)
	}
}

// The enforcer attaches and detaches its own managed policies and no other: the statement that
// allows it is conditioned on the policy ARN, the pattern of its policies named after the role;
// and the path is the one the enforcer writes under.
func TestPartnerAccessAttachesOnlyTheEnforcersPolicies(t *testing.T) {
	a := synthesizePartnerAccess(t, literalStage)
	if RevokedSessionsPath != stsenforcer.ManagedPath {
		t.Fatalf("infra's path %q, the enforcer's %q", RevokedSessionsPath, stsenforcer.ManagedPath)
	}
	found := false
	for _, id := range a.c.ofType("AWS::IAM::Policy") {
		for _, s := range statements(prop(a.c.resources[id], "PolicyDocument")) {
			if !slices.Contains(s.Actions, "iam:AttachRolePolicy") {
				continue
			}
			found = true
			cond, _ := s.Condition.(map[string]any)
			like, _ := cond["ArnLike"].(map[string]any)
			b, _ := json.Marshal(like["iam:PolicyARN"])
			if len(cond) != 1 || !isRevokedSessionsARN(string(b)) || !strings.Contains(string(b), `{"Ref":"`+a.access+`"}`) {
				t.Errorf("attach statement conditioned on %v, want ArnLike iam:PolicyARN the role's own revoked-sessions policies", s.Condition)
			}
		}
	}
	if !found {
		t.Error("no statement allows iam:AttachRolePolicy")
	}
}

// A stage ARN of an API in the app resolves, through tokens, under that API's id and stage.
func TestPartnerAccessResolvesAnAPIStage(t *testing.T) {
	var apiID string
	a := synthesizePartnerAccess(t, func(stack awscdk.Stack) *string {
		api := awsapigateway.NewRestApi(stack, jsii.String("PartnerApi"), &awsapigateway.RestApiProps{CloudWatchRole: jsii.Bool(false)})
		api.Root().AddMethod(jsii.String("GET"), awsapigateway.NewMockIntegration(nil), nil)
		apiID = *stack.GetLogicalId(api.Node().DefaultChild().(awsapigateway.CfnRestApi))
		return ExecuteAPIStageARN(api, "live")
	})
	mp := a.c.resources[a.c.ofType("AWS::IAM::ManagedPolicy")[0]]
	stmts := statements(prop(mp, "PolicyDocument"))
	if len(stmts) != 1 || len(stmts[0].Resources) < len(a.pol.Scopes) {
		t.Fatalf("statements %+v", stmts)
	}
	for _, r := range stmts[0].Resources {
		b, _ := json.Marshal(r)
		s := string(b)
		if !strings.Contains(s, `"Ref":"`+apiID+`"`) || !strings.Contains(s, ":execute-api:") || !strings.Contains(s, `/live/`) {
			t.Errorf("resource %s is not under the API's live stage", s)
		}
	}
}

func TestNewPartnerAccessRefusesMissingProps(t *testing.T) {
	stack := awscdk.NewStack(testApp(t), jsii.String("Bad"), nil)
	if _, err := NewPartnerAccess(stack, "PartnerAccess", &PartnerAccessProps{StageARN: jsii.String(partnerStageARN)}); err == nil {
		t.Error("no error without a token role")
	}
}
