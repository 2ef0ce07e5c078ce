package topology

import (
	"strconv"
	"strings"
	"time"

	"github.com/lanyardhq/lanyard/shared/platform/problem"
)

// ProblemBase is the base of every problem type URI Lanyard answers with (the problem
// catalogue's, shared/platform/problem).
const ProblemBase = problem.Base

// GatewayResponses are the problem+json bodies API Gateway (and `lanyard local`) answers with
// when a request never reaches a function, as the problem catalogue declares them. Titles say
// what API Gateway says. Status 0 keeps the status API Gateway chose.
var GatewayResponses = gatewayResponses()

func gatewayResponses() []GatewayResponse {
	out := make([]GatewayResponse, 0, len(problem.GatewayResponses))
	for _, g := range problem.GatewayResponses {
		out = append(out, GatewayResponse{Type: g.Type, Status: g.Status, Title: g.Problem.Title(), Problem: g.Problem.URI()})
	}
	return out
}

// AuthorizerResultTTL is how long API Gateway caches the partner-key authorizer's policy: the
// policy's authorizer.cacheTtl (policy/policy.json), which every drain window outlasts; a test
// keeps the two equal.
const AuthorizerResultTTL = 5 * time.Minute

// AuditWriterTimeout is the audit writer's timeout: a batch is three calls; its queue's
// visibility timeout is six times it (3 minutes), which the policy's audit.writerLagBudget
// outlasts.
const AuditWriterTimeout = 30 * time.Second

// Lanyard is the production declaration. Each function, route, consumer and table of the suite
// is added here as it lands; the tests check every entry has its code and its CDK counterpart.
func Lanyard() *Topology {
	t := &Topology{
		Functions: []Function{
			{Name: "healthcheck", Main: "functions/healthcheck", MemoryMB: 128, Timeout: 5 * time.Second},
			// Serves the OpenAPI document (shared/domain/openapi/openapi.json).
			{Name: "openapi", Main: "functions/openapi", MemoryMB: 128, Timeout: 5 * time.Second},
			// The REQUEST authorizer in front of every partner-key route (shared/features/authorizer). It
			// reads the key registry and nothing else: it never sees a secret.
			{Name: "authorizer", Main: "functions/authorizer", MemoryMB: 256, Timeout: AuthorizerTimeout,
				Env: map[string]Value{
					"CREDENTIALS_TABLE": TableName("credentials", AccessRead),
				}},
			// POST /v1/admin/invites: ops issue one-time invite codes (shared/features/invite), each
			// with its record on the ops chain.
			{Name: "invites", Main: "functions/invites", MemoryMB: 128, Timeout: 10 * time.Second,
				Env: map[string]Value{
					"INVITES_TABLE": TableName("invites", AccessReadWrite),
					"OUTBOX_TABLE":  TableName("outbox", AccessReadWrite),
				}},
			// POST /v1/partners: onboarding with an invite (shared/features/onboarding): the partner, its
			// key's secret, the registry entry and the outbox records in one decision.
			{Name: "onboarding", Main: "functions/onboarding", MemoryMB: 256, Timeout: 30 * time.Second,
				Env: map[string]Value{
					"INVITES_TABLE":     TableName("invites", AccessReadWrite),
					"PARTNERS_TABLE":    TableName("partners", AccessReadWrite),
					"CREDENTIALS_TABLE": TableName("credentials", AccessReadWrite),
					"IDEMPOTENCY_TABLE": TableName("idempotency", AccessReadWrite),
					"OUTBOX_TABLE":      TableName("outbox", AccessReadWrite),
					"SECRET_PREFIX":     SecretPrefix(AccessReadWrite),
					"KMS_KEY_ARN":       KeyARN(AccessReadWrite),
					"USAGE_PLANS":       UsagePlanIDs(true),
					"ONBOARDINGS_TABLE": TableName("onboardings", AccessReadWrite),
					"LANYARD_SERVER_ID": DeploymentID(),
					// Each request refused after its shape check adds 1 to its window's count.
					"REFUSALS_TABLE": TableName("refusals", AccessReadWrite),
					// Each new partner's secret rotates on its tier's schedule through it.
					"ROTATION_FUNCTION_ARN": FunctionARN("rotation", true),
				}},
			// Ops decide onboardings that wait for an approval: list, approve, deny
			// (shared/features/onboarding's AdminHandler).
			{Name: "onboardings-admin", Main: "functions/onboardings-admin", MemoryMB: 128, Timeout: 10 * time.Second,
				Env: map[string]Value{
					"ONBOARDINGS_TABLE": TableName("onboardings", AccessReadWrite),
					"PARTNERS_TABLE":    TableName("partners", AccessReadWrite),
					"OUTBOX_TABLE":      TableName("outbox", AccessReadWrite),
				}},
			// GET /v1/partners/me: the calling partner's profile (shared/features/partner).
			{Name: "partners", Main: "functions/partners", MemoryMB: 128, Timeout: 10 * time.Second,
				Env: map[string]Value{
					"PARTNERS_TABLE":    TableName("partners", AccessRead),
					"CREDENTIALS_TABLE": TableName("credentials", AccessRead),
				}},
			// POST /v1/token: short-lived AWS credentials of the partner-access role, narrowed to
			// the key's scopes and tagged with the partner (shared/features/token); each exchange is
			// recorded (Token Exchanged, on the environment's exchange lane) before it is answered.
			{Name: "token", Main: "functions/token", MemoryMB: 128, Timeout: 10 * time.Second,
				Env: map[string]Value{
					"CREDENTIALS_TABLE":       TableName("credentials", AccessRead),
					"OUTBOX_TABLE":            TableName("outbox", AccessReadWrite),
					"PARTNER_ACCESS_ROLE_ARN": RoleARN("partner-access", true),
					"PARTNER_API_ARN":         APIStageARN(false),
				}},
			// Secrets Manager's rotation function of the partner keys (shared/features/rotation): the four
			// steps, with the registry moves and Credential Rotated in one transaction.
			{Name: "rotation", Main: "functions/rotation", MemoryMB: 256, Timeout: 30 * time.Second,
				Env: map[string]Value{
					"PARTNERS_TABLE":    TableName("partners", AccessReadWrite),
					"CREDENTIALS_TABLE": TableName("credentials", AccessReadWrite),
					"OUTBOX_TABLE":      TableName("outbox", AccessReadWrite),
					"SECRET_PREFIX":     SecretPrefix(AccessRotate),
					"KMS_KEY_ARN":       KeyARN(AccessReadWrite),
				}},
			// POST /v1/admin/partners/{partnerId}/rotate: ops rotate a partner's key on demand,
			// through Secrets Manager's RotateSecret (shared/features/rotation's AdminHandler), the
			// request recorded first (Credential Rotation Requested).
			{Name: "rotation-admin", Main: "functions/rotation-admin", MemoryMB: 128, Timeout: 30 * time.Second,
				Env: map[string]Value{
					"PARTNERS_TABLE": TableName("partners", AccessRead),
					"OUTBOX_TABLE":   TableName("outbox", AccessReadWrite),
					"SECRET_PREFIX":  SecretPrefix(AccessStartRotation),
				}},
			// GET /v1/credentials/current and POST /v1/credentials/ack: the partner picks up its
			// rotated key and confirms the switch (shared/features/rollover).
			{Name: "credentials", Main: "functions/credentials", MemoryMB: 128, Timeout: 10 * time.Second,
				Env: map[string]Value{
					"PARTNERS_TABLE":    TableName("partners", AccessRead),
					"CREDENTIALS_TABLE": TableName("credentials", AccessReadWrite),
					"OUTBOX_TABLE":      TableName("outbox", AccessReadWrite),
					"SECRET_PREFIX":     SecretPrefix(AccessRead),
					"KMS_KEY_ARN":       KeyARN(AccessRead),
				}},
			// POST /v1/revoke: a partner revokes one of its own keys, RFC 7009 style; the registry
			// flip and Credential Revoked commit together (shared/features/revoke).
			{Name: "revoke", Main: "functions/revoke", MemoryMB: 128, Timeout: 10 * time.Second,
				Env: map[string]Value{
					"CREDENTIALS_TABLE": TableName("credentials", AccessReadWrite),
					"OUTBOX_TABLE":      TableName("outbox", AccessReadWrite),
					// The stage's authorizer cache is flushed right after the commit (coalesced).
					"FLUSHES_TABLE":     TableName("flushes", AccessReadWrite),
					"PARTNER_API_ARN":   APIStageARN(true),
					"REVOCATIONS_TABLE": TableName("revocations", AccessReadWrite),
				}},
			// POST /v1/admin/partners/{partnerId}/revoke: ops revoke one key or every key of a
			// partner, with a reason and a note, through the partner route's commit
			// (shared/features/revoke's AdminHandler). It reads the partner's item for the keys it
			// names.
			// With "reissue": a replacement key for the partner after a compromise, in a new
			// generation of its secret (rotation switched on through the rotation function),
			// registered and named by the partner's item in the revocation's transaction, with
			// its pick-up; the partner's API key is disabled until the gateway enforcer's flush.
			{Name: "revoke-admin", Main: "functions/revoke-admin", MemoryMB: 128, Timeout: 30 * time.Second,
				Env: map[string]Value{
					"PARTNERS_TABLE":        TableName("partners", AccessReadWrite),
					"CREDENTIALS_TABLE":     TableName("credentials", AccessReadWrite),
					"OUTBOX_TABLE":          TableName("outbox", AccessReadWrite),
					"FLUSHES_TABLE":         TableName("flushes", AccessReadWrite),
					"PARTNER_API_ARN":       APIStageARN(true),
					"REVOCATIONS_TABLE":     TableName("revocations", AccessReadWrite),
					"REPLACEMENTS_TABLE":    TableName("replacements", AccessReadWrite),
					"SECRET_PREFIX":         SecretPrefix(AccessReadWrite),
					"KMS_KEY_ARN":           KeyARN(AccessReadWrite),
					"USAGE_PLANS":           UsagePlanKeys(),
					"ROTATION_FUNCTION_ARN": FunctionARN("rotation", true),
				}},
			// POST /v1/replacements/{replacementId}/pickup: the partner collects, once, the
			// replacement key ops had issued after a compromise (shared/features/reissue); the
			// pick-up and Credential Picked Up commit together.
			{Name: "replacement-pickup", Main: "functions/replacement-pickup", MemoryMB: 128, Timeout: 10 * time.Second,
				Env: map[string]Value{
					"REPLACEMENTS_TABLE": TableName("replacements", AccessReadWrite),
					"CREDENTIALS_TABLE":  TableName("credentials", AccessRead),
					"OUTBOX_TABLE":       TableName("outbox", AccessReadWrite),
					"SECRET_PREFIX":      SecretPrefix(AccessRead),
					"KMS_KEY_ARN":        KeyARN(AccessRead),
				}},
			// Retires previous keys once acknowledged and drained or out of grace, warns ops
			// before an unacknowledged grace ends, and flushes the authorizer cache
			// (shared/features/rollover), every minute (the retirement schedule).
			{Name: "retirement", Main: "functions/retirement", MemoryMB: 128, Timeout: 60 * time.Second,
				Env: map[string]Value{
					"PARTNERS_TABLE":    TableName("partners", AccessReadWrite),
					"CREDENTIALS_TABLE": TableName("credentials", AccessReadWrite),
					"OUTBOX_TABLE":      TableName("outbox", AccessReadWrite),
					"PARTNER_API_ARN":   APIStageARN(true),
				}},
			// Publishes each outbox record's event to the bus (shared/features/relay).
			{Name: "outbox-relay", Main: "functions/outbox-relay", MemoryMB: 256, Timeout: 30 * time.Second,
				Env: map[string]Value{
					"EVENT_BUS":    BusName(true),
					"OUTBOX_TABLE": TableName("outbox", AccessReadWrite),
				}},
			// The gateway's revocation enforcer (shared/features/gatewayenforcer): once the
			// authorizer's key cache and timeout ran out after a revocation, has the stage's
			// authorizer cache flushed (coalesced), disables the partner's API key when none of its
			// keys is left (enables it again when a replacement is), and reports Revocation
			// Enforced. Its timeout covers the wait.
			{Name: "revocation-gateway", Main: "functions/revocation-gateway", MemoryMB: 128, Timeout: GatewayEnforcerTimeout(),
				Env: map[string]Value{
					"CREDENTIALS_TABLE":  TableName("credentials", AccessRead),
					"OUTBOX_TABLE":       TableName("outbox", AccessReadWrite),
					"FLUSHES_TABLE":      TableName("flushes", AccessReadWrite),
					"REVOCATIONS_TABLE":  TableName("revocations", AccessReadWrite),
					"PARTNER_API_ARN":    APIStageARN(true),
					"USAGE_PLANS":        UsagePlanKeys(),
					"KEY_CACHE_TTL":      Literal(AuthorizerKeyCacheTTL().String()),
					"AUTHORIZER_TIMEOUT": Literal(AuthorizerTimeout.String()),
				}},
			// The secret's revocation enforcer (shared/features/secretenforcer): takes AWSPREVIOUS
			// off a revoked previous key's version; a secret no live key is left on has its
			// rotation cancelled, AWSPENDING removed, a lanyard:revoked tag and its deletion
			// scheduled with the policy's recovery window. It never reads a secret's value.
			{Name: "revocation-secret", Main: "functions/revocation-secret", MemoryMB: 128, Timeout: 30 * time.Second,
				Env: map[string]Value{
					"CREDENTIALS_TABLE":           TableName("credentials", AccessRead),
					"OUTBOX_TABLE":                TableName("outbox", AccessReadWrite),
					"REVOCATIONS_TABLE":           TableName("revocations", AccessReadWrite),
					"SECRET_PREFIX":               SecretPrefix(AccessRetire),
					"SECRET_RECOVERY_WINDOW_DAYS": Literal(strconv.FormatInt(SecretRecoveryDays(), 10)),
				}},
			// The sts revocation enforcer (shared/features/stsenforcer): adds the partner to the
			// versioned set of revoked partners and, one writer at a time, renders the
			// partner-access role's deny from it (sessions tagged with a revoked partner and
			// issued before its revocation). Its EXCHANGE_WINDOW is set below, from the token
			// function's timeout.
			{Name: "revocation-sts", Main: "functions/revocation-sts", MemoryMB: 128, Timeout: STSEnforcerTimeout,
				Env: map[string]Value{
					"STS_DENIES_TABLE":        TableName("sts-denies", AccessReadWrite),
					"OUTBOX_TABLE":            TableName("outbox", AccessReadWrite),
					"REVOCATIONS_TABLE":       TableName("revocations", AccessReadWrite),
					"PARTNER_ACCESS_ROLE_ARN": RoleDenies("partner-access"),
					"LEASE":                   Literal(STSEnforcerLease().String()),
				}},
			// The proof of each revocation (shared/features/tracker): completes it once every
			// declared enforcer reported, stalls it past the policy's budget. Its
			// REVOCATION_ENFORCERS is set below, from the consumers declared.
			{Name: "revocation-tracker", Main: "functions/revocation-tracker", MemoryMB: 128, Timeout: 30 * time.Second,
				Env: map[string]Value{
					"REVOCATIONS_TABLE": TableName("revocations", AccessReadWrite),
					"OUTBOX_TABLE":      TableName("outbox", AccessReadWrite),
				}},
			// Writes every event on the bus to the audit log group, one line each, and marks its
			// outbox record audited (shared/features/auditwriter); every minute (the audit-lag
			// schedule) writes how long the oldest record not yet written has waited, as EMF
			// metrics against the policy's audit.writerLagBudget.
			{Name: "audit-writer", Main: "functions/audit-writer", MemoryMB: 256, Timeout: AuditWriterTimeout,
				Env: map[string]Value{
					"OUTBOX_TABLE": TableName("outbox", AccessReadWrite),
					"AUDIT_LOG":    AuditLogName(AccessReadWrite),
				}},
			// Writes the counts of refused onboardings to the audit log: one line per reason for
			// each window closed since its cursor (shared/features/refusalaudit), every minute
			// (the audit-refusals schedule). Two overlapping runs advance the cursor once.
			{Name: "audit-refusals", Main: "functions/audit-refusals", MemoryMB: 128, Timeout: 60 * time.Second,
				Env: map[string]Value{
					"REFUSALS_TABLE": TableName("refusals", AccessReadWrite),
					"AUDIT_LOG":      AuditLogName(AccessReadWrite),
				}},
			// Exports each closed window of the outbox's chains to the audit bucket: objects and
			// a manifest signed with the audit signing key (shared/features/auditexport), every
			// minute (the audit-export schedule). Two overlapping runs record a window once.
			{Name: "audit-exporter", Main: "functions/audit-exporter", MemoryMB: 512, Timeout: 5 * time.Minute,
				Env: map[string]Value{
					"OUTBOX_TABLE":        TableName("outbox", AccessReadWrite),
					"AUDIT_EXPORTS_TABLE": TableName("audit-exports", AccessReadWrite),
					"AUDIT_BUCKET":        AuditBucketName(AccessReadWrite),
					"AUDIT_SIGNING_KEY":   AuditSigningKeyARN(AccessReadWrite),
					"DEPLOYMENT_ID":       DeploymentID(),
				}},
			// POST /v1/introspect: RFC 7662 introspection of a partner key for the deployment's
			// dependents (shared/features/introspect). It reads the key registry and nothing
			// else, and admits only the declared dependents.
			{Name: "introspect", Main: "functions/introspect", MemoryMB: 128, Timeout: 10 * time.Second,
				Env: map[string]Value{
					"CREDENTIALS_TABLE": TableName("credentials", AccessRead),
					"DEPENDENTS":        Dependents(),
				}},
		},
		Authorizer: &Authorizer{Function: "authorizer", IdentityHeader: "Authorization", ResultTTL: AuthorizerResultTTL},
		Routes: []Route{
			{Method: "GET", Path: "/v1/health", Function: "healthcheck", Auth: AuthNone},
			{Method: "GET", Path: "/v1/openapi.json", Function: "openapi", Auth: AuthNone},
			{Method: "POST", Path: "/v1/admin/invites", Function: "invites", Auth: AuthIAM},
			// Open: the invite code in the body is the credential.
			{Method: "POST", Path: "/v1/partners", Function: "onboarding", Auth: AuthNone},
			// Open: the pick-up token in the body is the credential.
			{Method: "POST", Path: "/v1/onboardings/{onboardingId}/pickup", Function: "onboarding", Auth: AuthNone},
			{Method: "GET", Path: "/v1/admin/onboardings", Function: "onboardings-admin", Auth: AuthIAM},
			{Method: "POST", Path: "/v1/admin/onboardings/{onboardingId}/approve", Function: "onboardings-admin", Auth: AuthIAM},
			{Method: "POST", Path: "/v1/admin/onboardings/{onboardingId}/deny", Function: "onboardings-admin", Auth: AuthIAM},
			{Method: "POST", Path: "/v1/admin/partners/{partnerId}/rotate", Function: "rotation-admin", Auth: AuthIAM},
			// Compromised or leaked revokes every key of the partner, whatever was named.
			{Method: "POST", Path: "/v1/admin/partners/{partnerId}/revoke", Function: "revoke-admin", Auth: AuthIAM},
			{Method: "GET", Path: "/v1/partners/me", Function: "partners", Auth: AuthPartnerKey},
			{Method: "POST", Path: "/v1/token", Function: "token", Auth: AuthPartnerKey},
			// The previous key, within its grace, reaches these too: the partner picks up the
			// new key with the old one.
			{Method: "GET", Path: "/v1/credentials/current", Function: "credentials", Auth: AuthPartnerKey},
			{Method: "POST", Path: "/v1/credentials/ack", Function: "credentials", Auth: AuthPartnerKey},
			// The previous key, within its grace, may revoke only itself.
			{Method: "POST", Path: "/v1/revoke", Function: "revoke", Auth: AuthPartnerKey},
			// Open: the pick-up token in the body is the credential (no key of the partner is
			// live while its replacement waits).
			{Method: "POST", Path: "/v1/replacements/{replacementId}/pickup", Function: "replacement-pickup", Auth: AuthNone},
			// Signed by a declared dependent only: to anyone else it would tell which keys are
			// live.
			{Method: "POST", Path: "/v1/introspect", Function: "introspect", Auth: AuthIAM, DependentsOnly: true},
		},
		GatewayResponses: GatewayResponses,
		SecretRotation:   &SecretRotation{Function: "rotation"},
		// The role partner sessions run as: only the token function may assume it.
		Roles: []Role{{Name: "partner-access", AssumedBy: "token"}},
		// One per policy tier, throttled as the tier declares (a test keeps them equal): each
		// partner's API key is in its tier's plan, so the limits apply per partner.
		UsagePlans: []UsagePlan{
			{Name: "sandbox", RateLimit: 5, BurstLimit: 10},
			{Name: "standard", RateLimit: 50, BurstLimit: 100},
			{Name: "premium", RateLimit: 200, BurstLimit: 400},
		},
		// A drain window is at least the authorizer's cache TTL (minutes): a run a minute keeps
		// a retirement within a minute of its time.
		Schedules: []Schedule{
			{Name: "retirement", Function: "retirement", Expression: "rate(1 minute)"},
			// Stalls revocations past their budget and completes those whose last report's
			// event was lost.
			{Name: "revocation-check", Function: "revocation-tracker", Expression: "rate(1 minute)"},
			// Measures the audit writer's lag (the oldest record not yet in the audit log).
			{Name: "audit-lag", Function: "audit-writer", Expression: "rate(1 minute)"},
			// Writes each closed window of refused onboardings to the audit log.
			{Name: "audit-refusals", Function: "audit-refusals", Expression: "rate(1 minute)"},
			// Exports each closed window of the trail to the audit bucket; a run with nothing
			// due reads one item.
			{Name: "audit-export", Function: "audit-exporter", Expression: "rate(1 minute)"},
		},
		Consumers: []Consumer{
			// A failed record comes back after the visibility timeout, and goes to the DLQ
			// after its third receive.
			{Name: "revocation-gateway", Function: "revocation-gateway", DetailTypes: []string{"Credential Revoked"},
				BatchSize: 10, VisibilityTimeout: MinVisibilityFactor * GatewayEnforcerTimeout(), MaxReceiveCount: 3,
				Enforcer: "gateway"},
			{Name: "revocation-secret", Function: "revocation-secret", DetailTypes: []string{"Credential Revoked"},
				BatchSize: 10, VisibilityTimeout: MinVisibilityFactor * 30 * time.Second, MaxReceiveCount: 3,
				Enforcer: "secret"},
			// One writer renders at a time (the set's lease): a record waiting for it past the
			// function's timeout comes back after the visibility timeout.
			{Name: "revocation-sts", Function: "revocation-sts", DetailTypes: []string{"Credential Revoked"},
				BatchSize: 10, VisibilityTimeout: MinVisibilityFactor * STSEnforcerTimeout, MaxReceiveCount: 3,
				Enforcer: "sts"},
			// Each enforcer's report settles its revocation (shared/features/tracker); a record
			// that keeps failing goes to the DLQ, and the scheduled check still settles it.
			{Name: "revocation-tracker", Function: "revocation-tracker", DetailTypes: []string{"Revocation Enforced"},
				BatchSize: 10, VisibilityTimeout: 3 * time.Minute, MaxReceiveCount: 5},
			// Every detail type, those added later included (the rule matches the source alone).
			// A record that keeps failing goes to the DLQ after its fifth receive; its outbox
			// record stays in the audit-pending index, so the lag shows it.
			{Name: "audit", Function: "audit-writer", AllDetailTypes: true,
				BatchSize: 10, VisibilityTimeout: MinVisibilityFactor * AuditWriterTimeout, MaxReceiveCount: 5},
		},
		// Every decision's line goes to the audit log group through the audit writer.
		AuditLog: &AuditLog{Writer: "audit-writer"},
		// Every chain's records, window by window, to the audit bucket, signed.
		AuditExport: &AuditExport{Exporter: "audit-exporter"},
		StreamConsumers: []StreamConsumer{
			// Retried batches skip records already published; bisection isolates a malformed
			// record, which ends up located in the on-failure queue.
			{Table: "outbox", Function: "outbox-relay", BatchSize: 100, RetryAttempts: 10, BisectOnError: true,
				OnFailureQueue: "outbox-relay-failures"},
		},
		Tables: []Table{
			// Every decision's audit record, hash-chained per chain (shared/stores/outbox): a
			// partner's lifecycle chain, its token exchange lanes, the ops chain. Seq 0 is the
			// chain's head, 1, 2, … its records. "chains" lists an owner's chains (heads only);
			// "audit-pending" holds the records not yet in the audit log; "export-pending" the
			// heads of the chains with records not yet exported to the audit bucket.
			{Name: "outbox", PartitionKey: Attr{Name: "chain", Type: AttrString},
				SortKey: &Attr{Name: "seq", Type: AttrNumber}, Stream: StreamNewImage,
				Indexes: []Index{
					{Name: "chains", PartitionKey: Attr{Name: "owner", Type: AttrString}, SortKey: &Attr{Name: "chain", Type: AttrString}, KeysOnly: true},
					{Name: "audit-pending", PartitionKey: Attr{Name: "auditPending", Type: AttrString}, SortKey: &Attr{Name: "committedAt", Type: AttrNumber}, KeysOnly: true},
					{Name: "export-pending", PartitionKey: Attr{Name: "exportPending", Type: AttrString}, SortKey: &Attr{Name: "chain", Type: AttrString}, KeysOnly: true},
				}},
			// The partners (shared/features/partner).
			{Name: "partners", PartitionKey: Attr{Name: "partnerId", Type: AttrString}},
			// The key registry: key id → SHA-256 verifier, partner, scopes, status, validity
			// window and grace (shared/stores/registry). Never the key.
			{Name: "credentials", PartitionKey: Attr{Name: "keyId", Type: AttrString},
				Indexes: []Index{{Name: "by-partner", PartitionKey: Attr{Name: "partnerId", Type: AttrString}}}},
			// Invites, by the SHA-256 of their code (shared/features/invite); purged 30 days after expiry.
			{Name: "invites", PartitionKey: Attr{Name: "inviteHash", Type: AttrString}, TTLAttribute: "purgeAt"},
			// Onboardings waiting for, or decided by, an ops approval (shared/features/onboarding); purged
			// a while after they expire.
			{Name: "onboardings", PartitionKey: Attr{Name: "onboardingId", Type: AttrString}, TTLAttribute: "purgeAt"},
			// Onboarding's Idempotency-Key records, purged after 24 hours (shared/features/onboarding).
			{Name: "idempotency", PartitionKey: Attr{Name: "idempotencyKey", Type: AttrString}, TTLAttribute: "purgeAt"},
			// One item per REST API stage: the latest claim to flush its authorizer cache and the
			// latest flush that completed, so flushes coalesce to one a second across instances
			// (shared/features/flush).
			{Name: "flushes", PartitionKey: Attr{Name: "stage", Type: AttrString}},
			// Each revocation and its enforcers' reports (shared/stores/revocations): the sparse
			// index "open" holds the revocations still waiting for reports, "by-partner" a
			// partner's revocations.
			{Name: "revocations", PartitionKey: Attr{Name: "revocationId", Type: AttrString},
				SortKey: &Attr{Name: "entry", Type: AttrString},
				Indexes: []Index{
					{Name: "open", PartitionKey: Attr{Name: "open", Type: AttrString}, SortKey: &Attr{Name: "revokedAt", Type: AttrString}},
					{Name: "by-partner", PartitionKey: Attr{Name: "partnerId", Type: AttrString}, SortKey: &Attr{Name: "revokedAt", Type: AttrString}},
				}},
			// Replacement keys issued after a compromise, waiting for their one pick-up
			// (shared/stores/replacements); purged a while after they expire.
			{Name: "replacements", PartitionKey: Attr{Name: "replacementId", Type: AttrString}, TTLAttribute: "purgeAt"},
			// The revoked partners the partner-access role's deny is rendered from, one item each
			// (its latest revocation), and the set's version and writer lease
			// (shared/stores/stsdenies).
			{Name: "sts-denies", PartitionKey: Attr{Name: "partnerId", Type: AttrString}},
			// Refused onboardings counted by window and reason, each count spread over shards, until
			// the audit-refusals function has written each closed window to the audit log, and its
			// cursor (shared/stores/refusals); purged days after the window.
			{Name: "refusals", PartitionKey: Attr{Name: "window", Type: AttrString},
				SortKey: &Attr{Name: "reason", Type: AttrString}, TTLAttribute: "purgeAt"},
			// The audit exporter's state: the last window exported and its manifest's link
			// (shared/stores/auditexports).
			{Name: "audit-exports", PartitionKey: Attr{Name: "id", Type: AttrString}},
		},
	}
	// The tracker waits for a report of every enforcer declared (none: a revocation completes
	// on its first check).
	t.setEnv("revocation-tracker", "REVOCATION_ENFORCERS", Literal(strings.Join(t.Enforcers(), ",")))
	// An exchange that read the key before its revocation may call AssumeRole until the token
	// function's timeout runs out: the sts enforcer's deny reaches that far past the revocation.
	if tok, ok := t.Function("token"); ok {
		t.setEnv("revocation-sts", "EXCHANGE_WINDOW", Literal((tok.Timeout + ClockSkew).String()))
	}
	return t
}

// setEnv sets one variable of the declared function name.
func (t *Topology) setEnv(function, name string, v Value) {
	for i := range t.Functions {
		if t.Functions[i].Name == function {
			t.Functions[i].Env[name] = v
		}
	}
}
