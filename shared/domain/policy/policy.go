// Package policy is Lanyard's partner credential policy as code: the tiers, the scopes each
// tier may request, key lifetimes, rotation and overlap windows, ops approval, throttling, the
// AWS account allow-list and the anomaly limits, declared once in policy/policy.json and
// changed only by a reviewed commit.
//
// Parse validates a policy against policy/policy.schema.json and then applies the checks a
// schema cannot express, reporting every problem on its own line, named by JSON pointer.
// Default returns the embedded production policy; functions call it once at cold start. The
// build runs cmd/policycheck and the tests parse the embedded file, so an invalid policy
// fails the build and never reaches a request.
package policy

import (
	"fmt"
	"slices"
	"sync"
	"time"

	policyfile "github.com/lanyardhq/lanyard/policy"
)

// SchemaVersion is the only policy file format (the "version" field) this package reads.
const SchemaVersion = 1

// DefaultSessionDuration is the token exchange session length when a tier declares none.
const DefaultSessionDuration = Duration(15 * time.Minute)

// Policy is a parsed, valid policy. Values returned by Default are copies: changing one
// changes nothing for other callers.
type Policy struct {
	// Schema is the file's "$schema" hint for editors; Lanyard ignores it.
	Schema string `json:"$schema,omitempty"`
	// Version is the file format version, SchemaVersion.
	Version int `json:"version"`
	// Revision identifies the policy's content; every reviewed change increments it.
	Revision int `json:"revision"`
	// Authorizer holds the authorizer's cache times that drain windows must outlast.
	Authorizer Authorizer `json:"authorizer"`
	// Onboarding holds how long an onboarding's answer may be replayed with its key.
	Onboarding Onboarding `json:"onboarding"`
	// Revocation holds how long the enforcers have to prove a revocation.
	Revocation Revocation `json:"revocation"`
	// Audit configures the audit log group.
	Audit Audit `json:"audit"`
	// Scopes is the catalog of every scope a tier may grant.
	Scopes []Scope `json:"scopes"`
	// Tiers are the tiers partners are admitted to, names unique.
	Tiers []Tier `json:"tiers"`
	// Accounts is the allow-list of AWS accounts that may onboard through STS identity proof,
	// each naming the principals of the account it admits.
	Accounts []Account `json:"accounts"`
	// Anomalies are the limits that raise anomaly signals.
	Anomalies Anomalies `json:"anomalies"`

	digest string
}

// Authorizer holds the two caches between a key's retirement and its last accepted request.
type Authorizer struct {
	// CacheTTL is how long API Gateway caches the authorizer's policy
	// (authorizerResultTtlInSeconds).
	CacheTTL Duration `json:"cacheTtl"`
	// KeyCacheTTL is how long an authorizer instance keeps a key id lookup in memory.
	KeyCacheTTL Duration `json:"keyCacheTtl"`
}

// Staleness is the longest a retired or revoked key can still be accepted when no cache flush
// arrives: an instance's in-memory lookup taken just before the change, then API Gateway
// caching the policy built from it. Every drain window is at least this long.
func (a Authorizer) Staleness() time.Duration { return a.CacheTTL.Std() + a.KeyCacheTTL.Std() }

// Revocation configures the proof of a revocation (the revocation tracker).
type Revocation struct {
	// Budget is how long after a revocation every enforcer has to report before the tracker
	// marks it stalled and raises Revocation Stalled. The slowest enforcer by design is the
	// gateway's: it waits out the authorizer's key cache and timeout (KeyCacheTTL, at most 30s
	// as this policy has had it, plus the authorizer's 5s) before its second flush, then its
	// report travels through the outbox relay, EventBridge and SQS (seconds). Two minutes leaves
	// that wait three times over, so a healthy revocation never stalls, and a failing enforcer
	// (one whose record waits out its queue's visibility timeout) still raises a stall within
	// three minutes (the check runs every minute) — before an API Gateway cache entry (5
	// minutes) would have expired on its own.
	Budget Duration `json:"budget"`
	// SecretRecoveryWindow is the recovery window of a partner secret the secret enforcer
	// deletes once none of its keys is left: whole days, 7 to 30 (Secrets Manager's
	// RecoveryWindowInDays). Revoked is final in the registry, so a restored secret serves
	// forensics, never a key: the shortest window keeps the retired plaintext least long.
	SecretRecoveryWindow Duration `json:"secretRecoveryWindow"`
}

// SecretRecoveryDays is SecretRecoveryWindow in days.
func (r Revocation) SecretRecoveryDays() int64 {
	return int64(r.SecretRecoveryWindow.Std() / (24 * time.Hour))
}

// Audit configures the audit log group (topology.AuditLog).
type Audit struct {
	// RetentionDays is how long the audit log group keeps each line, in days: one of the values
	// CloudWatch Logs allows (AuditRetentionDays). 400 days (13 months) keeps a full year of
	// decisions queryable, plus the month a yearly review or a year-on-year comparison reaches
	// back into; what must outlive it belongs to the audit export to S3 (Object Lock), not to
	// CloudWatch Logs, whose storage is dearer and whose queries scan what they keep.
	RetentionDays int `json:"retentionDays"`
	// WriterLagBudget is how long a committed decision may wait for its audit line before the
	// audit writer counts as behind (its AuditWriterBehind metric is 1). A healthy writer lags
	// by seconds (the relay, EventBridge and SQS); a delivery that fails once comes back after
	// its queue's visibility timeout (3 minutes: six times the writer's 30 s timeout), and the
	// lag is measured once a minute. Five minutes outlasts one retried delivery, so a single
	// failure does not raise it, and a writer that keeps failing is flagged within six minutes.
	WriterLagBudget Duration `json:"writerLagBudget"`
	// RefusalWindow is the window refused onboardings are counted in: each closed window's
	// count per reason becomes one audit line. Refused onboardings are unauthenticated and
	// may come in floods, so they are counted, not chained.
	RefusalWindow Duration `json:"refusalWindow"`
	// ExportWindow is the length of the windows the audit exporter cuts the trail into (they
	// start at multiples of it since the Unix epoch): each closed window becomes objects and
	// one signed manifest in the audit bucket.
	ExportWindow Duration `json:"exportWindow"`
	// ExportDelay is how long after its end a window is exported, so the decisions committed
	// at its last instant are in the outbox when it is read; a record later still goes in the
	// next window.
	ExportDelay Duration `json:"exportDelay"`
	// ExportRetentionDays is the audit bucket's default Object Lock retention, in days: no
	// object or manifest can be deleted or overwritten before then (governance mode unless the
	// deployment asks for compliance).
	ExportRetentionDays int `json:"exportRetentionDays"`
}

// AuditRetentionDays are the retention periods CloudWatch Logs accepts for a log group
// (PutRetentionPolicy's retentionInDays), in days. A group that never expires is not one of
// them: the audit log keeps what its queries need, the export keeps the rest.
var AuditRetentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// Onboarding configures POST /v1/partners and the pick-up (POST
// /v1/onboardings/{onboardingId}/pickup).
type Onboarding struct {
	// ReplayWindow is how long after an answer that showed a key a replay of the same request
	// (the same Idempotency-Key, body and proof) shows the key again; a later replay gets 409
	// replay-window-closed. Minutes, not hours: a replay is a retry of a lost answer, and the
	// key should be in the partner's secret store long before the window closes.
	ReplayWindow Duration `json:"replayWindow"`
}

// Scope is one entry of the scope catalog.
type Scope struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Grants are what AWS credentials exchanged for a key with this scope may do (see
	// Permissions).
	Grants []Grant `json:"grants"`
}

// Grant is IAM actions on resources relative to what the deployment fills in: for
// execute-api:Invoke, routes ("GET/v1/orders/*") under the partner API stage's ARN.
type Grant struct {
	Actions   []string `json:"actions"`
	Resources []string `json:"resources"`
}

func (s Scope) clone() Scope {
	s.Grants = slices.Clone(s.Grants)
	for i, g := range s.Grants {
		s.Grants[i] = Grant{Actions: slices.Clone(g.Actions), Resources: slices.Clone(g.Resources)}
	}
	return s
}

// Tier is one tier.
type Tier struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Scopes are the scopes a partner in this tier may request, in file order.
	Scopes []string `json:"scopes"`
	// ApprovalRequired says onboarding waits for an ops approval before a key is issued.
	ApprovalRequired bool `json:"approvalRequired"`
	// KeyLifetime is the longest a key is valid from issuance.
	KeyLifetime   Duration      `json:"keyLifetime"`
	Rotation      Rotation      `json:"rotation"`
	Throttle      Throttle      `json:"throttle"`
	TokenExchange TokenExchange `json:"tokenExchange"`
}

// Rotation is a tier's rotation schedule and the overlap of old and new key.
type Rotation struct {
	// IntervalDays is Secrets Manager's RotationRules.AutomaticallyAfterDays.
	IntervalDays int `json:"intervalDays"`
	// GraceWindow is the longest the previous key stays valid after a rotation.
	GraceWindow Duration `json:"graceWindow"`
	// DrainWindow is how long the previous key still works once the partner acknowledges
	// the new one; it is retired at the earlier of acknowledgement + drain and end of grace.
	DrainWindow Duration `json:"drainWindow"`
	// WarnBeforeGraceEnds is how long before an unacknowledged grace ends ops are warned.
	WarnBeforeGraceEnds Duration `json:"warnBeforeGraceEnds"`
}

// Interval is the rotation interval as a duration (days of 24 hours).
func (r Rotation) Interval() time.Duration { return time.Duration(r.IntervalDays) * 24 * time.Hour }

// Throttle is an API Gateway usage plan throttle, in the SDK's types.
type Throttle struct {
	RateLimit  float64 `json:"rateLimit"`
	BurstLimit int32   `json:"burstLimit"`
}

// TokenExchange configures POST /v1/token for a tier.
type TokenExchange struct {
	// SessionDuration is the AssumeRole DurationSeconds; DefaultSessionDuration when unset.
	SessionDuration Duration `json:"sessionDuration"`
}

// Account is one allow-list entry: an AWS account, the principals of it that may onboard
// (see Admits), and the tier they are admitted to.
type Account struct {
	AccountID string `json:"accountId"`
	// Principals are the IAM principal ARN patterns the entry admits (principals.go).
	Principals  []string `json:"principals"`
	Tier        string   `json:"tier"`
	Description string   `json:"description"`
}

// Anomalies are the limits for each kind of event that can raise an anomaly signal.
type Anomalies struct {
	Issuance           Limits `json:"issuance"`
	TokenExchange      Limits `json:"tokenExchange"`
	FailedVerification Limits `json:"failedVerification"`
}

// Limits are the limits for one kind of event.
type Limits struct {
	PerPartner Limit `json:"perPartner"`
	Global     Limit `json:"global"`
}

// Limit raises a signal when Count events fall within one Window.
type Limit struct {
	Count  int      `json:"count"`
	Window Duration `json:"window"`
}

// Reached reports whether n events counted within one window raise the signal.
func (l Limit) Reached(n int) bool { return n >= l.Count }

// Digest is the SHA-256 of the policy file the policy was parsed from ("sha256:<hex>"), or ""
// for a policy built in Go. Audit records cite it with Revision.
func (p *Policy) Digest() string { return p.digest }

// Tier returns the tier named name. The returned value is a copy.
func (p *Policy) Tier(name string) (Tier, bool) {
	for _, t := range p.Tiers {
		if t.Name == name {
			return t.clone(), true
		}
	}
	return Tier{}, false
}

// AccountEntry returns the allow-list entry of an AWS account: which of its principals it
// admits (Account.Admits) and to which tier. The returned value is a copy.
func (p *Policy) AccountEntry(accountID string) (Account, bool) {
	for _, a := range p.Accounts {
		if a.AccountID == accountID {
			return a.clone(), true
		}
	}
	return Account{}, false
}

// Decide checks requested scopes against the named tier (see Tier.Decide) and stamps the
// decision with the policy's revision and digest. An undeclared tier is denied.
func (p *Policy) Decide(tier string, requested []string) Decision {
	var d Decision
	if t, ok := p.Tier(tier); ok {
		d = t.Decide(requested)
	} else {
		d = Decision{Tier: tier, Requested: normalize(requested)}
		if len(d.Requested) > 0 {
			d.Denied = slices.Clone(d.Requested)
		}
		d.Justification = "tier " + renderScope(tier) + " is not declared"
	}
	d.PolicyRevision, d.PolicyDigest = p.Revision, p.digest
	d.Justification += " (policy revision " + itoa(p.Revision) + ")"
	return d
}

func (t Tier) clone() Tier {
	t.Scopes = slices.Clone(t.Scopes)
	return t
}

func (a Account) clone() Account {
	a.Principals = slices.Clone(a.Principals)
	return a
}

func (p *Policy) clone() *Policy {
	c := *p
	c.Scopes = slices.Clone(p.Scopes)
	for i, s := range c.Scopes {
		c.Scopes[i] = s.clone()
	}
	c.Accounts = slices.Clone(p.Accounts)
	for i, a := range c.Accounts {
		c.Accounts[i] = a.clone()
	}
	c.Tiers = make([]Tier, len(p.Tiers))
	for i, t := range p.Tiers {
		c.Tiers[i] = t.clone()
	}
	return &c
}

var parseDefault = sync.OnceValues(func() (*Policy, error) {
	p, err := Parse(policyfile.JSON())
	if err != nil {
		return nil, fmt.Errorf("embedded policy/policy.json:\n%w", err)
	}
	raw := localOverlay()
	if raw == nil {
		if err := CheckProduction(p); err != nil {
			return nil, fmt.Errorf("embedded policy/policy.json:\n%w", err)
		}
		return p, nil
	}
	o, err := ParseOverlay(raw)
	if err != nil {
		return nil, fmt.Errorf("embedded policy/local.json:\n%w", err)
	}
	if err := CheckProduction(p, o); err != nil {
		return nil, fmt.Errorf("embedded policy/policy.json:\n%w", err)
	}
	if p, err = p.WithOverlay(o); err != nil {
		return nil, fmt.Errorf("embedded policy/local.json:\n%w", err)
	}
	return p, nil
})

// Default returns the production policy embedded from policy/policy.json, parsed on the
// first call. Call it once at cold start, in main, and hand the result to the handlers. In a
// build for `lanyard local` (LocalBuildTag), and only there, its allow-list also holds the
// local overlay's entries (policy/local.json).
//
// It returns an error rather than panicking: only main decides to exit, and it can log why.
// The error cannot happen in a built binary, because the build gate (cmd/policycheck and
// this package's tests) refuses an invalid policy.json, or one that allow-lists a reserved or
// local account (CheckProduction), before anything is compiled.
func Default() (*Policy, error) {
	p, err := parseDefault()
	if err != nil {
		return nil, err
	}
	return p.clone(), nil
}

// Loaded is the Default policy as a field of a function's configuration: declaring one is how
// a function says it uses the policy, and shared/platform/lambdastart loads it once at the
// cold start (Load).
type Loaded struct{ *Policy }

// Load sets l to the Default policy.
func (l *Loaded) Load() error {
	p, err := Default()
	if err != nil {
		return fmt.Errorf("load the policy: %w", err)
	}
	l.Policy = p
	return nil
}
