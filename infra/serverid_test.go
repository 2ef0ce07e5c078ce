package infra

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/lanyardhq/lanyard/topology"
)

// serverIDs synthesizes the app for env (nil: environment-agnostic) and returns, as JSON, the
// LANYARD_SERVER_ID of every function that has one and the services stack's ServerId output.
func serverIDs(t *testing.T, env *awscdk.Environment) (functions map[string]string, output string) {
	t.Helper()
	st := mustStacks(t, topology.Lanyard(), env, dummyCode(t))
	tmpl := assertions.Template_FromStack(st.Services.Stack, nil)
	functions = map[string]string{}
	for id, r := range *tmpl.FindResources(jsii.String("AWS::Lambda::Function"), nil) {
		var fn struct {
			Properties struct {
				Environment struct{ Variables map[string]any }
			}
		}
		b, _ := json.Marshal(r)
		if err := json.Unmarshal(b, &fn); err != nil {
			t.Fatal(err)
		}
		if v, ok := fn.Properties.Environment.Variables["LANYARD_SERVER_ID"]; ok {
			b, _ := json.Marshal(v)
			functions[id] = string(b)
		}
	}
	var out struct{ Value any }
	if o, ok := (*tmpl.FindOutputs(jsii.String("ServerId"), nil))["ServerId"]; ok {
		b, _ := json.Marshal(o)
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := json.Marshal(out.Value)
	return functions, string(b)
}

// The server id partners sign for is the deployment's own: the same at every synth (the
// stack's identity, nothing random or time-bound), different for another account, region or
// stack name — so staging and production never accept each other's identity proofs — and
// shown as the services stack's ServerId output.
func TestServerIDIsPerDeploymentAndStable(t *testing.T) {
	t.Parallel()
	env := func(account, region string) *awscdk.Environment {
		return &awscdk.Environment{Account: jsii.String(account), Region: jsii.String(region)}
	}
	prod, prodOut := serverIDs(t, env("444455556666", "eu-west-1"))
	if len(prod) == 0 {
		t.Fatal("no function has LANYARD_SERVER_ID")
	}
	const want = `"444455556666/eu-west-1/LanyardServices"`
	for id, v := range prod {
		if v != want {
			t.Errorf("function %s: LANYARD_SERVER_ID %s, want %s", id, v, want)
		}
	}
	if prodOut != want {
		t.Errorf("ServerId output %s, want %s", prodOut, want)
	}

	// Synthesized again: the same id.
	again, _ := serverIDs(t, env("444455556666", "eu-west-1"))
	for id, v := range again {
		if v != prod[id] {
			t.Errorf("function %s: %s at one synth, %s at the next", id, prod[id], v)
		}
	}
	// Another account or region: another id.
	for _, other := range []*awscdk.Environment{env("777788889999", "eu-west-1"), env("444455556666", "us-east-1")} {
		ids, _ := serverIDs(t, other)
		for id, v := range ids {
			if v == prod[id] {
				t.Errorf("function %s: %s/%s has the id %s too", id, *other.Account, *other.Region, v)
			}
		}
	}
	// Environment-agnostic: CloudFormation joins the account and region in at deploy time, the
	// same at every synth.
	agnostic, agnosticOut := serverIDs(t, nil)
	agnosticAgain, _ := serverIDs(t, nil)
	const wantJoin = `{"Fn::Join":["",[{"Ref":"AWS::AccountId"},"/",{"Ref":"AWS::Region"},"/LanyardServices"]]}`
	for id, v := range agnostic {
		if v != wantJoin || agnosticAgain[id] != v {
			t.Errorf("function %s: %s, then %s; want %s", id, v, agnosticAgain[id], wantJoin)
		}
	}
	if agnosticOut != wantJoin {
		t.Errorf("ServerId output %s, want %s", agnosticOut, wantJoin)
	}

	// Another stack name in the same account and region: another id.
	app := testApp(t)
	a := awscdk.NewStack(app, jsii.String("LanyardServices"), &awscdk.StackProps{Env: env("444455556666", "eu-west-1")})
	b := awscdk.NewStack(app, jsii.String("LanyardServicesStaging"), &awscdk.StackProps{Env: env("444455556666", "eu-west-1")})
	if idA, idB := *DeploymentID(a), *DeploymentID(b); idA == idB || idB != "444455556666/eu-west-1/LanyardServicesStaging" {
		t.Errorf("stacks LanyardServices and LanyardServicesStaging: ids %s and %s", idA, idB)
	}
}
