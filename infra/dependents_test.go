package infra

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/aws/jsii-runtime-go"

	"github.com/lanyardhq/lanyard/topology"
)

// policyStatement is one statement of the REST API's resource policy, as synthesized.
type policyStatement struct {
	Sid       string          `json:"Sid"`
	Effect    string          `json:"Effect"`
	Principal json.RawMessage `json:"Principal"`
	Action    any             `json:"Action"`
	Resource  any             `json:"Resource"`
	Condition map[string]map[string]any
}

// apiPolicy is the resource policy of the services stack's REST API, by statement id.
func apiPolicy(t *testing.T, s synthesized) map[string]policyStatement {
	t.Helper()
	b, err := json.Marshal(s.services.ToJSON())
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Resources map[string]struct {
			Type       string `json:"Type"`
			Properties struct {
				Policy *struct {
					Statement []policyStatement `json:"Statement"`
				} `json:"Policy"`
			} `json:"Properties"`
		} `json:"Resources"`
	}
	if err := json.Unmarshal(b, &tpl); err != nil {
		t.Fatal(err)
	}
	out := map[string]policyStatement{}
	for _, r := range tpl.Resources {
		if r.Type != "AWS::ApiGateway::RestApi" {
			continue
		}
		if r.Properties.Policy == nil {
			t.Fatal("the REST API has no resource policy")
		}
		for _, st := range r.Properties.Policy.Statement {
			out[st.Sid] = st
		}
	}
	return out
}

func strs(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			s, _ := e.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}

// The route restricted to the dependents is denied, in the REST API's resource policy, to every
// principal that is not a declared dependent, and allowed to the dependents; the open and
// partner-key routes are allowed to anyone (the authorizer still decides), and no other
// aws-iam route is allowed by the policy.
func TestIntrospectionIsRestrictedToTheDeclaredDependents(t *testing.T) {
	dependents := []string{"arn:aws:iam::111122223333:role/service/billing-api", "arn:aws:iam::444455556666:user/auditor"}
	top := topology.Lanyard()
	top.Dependents = dependents
	pol := apiPolicy(t, synthesize(t, "lanyard-with-dependents", top))

	const introspection = "execute-api:/*/POST/v1/introspect"
	deny, ok := pol["OnlyDependents"]
	if !ok || deny.Effect != "Deny" || string(deny.Principal) != `{"AWS":"*"}` || !slices.Equal(strs(deny.Resource), []string{introspection}) {
		t.Errorf("deny statement %+v (principal %s), want Deny to everyone on %s", deny, deny.Principal, introspection)
	}
	if got := strs(deny.Condition["ArnNotEquals"]["aws:PrincipalArn"]); !slices.Equal(got, dependents) || len(deny.Condition) != 1 {
		t.Errorf("deny condition %v, want ArnNotEquals aws:PrincipalArn %v", deny.Condition, dependents)
	}
	allow, ok := pol["Dependents"]
	if !ok || allow.Effect != "Allow" || !slices.Equal(strs(allow.Resource), []string{introspection}) {
		t.Errorf("dependents statement %+v, want Allow on %s", allow, introspection)
	}
	var principal struct{ AWS any }
	if err := json.Unmarshal(allow.Principal, &principal); err != nil || !slices.Equal(strs(principal.AWS), dependents) {
		t.Errorf("dependents statement's principal %s, want %v", allow.Principal, dependents)
	}

	open := strs(pol["OpenAndPartnerKeyRoutes"].Resource)
	for _, r := range top.Routes {
		res := methodResource(r)
		if got, want := slices.Contains(open, res), r.Auth != topology.AuthIAM; got != want {
			t.Errorf("route %s %s (%s): allowed to anyone %v, want %v", r.Method, r.Path, r.Auth, got, want)
		}
	}
	if len(pol) != 3 {
		t.Errorf("the policy has %d statements, want 3: %v", len(pol), pol)
	}
}

// With no dependent declared, the route is denied to everyone.
func TestIntrospectionWithoutDependentsIsDeniedToEveryone(t *testing.T) {
	pol := apiPolicy(t, synthesize(t, "lanyard", topology.Lanyard()))
	deny := pol["OnlyDependents"]
	if deny.Effect != "Deny" || deny.Condition != nil || !slices.Equal(strs(deny.Resource), []string{"execute-api:/*/POST/v1/introspect"}) {
		t.Errorf("deny statement %+v, want an unconditional Deny on the route", deny)
	}
	if _, ok := pol["Dependents"]; ok {
		t.Error("an Allow to dependents with none declared")
	}
}

// An account's root as a dependent would, as a resource policy's principal, mean every
// principal of the account: refused.
func TestRootIsNoDependent(t *testing.T) {
	top := topology.Lanyard()
	top.Dependents = []string{"arn:aws:iam::111122223333:root"}
	_, err := NewStacks(testApp(t), top, nil, dummyCode(t))
	if err == nil || !strings.Contains(err.Error(), "root") {
		t.Fatalf("NewStacks: %v, want the root refused", err)
	}
}

func TestDependentsOf(t *testing.T) {
	t.Parallel()
	const a, b = "arn:aws:iam::111122223333:role/a", "arn:aws:iam::111122223333:user/b"
	for _, tc := range []struct {
		name string
		v    any
		want []string
		err  bool
	}{
		{"unset", nil, nil, false},
		{"one on the command line", a, []string{a}, false},
		{"comma separated with blanks", " " + a + " , ," + b, []string{a, b}, false},
		{"a JSON list", []any{a, b}, []string{a, b}, false},
		{"a list holding a number", []any{a, 3.0}, nil, true},
		{"an object", map[string]any{"a": a}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := DependentsOf(tc.v)
			if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
				t.Errorf("DependentsOf = %v, %v; want %v (error %v)", got, err, tc.want, tc.err)
			}
		})
	}
}

// The dependents come from the context the CDK CLI hands the app (CDK_CONTEXT_JSON): a list
// from cdk.json, a string from -c.
func TestDependentsFromTheContext(t *testing.T) {
	t.Parallel()
	const a, b = "arn:aws:iam::111122223333:role/a", "arn:aws:iam::111122223333:user/b"
	for _, tc := range []struct {
		name, json string
		want       []string
		err        bool
	}{
		{"no context", "", nil, false},
		{"other keys only", `{"@aws-cdk/core:enablePartitionLiterals":true}`, nil, false},
		{"a list", `{"lanyard:dependents":["` + a + `","` + b + `"]}`, []string{a, b}, false},
		{"from -c", `{"lanyard:dependents":"` + a + `,` + b + `"}`, []string{a, b}, false},
		{"not JSON", `{`, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Dependents(func(k string) string {
				if k == "CDK_CONTEXT_JSON" {
					return tc.json
				}
				return ""
			})
			if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
				t.Errorf("Dependents = %v, %v; want %v (error %v)", got, err, tc.want, tc.err)
			}
		})
	}
}

// API Gateway applies a changed resource policy only at the stage's next deployment: another
// set of dependents is another deployment (the CDK hashes the REST API's template, its policy
// included, into the deployment's logical id).
func TestNewDependentsRedeployTheStage(t *testing.T) {
	deployment := func(name string, dependents ...string) string {
		t.Helper()
		top := topology.Lanyard()
		top.Dependents = dependents
		b, err := json.Marshal(synthesize(t, name, top).services.FindResources(jsii.String("AWS::ApiGateway::Deployment"), nil))
		if err != nil {
			t.Fatal(err)
		}
		var ids map[string]any
		if err := json.Unmarshal(b, &ids); err != nil || len(ids) != 1 {
			t.Fatalf("deployments %s: %v", b, err)
		}
		for id := range ids {
			return id
		}
		return ""
	}
	none := deployment("lanyard")
	one := deployment("lanyard-with-dependents", "arn:aws:iam::111122223333:role/service/billing-api", "arn:aws:iam::444455556666:user/auditor")
	other := deployment("lanyard-with-another-dependent", "arn:aws:iam::111122223333:role/other")
	if none == one || one == other || none == other {
		t.Errorf("deployments %s, %s, %s: want one per set of dependents", none, one, other)
	}
}
