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
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/local/provision"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
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

// down removes what a test run provisioned (scheduled rules stop firing) and fails the test
// when something could not be removed.
func down(t *testing.T, env *harness.Env, tp *topology.Topology, prefix string) {
	t.Helper()
	if _, err := provision.Down(context.Background(), provision.NewClients(env.Config, harness.Account, ""), tp, prefix); err != nil {
		t.Errorf("down %s: %v", prefix, err)
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
	tp, p := sampleWithAccess(t, env)
	codeDir := p.Options.CodeDir

	first, err := p.Apply(ctx, tp)
	t.Cleanup(func() { down(t, env, tp, p.Options.Prefix) })
	if err != nil {
		t.Fatalf("first apply: %v", err)
	}
	if n := actions(first); n[provision.Created] == 0 || n[provision.Updated] != 0 {
		t.Fatalf("first apply should only create: %+v", first.Changes)
	}
	for _, kind := range []string{"key", "bus", "log group", "table", "queue", "function", "rule", "event source mapping", "schedule", "role", "usage-plan"} {
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
	if vars["RECORDER_TABLE"] != first.Tables["deliveries"] || vars["EVENT_BUS"] != first.Bus || vars["AWS_ENDPOINT_URL_DYNAMODB"] != env.DynamoDBURL ||
		vars["AUDIT_LOG"] != topology.AuditLogGroupName(p.Options.Prefix) {
		t.Errorf("recorder environment not resolved: %v", vars)
	}
	// The audit log group, encrypted with the deployment's key.
	groups, err := env.Logs.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(topology.AuditLogGroupName(p.Options.Prefix))})
	pol, _ := policy.Default()
	if err != nil || len(groups.LogGroups) != 1 || aws.ToString(groups.LogGroups[0].KmsKeyId) != first.KeyARN ||
		int(aws.ToInt32(groups.LogGroups[0].RetentionInDays)) != pol.Audit.RetentionDays {
		t.Errorf("audit log group %+v, %v; want one, encrypted with %s, kept %d days", groups, err, first.KeyARN, pol.Audit.RetentionDays)
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

// sampleWithAccess is the sample topology with access it does not declare (the CDK app builds
// roles and usage plans from the production declaration only): a role the probe may assume, a
// usage plan, the deployment id; and a provisioner for it under a fresh prefix, its code in a
// folder of the test's own.
func sampleWithAccess(t *testing.T, env *harness.Env) (*topology.Topology, *provision.Provisioner) {
	t.Helper()
	tp := topologytest.Sample()
	tp.Roles = []topology.Role{{Name: "probe-access", AssumedBy: "probe"}}
	tp.UsagePlans = []topology.UsagePlan{{Name: "sandbox", RateLimit: 5, BurstLimit: 10}}
	tp.Functions[0].Env["ACCESS_ROLE"] = topology.RoleARN("probe-access", true)
	tp.Functions[0].Env["USAGE_PLANS"] = topology.UsagePlanIDs(true)
	tp.Functions[0].Env["DEPLOYMENT"] = topology.DeploymentID()
	tp.AuditLog = &topology.AuditLog{Writer: "recorder"}
	tp.Functions[1].Env["AUDIT_LOG"] = topology.AuditLogName(topology.AccessReadWrite)
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
	return tp, &provision.Provisioner{
		Clients: provision.NewClients(env.Config, harness.Account, ""),
		Options: provision.Options{Prefix: harness.Name("lanyard"), CodeDir: codeDir, DynamoDBEndpoint: env.DynamoDBURL},
	}
}

// Down removes everything provisioning created under the prefix, and what the functions
// created (a partner secret, a partner API key in the deployment's usage plan): afterwards
// nothing named with the prefix remains but the key, which KMS keeps pending deletion for
// seven days and Down reports kept. A second Down removes nothing.
func TestDownRemovesWhatApplyCreated(t *testing.T) {
	env := connect(t)
	ctx := context.Background()
	tp, p := sampleWithAccess(t, env)
	prefix := p.Options.Prefix
	res, err := p.Apply(ctx, tp)
	t.Cleanup(func() { down(t, env, tp, prefix) }) // whatever the test left, should it fail
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	secretName := p.Options.SecretsPrefix() + "p-down"
	if _, err := env.SecretsManager.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(secretName), SecretString: aws.String("{}")}); err != nil {
		t.Fatalf("create a partner secret: %v", err)
	}
	keyName := harness.Name("down-key")
	key, err := env.APIGateway.CreateApiKey(ctx, &apigateway.CreateApiKeyInput{Name: aws.String(keyName), Enabled: true})
	if err != nil {
		t.Fatalf("create an API key: %v", err)
	}
	if _, err := env.APIGateway.CreateUsagePlanKey(ctx, &apigateway.CreateUsagePlanKeyInput{
		UsagePlanId: aws.String(res.UsagePlans["sandbox"]), KeyId: key.Id, KeyType: aws.String("API_KEY"),
	}); err != nil {
		t.Fatalf("enroll the API key: %v", err)
	}

	td, err := provision.Down(ctx, p.Clients, tp, prefix)
	if err != nil {
		t.Fatalf("down: %v", err)
	}
	removed := map[string][]string{}
	for _, r := range td.Removed {
		removed[r.Kind] = append(removed[r.Kind], r.Name)
	}
	for kind, want := range map[string]int{
		"rule": len(tp.Consumers) + len(tp.Schedules), "function": len(tp.Functions), "log group": 0,
		"queue": 3*len(tp.Consumers) + len(tp.StreamConsumers), "table": len(tp.Tables), "role": len(tp.Roles),
		"usage plan": len(tp.UsagePlans), "API key": 1, "secret": 1, "bus": 1, "key alias": 1,
	} {
		if got := len(removed[kind]); got < want || (want > 0 && kind != "log group" && got != want) {
			t.Errorf("removed %d of kind %s (%v), want %d", got, kind, removed[kind], want)
		}
	}
	if len(td.Kept) != 1 || td.Kept[0].Kind != "key" || td.Kept[0].Name != res.KeyARN || !strings.Contains(td.Kept[0].Detail, "7 days") {
		t.Errorf("kept %+v, want the key %s, scheduled for deletion", td.Kept, res.KeyARN)
	}
	k, err := env.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(res.KeyARN)})
	if err != nil || k.KeyMetadata.KeyState != kmstypes.KeyStatePendingDeletion {
		t.Errorf("the key after down: %+v, %v; want it pending deletion", k, err)
	}
	for _, left := range remaining(t, env, prefix, keyName) {
		t.Errorf("left after down: %s", left)
	}

	again, err := provision.Down(ctx, p.Clients, tp, prefix)
	if err != nil || len(again.Removed) != 0 || len(again.Kept) != 0 {
		t.Errorf("a second down: %+v, %v; want nothing removed or kept", again, err)
	}
}

// remaining names what still exists with a name under prefix (and the API key keyName), in
// each service provisioning or the functions write to; the key, pending deletion, is not named.
func remaining(t *testing.T, env *harness.Env, prefix, keyName string) []string {
	t.Helper()
	ctx := context.Background()
	var left []string
	check := func(what string, err error) {
		if err != nil {
			t.Fatalf("list %s: %v", what, err)
		}
	}
	named := func(kind, name string) {
		if strings.HasPrefix(name, prefix+"-") || strings.HasPrefix(name, prefix+"/") || name == keyName {
			left = append(left, kind+" "+name)
		}
	}
	tables, err := env.DynamoDB.ListTables(ctx, &dynamodb.ListTablesInput{})
	check("tables", err)
	for _, n := range tables.TableNames {
		named("table", n)
	}
	fns := lambda.NewListFunctionsPaginator(env.Lambda, &lambda.ListFunctionsInput{})
	for fns.HasMorePages() {
		page, err := fns.NextPage(ctx)
		check("functions", err)
		for _, f := range page.Functions {
			named("function", aws.ToString(f.FunctionName))
		}
	}
	esms, err := env.Lambda.ListEventSourceMappings(ctx, &lambda.ListEventSourceMappingsInput{})
	check("event source mappings", err)
	for _, m := range esms.EventSourceMappings {
		fn := aws.ToString(m.FunctionArn)
		named("event source mapping of", fn[strings.LastIndex(fn, ":")+1:])
	}
	queues, err := env.SQS.ListQueues(ctx, &sqs.ListQueuesInput{QueueNamePrefix: aws.String(prefix + "-")})
	check("queues", err)
	for _, u := range queues.QueueUrls {
		named("queue", u[strings.LastIndex(u, "/")+1:])
	}
	rules, err := env.EventBridge.ListRules(ctx, &eventbridge.ListRulesInput{NamePrefix: aws.String(prefix + "-")})
	check("rules", err)
	for _, r := range rules.Rules {
		named("rule", aws.ToString(r.Name))
	}
	buses, err := env.EventBridge.ListEventBuses(ctx, &eventbridge.ListEventBusesInput{NamePrefix: aws.String(prefix + "-")})
	check("buses", err)
	for _, b := range buses.EventBuses {
		named("bus", aws.ToString(b.Name))
	}
	for _, groupPrefix := range []string{"/aws/lambda/" + prefix + "-", "/" + prefix + "/"} {
		groups, err := env.Logs.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(groupPrefix)})
		check("log groups", err)
		for _, g := range groups.LogGroups {
			left = append(left, "log group "+aws.ToString(g.LogGroupName))
		}
	}
	roles := iam.NewListRolesPaginator(env.IAM, &iam.ListRolesInput{})
	for roles.HasMorePages() {
		page, err := roles.NextPage(ctx)
		check("roles", err)
		for _, r := range page.Roles {
			named("role", aws.ToString(r.RoleName))
		}
	}
	plans, err := env.APIGateway.GetUsagePlans(ctx, &apigateway.GetUsagePlansInput{Limit: aws.Int32(500)})
	check("usage plans", err)
	for _, u := range plans.Items {
		named("usage plan", aws.ToString(u.Name))
	}
	keys, err := env.APIGateway.GetApiKeys(ctx, &apigateway.GetApiKeysInput{NameQuery: aws.String(keyName), Limit: aws.Int32(500)})
	check("API keys", err)
	for _, k := range keys.Items {
		named("API key", aws.ToString(k.Name))
	}
	secrets := secretsmanager.NewListSecretsPaginator(env.SecretsManager, &secretsmanager.ListSecretsInput{
		Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{prefix}}},
	})
	for secrets.HasMorePages() {
		page, err := secrets.NextPage(ctx)
		check("secrets", err)
		for _, s := range page.SecretList {
			named("secret", aws.ToString(s.Name))
		}
	}
	aliases := kms.NewListAliasesPaginator(env.KMS, &kms.ListAliasesInput{})
	for aliases.HasMorePages() {
		page, err := aliases.NextPage(ctx)
		check("aliases", err)
		for _, a := range page.Aliases {
			if aws.ToString(a.AliasName) == "alias/"+prefix {
				left = append(left, "key alias "+aws.ToString(a.AliasName))
			}
		}
	}
	return left
}
