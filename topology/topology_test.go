package topology_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/topology"
	"github.com/lanyardhq/lanyard/topology/topologytest"
)

func TestProductionDeclarationIsValid(t *testing.T) {
	t.Parallel()
	if err := topology.Lanyard().Validate("..", events.Known); err != nil {
		t.Fatalf("production topology invalid:\n%v", err)
	}
}

func TestProductionFunctionsLiveUnderFunctions(t *testing.T) {
	t.Parallel()
	for _, f := range topology.Lanyard().Functions {
		if f.Main != "functions/"+f.Name {
			t.Errorf("function %s: main package %s, want functions/%s", f.Name, f.Main, f.Name)
		}
	}
}

func TestSampleDeclarationIsValid(t *testing.T) {
	t.Parallel()
	if err := topologytest.Sample().Validate("..", events.Known); err != nil {
		t.Fatalf("sample topology invalid:\n%v", err)
	}
}

func TestValidateRefusesBrokenDeclarations(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		mutate func(*topology.Topology)
		want   string
	}{
		{"duplicate function", func(tp *topology.Topology) { tp.Functions = append(tp.Functions, tp.Functions[0]) }, `function "probe": declared twice`},
		{"function not kebab", func(tp *topology.Topology) { tp.Functions[0].Name = "Probe_Fn" }, "must be kebab-case"},
		{"missing main package", func(tp *topology.Topology) { tp.Functions[0].Main = "functions/nowhere" }, "no main package at functions/nowhere"},
		{"fractional timeout", func(tp *topology.Topology) { tp.Functions[0].Timeout = 1500 * time.Millisecond }, "whole seconds"},
		{"reserved env", func(tp *topology.Topology) { tp.Functions[0].Env["AWS_REGION"] = topology.Literal("x") }, "not AWS_-reserved"},
		{"env names unknown table", func(tp *topology.Topology) {
			tp.Functions[0].Env["T"] = topology.TableName("ghost", topology.AccessRead)
		}, `undeclared table "ghost"`},
		{"route to unknown function", func(tp *topology.Topology) { tp.Routes[0].Function = "ghost" }, `route GET /v1/probe: function "ghost" is not declared`},
		{"route path trailing slash", func(tp *topology.Topology) { tp.Routes[0].Path = "/v1/probe/" }, "trailing /"},
		{"route path upper case", func(tp *topology.Topology) { tp.Routes[0].Path = "/v1/Probe" }, `segment "Probe"`},
		{"route param twice", func(tp *topology.Topology) { tp.Routes[1].Path = "/v1/{id}/{id}" }, "appears twice"},
		{"duplicate route", func(tp *topology.Topology) { tp.Routes = append(tp.Routes, tp.Routes[0]) }, "route GET /v1/probe: declared twice"},
		{"same path other method is fine but bad method", func(tp *topology.Topology) { tp.Routes[0].Method = "TRACE" }, `method "TRACE" not supported`},
		{"partner route without authorizer", func(tp *topology.Topology) { tp.Authorizer = nil }, "no authorizer declared"},
		{"unknown detail type", func(tp *topology.Topology) { tp.Consumers[0].DetailTypes = []string{"Credential Borrowed"} }, `"Credential Borrowed" is not defined in events/`},
		{"visibility under 6x", func(tp *topology.Topology) { tp.Consumers[0].VisibilityTimeout = 29 * time.Second }, "under 6× the timeout of recorder (5s)"},
		{"batch size over 10 without window", func(tp *topology.Topology) {
			tp.Consumers[0].BatchSize, tp.Consumers[0].BatchingWindow = 50, 0
		}, "batch size 50"},
		{"stream without consumer", func(tp *topology.Topology) { tp.StreamConsumers = nil }, `table "records": its stream has no consumer`},
		{"consumer of streamless table", func(tp *topology.Topology) { tp.Tables[0].Stream = topology.StreamNone }, "not declared with a stream"},
		{"bad schedule", func(tp *topology.Topology) { tp.Schedules[0].Expression = "every minute" }, "not a rate() or cron() expression"},
		{"function nothing triggers", func(tp *topology.Topology) {
			tp.Functions = append(tp.Functions, topology.Function{Name: "orphan", Main: "functions/healthcheck", MemoryMB: 128, Timeout: time.Second})
		}, `function "orphan": nothing triggers it`},
		{"an InvokedBy of blanks is no trigger", func(tp *topology.Topology) {
			tp.Functions = append(tp.Functions, topology.Function{Name: "orphan", Main: "functions/healthcheck", MemoryMB: 128, Timeout: time.Second, InvokedBy: "  "})
		}, `function "orphan": nothing triggers it`},
		{"enforcer taking more than Credential Revoked", func(tp *topology.Topology) {
			tp.Consumers[0].Enforcer, tp.Consumers[0].DetailTypes = "gateway", []string{"Credential Revoked", "Credential Issued"}
		}, `enforcer "gateway" must take "Credential Revoked" alone`},
		{"enforcer declared twice", func(tp *topology.Topology) {
			c := tp.Consumers[0]
			c.Enforcer, c.DetailTypes = "gateway", []string{"Credential Revoked"}
			tp.Consumers[0] = c
			c.Name = "second"
			tp.Consumers = append(tp.Consumers, c)
		}, `enforcer "gateway" must be kebab-case and declared once`},
		{"every detail type and some named", func(tp *topology.Topology) { tp.Consumers[0].AllDetailTypes = true }, "AllDetailTypes and DetailTypes are exclusive"},
		{"no detail type", func(tp *topology.Topology) { tp.Consumers[0].DetailTypes = nil }, `consumer "revocations": consumes no detail type`},
		{"enforcer of every detail type", func(tp *topology.Topology) {
			tp.Consumers[0].Enforcer, tp.Consumers[0].DetailTypes, tp.Consumers[0].AllDetailTypes = "gateway", nil, true
		}, `enforcer "gateway" takes every detail type`},
		{"audit log value without an audit log", func(tp *topology.Topology) {
			tp.Functions[0].Env["AUDIT_LOG"] = topology.AuditLogName(topology.AccessRead)
		}, `function "probe": AUDIT_LOG names the audit log, and none is declared`},
		{"audit log writer undeclared", func(tp *topology.Topology) { tp.AuditLog = &topology.AuditLog{Writer: "ghost"} }, `audit log writer: function "ghost" is not declared`},
		{"audit log writer that may not write", func(tp *topology.Topology) {
			tp.AuditLog = &topology.AuditLog{Writer: "recorder"}
			tp.Functions[1].Env["AUDIT_LOG"] = topology.AuditLogName(topology.AccessRead)
		}, `audit log: its writer "recorder" may not write it`},
		{"authorizer TTL over an hour", func(tp *topology.Topology) { tp.Authorizer.ResultTTL = 2 * time.Hour }, "outside 0–1 h"},
		{"dependents-only route that is not aws-iam", func(tp *topology.Topology) { tp.Routes[0].DependentsOnly = true }, "only an aws-iam route can be restricted to the dependents"},
		{"dependent with a wildcard", func(tp *topology.Topology) { tp.Dependents = []string{"arn:aws:iam::111122223333:role/*"} }, "no wildcards"},
		{"dependent that is a whole account by id", func(tp *topology.Topology) { tp.Dependents = []string{"111122223333"} }, "not an IAM ARN"},
		{"dependent declared twice", func(tp *topology.Topology) {
			tp.Dependents = []string{"arn:aws:iam::111122223333:role/billing", "arn:aws:iam::111122223333:role/billing"}
		}, "declared twice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tp := topologytest.Sample()
			c.mutate(tp)
			err := tp.Validate("..", events.Known)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an error containing %q, got %v", c.want, err)
			}
		})
	}
}

// The production declaration agrees with the policy: API Gateway caches the authorizer's
// policy for the policy file's cacheTtl (drain windows are sized on it), and every route scope
// is one the policy's catalogue defines.
func TestProductionDeclarationMatchesThePolicy(t *testing.T) {
	t.Parallel()
	p, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	top := topology.Lanyard()
	if top.Authorizer == nil || top.Authorizer.ResultTTL != p.Authorizer.CacheTTL.Std() {
		t.Errorf("authorizer result TTL %v, policy cacheTtl %s", top.Authorizer, p.Authorizer.CacheTTL.Std())
	}
	plans := map[string]topology.UsagePlan{}
	for _, u := range top.UsagePlans {
		plans[u.Name] = u
	}
	if len(plans) != len(p.Tiers) {
		t.Errorf("%d usage plans for %d tiers", len(plans), len(p.Tiers))
	}
	for _, tier := range p.Tiers {
		if u := plans[tier.Name]; u.RateLimit != tier.Throttle.RateLimit || u.BurstLimit != tier.Throttle.BurstLimit {
			t.Errorf("usage plan %s: %+v, tier throttle %+v", tier.Name, u, tier.Throttle)
		}
	}
	known := map[string]bool{}
	for _, s := range p.Scopes {
		known[s.Name] = true
	}
	for _, r := range top.Routes {
		if r.Scope != "" && !known[r.Scope] {
			t.Errorf("route %s %s: scope %q is not in the policy's catalogue", r.Method, r.Path, r.Scope)
		}
	}
}

// An explicit InvokedBy entry is a trigger: a function another system calls validates.
func TestInvokedByIsATrigger(t *testing.T) {
	t.Parallel()
	tp := topologytest.Sample()
	tp.Functions = append(tp.Functions, topology.Function{Name: "called", Main: "functions/healthcheck", MemoryMB: 128, Timeout: time.Second,
		InvokedBy: "the ops runbook's on-call script"})
	if err := tp.Validate("..", events.Known); err != nil {
		t.Fatalf("a function with InvokedBy: %v", err)
	}
	if got := tp.Triggers("called"); len(got) != 1 || got[0] != "invoked by the ops runbook's on-call script" {
		t.Errorf("triggers %v", got)
	}
}

// Every production function runs: the retirement function by its schedule, which was missing.
func TestProductionFunctionsAreTriggered(t *testing.T) {
	t.Parallel()
	top := topology.Lanyard()
	for _, f := range top.Functions {
		if len(top.Triggers(f.Name)) == 0 {
			t.Errorf("function %s: nothing triggers it", f.Name)
		}
	}
	if got := top.Triggers("retirement"); len(got) != 1 || got[0] != "schedule retirement" {
		t.Errorf("retirement triggers %v, want its schedule", got)
	}
	top.Schedules = nil
	if err := top.Validate("", nil); err == nil || !strings.Contains(err.Error(), `function "retirement": nothing triggers it`) {
		t.Errorf("without its schedule the retirement function validates: %v", err)
	}
}

func TestRouteScopes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		route topology.Route
		want  string
	}{
		{topology.Route{Method: "GET", Path: "/v1/open", Function: "probe", Auth: topology.AuthNone, Scope: "orders:read"}, "partner-key routes only"},
		{topology.Route{Method: "GET", Path: "/v1/probe", Function: "probe", Auth: topology.AuthPartnerKey, Scope: "Orders"}, "not lowercase segments"},
	} {
		top := topologytest.Sample()
		top.Routes = append(top.Routes, tc.route)
		if err := top.Validate("", nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("route %+v: %v, want %q", tc.route, err, tc.want)
		}
	}
}

func TestEnforcersAreTheDeclaredEnforcerConsumers(t *testing.T) {
	t.Parallel()
	tp := topologytest.Sample()
	if got := tp.Enforcers(); len(got) != 0 {
		t.Fatalf("sample declares enforcers %v", got)
	}
	c := tp.Consumers[0]
	c.Enforcer = "gateway"
	tp.Consumers = append(tp.Consumers, topology.Consumer{Name: "other"}, c)
	if got := tp.Enforcers(); len(got) != 1 || got[0] != "gateway" {
		t.Fatalf("Enforcers() = %v, want [gateway]", got)
	}
}

// The gateway enforcer waits out the authorizer's key cache and timeout as the policy and the
// authorizer's declaration have them, and its timeout covers that wait and its work; its
// consumer is the gateway enforcer, with a DLQ after three receives.
func TestGatewayEnforcerWaitsWhatThePolicyAndTheAuthorizerSay(t *testing.T) {
	t.Parallel()
	p, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	top := topology.Lanyard()
	authz, _ := top.Function("authorizer")
	fn, ok := top.Function("revocation-gateway")
	if !ok {
		t.Fatal("no revocation-gateway function")
	}
	ttl, timeout := p.Authorizer.KeyCacheTTL.Std(), authz.Timeout
	if got := fn.Env["KEY_CACHE_TTL"]; got != topology.Literal(ttl.String()) {
		t.Errorf("KEY_CACHE_TTL %+v, want the policy's keyCacheTtl %s", got, ttl)
	}
	if got := fn.Env["AUTHORIZER_TIMEOUT"]; got != topology.Literal(timeout.String()) {
		t.Errorf("AUTHORIZER_TIMEOUT %+v, want the authorizer's timeout %s", got, timeout)
	}
	if fn.Timeout < ttl+timeout+10*time.Second {
		t.Errorf("timeout %s leaves under 10 s of work after the wait of %s", fn.Timeout, ttl+timeout)
	}
	var found bool
	for _, c := range top.Consumers {
		if c.Function == fn.Name {
			found = true
			if c.Enforcer != events.EnforcerGateway || c.MaxReceiveCount != 3 || c.VisibilityTimeout < topology.MinVisibilityFactor*fn.Timeout {
				t.Errorf("consumer %+v: want enforcer %s, 3 receives, visibility ≥ %d× %s", c, events.EnforcerGateway, topology.MinVisibilityFactor, fn.Timeout)
			}
		}
	}
	if !found {
		t.Error("no consumer feeds revocation-gateway")
	}
}

// A consumer of every detail type validates without naming one, and says so.
func TestConsumerOfEveryDetailType(t *testing.T) {
	t.Parallel()
	tp := topologytest.Sample()
	tp.Consumers[0].DetailTypes, tp.Consumers[0].AllDetailTypes = nil, true
	if err := tp.Validate("..", events.Known); err != nil {
		t.Fatalf("a consumer of every detail type: %v", err)
	}
	if got := tp.Consumers[0].Takes(); got != "every Lanyard event" {
		t.Errorf("Takes() = %q", got)
	}
	named := topology.Consumer{DetailTypes: []string{"Credential Revoked", "Credential Issued"}}
	if got := named.Takes(); got != "Credential Issued, Credential Revoked" {
		t.Errorf("Takes() = %q", got)
	}
}

// The audit writer takes every detail type through its consumer, is the audit log's writer,
// measures its lag every minute, and the policy's lag budget outlasts one retried delivery (the
// queue's visibility timeout) and the minute between measures.
func TestAuditWriterDeclaration(t *testing.T) {
	t.Parallel()
	p, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	top := topology.Lanyard()
	if top.AuditLog == nil || top.AuditLog.Writer != "audit-writer" {
		t.Fatalf("audit log %+v, want written by audit-writer", top.AuditLog)
	}
	fn, ok := top.Function("audit-writer")
	if !ok || fn.Env["AUDIT_LOG"] != topology.AuditLogName(topology.AccessReadWrite) ||
		fn.Env["OUTBOX_TABLE"] != topology.TableName("outbox", topology.AccessReadWrite) {
		t.Fatalf("audit-writer %+v", fn)
	}
	var consumer *topology.Consumer
	for i, c := range top.Consumers {
		if c.Function == fn.Name {
			consumer = &top.Consumers[i]
		}
	}
	if consumer == nil || !consumer.AllDetailTypes || len(consumer.DetailTypes) != 0 || consumer.Enforcer != "" {
		t.Fatalf("audit consumer %+v, want every detail type", consumer)
	}
	if got := top.Triggers(fn.Name); !slices.Contains(got, "schedule audit-lag") || !slices.Contains(got, "consumer audit") {
		t.Errorf("audit-writer triggers %v", got)
	}
	if budget := p.Audit.WriterLagBudget.Std(); budget <= consumer.VisibilityTimeout+time.Minute {
		t.Errorf("writerLagBudget %s does not outlast the audit queue's visibility timeout %s and a minute", budget, consumer.VisibilityTimeout)
	}
}
