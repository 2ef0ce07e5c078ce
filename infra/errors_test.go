package infra

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"

	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/topology"
	"github.com/lanyardhq/lanyard/topology/topologytest"
)

// returnsError runs build and fails t unless it returns an error (not a panic) whose message
// holds every one of want, on one line.
func returnsError(t *testing.T, build func() error, want ...string) {
	t.Helper()
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("panicked instead of returning an error: %v", r)
			}
		}()
		err = build()
	}()
	if err == nil {
		t.Fatalf("no error; want one naming %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not name %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q is more than one line", err)
	}
}

// setEnv gives the declared function fn the environment variable name.
func setEnv(fn, name string, v topology.Value) func(*topology.Topology) {
	return func(top *topology.Topology) {
		for i := range top.Functions {
			if top.Functions[i].Name == fn {
				top.Functions[i].Env[name] = v
				return
			}
		}
		panic("no function " + fn + " in the sample")
	}
}

// Each declaration the sample could be changed into that the stacks cannot be built from is an
// error of NewStacks naming the entry, never a panic. topology.Validate refuses most of them
// first; the builder does not count on it.
func TestBadDeclarationsAreErrorsNamingTheEntry(t *testing.T) {
	const missing = `function "missing" is not declared`
	noRoutes := func(top *topology.Topology) { top.Routes, top.Authorizer = nil, nil }
	cases := []struct {
		name   string
		change func(*topology.Topology)
		want   []string
	}{
		{"consumer of an undeclared function", func(top *topology.Topology) { top.Consumers[0].Function = "missing" },
			[]string{"consumer revocations", missing}},
		{"stream consumer of an undeclared table", func(top *topology.Topology) { top.StreamConsumers[0].Table = "missing" },
			[]string{"stream consumer of missing", `table "missing" is not declared`}},
		{"stream consumer of an undeclared function", func(top *topology.Topology) { top.StreamConsumers[0].Function = "missing" },
			[]string{"stream consumer of records", missing}},
		{"authorizer of an undeclared function", func(top *topology.Topology) { top.Authorizer.Function = "missing" },
			[]string{"authorizer", missing}},
		{"partner-key route without an authorizer", func(top *topology.Topology) { top.Authorizer = nil },
			[]string{"route GET /v1/probe", "partner-key authorization but no authorizer declared"}},
		{"route with an unknown authorization", func(top *topology.Topology) { top.Routes[2].Auth = "cookie" },
			[]string{"route POST /v1/admin/probe", `unknown authorization "cookie"`}},
		{"route to an undeclared function", func(top *topology.Topology) { top.Routes[3].Function = "missing" },
			[]string{"route GET /v1/open", missing}},
		{"usage plans without routes", func(top *topology.Topology) {
			noRoutes(top)
			top.UsagePlans = []topology.UsagePlan{{Name: "gold", RateLimit: 10, BurstLimit: 20}}
		}, []string{"usage plans need the REST API"}},
		{"usage plan declared twice", func(top *topology.Topology) {
			top.UsagePlans = []topology.UsagePlan{{Name: "gold", RateLimit: 10, BurstLimit: 20}, {Name: "gold", RateLimit: 1, BurstLimit: 2}}
		}, []string{`tier "gold" declared twice`}},
		{"role without routes", func(top *topology.Topology) {
			noRoutes(top)
			top.Roles = []topology.Role{{Name: "partner-access", AssumedBy: "probe"}}
		}, []string{"role partner-access", "declare a route"}},
		{"role assumed by an undeclared function", func(top *topology.Topology) {
			top.Roles = []topology.Role{{Name: "partner-access", AssumedBy: "missing"}}
		}, []string{"role partner-access", missing}},
		{"secret rotation by an undeclared function", func(top *topology.Topology) {
			top.SecretRotation = &topology.SecretRotation{Function: "missing"}
		}, []string{"secret rotation", missing}},
		{"schedule of an undeclared function", func(top *topology.Topology) { top.Schedules[0].Function = "missing" },
			[]string{"schedule probe-tick", missing}},
		{"table with an unknown stream view", func(top *topology.Topology) { top.Tables[0].Stream = "KEYS_ONLY" },
			[]string{`table "records"`, `unknown stream view "KEYS_ONLY"`}},
		{"partition key of an unknown type", func(top *topology.Topology) { top.Tables[1].PartitionKey.Type = "BOOL" },
			[]string{`table "deliveries"`, "partition key", `attribute "pk"`, `unknown type "BOOL"`}},
		{"sort key of an unknown type", func(top *topology.Topology) { top.Tables[1].SortKey = &topology.Attr{Name: "sk", Type: "BOOL"} },
			[]string{`table "deliveries"`, "sort key", `attribute "sk"`, `unknown type "BOOL"`}},
		{"index key of an unknown type", func(top *topology.Topology) { top.Tables[0].Indexes[0].PartitionKey.Type = "L" },
			[]string{`table "records"`, `index "by-sk"`, `attribute "sk"`, `unknown type "L"`}},
		{"index sort key of an unknown type", func(top *topology.Topology) {
			top.Tables[0].Indexes[0].SortKey = &topology.Attr{Name: "pk", Type: "L"}
		}, []string{`table "records"`, `index "by-sk"`, "sort key", `attribute "pk"`, `unknown type "L"`}},
		{"environment: undeclared table", setEnv("probe", "BAD", topology.TableName("missing", topology.AccessRead)),
			[]string{`function "probe", BAD`, `table "missing" is not declared`}},
		{"environment: table access unknown", setEnv("probe", "BAD", topology.TableName("records", "admin")),
			[]string{`function "probe", BAD`, `unknown access "admin"`}},
		{"environment: key access unknown", setEnv("probe", "BAD", topology.KeyARN("admin")),
			[]string{`function "probe", BAD`, `unknown access "admin"`}},
		{"environment: undeclared queue", setEnv("probe", "BAD", topology.Value{Kind: topology.ValueQueue, Name: "missing"}),
			[]string{`function "probe", BAD`, `queue "missing" is not declared`}},
		{"environment: queue access unknown", setEnv("probe", "BAD", topology.Value{Kind: topology.ValueQueue, Name: "revocations", Access: "admin"}),
			[]string{`function "probe", BAD`, `unknown access "admin"`}},
		{"environment: undeclared function", setEnv("probe", "BAD", topology.FunctionARN("missing", false)),
			[]string{`function "probe", BAD`, missing}},
		{"environment: undeclared role", setEnv("probe", "BAD", topology.RoleARN("missing", false)),
			[]string{`function "probe", BAD`, `role "missing" is not declared`}},
		{"environment: API stage without routes", func(top *topology.Topology) {
			noRoutes(top)
			setEnv("probe", "BAD", topology.APIStageARN(false))(top)
		}, []string{`function "probe", BAD`, "no REST API is declared"}},
		{"environment: usage plans undeclared", setEnv("probe", "BAD", topology.UsagePlanIDs(false)),
			[]string{`function "probe", BAD`, "no usage plan is declared"}},
		{"environment: secrets access unknown", setEnv("probe", "BAD", topology.SecretPrefix("admin")),
			[]string{`function "probe", BAD`, `unknown access "admin"`}},
		{"role whose construct id the API has", func(top *topology.Topology) {
			top.Roles = []topology.Role{{Name: "api", AssumedBy: "probe"}}
		}, []string{"the CDK refused the declaration", "There is already a Construct with name 'Api'"}},
		{"two stream consumers of one table", func(top *topology.Topology) {
			again := top.StreamConsumers[0]
			again.OnFailureQueue = "records-stream-failures-again"
			top.StreamConsumers = append(top.StreamConsumers, again)
		}, []string{"the CDK refused the declaration", "There is already a Construct with name 'Records'"}},
		{"environment: unknown value kind", setEnv("probe", "BAD", topology.Value{Kind: "parameter", Name: "x"}),
			[]string{`function "probe", BAD`, `unknown value kind "parameter"`}},
	}
	code := dummyCode(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			top := topologytest.Sample()
			c.change(top)
			returnsError(t, func() error {
				_, err := NewStacks(testApp(t), top, nil, code)
				return err
			}, c.want...)
		})
	}
}

// A function whose deployment package is not built is an error naming the function and the
// package, from the package lookup and from the stacks it would be built into.
func TestMissingFunctionPackageIsAnErrorNamingTheFunction(t *testing.T) {
	root := t.TempDir()
	want := []string{`function "probe": package ` + root + "/bin/probe/function.zip: no such file"}
	returnsError(t, func() error {
		_, err := FunctionPackage(root, topology.Function{Name: "probe"})
		return err
	}, want...)
	returnsError(t, func() error {
		_, err := NewStacks(testApp(t), topologytest.Sample(), nil, func(fn topology.Function) (awslambda.Code, error) {
			path, err := FunctionPackage(root, fn)
			if err != nil {
				return nil, err
			}
			return awslambda.Code_FromAsset(jsii.String(path), nil), nil
		})
		return err
	}, want...)
}

// Synth's errors are one line naming each bad entry, before any construct is defined: an
// invalid declaration, then the function packages not built.
func TestSynthErrorsNameEachEntryOnOneLine(t *testing.T) {
	root := t.TempDir()
	bad := topologytest.Sample()
	bad.Functions[0].MemoryMB = 64
	cases := []struct {
		name string
		top  *topology.Topology
		root string
		want []string
	}{
		{"invalid declaration", bad, "", []string{"the topology is not valid", `function "probe": memory 64 MB`}},
		{"functions without main packages", topologytest.Sample(), root,
			[]string{"the topology is not valid", `function "probe": no main package`, `function "recorder": no main package`}},
		{"packages not built", topologytest.Sample(), "..", []string{"function packages missing (run `make build` first)",
			`function "probe": package ../bin/probe/function.zip: no such file`, `function "recorder": package ../bin/recorder/function.zip`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			returnsError(t, func() error { return Synth(c.top, c.root, nil) }, c.want...)
		})
	}
}

// Props a construct cannot be built without, and policy values it refuses, are errors naming
// the construct and the prop.
func TestBadPropsAreErrors(t *testing.T) {
	withGrant := func(actions ...string) *policy.Policy {
		pol, err := policy.Default()
		if err != nil {
			t.Fatal(err)
		}
		pol.Scopes[0].Grants[0].Actions = actions
		return pol
	}
	noScopes, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	noScopes.Scopes = nil
	partnerAccess := func(pol *policy.Policy) func(awscdk.Stack) error {
		return func(stack awscdk.Stack) error {
			role := awsiam.NewRole(stack, jsii.String("TokenRole"), &awsiam.RoleProps{
				AssumedBy: awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
			})
			_, err := NewPartnerAccess(stack, "PartnerAccess", &PartnerAccessProps{TokenRole: role, StageARN: jsii.String(partnerStageARN), Policy: pol})
			return err
		}
	}
	cases := []struct {
		name  string
		build func(awscdk.Stack) error
		want  []string
	}{
		{"services stack without props", func(stack awscdk.Stack) error {
			_, err := NewServicesStack(stack, "Services", nil)
			return err
		}, []string{"services stack: topology, key, bus and code are required"}},
		{"tables stack without a key", func(stack awscdk.Stack) error {
			_, err := NewTablesStack(stack, "Tables", &TablesStackProps{Tables: topologytest.Sample().Tables})
			return err
		}, []string{"tables stack: a key is required"}},
		{"API without a topology", func(stack awscdk.Stack) error {
			_, err := NewAPI(stack, "Api", &APIProps{})
			return err
		}, []string{"api: a topology is required"}},
		{"usage plans without tiers", func(stack awscdk.Stack) error {
			api := awsapigateway.NewRestApi(stack, jsii.String("Api"), &awsapigateway.RestApiProps{CloudWatchRole: jsii.Bool(false)})
			_, err := NewUsagePlans(stack, "UsagePlans", &UsagePlansProps{API: api})
			return err
		}, []string{"usage plans: an API and at least one tier are required"}},
		{"partner access without a token role", func(stack awscdk.Stack) error {
			_, err := NewPartnerAccess(stack, "PartnerAccess", &PartnerAccessProps{StageARN: jsii.String(partnerStageARN)})
			return err
		}, []string{"partner access: TokenRole, StageARN and Policy are required"}},
		{"policy whose scopes grant nothing", partnerAccess(noScopes), []string{"partner access: the policy's scopes grant nothing"}},
		{"policy granting a wildcard action", partnerAccess(withGrant("execute-api:*")), []string{`partner access: wildcard action "execute-api:*"`}},
		{"policy granting every action", partnerAccess(withGrant("*")), []string{`partner access: wildcard action "*"`}},
		{"policy granting an empty action", partnerAccess(withGrant("")), []string{"partner access: an empty action"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stack := awscdk.NewStack(testApp(t), jsii.String("Bad"), nil)
			returnsError(t, func() error { return c.build(stack) }, c.want...)
		})
	}
}

// What the CDK throws becomes an error (its first line); a Go runtime error or any other panic
// is a programming error and stays a panic.
func TestRecoverCDKTakesOnlyWhatTheCDKThrows(t *testing.T) {
	var nilMap map[string]int
	cases := []struct {
		name      string
		do        func()
		wantErr   string // "" for none
		wantPanic bool
	}{
		{"thrown by the CDK", func() { panic(errors.New("There is already a Construct with name 'Api'\n    at Node.addChild")) },
			"the CDK refused the declaration: There is already a Construct with name 'Api'", false},
		{"runtime error", func() { nilMap["x"]++ }, "", true},
		{"jsii argument check", func() { panic("Field Props.Code is required, but has nil value") }, "", true},
		{"no panic", func() {}, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			panicked := func() (p bool) {
				defer func() { p = recover() != nil }()
				func() {
					defer recoverCDK(&err)
					c.do()
				}()
				return false
			}()
			if panicked != c.wantPanic {
				t.Errorf("panicked %v, want %v", panicked, c.wantPanic)
			}
			if got := fmt.Sprint(err); (c.wantErr == "" && err != nil) || (c.wantErr != "" && got != c.wantErr) {
				t.Errorf("error %v, want %q", err, c.wantErr)
			}
		})
	}
}
