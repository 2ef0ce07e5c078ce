package topology

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/lanyardhq/lanyard/shared/platform/iamarn"
)

var (
	kebab       = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
	pathSegment = regexp.MustCompile(`^([a-z0-9][a-z0-9.-]*|\{[a-zA-Z][a-zA-Z0-9]*\})$`)
	envName     = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	scopeRE     = regexp.MustCompile(`^[a-z][a-z0-9-]*(:[a-z][a-z0-9-]*)+$`)
	scheduleRE  = regexp.MustCompile(`^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(.+\))$`)
)

// MinVisibilityFactor: a queue's visibility timeout must be at least this many times its
// function's timeout (AWS's guidance for SQS event sources; AWS refuses a mapping below 1×).
const MinVisibilityFactor = 6

// enforcerDetailType is the detail type every revocation enforcer takes (events.TypeCredentialRevoked).
const enforcerDetailType = "Credential Revoked"

// Validate checks the declaration is consistent: names unique and well formed, every reference
// resolves, every consumed detail type is known (knownDetailType says which are) and a consumer
// names its detail types or takes them all (AllDetailTypes), never both, route paths
// well formed and unique per method, every stream has a consumer and every consumer a stream,
// each queue's visibility timeout at least MinVisibilityFactor times its function's
// timeout, revocation enforcers declared once and taking Credential Revoked alone, and every
// function triggered by something (Triggers). root, when not empty, is the repository root: each function's main package must
// exist there. All problems are reported together.
func (t *Topology) Validate(root string, knownDetailType func(string) bool) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	names := map[string]bool{}
	for _, f := range t.Functions {
		switch {
		case !kebab.MatchString(f.Name):
			bad("function %q: name must be kebab-case", f.Name)
		case names[f.Name]:
			bad("function %q: declared twice", f.Name)
		}
		names[f.Name] = true
		if f.MemoryMB < 128 || f.MemoryMB > 10240 {
			bad("function %q: memory %d MB outside 128–10240", f.Name, f.MemoryMB)
		}
		if f.Timeout < time.Second || f.Timeout > 15*time.Minute || f.Timeout%time.Second != 0 {
			bad("function %q: timeout %s must be whole seconds within 1 s–15 min", f.Name, f.Timeout)
		}
		if root != "" {
			if _, err := os.Stat(filepath.Join(root, f.Main, "main.go")); err != nil {
				bad("function %q: no main package at %s", f.Name, f.Main)
			}
		}
		for k, v := range f.Env {
			if !envName.MatchString(k) || strings.HasPrefix(k, "AWS_") {
				bad("function %q: environment variable %q must be UPPER_SNAKE and not AWS_-reserved", f.Name, k)
			}
			switch v.Kind {
			case ValueTable:
				if _, ok := t.Table(v.Name); !ok {
					bad("function %q: %s names undeclared table %q", f.Name, k, v.Name)
				}
			case ValueAuditLog:
				if t.AuditLog == nil {
					bad("function %q: %s names the audit log, and none is declared", f.Name, k)
				}
			case ValueAuditBucket, ValueAuditSigningKey:
				if t.AuditExport == nil {
					bad("function %q: %s names the audit export's %s, and none is declared", f.Name, k, v.Kind)
				}
			case ValueFunction:
				if _, ok := t.Function(v.Name); !ok {
					bad("function %q: %s names undeclared function %q", f.Name, k, v.Name)
				}
			case ValueRole:
				r, ok := t.Role(v.Name)
				switch {
				case !ok:
					bad("function %q: %s names undeclared role %q", f.Name, k, v.Name)
				case v.Access == AccessReadWrite && r.AssumedBy != f.Name:
					bad("function %q: %s may assume role %q, which only %q may assume", f.Name, k, v.Name, r.AssumedBy)
				case v.Access != AccessNone && v.Access != AccessReadWrite && v.Access != AccessDenySessions:
					bad("function %q: %s: access %q to role %q", f.Name, k, v.Access, v.Name)
				case v.Access == AccessDenySessions && r.AssumedBy == f.Name:
					bad("function %q: %s may both assume role %q and rewrite its deny", f.Name, k, v.Name)
				}
			}
		}
	}
	fn := func(what, name string) (Function, bool) {
		f, ok := t.Function(name)
		if !ok {
			bad("%s: function %q is not declared", what, name)
		}
		return f, ok
	}

	if a := t.Authorizer; a != nil {
		fn("authorizer", a.Function)
		if a.IdentityHeader == "" {
			bad("authorizer: identity header missing")
		}
		if a.ResultTTL < 0 || a.ResultTTL > time.Hour {
			bad("authorizer: result TTL %s outside 0–1 h (API Gateway's limit)", a.ResultTTL)
		}
	}

	routes := map[string]bool{}
	for _, r := range t.Routes {
		id := r.Method + " " + r.Path
		fn("route "+id, r.Function)
		if !slices.Contains([]string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}, r.Method) {
			bad("route %s: method %q not supported", id, r.Method)
		}
		if err := checkPath(r.Path); err != nil {
			bad("route %s: %v", id, err)
		}
		if routes[id] {
			bad("route %s: declared twice", id)
		}
		routes[id] = true
		if r.Scope != "" && r.Auth != AuthPartnerKey {
			bad("route %s: a scope applies to partner-key routes only", id)
		}
		if r.Scope != "" && !scopeRE.MatchString(r.Scope) {
			bad("route %s: scope %q is not lowercase segments joined by \":\"", id, r.Scope)
		}
		if r.DependentsOnly && r.Auth != AuthIAM {
			bad("route %s: only an aws-iam route can be restricted to the dependents", id)
		}
		switch r.Auth {
		case AuthNone, AuthIAM:
		case AuthPartnerKey:
			if t.Authorizer == nil {
				bad("route %s: partner-key authorization but no authorizer declared", id)
			}
		default:
			bad("route %s: unknown authorization %q", id, r.Auth)
		}
	}

	gw := map[string]bool{}
	for _, g := range t.GatewayResponses {
		if gw[g.Type] {
			bad("gateway response %s: declared twice", g.Type)
		}
		gw[g.Type] = true
		if g.Title == "" || !strings.HasPrefix(g.Problem, ProblemBase) {
			bad("gateway response %s: needs a title and a problem type under %s", g.Type, ProblemBase)
		}
	}

	// A dependent is an IAM principal named exactly: a wildcard would admit whole accounts
	// to a key-validity oracle.
	if _, err := iamarn.ParseAll(t.Dependents); err != nil {
		bad("dependents: %v", err)
	}
	dependents := map[string]bool{}
	for _, d := range t.Dependents {
		if dependents[d] {
			bad("dependents: %q declared twice", d)
		}
		dependents[d] = true
	}

	queues, enforcers := map[string]bool{}, map[string]bool{}
	for _, c := range t.Consumers {
		if c.Enforcer != "" {
			if !kebab.MatchString(c.Enforcer) || enforcers[c.Enforcer] {
				bad("consumer %q: enforcer %q must be kebab-case and declared once", c.Name, c.Enforcer)
			}
			enforcers[c.Enforcer] = true
			if !slices.Equal(c.DetailTypes, []string{enforcerDetailType}) {
				bad("consumer %q: enforcer %q must take %q alone", c.Name, c.Enforcer, enforcerDetailType)
			}
		}
		if !kebab.MatchString(c.Name) || queues[c.Name] {
			bad("consumer %q: name must be kebab-case and unique", c.Name)
		}
		queues[c.Name], queues[c.DLQName()] = true, true
		f, ok := fn("consumer "+c.Name, c.Function)
		switch {
		case c.AllDetailTypes && len(c.DetailTypes) > 0:
			bad("consumer %q: takes every detail type and names some: AllDetailTypes and DetailTypes are exclusive", c.Name)
		case c.AllDetailTypes && c.Enforcer != "":
			bad("consumer %q: enforcer %q takes every detail type: an enforcer takes %q alone", c.Name, c.Enforcer, enforcerDetailType)
		case len(c.DetailTypes) == 0 && !c.AllDetailTypes:
			bad("consumer %q: consumes no detail type", c.Name)
		}
		for _, dt := range c.DetailTypes {
			if knownDetailType != nil && !knownDetailType(dt) {
				bad("consumer %q: detail type %q is not defined in events/", c.Name, dt)
			}
		}
		if c.BatchSize < 1 || c.BatchSize > 10000 || (c.BatchSize > 10 && c.BatchingWindow == 0) {
			bad("consumer %q: batch size %d (1–10, or up to 10000 with a batching window)", c.Name, c.BatchSize)
		}
		if c.BatchingWindow < 0 || c.BatchingWindow > 5*time.Minute {
			bad("consumer %q: batching window %s outside 0–5 min", c.Name, c.BatchingWindow)
		}
		if c.MaxReceiveCount < 1 || c.MaxReceiveCount > 1000 {
			bad("consumer %q: maxReceiveCount %d outside 1–1000", c.Name, c.MaxReceiveCount)
		}
		if ok && c.VisibilityTimeout < MinVisibilityFactor*f.Timeout {
			bad("consumer %q: visibility timeout %s is under %d× the timeout of %s (%s)", c.Name, c.VisibilityTimeout, MinVisibilityFactor, f.Name, f.Timeout)
		}
		if c.VisibilityTimeout > 12*time.Hour {
			bad("consumer %q: visibility timeout %s over SQS's 12 h", c.Name, c.VisibilityTimeout)
		}
	}

	tables := map[string]bool{}
	for _, tb := range t.Tables {
		if !kebab.MatchString(tb.Name) || tables[tb.Name] {
			bad("table %q: name must be kebab-case and unique", tb.Name)
		}
		tables[tb.Name] = true
		if tb.PartitionKey.Name == "" {
			bad("table %q: no partition key", tb.Name)
		}
		consumed := slices.ContainsFunc(t.StreamConsumers, func(s StreamConsumer) bool { return s.Table == tb.Name })
		if tb.Stream != StreamNone && !consumed {
			bad("table %q: its stream has no consumer", tb.Name)
		}
	}
	for _, s := range t.StreamConsumers {
		tb, ok := t.Table(s.Table)
		if !ok || tb.Stream == StreamNone {
			bad("stream consumer of %q: the table is not declared with a stream", s.Table)
		}
		fn("stream consumer of "+s.Table, s.Function)
		if s.BatchSize < 1 || s.BatchSize > 10000 || s.RetryAttempts < 0 || s.RetryAttempts > 10000 {
			bad("stream consumer of %q: batch size %d or retry attempts %d out of range", s.Table, s.BatchSize, s.RetryAttempts)
		}
		if s.OnFailureQueue == "" || queues[s.OnFailureQueue] {
			bad("stream consumer of %q: needs its own on-failure queue name", s.Table)
		}
		queues[s.OnFailureQueue] = true
	}

	if r := t.SecretRotation; r != nil {
		fn("secret rotation", r.Function)
	}
	if a := t.AuditLog; a != nil {
		if f, ok := fn("audit log writer", a.Writer); ok && !slices.Contains(slices.Collect(maps.Values(f.Env)), AuditLogName(AccessReadWrite)) {
			bad("audit log: its writer %q may not write it (no AuditLogName(read-write) in its environment)", a.Writer)
		}
	}

	if a := t.AuditExport; a != nil {
		if f, ok := fn("audit exporter", a.Exporter); ok {
			env := slices.Collect(maps.Values(f.Env))
			if !slices.Contains(env, AuditBucketName(AccessReadWrite)) || !slices.Contains(env, AuditSigningKeyARN(AccessReadWrite)) {
				bad("audit export: its exporter %q may not write the bucket or sign (no AuditBucketName and AuditSigningKeyARN read-write in its environment)", a.Exporter)
			}
		}
	}

	roles := map[string]bool{}
	for _, r := range t.Roles {
		if !kebab.MatchString(r.Name) || roles[r.Name] {
			bad("role %q: name must be kebab-case and unique", r.Name)
		}
		roles[r.Name] = true
		fn("role "+r.Name, r.AssumedBy)
	}
	plans := map[string]bool{}
	for _, u := range t.UsagePlans {
		if !kebab.MatchString(u.Name) || plans[u.Name] {
			bad("usage plan %q: name must be kebab-case and unique", u.Name)
		}
		plans[u.Name] = true
		if u.RateLimit <= 0 || u.BurstLimit < 1 {
			bad("usage plan %q: rate %v and burst %d must be positive", u.Name, u.RateLimit, u.BurstLimit)
		}
	}

	schedules := map[string]bool{}
	for _, s := range t.Schedules {
		if !kebab.MatchString(s.Name) || schedules[s.Name] {
			bad("schedule %q: name must be kebab-case and unique", s.Name)
		}
		schedules[s.Name] = true
		fn("schedule "+s.Name, s.Function)
		if !scheduleRE.MatchString(s.Expression) {
			bad("schedule %q: %q is not a rate() or cron() expression", s.Name, s.Expression)
		}
	}
	for _, f := range t.Functions {
		if len(t.Triggers(f.Name)) == 0 {
			bad("function %q: nothing triggers it (no route, authorizer, consumer, stream, schedule or secret rotation names it, and no InvokedBy says what calls it)", f.Name)
		}
	}
	return errors.Join(errs...)
}

// Triggers lists what invokes the named function: "route GET /v1/x", "authorizer",
// "consumer c", "stream of t", "schedule s", "secret rotation", "invoked by …".
func (t *Topology) Triggers(function string) []string {
	var out []string
	if a := t.Authorizer; a != nil && a.Function == function {
		out = append(out, "authorizer")
	}
	for _, r := range t.Routes {
		if r.Function == function {
			out = append(out, "route "+r.Method+" "+r.Path)
		}
	}
	for _, c := range t.Consumers {
		if c.Function == function {
			out = append(out, "consumer "+c.Name)
		}
	}
	for _, s := range t.StreamConsumers {
		if s.Function == function {
			out = append(out, "stream of "+s.Table)
		}
	}
	for _, s := range t.Schedules {
		if s.Function == function {
			out = append(out, "schedule "+s.Name)
		}
	}
	if r := t.SecretRotation; r != nil && r.Function == function {
		out = append(out, "secret rotation")
	}
	if f, ok := t.Function(function); ok && strings.TrimSpace(f.InvokedBy) != "" {
		out = append(out, "invoked by "+f.InvokedBy)
	}
	return out
}

func checkPath(p string) error {
	if !strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.Contains(p, "//") {
		return fmt.Errorf("path %q must start with / and have no empty segment or trailing /", p)
	}
	seen := map[string]bool{}
	for _, seg := range strings.Split(p[1:], "/") {
		if !pathSegment.MatchString(seg) {
			return fmt.Errorf("path segment %q is not lower-case kebab (dots allowed) or a {param}", seg)
		}
		if strings.HasPrefix(seg, "{") {
			if seen[seg] {
				return fmt.Errorf("path parameter %s appears twice", seg)
			}
			seen[seg] = true
		}
	}
	return nil
}
