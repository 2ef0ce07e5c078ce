//go:build integration

package provision_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/local/provision"
	"github.com/lanyardhq/lanyard/topology"
	"github.com/lanyardhq/lanyard/topology/topologytest"
)

func connect(t *testing.T) *harness.Env {
	t.Helper()
	env, err := harness.Connect(context.Background())
	if err != nil {
		t.Fatalf("local servers: %v", err)
	}
	return env
}

// teardown removes what a test run provisioned, so scheduled rules stop firing.
func teardown(t *testing.T, env *harness.Env, tp *topology.Topology, res *provision.Result) {
	t.Helper()
	ctx := context.Background()
	if res == nil {
		return
	}
	for _, c := range append(tp.Consumers, topology.Consumer{}) {
		if c.Name == "" {
			continue
		}
		rule := strings.TrimSuffix(res.Bus, "-bus") + "-" + c.Name
		_, _ = env.EventBridge.RemoveTargets(ctx, &eventbridge.RemoveTargetsInput{Rule: aws.String(rule), EventBusName: aws.String(res.Bus), Ids: []string{"queue"}})
		_, _ = env.EventBridge.DeleteRule(ctx, &eventbridge.DeleteRuleInput{Name: aws.String(rule), EventBusName: aws.String(res.Bus)})
	}
	for _, s := range tp.Schedules {
		rule := strings.TrimSuffix(res.Bus, "-bus") + "-" + s.Name
		_, _ = env.EventBridge.RemoveTargets(ctx, &eventbridge.RemoveTargetsInput{Rule: aws.String(rule), Ids: []string{"function"}})
		_, _ = env.EventBridge.DeleteRule(ctx, &eventbridge.DeleteRuleInput{Name: aws.String(rule)})
	}
	for _, fn := range res.Functions {
		m, _ := env.Lambda.ListEventSourceMappings(ctx, &lambda.ListEventSourceMappingsInput{FunctionName: aws.String(fn)})
		if m != nil {
			for _, esm := range m.EventSourceMappings {
				_, _ = env.Lambda.DeleteEventSourceMapping(ctx, &lambda.DeleteEventSourceMappingInput{UUID: esm.UUID})
			}
		}
		_, _ = env.Lambda.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(fn)})
	}
	for _, url := range res.Queues {
		_, _ = env.SQS.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(url)})
	}
	for _, tb := range res.Tables {
		_, _ = env.DynamoDB.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(tb)})
	}
	_, _ = env.EventBridge.DeleteEventBus(ctx, &eventbridge.DeleteEventBusInput{Name: aws.String(res.Bus)})
	for _, arn := range res.Roles {
		_, _ = env.IAM.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String(arn[strings.LastIndex(arn, "/")+1:])})
	}
	for _, id := range res.UsagePlans {
		_, _ = env.APIGateway.DeleteUsagePlan(ctx, &apigateway.DeleteUsagePlanInput{UsagePlanId: aws.String(id)})
	}
}

func actions(res *provision.Result) map[provision.Action]int {
	n := map[provision.Action]int{}
	for _, c := range res.Changes {
		n[c.Action]++
	}
	return n
}

func TestApplyIsIdempotentAndUpdatesInPlace(t *testing.T) {
	env := connect(t)
	ctx := context.Background()
	tp := topologytest.Sample()
	// Access the sample does not declare (the CDK app builds roles and usage plans from the
	// production declaration only): a role the probe may assume, a usage plan, the deployment id.
	tp.Roles = []topology.Role{{Name: "probe-access", AssumedBy: "probe"}}
	tp.UsagePlans = []topology.UsagePlan{{Name: "sandbox", RateLimit: 5, BurstLimit: 10}}
	tp.Functions[0].Env["ACCESS_ROLE"] = topology.RoleARN("probe-access", true)
	tp.Functions[0].Env["USAGE_PLANS"] = topology.UsagePlanIDs(true)
	tp.Functions[0].Env["DEPLOYMENT"] = topology.DeploymentID()
	codeDir := t.TempDir()
	for _, f := range tp.Functions {
		src := filepath.Join(env.Root, "bin", "local", filepath.Base(f.Main), "function.zip")
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatalf("%v (run `make build-local`)", err)
		}
		if err := os.MkdirAll(filepath.Join(codeDir, filepath.Base(f.Main)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(codeDir, filepath.Base(f.Main), "function.zip"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := &provision.Provisioner{
		Clients: provision.NewClients(env.Config, harness.Account, ""),
		Options: provision.Options{Prefix: harness.Name("lanyard"), CodeDir: codeDir, DynamoDBEndpoint: env.DynamoDBURL},
	}

	first, err := p.Apply(ctx, tp)
	t.Cleanup(func() { teardown(t, env, tp, first) })
	if err != nil {
		t.Fatalf("first apply: %v", err)
	}
	if n := actions(first); n[provision.Created] == 0 || n[provision.Updated] != 0 {
		t.Fatalf("first apply should only create: %+v", first.Changes)
	}
	for _, kind := range []string{"key", "bus", "table", "queue", "function", "rule", "event source mapping", "schedule", "role", "usage-plan"} {
		found := false
		for _, c := range first.Changes {
			found = found || c.Kind == kind
		}
		if !found {
			t.Errorf("nothing of kind %q provisioned", kind)
		}
	}

	// What was declared is there, wired as declared.
	fn, err := env.Lambda.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(first.Functions["recorder"])})
	if err != nil {
		t.Fatalf("recorder function: %v", err)
	}
	vars := fn.Configuration.Environment.Variables
	if vars["RECORDER_TABLE"] != first.Tables["deliveries"] || vars["EVENT_BUS"] != first.Bus || vars["AWS_ENDPOINT_URL_DYNAMODB"] != env.DynamoDBURL {
		t.Errorf("recorder environment not resolved: %v", vars)
	}
	probeFn, err := env.Lambda.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(first.Functions["probe"])})
	if err != nil {
		t.Fatalf("probe function: %v", err)
	}
	pv := probeFn.Configuration.Environment.Variables
	plans, _ := json.Marshal(map[string]string{"sandbox": p.Options.Name("sandbox")})
	if !strings.HasSuffix(pv["ACCESS_ROLE"], ":role/"+p.Options.Name("probe-access")) || pv["USAGE_PLANS"] != string(plans) ||
		first.UsagePlans["sandbox"] == "" || pv["DEPLOYMENT"] != p.Options.Prefix {
		t.Errorf("probe environment not resolved: %v (usage plans %v)", pv, first.UsagePlans)
	}
	if len(first.Streams) != 1 || first.Streams[0].StreamARN == "" || first.Streams[0].OnFailureQueue == "" {
		t.Errorf("stream binding missing: %+v", first.Streams)
	}

	// A second run changes nothing and says so.
	second, err := p.Apply(ctx, tp)
	if err != nil {
		t.Fatalf("second apply: %v", err)
	}
	if second.Changed() {
		for _, c := range second.Changes {
			if c.Action != provision.Unchanged {
				t.Errorf("second apply changed %s %s: %s %s", c.Kind, c.Name, c.Action, c.Detail)
			}
		}
	}

	// Changed code and configuration are updated in place.
	other, _ := os.ReadFile(filepath.Join(codeDir, "recorder", "function.zip"))
	if err := os.WriteFile(filepath.Join(codeDir, "probe", "function.zip"), other, 0o644); err != nil {
		t.Fatal(err)
	}
	tp.Functions[0].Env["PROBE_MODE"] = topology.Literal("changed")
	tp.UsagePlans[0].BurstLimit = 20
	third, err := p.Apply(ctx, tp)
	if err != nil {
		t.Fatalf("third apply: %v", err)
	}
	var probe provision.Change
	for _, c := range third.Changes {
		if c.Kind == "function" && c.Name == first.Functions["probe"] {
			probe = c
		}
	}
	if probe.Action != provision.Updated || probe.Detail != "code, configuration" {
		t.Errorf("probe after a code and env change: %+v", probe)
	}
	plan, err := env.APIGateway.GetUsagePlan(ctx, &apigateway.GetUsagePlanInput{UsagePlanId: aws.String(first.UsagePlans["sandbox"])})
	if err != nil || plan.Throttle == nil || plan.Throttle.BurstLimit != 20 || plan.Throttle.RateLimit != 5 {
		t.Errorf("usage plan after a throttle change: %+v, %v", plan, err)
	}
}
