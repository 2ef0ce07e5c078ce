package infra

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/topology"
)

// cfn is the synthesized app as plain data: the resources of every given template by logical
// id, and the exports by name, so a reference that crosses stacks (Fn::ImportValue) resolves
// to the resource it names.
type cfn struct {
	resources map[string]cfnResource
	exports   map[string]any
}

type cfnResource struct {
	Type       string
	Properties map[string]any
}

// ref is what a CloudFormation value points at: a resource, and the attribute (empty for Ref).
type ref struct{ ID, Attr string }

func newCfn(tpls ...assertions.Template) (cfn, error) {
	c := cfn{resources: map[string]cfnResource{}, exports: map[string]any{}}
	for _, tpl := range tpls {
		raw, err := json.Marshal(tpl.ToJSON())
		if err != nil {
			return c, fmt.Errorf("encode template: %w", err)
		}
		var doc struct {
			Resources map[string]cfnResource
			Outputs   map[string]struct {
				Value  any
				Export *struct{ Name string }
			}
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			return c, fmt.Errorf("decode template: %w", err)
		}
		for id, r := range doc.Resources {
			if _, dup := c.resources[id]; dup {
				return c, fmt.Errorf("logical id %s appears in two stacks", id)
			}
			c.resources[id] = r
		}
		for _, o := range doc.Outputs {
			if o.Export != nil {
				c.exports[o.Export.Name] = o.Value
			}
		}
	}
	return c, nil
}

// target resolves a Ref, a Fn::GetAtt or a Fn::ImportValue of an export to the resource it
// names.
func (c cfn) target(v any) (ref, bool) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return ref{}, false
	}
	if id, ok := m["Ref"].(string); ok {
		_, exists := c.resources[id]
		return ref{ID: id}, exists
	}
	if ga, ok := m["Fn::GetAtt"].([]any); ok && len(ga) == 2 {
		id, _ := ga[0].(string)
		attr, _ := ga[1].(string)
		_, exists := c.resources[id]
		return ref{ID: id, Attr: attr}, exists
	}
	if name, ok := m["Fn::ImportValue"].(string); ok {
		if v, ok := c.exports[name]; ok {
			return c.target(v)
		}
	}
	return ref{}, false
}

// targetOf reports whether v names a resource of type typ, returning its logical id.
func (c cfn) targetOf(v any, typ string) (string, bool) {
	r, ok := c.target(v)
	if !ok || c.resources[r.ID].Type != typ {
		return "", false
	}
	return r.ID, true
}

// mentions reports whether v, anywhere inside (an Fn::Join of an ARN, say), names resource id.
func (c cfn) mentions(v any, id string) bool {
	if r, ok := c.target(v); ok && r.ID == id {
		return true
	}
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			if c.mentions(e, id) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if c.mentions(e, id) {
				return true
			}
		}
	}
	return false
}

// tagged returns the logical ids of resources of type typ tagged key=value.
func (c cfn) tagged(typ, key, value string) []string {
	var ids []string
	for id, r := range c.resources {
		if r.Type != typ {
			continue
		}
		tags, _ := r.Properties["Tags"].([]any)
		for _, t := range tags {
			tm, _ := t.(map[string]any)
			if tm["Key"] == key && tm["Value"] == value {
				ids = append(ids, id)
				break
			}
		}
	}
	sort.Strings(ids)
	return ids
}

// ofType returns the logical ids of resources of type typ, sorted.
func (c cfn) ofType(typ string) []string {
	var ids []string
	for id, r := range c.resources {
		if r.Type == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// grant is one action an IAM policy allows on one resource (a resource reference, possibly
// with a suffix such as "/index/*", or "*").
type grant struct {
	Action   string
	Resource ref
	Suffix   string
	Any      bool
}

// grantsOf returns what the identity policies attached to role allow.
func (c cfn) grantsOf(role string) []grant {
	var out []grant
	for _, id := range c.ofType("AWS::IAM::Policy") {
		p := c.resources[id].Properties
		roles, _ := p["Roles"].([]any)
		attached := false
		for _, r := range roles {
			if t, ok := c.target(r); ok && t.ID == role {
				attached = true
			}
		}
		if !attached {
			continue
		}
		for _, s := range statements(p["PolicyDocument"]) {
			if s.Effect != "Allow" {
				continue
			}
			for _, res := range s.Resources {
				g := grant{Any: res == "*"}
				if !g.Any {
					if r, ok := c.target(res); ok {
						g.Resource = r
					} else if r, suffix, ok := c.joined(res); ok {
						g.Resource, g.Suffix = r, suffix
					} else {
						g.Resource = ref{ID: fmt.Sprint(res)} // names nothing of the app
					}
				}
				for _, a := range s.Actions {
					g.Action = a
					out = append(out, g)
				}
			}
		}
	}
	return out
}

// joined resolves {"Fn::Join": ["", [<reference>, "<suffix>"]]}.
func (c cfn) joined(v any) (ref, string, bool) {
	m, _ := v.(map[string]any)
	j, _ := m["Fn::Join"].([]any)
	if len(j) != 2 || j[0] != "" {
		return ref{}, "", false
	}
	parts, _ := j[1].([]any)
	if len(parts) != 2 {
		return ref{}, "", false
	}
	r, ok := c.target(parts[0])
	suffix, isString := parts[1].(string)
	return r, suffix, ok && isString
}

// allows reports whether grants allow action on the resource id (attribute attr, no suffix).
func allows(grants []grant, action, id, attr string) bool {
	return slices.ContainsFunc(grants, func(g grant) bool {
		return g.Action == action && g.Resource.ID == id && g.Resource.Attr == attr && g.Suffix == ""
	})
}

// statement is an IAM policy statement with Action and Resource always as lists.
type statement struct {
	Effect    string
	Actions   []string
	Resources []any
	Principal any
	Condition any
}

// statements reads the statements of a policy document.
func statements(doc any) []statement {
	d, _ := doc.(map[string]any)
	raw, _ := d["Statement"].([]any)
	out := make([]statement, 0, len(raw))
	for _, r := range raw {
		m, _ := r.(map[string]any)
		s := statement{Principal: m["Principal"], Condition: m["Condition"]}
		s.Effect, _ = m["Effect"].(string)
		for _, a := range list(m["Action"]) {
			if as, ok := a.(string); ok {
				s.Actions = append(s.Actions, as)
			}
		}
		s.Resources = list(m["Resource"])
		out = append(out, s)
	}
	return out
}

func list(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	default:
		return []any{x}
	}
}

// number reads a template number (JSON numbers decode as float64).
func number(v any) (float64, bool) {
	f, ok := v.(float64)
	return f, ok
}

func prop(r cfnResource, path ...string) any {
	var v any = r.Properties
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func stringSet(v any) []string {
	var out []string
	for _, e := range list(v) {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// missingCounterparts lists every entry of top that has no faithful counterpart in the
// synthesized templates (all stacks of the app: foundation, tables, services): each function
// with its settings, environment and the grants its environment declares; each route's method
// with its integration, authorization and invoke permission; the authorizer; each gateway
// response; each consumer's rule, queues, delivery dead-letter queue and event source
// mapping; each table; each stream consumer's mapping; each schedule. An empty result means
// the app builds everything the topology declares.
func missingCounterparts(top *topology.Topology, tpls ...assertions.Template) []string {
	c, err := newCfn(tpls...)
	if err != nil {
		return []string{err.Error()}
	}
	var missing []string
	miss := func(format string, args ...any) { missing = append(missing, fmt.Sprintf(format, args...)) }

	one := func(what, typ, key, value string) (string, bool) {
		ids := c.tagged(typ, key, value)
		if len(ids) != 1 {
			miss("%s: want one %s tagged %s=%s, found %d", what, typ, key, value, len(ids))
			return "", false
		}
		return ids[0], true
	}
	encryptedQueue := func(what string, v any) (string, bool) {
		id, ok := c.targetOf(v, "AWS::SQS::Queue")
		if !ok {
			miss("%s: not an SQS queue of the app", what)
			return "", false
		}
		if _, ok := c.targetOf(prop(c.resources[id], "KmsMasterKeyId"), "AWS::KMS::Key"); !ok {
			miss("%s: queue %s is not encrypted with the customer-managed key", what, id)
		}
		return id, true
	}
	checkNumber := func(what string, got any, want float64) {
		if n, ok := number(got); !ok || n != want {
			miss("%s: want %v, template has %v", what, want, got)
		}
	}

	// Functions.
	fnIDs := map[string]string{}
	for _, f := range top.Functions {
		what := "function " + f.Name
		id, ok := one(what, "AWS::Lambda::Function", TagFunction, f.Name)
		if !ok {
			continue
		}
		fnIDs[f.Name] = id
		r := c.resources[id]
		for _, p := range []struct {
			path []string
			want any
		}{
			{[]string{"Runtime"}, "provided.al2023"},
			{[]string{"Handler"}, "bootstrap"},
			{[]string{"TracingConfig", "Mode"}, "Active"},
			{[]string{"LoggingConfig", "LogFormat"}, "JSON"},
		} {
			if got := prop(r, p.path...); got != p.want {
				miss("%s: %s want %v, template has %v", what, strings.Join(p.path, "."), p.want, got)
			}
		}
		if got := stringSet(prop(r, "Architectures")); !slices.Equal(got, []string{"arm64"}) {
			miss("%s: architectures %v, want [arm64]", what, got)
		}
		checkNumber(what+": memory", prop(r, "MemorySize"), float64(f.MemoryMB))
		checkNumber(what+": timeout", prop(r, "Timeout"), f.Timeout.Seconds())
		if _, ok := c.targetOf(prop(r, "LoggingConfig", "LogGroup"), "AWS::Logs::LogGroup"); !ok {
			miss("%s: does not log to a log group of its own", what)
		}

		role, ok := c.targetOf(prop(r, "Role"), "AWS::IAM::Role")
		if !ok {
			miss("%s: its role is not a role of the app", what)
		}
		grants := c.grantsOf(role)
		vars, _ := prop(r, "Environment", "Variables").(map[string]any)
		for name := range vars {
			if _, declared := f.Env[name]; !declared {
				miss("%s: environment variable %s is not declared", what, name)
			}
		}
		names := make([]string, 0, len(f.Env))
		for name := range f.Env {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			v, got := f.Env[name], vars[name]
			what := what + ": " + name
			if got == nil {
				miss("%s: not in the environment", what)
				continue
			}
			var actions []string
			var target ref
			switch v.Kind {
			case topology.ValueLiteral:
				if got != v.Name {
					miss("%s: want %q, template has %v", what, v.Name, got)
				}
				continue
			case topology.ValueTable:
				ids := c.tagged("AWS::DynamoDB::Table", TagTable, v.Name)
				if t, ok := c.target(got); !ok || len(ids) != 1 || t.ID != ids[0] || t.Attr != "" {
					miss("%s: is not the name of table %s", what, v.Name)
					continue
				}
				target = ref{ID: ids[0]}
				actions = map[topology.Access][]string{
					topology.AccessRead:      {"dynamodb:GetItem", "dynamodb:Query"},
					topology.AccessReadWrite: {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
				}[v.Access]
				target.Attr = "Arn"
			case topology.ValueBus:
				id, ok := c.targetOf(got, "AWS::Events::EventBus")
				if !ok {
					miss("%s: is not the name of the bus", what)
					continue
				}
				target = ref{ID: id, Attr: "Arn"}
				if v.Access != topology.AccessNone {
					actions = []string{"events:PutEvents"}
				}
			case topology.ValueKey:
				t, ok := c.target(got)
				if !ok || c.resources[t.ID].Type != "AWS::KMS::Key" || t.Attr != "Arn" {
					miss("%s: is not the ARN of the key", what)
					continue
				}
				target = t
				actions = map[topology.Access][]string{
					topology.AccessRead:      {"kms:Decrypt"},
					topology.AccessReadWrite: {"kms:Decrypt", "kms:Encrypt"},
				}[v.Access]
			case topology.ValueQueue:
				ids := c.tagged("AWS::SQS::Queue", TagQueue, v.Name)
				if t, ok := c.target(got); !ok || len(ids) != 1 || t.ID != ids[0] || t.Attr != "" {
					miss("%s: is not the URL of queue %s", what, v.Name)
					continue
				}
				target = ref{ID: ids[0], Attr: "Arn"}
				actions = map[topology.Access][]string{
					topology.AccessRead:      {"sqs:ReceiveMessage", "sqs:DeleteMessage"},
					topology.AccessReadWrite: {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:SendMessage"},
				}[v.Access]
			case topology.ValueFunction:
				ids := c.tagged("AWS::Lambda::Function", TagFunction, v.Name)
				if t, ok := c.target(got); !ok || len(ids) != 1 || t.ID != ids[0] || t.Attr != "Arn" {
					miss("%s: is not the ARN of function %s", what, v.Name)
					continue
				}
				if v.Access == topology.AccessReadWrite && !allows(grants, "lambda:InvokeFunction", ids[0], "Arn") {
					miss("%s: role %s may not invoke function %s", what, role, v.Name)
				}
				continue
			case topology.ValueRole:
				ids := c.tagged("AWS::IAM::Role", TagRole, v.Name)
				if t, ok := c.target(got); !ok || len(ids) != 1 || t.ID != ids[0] || t.Attr != "Arn" {
					miss("%s: is not the ARN of role %s", what, v.Name)
					continue
				}
				if v.Access == topology.AccessReadWrite && !allows(grants, "sts:AssumeRole", ids[0], "Arn") {
					miss("%s: role %s may not assume role %s", what, role, v.Name)
				}
				if v.Access == topology.AccessDenySessions && !allows(grants, "iam:PutRolePolicy", ids[0], "Arn") {
					miss("%s: role %s may not put the deny on role %s", what, role, v.Name)
				}
				continue
			case topology.ValueDependents:
				if want := strings.Join(top.Dependents, ","); got != want {
					miss("%s: want the declared dependents %q, template has %v", what, want, got)
				}
				continue
			case topology.ValueAPIStage:
				if b, _ := json.Marshal(got); !strings.Contains(string(b), ":execute-api:") {
					miss("%s: is not an execute-api ARN: %s", what, b)
				}
				continue
			case topology.ValueUsagePlans:
				if v.Access == topology.AccessReadWrite && !slices.ContainsFunc(grants, func(g grant) bool {
					return g.Action == "apigateway:POST" && isEnrollARN(g.Resource.ID)
				}) {
					miss("%s: role %s may not enroll API keys in the usage plans", what, role)
				}
				continue
			case topology.ValueDeployment:
				// The stacks are environment-agnostic here: CloudFormation joins the account,
				// the region and the stack's name.
				b, _ := json.Marshal(got)
				if want := `{"Fn::Join":["",[{"Ref":"AWS::AccountId"},"/",{"Ref":"AWS::Region"},"/LanyardServices"]]}`; string(b) != want {
					miss("%s: want the deployment id %s, template has %s", what, want, b)
				}
				continue
			case topology.ValueSecrets:
				if got != SecretsPrefix {
					miss("%s: want the secrets prefix %q, template has %v", what, SecretsPrefix, got)
				}
				want := map[topology.Access][]string{
					topology.AccessRead:          {"secretsmanager:GetSecretValue"},
					topology.AccessReadWrite:     {"secretsmanager:GetSecretValue", "secretsmanager:CreateSecret"},
					topology.AccessRotate:        {"secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"},
					topology.AccessStartRotation: {"secretsmanager:RotateSecret"},
					topology.AccessRetire:        {"secretsmanager:CancelRotateSecret", "secretsmanager:DeleteSecret"},
				}[v.Access]
				for _, a := range want {
					if !slices.ContainsFunc(grants, func(g grant) bool { return g.Action == a && isSecretsARN(g.Resource.ID) }) {
						miss("%s: role %s is not granted %s on the secrets under %s", what, role, a, SecretsPrefix)
					}
				}
				continue
			case topology.ValueAuditLog:
				id, ok := c.targetOf(got, "AWS::Logs::LogGroup")
				if !ok {
					miss("%s: is not the name of the audit log group", what)
					continue
				}
				target = ref{ID: id, Attr: "Arn"}
				actions = map[topology.Access][]string{
					topology.AccessRead:      AuditLogReadActions,
					topology.AccessReadWrite: AuditLogWriteActions,
				}[v.Access]
			case topology.ValueAuditBucket:
				id, ok := c.targetOf(got, "AWS::S3::Bucket")
				if !ok {
					miss("%s: is not the name of the audit bucket", what)
					continue
				}
				for _, a := range map[topology.Access][]string{topology.AccessRead: AuditBucketReadActions, topology.AccessReadWrite: AuditBucketWriteActions}[v.Access] {
					if !slices.ContainsFunc(grants, func(g grant) bool {
						return g.Action == a && g.Resource.ID == id && g.Resource.Attr == "Arn" && g.Suffix == "/*"
					}) {
						miss("%s: role %s is not granted %s on the audit bucket's objects", what, role, a)
					}
				}
				continue
			case topology.ValueAuditSigningKey:
				t, ok := c.target(got)
				if !ok || c.resources[t.ID].Type != "AWS::KMS::Key" || prop(c.resources[t.ID], "KeyUsage") != "SIGN_VERIFY" || t.Attr != "Arn" {
					miss("%s: is not the ARN of the audit signing key", what)
					continue
				}
				target = t
				actions = map[topology.Access][]string{
					topology.AccessRead:      AuditPublicKeyActions,
					topology.AccessReadWrite: AuditSignActions,
				}[v.Access]
			default:
				miss("%s: unknown value kind %q", what, v.Kind)
				continue
			}
			for _, a := range actions {
				if !allows(grants, a, target.ID, target.Attr) {
					miss("%s: role %s is not granted %s on %s (declared %s access)", what, role, a, target.ID, v.Access)
				}
			}
		}
	}
	fn := func(what, name string) (string, bool) {
		id, ok := fnIDs[name]
		if !ok {
			miss("%s: function %s has no counterpart", what, name)
		}
		return id, ok
	}

	// The REST API: resources by path, the authorizer, methods and their permissions.
	paths := map[string]string{} // resource logical id → path
	var pathOf func(id string) string
	pathOf = func(id string) string {
		if p, ok := paths[id]; ok {
			return p
		}
		r := c.resources[id]
		parent := ""
		if pr, ok := c.target(prop(r, "ParentId")); ok && pr.Attr == "" {
			parent = pathOf(pr.ID)
		}
		part, _ := prop(r, "PathPart").(string)
		paths[id] = parent + "/" + part
		return paths[id]
	}
	for _, id := range c.ofType("AWS::ApiGateway::Resource") {
		pathOf(id)
	}
	authorizerID := ""
	if a := top.Authorizer; a != nil && slices.ContainsFunc(top.Routes, func(r topology.Route) bool { return r.Auth == topology.AuthPartnerKey }) {
		ids := c.ofType("AWS::ApiGateway::Authorizer")
		if len(ids) != 1 {
			miss("authorizer: want one API Gateway authorizer, found %d", len(ids))
		} else {
			authorizerID = ids[0]
			r := c.resources[authorizerID]
			if prop(r, "Type") != "REQUEST" {
				miss("authorizer: type %v, want REQUEST", prop(r, "Type"))
			}
			if want := "method.request.header." + a.IdentityHeader; prop(r, "IdentitySource") != want {
				miss("authorizer: identity source %v, want %s", prop(r, "IdentitySource"), want)
			}
			checkNumber("authorizer: result TTL", prop(r, "AuthorizerResultTtlInSeconds"), float64(int64(a.ResultTTL.Seconds())))
			if id, ok := fn("authorizer", a.Function); ok && !c.mentions(prop(r, "AuthorizerUri"), id) {
				miss("authorizer: does not invoke function %s", a.Function)
			}
			if id, ok := fnIDs[a.Function]; ok && !c.hasPermission(id, "apigateway.amazonaws.com", "/authorizers/") {
				miss("authorizer: API Gateway may not invoke function %s", a.Function)
			}
		}
	}
	for _, rt := range top.Routes {
		what := "route " + rt.Method + " " + rt.Path
		var method string
		for _, id := range c.ofType("AWS::ApiGateway::Method") {
			r := c.resources[id]
			res, ok := c.target(prop(r, "ResourceId"))
			if ok && res.Attr == "" && paths[res.ID] == rt.Path && prop(r, "HttpMethod") == rt.Method {
				method = id
			}
		}
		if method == "" {
			miss("%s: no API Gateway method on that path", what)
			continue
		}
		r := c.resources[method]
		if prop(r, "Integration", "Type") != "AWS_PROXY" {
			miss("%s: integration %v, want AWS_PROXY", what, prop(r, "Integration", "Type"))
		}
		if id, ok := fn(what, rt.Function); ok {
			if !c.mentions(prop(r, "Integration", "Uri"), id) {
				miss("%s: does not integrate function %s", what, rt.Function)
			}
			if !c.hasPermission(id, "apigateway.amazonaws.com", "/"+rt.Method+starParams(rt.Path)) {
				miss("%s: API Gateway may not invoke function %s for it", what, rt.Function)
			}
		}
		want := map[topology.Authorization]string{topology.AuthPartnerKey: "CUSTOM", topology.AuthIAM: "AWS_IAM", topology.AuthNone: "NONE"}[rt.Auth]
		if got := prop(r, "AuthorizationType"); got != want {
			miss("%s: authorization %v, want %s", what, got, want)
		}
		auth, hasAuth := c.target(prop(r, "AuthorizerId"))
		switch {
		case rt.Auth == topology.AuthPartnerKey && (!hasAuth || auth.ID != authorizerID || authorizerID == ""):
			miss("%s: not authorized by the REQUEST authorizer", what)
		case rt.Auth != topology.AuthPartnerKey && hasAuth:
			miss("%s: has an authorizer but is declared %s", what, rt.Auth)
		}
	}

	for _, g := range top.GatewayResponses {
		what := "gateway response " + g.Type
		var found *cfnResource
		for _, id := range c.ofType("AWS::ApiGateway::GatewayResponse") {
			if r := c.resources[id]; prop(r, "ResponseType") == g.Type {
				found = &r
			}
		}
		if found == nil {
			miss("%s: not in the API", what)
			continue
		}
		wantStatus := any(nil)
		if g.Status != 0 {
			wantStatus = fmt.Sprint(g.Status)
		}
		if got := prop(*found, "StatusCode"); got != wantStatus {
			miss("%s: status %v, want %v", what, got, wantStatus)
		}
		if got := prop(*found, "ResponseParameters", "gatewayresponse.header.Content-Type"); got != "'"+ProblemContentType+"'" {
			miss("%s: Content-Type %v, want %s", what, got, ProblemContentType)
		}
		body, _ := prop(*found, "ResponseTemplates", "application/json").(string)
		if body != problemTemplate(g) {
			miss("%s: body template is not the problem+json of its declaration", what)
		}
	}

	// Consumers.
	for _, cons := range top.Consumers {
		what := "consumer " + cons.Name
		ruleID, ok := one(what, "AWS::Events::Rule", TagConsumer, cons.Name)
		if !ok {
			continue
		}
		rule := c.resources[ruleID]
		if _, ok := c.targetOf(prop(rule, "EventBusName"), "AWS::Events::EventBus"); !ok {
			miss("%s: rule is not on the Lanyard bus", what)
		}
		if got := stringSet(prop(rule, "EventPattern", "source")); !slices.Equal(got, []string{events.Source}) {
			miss("%s: rule matches sources %v, want [%s]", what, got, events.Source)
		}
		wantTypes := append([]string(nil), cons.DetailTypes...)
		sort.Strings(wantTypes)
		if got := stringSet(prop(rule, "EventPattern", "detail-type")); !slices.Equal(got, wantTypes) {
			miss("%s: rule matches detail types %v, want %v", what, got, wantTypes)
		}
		targets := list(prop(rule, "Targets"))
		if len(targets) != 1 {
			miss("%s: rule has %d targets, want 1", what, len(targets))
			continue
		}
		target := cfnResource{Properties: targets[0].(map[string]any)}
		queueID, ok := encryptedQueue(what+": rule target", prop(target, "Arn"))
		if !ok {
			continue
		}
		if ids := c.tagged("AWS::SQS::Queue", TagQueue, cons.Name); !slices.Equal(ids, []string{queueID}) {
			miss("%s: the rule does not target the queue tagged %s=%s", what, TagQueue, cons.Name)
		}
		encryptedQueue(what+": rule target's dead-letter queue", prop(target, "DeadLetterConfig", "Arn"))
		checkNumber(what+": rule target retry attempts", prop(target, "RetryPolicy", "MaximumRetryAttempts"), TargetRetryAttempts)
		checkNumber(what+": rule target maximum event age", prop(target, "RetryPolicy", "MaximumEventAgeInSeconds"), TargetMaxEventAge.Seconds())

		queue := c.resources[queueID]
		checkNumber(what+": queue visibility timeout", prop(queue, "VisibilityTimeout"), cons.VisibilityTimeout.Seconds())
		checkNumber(what+": queue maxReceiveCount", prop(queue, "RedrivePolicy", "maxReceiveCount"), float64(cons.MaxReceiveCount))
		if dlq, ok := encryptedQueue(what+": queue's dead-letter queue", prop(queue, "RedrivePolicy", "deadLetterTargetArn")); ok {
			if ids := c.tagged("AWS::SQS::Queue", TagQueue, cons.DLQName()); !slices.Equal(ids, []string{dlq}) {
				miss("%s: the queue does not redrive to the queue tagged %s=%s", what, TagQueue, cons.DLQName())
			}
		}

		fnID, ok := fn(what, cons.Function)
		if !ok {
			continue
		}
		esm, ok := c.mapping(queueID, "Arn", fnID)
		if !ok {
			miss("%s: no event source mapping from its queue to function %s", what, cons.Function)
			continue
		}
		checkNumber(what+": batch size", prop(esm, "BatchSize"), float64(cons.BatchSize))
		if cons.BatchingWindow > 0 {
			checkNumber(what+": batching window", prop(esm, "MaximumBatchingWindowInSeconds"), cons.BatchingWindow.Seconds())
		} else if w := prop(esm, "MaximumBatchingWindowInSeconds"); w != nil {
			miss("%s: batching window %v, none declared", what, w)
		}
		if got := stringSet(prop(esm, "FunctionResponseTypes")); !slices.Contains(got, "ReportBatchItemFailures") {
			miss("%s: the mapping does not report batch item failures", what)
		}
	}

	// Tables.
	for _, tb := range top.Tables {
		what := "table " + tb.Name
		id, ok := one(what, "AWS::DynamoDB::Table", TagTable, tb.Name)
		if !ok {
			continue
		}
		r := c.resources[id]
		if prop(r, "BillingMode") != "PAY_PER_REQUEST" {
			miss("%s: billing mode %v, want on-demand", what, prop(r, "BillingMode"))
		}
		if prop(r, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled") != true {
			miss("%s: point-in-time recovery is off", what)
		}
		if _, ok := c.targetOf(prop(r, "SSESpecification", "KMSMasterKeyId"), "AWS::KMS::Key"); !ok ||
			prop(r, "SSESpecification", "SSEEnabled") != true || prop(r, "SSESpecification", "SSEType") != "KMS" {
			miss("%s: not encrypted with the customer-managed key", what)
		}
		attrTypes := map[string]any{}
		for _, a := range list(prop(r, "AttributeDefinitions")) {
			am, _ := a.(map[string]any)
			name, _ := am["AttributeName"].(string)
			attrTypes[name] = am["AttributeType"]
		}
		checkKeys := func(what string, schema any, pk topology.Attr, sk *topology.Attr) {
			want := []string{"HASH " + pk.Name + " " + string(pk.Type)}
			if sk != nil {
				want = append(want, "RANGE "+sk.Name+" "+string(sk.Type))
			}
			var got []string
			for _, k := range list(schema) {
				km, _ := k.(map[string]any)
				got = append(got, fmt.Sprintf("%v %v %v", km["KeyType"], km["AttributeName"], attrTypes[fmt.Sprint(km["AttributeName"])]))
			}
			if !slices.Equal(got, want) {
				miss("%s: key schema %v, want %v", what, got, want)
			}
		}
		checkKeys(what, prop(r, "KeySchema"), tb.PartitionKey, tb.SortKey)
		gsis := map[string]map[string]any{}
		for _, g := range list(prop(r, "GlobalSecondaryIndexes")) {
			gm, _ := g.(map[string]any)
			gsis[fmt.Sprint(gm["IndexName"])] = gm
		}
		if len(gsis) != len(tb.Indexes) {
			miss("%s: %d global secondary indexes, want %d", what, len(gsis), len(tb.Indexes))
		}
		for _, idx := range tb.Indexes {
			g, ok := gsis[idx.Name]
			if !ok {
				miss("%s: index %s missing", what, idx.Name)
				continue
			}
			checkKeys(what+": index "+idx.Name, g["KeySchema"], idx.PartitionKey, idx.SortKey)
			want := "ALL"
			if idx.KeysOnly {
				want = "KEYS_ONLY"
			}
			if pm, _ := g["Projection"].(map[string]any); pm["ProjectionType"] != want {
				miss("%s: index %s does not project %s", what, idx.Name, want)
			}
		}
		if tb.TTLAttribute != "" {
			if prop(r, "TimeToLiveSpecification", "AttributeName") != tb.TTLAttribute || prop(r, "TimeToLiveSpecification", "Enabled") != true {
				miss("%s: TTL %v, want %s", what, prop(r, "TimeToLiveSpecification"), tb.TTLAttribute)
			}
		} else if ttl := prop(r, "TimeToLiveSpecification"); ttl != nil {
			miss("%s: TTL %v, none declared", what, ttl)
		}
		var wantView any
		if tb.Stream != topology.StreamNone {
			wantView = string(tb.Stream)
		}
		if got := prop(r, "StreamSpecification", "StreamViewType"); got != wantView {
			miss("%s: stream view %v, want %v", what, got, wantView)
		}
	}

	// Stream consumers.
	for _, sc := range top.StreamConsumers {
		what := "stream consumer of " + sc.Table
		ids := c.tagged("AWS::DynamoDB::Table", TagTable, sc.Table)
		fnID, ok := fn(what, sc.Function)
		if len(ids) != 1 || !ok {
			miss("%s: table or function has no counterpart", what)
			continue
		}
		esm, ok := c.mapping(ids[0], "StreamArn", fnID)
		if !ok {
			miss("%s: no event source mapping from the table's stream to function %s", what, sc.Function)
			continue
		}
		if prop(esm, "StartingPosition") != "TRIM_HORIZON" {
			miss("%s: starting position %v, want TRIM_HORIZON", what, prop(esm, "StartingPosition"))
		}
		checkNumber(what+": batch size", prop(esm, "BatchSize"), float64(sc.BatchSize))
		checkNumber(what+": retry attempts", prop(esm, "MaximumRetryAttempts"), float64(sc.RetryAttempts))
		if got, _ := prop(esm, "BisectBatchOnFunctionError").(bool); got != sc.BisectOnError {
			miss("%s: bisect on error %v, want %v", what, got, sc.BisectOnError)
		}
		if q, ok := encryptedQueue(what+": on-failure destination", prop(esm, "DestinationConfig", "OnFailure", "Destination")); ok {
			if ids := c.tagged("AWS::SQS::Queue", TagQueue, sc.OnFailureQueue); !slices.Equal(ids, []string{q}) {
				miss("%s: on-failure destination is not the queue tagged %s=%s", what, TagQueue, sc.OnFailureQueue)
			}
		}
		role, _ := c.targetOf(prop(c.resources[fnID], "Role"), "AWS::IAM::Role")
		grants := c.grantsOf(role)
		for _, a := range []string{"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"} {
			if !allows(grants, a, ids[0], "StreamArn") {
				miss("%s: function %s may not %s on the stream", what, sc.Function, a)
			}
		}
	}

	// Schedules.
	if r := top.SecretRotation; r != nil {
		if fnID, ok := fn("secret rotation", r.Function); ok {
			found := false
			for _, id := range c.ofType("AWS::Lambda::Permission") {
				p := c.resources[id]
				t, isRef := c.target(prop(p, "FunctionName"))
				found = found || (isRef && t.ID == fnID && prop(p, "Principal") == "secretsmanager.amazonaws.com" &&
					prop(p, "Action") == "lambda:InvokeFunction" && prop(p, "SourceAccount") != nil)
			}
			if !found {
				miss("secret rotation: Secrets Manager may not invoke %s on behalf of this account", r.Function)
			}
		}
	}

	for _, s := range top.Schedules {
		what := "schedule " + s.Name
		id, ok := one(what, "AWS::Events::Rule", TagSchedule, s.Name)
		if !ok {
			continue
		}
		r := c.resources[id]
		if prop(r, "ScheduleExpression") != s.Expression {
			miss("%s: expression %v, want %s", what, prop(r, "ScheduleExpression"), s.Expression)
		}
		targets := list(prop(r, "Targets"))
		fnID, ok := fn(what, s.Function)
		if len(targets) != 1 || !ok {
			miss("%s: want one target, function %s", what, s.Function)
			continue
		}
		target := cfnResource{Properties: targets[0].(map[string]any)}
		if t, ok := c.target(prop(target, "Arn")); !ok || t.ID != fnID {
			miss("%s: does not target function %s", what, s.Function)
		}
		encryptedQueue(what+": target's dead-letter queue", prop(target, "DeadLetterConfig", "Arn"))
		checkNumber(what+": target retry attempts", prop(target, "RetryPolicy", "MaximumRetryAttempts"), TargetRetryAttempts)
		if !c.hasRulePermission(fnID, id) {
			miss("%s: EventBridge may not invoke function %s for it", what, s.Function)
		}
	}

	sort.Strings(missing)
	return missing
}

// mapping finds the event source mapping from resource source (attribute attr) to function fn.
func (c cfn) mapping(source, attr, fn string) (cfnResource, bool) {
	for _, id := range c.ofType("AWS::Lambda::EventSourceMapping") {
		r := c.resources[id]
		src, ok1 := c.target(prop(r, "EventSourceArn"))
		f, ok2 := c.target(prop(r, "FunctionName"))
		if ok1 && ok2 && src.ID == source && src.Attr == attr && f.ID == fn {
			return r, true
		}
	}
	return cfnResource{}, false
}

// hasPermission reports whether principal may invoke fn with a source ARN whose last literal
// part contains sourceSuffix.
func (c cfn) hasPermission(fn, principal, sourceSuffix string) bool {
	for _, id := range c.ofType("AWS::Lambda::Permission") {
		r := c.resources[id]
		if t, ok := c.target(prop(r, "FunctionName")); !ok || t.ID != fn || prop(r, "Principal") != principal {
			continue
		}
		join, _ := prop(r, "SourceArn", "Fn::Join").([]any)
		if len(join) != 2 {
			continue
		}
		parts, _ := join[1].([]any)
		if len(parts) == 0 {
			continue
		}
		last, _ := parts[len(parts)-1].(string)
		if sourceSuffix == "/authorizers/" {
			if len(parts) >= 2 && parts[len(parts)-2] == sourceSuffix {
				return true
			}
			continue
		}
		if last == sourceSuffix {
			return true
		}
	}
	return false
}

// hasRulePermission reports whether EventBridge may invoke fn for rule.
func (c cfn) hasRulePermission(fn, rule string) bool {
	for _, id := range c.ofType("AWS::Lambda::Permission") {
		r := c.resources[id]
		t, ok := c.target(prop(r, "FunctionName"))
		src, ok2 := c.target(prop(r, "SourceArn"))
		if ok && ok2 && t.ID == fn && src.ID == rule && prop(r, "Principal") == "events.amazonaws.com" {
			return true
		}
	}
	return false
}

// starParams is a route path as it appears in an execute-api ARN: path parameters become *.
func starParams(path string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") {
			segs[i] = "*"
		}
	}
	return strings.Join(segs, "/")
}
