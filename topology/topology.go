// Package topology declares Lanyard's wiring once: the functions, the routes each serves and
// how each route is authorized, the gateway responses, which detail types each consumer takes
// through which queue, the table streams and their consumers, the tables and the schedules.
//
// The CDK app (infra/) and the local environment (local/) are both built from a Topology, so
// the deployed and the local wiring cannot drift; the README's diagram is generated from it.
// This package imports neither of them.
package topology

import (
	"sort"
	"strings"
	"time"
)

// Authorization says how API Gateway admits a request to a route.
type Authorization string

// Route authorizations.
const (
	AuthPartnerKey Authorization = "partner-key" // the REQUEST authorizer checks the partner's API key
	AuthIAM        Authorization = "aws-iam"     // SigV4-signed by an IAM principal (ops)
	AuthNone       Authorization = "none"        // open (the OpenAPI document, health)
)

// Topology is the whole declaration.
type Topology struct {
	Functions        []Function
	Authorizer       *Authorizer
	Routes           []Route
	GatewayResponses []GatewayResponse
	Consumers        []Consumer
	StreamConsumers  []StreamConsumer
	Tables           []Table
	Schedules        []Schedule
	Roles            []Role
	UsagePlans       []UsagePlan
	// SecretRotation names the function Secrets Manager calls to rotate the partner key
	// secrets (nil: none). Secrets Manager may invoke it, from this account only.
	SecretRotation *SecretRotation
	// Dependents are the IAM principals (role, user or root ARNs: shared/platform/iamarn) of
	// the internal systems that may call the routes declared DependentsOnly. They belong to
	// the deployment, not to the code: the CDK app reads them from its context
	// (infra.DependentsContext), `lanyard local` declares its local credentials' principal.
	// None declared: nobody may call those routes.
	Dependents []string
	// AuditLog is the audit log group (nil: none).
	AuditLog *AuditLog
	// AuditExport is the export of the audit trail to the audit bucket (nil: none).
	AuditExport *AuditExport
}

// SecretRotation is the rotation function of the partner key secrets.
type SecretRotation struct {
	Function string
}

// Function is one Lambda function.
type Function struct {
	// Name is the function's kebab-case name; locally the Lambda function is "lanyard-<Name>".
	Name string
	// Main is the main package, relative to the repository root ("functions/<Name>").
	Main string
	// MemoryMB and Timeout size the function.
	MemoryMB int32
	Timeout  time.Duration
	// Env is the environment the function needs, by variable name.
	Env map[string]Value
	// InvokedBy names what calls the function when nothing declared here does (no route,
	// authorizer, consumer, stream, schedule or secret rotation): validation refuses a function
	// that nothing triggers, since it would never run.
	InvokedBy string
}

// ValueKind says what an environment value refers to.
type ValueKind string

// Value kinds.
const (
	ValueLiteral ValueKind = "literal" // Name is the value itself
	ValueTable   ValueKind = "table"   // the name of the declared table Name
	ValueBus     ValueKind = "bus"     // the name of the event bus
	ValueKey     ValueKind = "key"     // the ARN of the customer-managed KMS key
	ValueQueue   ValueKind = "queue"   // the URL of the declared queue Name
	// ValueSecrets is the name prefix of the partner key secrets in Secrets Manager
	// ("lanyard/partners/" in AWS, "<prefix>/partners/" locally: shared/domain/partnersecret);
	// access is granted on the secrets under it and on nothing else.
	ValueSecrets ValueKind = "secrets"
	// ValueRole is the ARN of the declared role Name. Access read-write: the function may assume
	// it, with session tags (it must be the role's AssumedBy).
	ValueRole ValueKind = "role"
	// ValueUsagePlans is a JSON object of the declared usage plans' names (in AWS or locally) by
	// declared name; functions find the ids by name (shared/features/usage.ResolvePlans). Access
	// read-write: the function may create API keys and add them to the plans.
	ValueUsagePlans ValueKind = "usage-plans"
	// ValueDeployment is this deployment's id: what a signed STS identity proof must name in its
	// X-Lanyard-Server-ID header. Unique per deployment and stable across synths and deploys:
	// in AWS "<account>/<region>/<stack name>" of the services stack (infra.DeploymentID, its
	// ServerId output); locally the name prefix, which names every resource of that
	// deployment.
	ValueDeployment ValueKind = "deployment"
	// ValueAPIStage is the execute-api ARN of the REST API's stage,
	// "arn:aws:execute-api:<region>:<account>:<api>/<stage>": what the scopes' grants resolve
	// under (policy/policy.json).
	ValueAPIStage ValueKind = "api-stage"
	// ValueFunction is the ARN of the declared function Name (to hand to a service that calls
	// it, such as Secrets Manager's RotateSecret).
	ValueFunction ValueKind = "function"
	// ValueDependents is the declared Dependents' ARNs, comma separated ("" when none is): the
	// principals a DependentsOnly route's function admits.
	ValueDependents ValueKind = "dependents"
	// ValueAuditLog is the name of the audit log group (Topology.AuditLog): "/lanyard/audit" in
	// AWS, "/<prefix>/audit" locally (AuditLogGroupName). Access read-write: create log streams
	// in it and put log events; read: run Logs Insights queries on it and read its events.
	ValueAuditLog ValueKind = "audit-log"
	// ValueAuditBucket is the name of the audit bucket (Topology.AuditExport): versioned, under
	// Object Lock. Access read-write: put objects (never delete them) and read them back;
	// read: list and read objects and their versions.
	ValueAuditBucket ValueKind = "audit-bucket"
	// ValueAuditSigningKey is the ARN of the audit signing key (Topology.AuditExport), a KMS
	// asymmetric key (ECC_NIST_P256, SIGN_VERIFY). Access read-write: Sign and GetPublicKey;
	// read: GetPublicKey.
	ValueAuditSigningKey ValueKind = "audit-signing-key"
)

// Access is what a function may do with the resource a Value names; infra grants exactly it.
type Access string

// Access levels.
const (
	AccessNone      Access = ""
	AccessRead      Access = "read"
	AccessReadWrite Access = "read-write"
	// AccessRotate is the secrets' rotation access (ValueSecrets only): describe, read, put a
	// version and move staging labels — what a Secrets Manager rotation function calls.
	AccessRotate Access = "rotate"
	// AccessStartRotation is what starting a rotation takes (ValueSecrets only): describe and
	// RotateSecret with the rotation already configured.
	AccessStartRotation Access = "start-rotation"
	// AccessRetire is what retiring a revoked key's secret takes (ValueSecrets only): describe,
	// move staging labels, cancel the rotation, tag and schedule the deletion — never read a
	// value.
	AccessRetire Access = "retire"
	// AccessDenySessions is what the sts enforcer takes on a role (ValueRole only): put and
	// delete the role's inline policy, create and version its own customer managed policies and
	// attach them to the role, nothing more.
	AccessDenySessions Access = "deny-sessions"
	// AccessDisableKeys is what disabling (and enabling again) partners' API keys takes
	// (ValueUsagePlans only): find an API key by name (GET on the API keys) and update it (PATCH
	// on an API key), nothing else.
	AccessDisableKeys Access = "disable-keys"
)

// Value is one environment value.
type Value struct {
	Kind   ValueKind
	Name   string
	Access Access
}

// Literal is a fixed environment value.
func Literal(v string) Value { return Value{Kind: ValueLiteral, Name: v} }

// TableName is the name of a declared table, with the function's access to it.
func TableName(table string, access Access) Value {
	return Value{Kind: ValueTable, Name: table, Access: access}
}

// BusName is the name of the event bus; publish says whether the function may put events.
func BusName(publish bool) Value {
	v := Value{Kind: ValueBus}
	if publish {
		v.Access = AccessReadWrite
	}
	return v
}

// SecretPrefix is the name prefix of the partner key secrets, with the function's access to
// them (read: describe and read values; read-write: also create, update, label, tag and
// delete).
func SecretPrefix(access Access) Value { return Value{Kind: ValueSecrets, Access: access} }

// RoleARN is the ARN of the declared role name; assume says the function may assume it.
func RoleARN(name string, assume bool) Value {
	v := Value{Kind: ValueRole, Name: name}
	if assume {
		v.Access = AccessReadWrite
	}
	return v
}

// RoleDenies is the ARN of the declared role name, for the function that keeps the role's deny
// of revoked partners' sessions (AccessDenySessions).
func RoleDenies(name string) Value {
	return Value{Kind: ValueRole, Name: name, Access: AccessDenySessions}
}

// UsagePlanIDs is the JSON object of the usage plans' names by declared name; enroll says the function may
// create API keys and add them to the plans.
func UsagePlanIDs(enroll bool) Value {
	v := Value{Kind: ValueUsagePlans}
	if enroll {
		v.Access = AccessReadWrite
	}
	return v
}

// UsagePlanKeys is the JSON object of the usage plans' names, like UsagePlanIDs, for a function
// that may disable the partners' API keys (AccessDisableKeys) and enroll none.
func UsagePlanKeys() Value { return Value{Kind: ValueUsagePlans, Access: AccessDisableKeys} }

// FunctionARN is the ARN of the declared function name (see ValueFunction); hand says the
// function hands it to a service that invokes it (RotateSecret), which takes the permission to
// invoke it.
func FunctionARN(name string, hand bool) Value {
	v := Value{Kind: ValueFunction, Name: name}
	if hand {
		v.Access = AccessReadWrite
	}
	return v
}

// APIStageARN is the execute-api ARN of the REST API's stage (see ValueAPIStage); flush says
// the function may flush the stage's authorizer cache (FlushStageAuthorizersCache).
func APIStageARN(flush bool) Value {
	v := Value{Kind: ValueAPIStage}
	if flush {
		v.Access = AccessReadWrite
	}
	return v
}

// AuditLogName is the name of the audit log group, with the function's access to it.
func AuditLogName(access Access) Value { return Value{Kind: ValueAuditLog, Access: access} }

// AuditLogGroupName is the audit log group's name under a deployment's name prefix:
// "/lanyard/audit" in AWS (prefix "lanyard"), "/<prefix>/audit" locally.
func AuditLogGroupName(prefix string) string { return "/" + prefix + "/audit" }

// AuditLog is the CloudWatch Logs group every audit record is written to, encrypted with the
// deployment's KMS key; its retention is the policy's audit.retentionDays.
type AuditLog struct {
	// Writer is the function that writes the bus's events to it (the audit consumer's).
	Writer string
}

// AuditExport is the export of the audit trail: closed windows of the outbox's chains become
// objects and signed manifests in the audit bucket (shared/features/auditexport).
type AuditExport struct {
	// Exporter is the function that exports the windows (scheduled).
	Exporter string
}

// AuditBucketName is the name of the audit bucket, with the function's access to it.
func AuditBucketName(access Access) Value { return Value{Kind: ValueAuditBucket, Access: access} }

// AuditSigningKeyARN is the ARN of the audit signing key, with the function's access to it.
func AuditSigningKeyARN(access Access) Value {
	return Value{Kind: ValueAuditSigningKey, Access: access}
}

// AuditBucketLocalName is the audit bucket's name under a local deployment's name prefix.
func AuditBucketLocalName(prefix string) string { return prefix + "-audit" }

// Dependents is the declared dependents' ARNs (see ValueDependents).
func Dependents() Value { return Value{Kind: ValueDependents} }

// DeploymentID is this deployment's id (see ValueDeployment).
func DeploymentID() Value { return Value{Kind: ValueDeployment} }

// KeyARN is the ARN of the customer-managed key, with the function's access to it
// (read: decrypt; read-write: encrypt and decrypt).
func KeyARN(access Access) Value { return Value{Kind: ValueKey, Access: access} }

// Authorizer is the REQUEST authorizer in front of partner-key routes.
type Authorizer struct {
	Function string
	// IdentityHeader is the request header API Gateway keys its cache on.
	IdentityHeader string
	// ResultTTL is how long API Gateway caches the policy the authorizer returns.
	ResultTTL time.Duration
}

// Route is one REST route.
type Route struct {
	Method   string
	Path     string // "/v1/partners/{id}"
	Function string
	Auth     Authorization
	// Scope is the scope a partner key needs to call an AuthPartnerKey route; "" admits any
	// valid partner key. The authorizer's policy lists every route the key's scopes permit.
	Scope string
	// DependentsOnly restricts an AuthIAM route to the declared Dependents: in AWS the REST
	// API's resource policy denies every other principal; `lanyard local`'s front refuses
	// them alike; the function checks the caller again (ValueDependents).
	DependentsOnly bool
}

// GatewayResponse is an API Gateway response for a request that never reached a function,
// rendered as problem+json (RFC 9457).
type GatewayResponse struct {
	Type   string // UNAUTHORIZED, ACCESS_DENIED, MISSING_AUTHENTICATION_TOKEN, THROTTLED, DEFAULT_4XX, DEFAULT_5XX
	Status int
	Title  string
	// Problem is the stable problem type URI.
	Problem string
}

// Consumer takes detail types from the bus: rule → SQS queue (with a DLQ) → function.
type Consumer struct {
	Name        string // names the rule and the queue
	Function    string
	DetailTypes []string
	// AllDetailTypes subscribes the consumer by the bus source alone (events.Source): every
	// Lanyard detail type reaches it, those added later included, without a change here. It
	// excludes DetailTypes, and an enforcer never takes it.
	AllDetailTypes bool
	// BatchSize and BatchingWindow shape the event source mapping.
	BatchSize      int32
	BatchingWindow time.Duration
	// VisibilityTimeout of the queue; at least six times the function's timeout.
	VisibilityTimeout time.Duration
	// MaxReceiveCount deliveries before a message moves to the consumer's DLQ.
	MaxReceiveCount int32
	// Enforcer names the revocation enforcer this consumer is ("gateway", "sts", "secret":
	// events.Enforcer*), or "". An enforcer takes Credential Revoked and reports Revocation
	// Enforced; the revocation tracker waits for every declared enforcer (Enforcers).
	Enforcer string
}

// Enforcers are the revocation enforcers declared (Consumer.Enforcer), in declaration order:
// a revocation is complete once each has reported.
func (t *Topology) Enforcers() []string {
	var out []string
	for _, c := range t.Consumers {
		if c.Enforcer != "" {
			out = append(out, c.Enforcer)
		}
	}
	return out
}

// StreamConsumer reads a table's stream through an event source mapping.
type StreamConsumer struct {
	Table         string
	Function      string
	BatchSize     int32
	RetryAttempts int32
	BisectOnError bool
	// OnFailureQueue names the queue that receives records the retries could not deliver.
	OnFailureQueue string
}

// AttrType is a DynamoDB key attribute type.
type AttrType string

// Key attribute types.
const (
	AttrString AttrType = "S"
	AttrNumber AttrType = "N"
	AttrBinary AttrType = "B"
)

// Attr is a key attribute.
type Attr struct {
	Name string
	Type AttrType
}

// Index is a global secondary index (projection ALL).
type Index struct {
	Name         string
	PartitionKey Attr
	SortKey      *Attr
	// KeysOnly projects only the keys into the index (the table's and the index's); otherwise
	// it projects every attribute.
	KeysOnly bool
}

// StreamView is what a table's stream records carry; empty means no stream.
type StreamView string

// Stream views.
const (
	StreamNone           StreamView = ""
	StreamNewImage       StreamView = "NEW_IMAGE"
	StreamNewAndOldImage StreamView = "NEW_AND_OLD_IMAGES"
)

// Table is a DynamoDB table (on-demand, point-in-time recovery, encrypted with the key).
type Table struct {
	Name         string
	PartitionKey Attr
	SortKey      *Attr
	Indexes      []Index
	TTLAttribute string
	Stream       StreamView
}

// Schedule invokes a function on an EventBridge schedule expression.
type Schedule struct {
	Name       string
	Function   string
	Expression string // "rate(1 hour)", "cron(0 * * * ? *)"
}

// Role is an IAM role one function hands out sessions of: AssumedBy is the only function whose
// role may assume it (and tag the session). Its permissions are the policy's scope grants on
// the REST API (infra's PartnerAccess); locally IAM is not enforced.
type Role struct {
	Name      string
	AssumedBy string
}

// UsagePlan is an API Gateway usage plan on the REST API's stage. Each partner gets its own API
// key (usage identifier) in the plan of its tier, so the throttle applies per partner.
type UsagePlan struct {
	Name       string
	RateLimit  float64
	BurstLimit int32
}

// Role returns the declared role by name.
func (t *Topology) Role(name string) (Role, bool) {
	for _, r := range t.Roles {
		if r.Name == name {
			return r, true
		}
	}
	return Role{}, false
}

// Function returns the declared function by name.
func (t *Topology) Function(name string) (Function, bool) {
	for _, f := range t.Functions {
		if f.Name == name {
			return f, true
		}
	}
	return Function{}, false
}

// Table returns the declared table by name.
func (t *Topology) Table(name string) (Table, bool) {
	for _, tb := range t.Tables {
		if tb.Name == name {
			return tb, true
		}
	}
	return Table{}, false
}

// Takes says in words what the consumer takes: its detail types, sorted and joined by ", ", or
// "every Lanyard event" (AllDetailTypes).
func (c Consumer) Takes() string {
	if c.AllDetailTypes {
		return "every Lanyard event"
	}
	types := append([]string(nil), c.DetailTypes...)
	sort.Strings(types)
	return strings.Join(types, ", ")
}

// DLQName is the name of a consumer's dead-letter queue.
func (c Consumer) DLQName() string { return c.Name + "-dlq" }
