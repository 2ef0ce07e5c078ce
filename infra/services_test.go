package infra

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/topology"
	"github.com/lanyardhq/lanyard/topology/topologytest"
)

// The declarations the app is tested against: production and the sample that uses every
// kind of entry.
var declarations = []struct {
	name     string
	topology func() *topology.Topology
}{
	{"lanyard", topology.Lanyard},
	{"sample", topologytest.Sample},
}

// synthesized are the templates of the app's stacks built from one topology; tables is nil
// when the topology declares no table (the app has no tables stack then).
type synthesized struct {
	foundation, services assertions.Template
	tables               assertions.Template
}

func (s synthesized) all() []assertions.Template {
	all := []assertions.Template{s.foundation, s.services}
	if s.tables != nil {
		all = append(all, s.tables)
	}
	return all
}

var (
	synthMu    sync.Mutex
	synthCache = map[string]synthesized{}
)

// synthesize builds the app lanyard-cdk builds (NewStacks) from the named declaration, once per
// test binary. Each function's code is a dummy bootstrap, so the tests need no `make build`.
func synthesize(t *testing.T, name string, top *topology.Topology) synthesized {
	t.Helper()
	synthMu.Lock()
	defer synthMu.Unlock()
	if s, ok := synthCache[name]; ok {
		return s
	}
	st := mustStacks(t, top, nil, dummyCode(t))
	s := synthesized{
		foundation: assertions.Template_FromStack(st.Foundation.Stack, nil),
		services:   assertions.Template_FromStack(st.Services.Stack, nil),
	}
	if st.Tables != nil {
		s.tables = assertions.Template_FromStack(st.Tables.Stack, nil)
	}
	synthCache[name] = s
	return s
}

// mustStacks defines the app's stacks (NewStacks) in a test app and fails the test on an error.
func mustStacks(t *testing.T, top *topology.Topology, env *awscdk.Environment, code func(topology.Function) (awslambda.Code, error)) Stacks {
	t.Helper()
	st, err := NewStacks(testApp(t), top, env, code)
	if err != nil {
		t.Fatalf("NewStacks: %v", err)
	}
	return st
}

// dummyCode gives every function the same deployment package: a dummy bootstrap.
func dummyCode(t *testing.T) func(topology.Function) (awslambda.Code, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bootstrap"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return func(topology.Function) (awslambda.Code, error) {
		return awslambda.Code_FromAsset(jsii.String(dir), nil), nil
	}
}

// check runs CDK assertions, which panic on a mismatch, as a test failure.
func check(t *testing.T, assertions func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%v", r)
		}
	}()
	assertions()
}

func TestEveryDeclaredEntryHasACounterpart(t *testing.T) {
	for _, d := range declarations {
		t.Run(d.name, func(t *testing.T) {
			top := d.topology()
			if err := top.Validate("..", events.Known); err != nil {
				t.Fatalf("declaration not valid: %v", err)
			}
			s := synthesize(t, d.name, top)
			for _, m := range missingCounterparts(top, s.all()...) {
				t.Error(m)
			}

			// Nothing beyond the declaration either.
			count := func(tpl assertions.Template, typ string, n int) {
				t.Helper()
				check(t, func() { tpl.ResourceCountIs(jsii.String(typ), jsii.Number(n)) })
			}
			count(s.services, "AWS::Lambda::Function", len(top.Functions))
			count(s.services, "AWS::ApiGateway::Method", len(top.Routes))
			count(s.services, "AWS::Lambda::EventSourceMapping", len(top.Consumers)+len(top.StreamConsumers))
			count(s.services, "AWS::Events::Rule", len(top.Consumers)+len(top.Schedules))
			count(s.services, "AWS::DynamoDB::Table", 0)
			if s.tables != nil {
				count(s.tables, "AWS::DynamoDB::Table", len(top.Tables))
			} else if len(top.Tables) > 0 {
				t.Error("tables declared but no tables stack")
			}
			if len(top.Routes) > 0 {
				count(s.services, "AWS::ApiGateway::GatewayResponse", len(top.GatewayResponses))
			}
		})
	}
}

// The checker itself: built from the sample, checked against a declaration with one more of
// each kind of entry, or with one setting changed, it must name what is not built.
func TestMissingCounterpartsReportsWhatIsNotBuilt(t *testing.T) {
	s := synthesize(t, "sample", topologytest.Sample())
	if m := missingCounterparts(topologytest.Sample(), s.all()...); len(m) != 0 {
		t.Fatalf("the sample itself is reported: %v", m)
	}

	cases := []struct {
		name   string
		change func(*topology.Topology)
		want   string
	}{
		{"extra function", func(tp *topology.Topology) {
			tp.Functions = append(tp.Functions, topology.Function{Name: "extra", Main: "functions/extra", MemoryMB: 256, Timeout: 3 * time.Second})
		}, "function extra:"},
		{"extra route", func(tp *topology.Topology) {
			tp.Routes = append(tp.Routes, topology.Route{Method: "DELETE", Path: "/v1/probe/{id}", Function: "probe", Auth: topology.AuthIAM})
		}, "route DELETE /v1/probe/{id}:"},
		{"extra consumer", func(tp *topology.Topology) {
			tp.Consumers = append(tp.Consumers, topology.Consumer{Name: "extra", Function: "probe", DetailTypes: []string{events.TypeCredentialIssued},
				BatchSize: 1, VisibilityTimeout: time.Minute, MaxReceiveCount: 3})
		}, "consumer extra:"},
		{"extra table", func(tp *topology.Topology) {
			tp.Tables = append(tp.Tables, topology.Table{Name: "extra", PartitionKey: topology.Attr{Name: "pk", Type: topology.AttrString}})
		}, "table extra:"},
		{"extra schedule", func(tp *topology.Topology) {
			tp.Schedules = append(tp.Schedules, topology.Schedule{Name: "extra-tick", Function: "probe", Expression: "rate(1 hour)"})
		}, "schedule extra-tick:"},
		{"extra stream consumer", func(tp *topology.Topology) {
			tp.StreamConsumers = append(tp.StreamConsumers, topology.StreamConsumer{Table: "records", Function: "probe", BatchSize: 1, OnFailureQueue: "extra-failures"})
		}, "stream consumer of records: no event source mapping"},
		{"extra gateway response", func(tp *topology.Topology) {
			tp.GatewayResponses = append(slices.Clone(tp.GatewayResponses), topology.GatewayResponse{Type: "QUOTA_EXCEEDED", Status: 429, Title: "Quota exceeded", Problem: topology.ProblemBase + "quota"})
		}, "gateway response QUOTA_EXCEEDED:"},
		{"extra environment variable", func(tp *topology.Topology) {
			tp.Functions[0].Env["EXTRA"] = topology.Literal("x")
		}, "function probe: EXTRA: not in the environment"},
		{"function memory", func(tp *topology.Topology) { tp.Functions[0].MemoryMB = 512 }, "function probe: memory"},
		{"function timeout", func(tp *topology.Topology) { tp.Functions[1].Timeout = time.Second }, "function recorder: timeout"},
		{"literal value", func(tp *topology.Topology) { tp.Functions[0].Env["PROBE_MODE"] = topology.Literal("fail") }, "function probe: PROBE_MODE: want"},
		{"more access than granted", func(tp *topology.Topology) {
			tp.Functions[0].Env["PROBE_KEY"] = topology.KeyARN(topology.AccessRead)
		}, "function probe: PROBE_KEY: not in the environment"},
		{"route authorization", func(tp *topology.Topology) { tp.Routes[2].Auth = topology.AuthNone }, "route POST /v1/admin/probe: authorization"},
		{"route function", func(tp *topology.Topology) { tp.Routes[3].Function = "recorder" }, "route GET /v1/open: does not integrate function recorder"},
		{"authorizer TTL", func(tp *topology.Topology) { tp.Authorizer.ResultTTL = 5 * time.Minute }, "authorizer: result TTL"},
		{"authorizer header", func(tp *topology.Topology) { tp.Authorizer.IdentityHeader = "X-Api-Key" }, "authorizer: identity source"},
		{"gateway response title", func(tp *topology.Topology) {
			tp.GatewayResponses = slices.Clone(tp.GatewayResponses)
			tp.GatewayResponses[0].Title = "Who are you?"
		}, "gateway response UNAUTHORIZED: body template"},
		{"consumer detail types", func(tp *topology.Topology) {
			tp.Consumers[0].DetailTypes = append(tp.Consumers[0].DetailTypes, events.TypeCredentialRotated)
		}, "consumer revocations: rule matches detail types"},
		{"consumer of every detail type", func(tp *topology.Topology) {
			tp.Consumers[0].DetailTypes, tp.Consumers[0].AllDetailTypes = nil, true
		}, "consumer revocations: rule matches detail types"},
		{"consumer redrive", func(tp *topology.Topology) { tp.Consumers[0].MaxReceiveCount = 5 }, "consumer revocations: queue maxReceiveCount"},
		{"consumer visibility", func(tp *topology.Topology) { tp.Consumers[0].VisibilityTimeout = time.Hour }, "consumer revocations: queue visibility timeout"},
		{"consumer batch", func(tp *topology.Topology) { tp.Consumers[0].BatchSize = 5 }, "consumer revocations: batch size"},
		{"consumer batching window", func(tp *topology.Topology) { tp.Consumers[0].BatchingWindow = 0 }, "consumer revocations: batching window"},
		{"table TTL", func(tp *topology.Topology) { tp.Tables[0].TTLAttribute = "ttl" }, "table records: TTL"},
		{"table index", func(tp *topology.Topology) {
			tp.Tables[0].Indexes = append(slices.Clone(tp.Tables[0].Indexes), topology.Index{Name: "by-pk", PartitionKey: tp.Tables[0].PartitionKey})
		}, "table records: index by-pk missing"},
		{"table stream view", func(tp *topology.Topology) { tp.Tables[0].Stream = topology.StreamNewImage }, "table records: stream view"},
		{"table sort key", func(tp *topology.Topology) { tp.Tables[0].SortKey = nil }, "table records: key schema"},
		{"stream retries", func(tp *topology.Topology) { tp.StreamConsumers[0].RetryAttempts = 7 }, "stream consumer of records: retry attempts"},
		{"stream bisect", func(tp *topology.Topology) { tp.StreamConsumers[0].BisectOnError = false }, "stream consumer of records: bisect on error"},
		{"schedule expression", func(tp *topology.Topology) { tp.Schedules[0].Expression = "rate(5 minutes)" }, "schedule probe-tick: expression"},
		{"schedule function", func(tp *topology.Topology) { tp.Schedules[0].Function = "recorder" }, "schedule probe-tick: does not target function recorder"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			declared := topologytest.Sample()
			tc.change(declared)
			missing := missingCounterparts(declared, s.all()...)
			if !slices.ContainsFunc(missing, func(m string) bool { return strings.HasPrefix(m, tc.want) }) {
				t.Errorf("nothing reported starting %q; reported: %q", tc.want, missing)
			}
		})
	}
}

// Each function runs as a role of its own, assumed by Lambda only, with no managed policy.
func TestOneRolePerFunction(t *testing.T) {
	for _, d := range declarations {
		t.Run(d.name, func(t *testing.T) {
			top := d.topology()
			c, err := newCfn(synthesize(t, d.name, top).all()...)
			if err != nil {
				t.Fatal(err)
			}
			lambdaRoles := 0
			for _, id := range c.ofType("AWS::IAM::Role") {
				r := c.resources[id]
				for _, s := range statements(prop(r, "AssumeRolePolicyDocument")) {
					p, _ := s.Principal.(map[string]any)
					if p["Service"] == "lambda.amazonaws.com" {
						lambdaRoles++
					}
				}
				if m := prop(r, "ManagedPolicyArns"); m != nil {
					t.Errorf("role %s has managed policies %v", id, m)
				}
			}
			if lambdaRoles != len(top.Functions) {
				t.Errorf("%d roles assumed by lambda.amazonaws.com for %d functions", lambdaRoles, len(top.Functions))
			}
			seen := map[string]string{}
			for _, id := range c.ofType("AWS::Lambda::Function") {
				role, ok := c.targetOf(prop(c.resources[id], "Role"), "AWS::IAM::Role")
				if !ok {
					t.Errorf("function %s: role is not a role of the app", id)
					continue
				}
				if other, dup := seen[role]; dup {
					t.Errorf("functions %s and %s share role %s", other, id, role)
				}
				seen[role] = id
			}
		})
	}
}

// No identity or resource policy allows every action or every action of a service, and only
// X-Ray's actions, which have no resource to name, are allowed on "*". (Deny statements are
// guards, such as a queue refusing plain HTTP, and may be broad.) The customer-managed key's
// policy, in the foundation stack, has its own test; here every statement it gains for a
// service principal must be scoped to this account.
func TestNoWildcardGrants(t *testing.T) {
	xray := []string{"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
	for _, d := range declarations {
		t.Run(d.name, func(t *testing.T) {
			s := synthesize(t, d.name, d.topology())
			for stack, tpl := range map[string]assertions.Template{"tables": s.tables, "services": s.services} {
				if tpl == nil {
					continue
				}
				raw, err := json.Marshal(tpl.ToJSON())
				if err != nil {
					t.Fatal(err)
				}
				var doc any
				if err := json.Unmarshal(raw, &doc); err != nil {
					t.Fatal(err)
				}
				n := 0
				eachStatement(doc, func(st statement) {
					n++
					if st.Effect != "Allow" {
						return
					}
					for _, a := range st.Actions {
						if a == "*" || strings.HasSuffix(a, ":*") || strings.HasPrefix(a, "*") {
							t.Errorf("%s: statement allows %q", stack, a)
						}
					}
					if slices.Contains(st.Resources, any("*")) {
						for _, a := range st.Actions {
							if !slices.Contains(xray, a) {
								t.Errorf("%s: statement allows %s on *", stack, a)
							}
						}
					}
				})
				if stack == "services" && n == 0 {
					t.Error("services: no policy statements found; the walk is broken")
				}
			}

			c, err := newCfn(s.foundation)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range c.ofType("AWS::KMS::Key") {
				for _, st := range statements(prop(c.resources[id], "KeyPolicy")) {
					p, _ := st.Principal.(map[string]any)
					if _, service := p["Service"]; service && st.Condition == nil {
						t.Errorf("key policy grants %v to %v without a condition", st.Actions, p["Service"])
					}
				}
			}
		})
	}
}

// eachStatement calls f for every policy statement anywhere in a template.
func eachStatement(v any, f func(statement)) {
	switch x := v.(type) {
	case map[string]any:
		if _, ok := x["Statement"].([]any); ok {
			for _, s := range statements(x) {
				f(s)
			}
		}
		for _, e := range x {
			eachStatement(e, f)
		}
	case []any:
		for _, e := range x {
			eachStatement(e, f)
		}
	}
}

// The stage is traced, throttled and writes JSON access logs; no account-wide CloudWatch role
// is created for API Gateway.
func TestAPIStage(t *testing.T) {
	for _, d := range declarations {
		t.Run(d.name, func(t *testing.T) {
			top := d.topology()
			if len(top.Routes) == 0 {
				t.Skip("no routes, no API")
			}
			tpl := synthesize(t, d.name, top).services
			check(t, func() { tpl.ResourceCountIs(jsii.String("AWS::ApiGateway::RestApi"), jsii.Number(1)) })
			check(t, func() { tpl.ResourceCountIs(jsii.String("AWS::ApiGateway::Account"), jsii.Number(0)) })
			check(t, func() {
				tpl.HasResourceProperties(jsii.String("AWS::ApiGateway::RestApi"), map[string]any{
					"EndpointConfiguration": map[string]any{"Types": []any{"REGIONAL"}},
				})
			})
			check(t, func() {
				tpl.HasResourceProperties(jsii.String("AWS::ApiGateway::Stage"), map[string]any{
					"StageName":      APIStageName,
					"TracingEnabled": true,
					"AccessLogSetting": map[string]any{
						"DestinationArn": map[string]any{"Fn::GetAtt": []any{assertions.Match_StringLikeRegexp(jsii.String("^ApiAccessLogs")), "Arn"}},
						"Format":         assertions.Match_AnyValue(),
					},
					"MethodSettings": []any{map[string]any{
						"HttpMethod":           "*",
						"ResourcePath":         "/*",
						"ThrottlingRateLimit":  APIThrottlingRateLimit,
						"ThrottlingBurstLimit": APIThrottlingBurstLimit,
						"DataTraceEnabled":     false,
					}},
				})
			})
			stages := tpl.FindResources(jsii.String("AWS::ApiGateway::Stage"), nil)
			for id, st := range *stages {
				raw, _ := json.Marshal(st)
				var stage struct {
					Properties struct{ AccessLogSetting struct{ Format string } }
				}
				if err := json.Unmarshal(raw, &stage); err != nil {
					t.Fatal(err)
				}
				var fields map[string]string
				if err := json.Unmarshal([]byte(stage.Properties.AccessLogSetting.Format), &fields); err != nil {
					t.Fatalf("stage %s: access log format is not JSON: %v", id, err)
				}
				for _, k := range []string{"requestId", "status", "principalId", "xrayTraceId", "errorType"} {
					if _, ok := fields[k]; !ok {
						t.Errorf("stage %s: access log has no %s", id, k)
					}
				}
			}
		})
	}
}

// Every function logs JSON into a log group of its own, kept FunctionLogRetention.
func TestFunctionLogGroups(t *testing.T) {
	for _, d := range declarations {
		t.Run(d.name, func(t *testing.T) {
			top := d.topology()
			tpl := synthesize(t, d.name, top).services
			// One per function and one for the API's access logs.
			want := len(top.Functions)
			if len(top.Routes) > 0 {
				want++
			}
			check(t, func() {
				tpl.ResourceCountIs(jsii.String("AWS::Logs::LogGroup"), jsii.Number(want))
				tpl.AllResourcesProperties(jsii.String("AWS::Logs::LogGroup"), map[string]any{"RetentionInDays": assertions.Match_AnyValue()})
				tpl.AllResourcesProperties(jsii.String("AWS::Lambda::Function"), map[string]any{
					"LoggingConfig": map[string]any{"LogFormat": "JSON", "LogGroup": map[string]any{"Ref": assertions.Match_StringLikeRegexp(jsii.String("Logs"))}},
				})
			})
		})
	}
}

// Every queue is encrypted with the customer-managed key and refuses plain HTTP.
func TestQueuesAreEncrypted(t *testing.T) {
	s := synthesize(t, "sample", topologytest.Sample())
	check(t, func() {
		s.services.AllResourcesProperties(jsii.String("AWS::SQS::Queue"), map[string]any{
			"KmsMasterKeyId": map[string]any{"Fn::ImportValue": assertions.Match_StringLikeRegexp(jsii.String("Key"))},
		})
	})
	queues := s.services.FindResources(jsii.String("AWS::SQS::Queue"), nil)
	policies := s.services.FindResources(jsii.String("AWS::SQS::QueuePolicy"), map[string]any{
		"Properties": map[string]any{"PolicyDocument": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
			"Effect":    "Deny",
			"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
		})})}},
	})
	if len(*queues) == 0 || len(*policies) != len(*queues) {
		t.Errorf("%d queues, %d of them refuse plain HTTP", len(*queues), len(*policies))
	}
}
