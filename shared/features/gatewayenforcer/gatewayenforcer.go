// Package gatewayenforcer is the gateway's revocation enforcer (flow 5 of the design): it takes
// each Credential Revoked from its queue and makes sure no cache in front of the API still
// admits the revoked keys, then reports Revocation Enforced.
//
// The revoke handler flushes the stage's authorizer cache right after its commit, but two
// things can put a stale Allow back: an authorizer instance whose in-memory key cache read the
// key before the commit (for up to the policy's authorizer.keyCacheTtl), and a request
// authorized just before the commit whose Allow API Gateway caches when the authorizer
// answers (up to the authorizer's timeout later). So for each revocation the enforcer:
//
//  1. does nothing when its report of the revocation is recorded already (a duplicate
//     delivery);
//  2. waits until the revocation's time + the key-cache TTL + the authorizer's timeout, and
//     has the stage's authorizer cache flushed by a flush that started after then
//     (shared/features/flush: coalesced with every other flush of the stage);
//  3. disables the partner's API Gateway API key when none of its keys is pending, active or
//     previous any more (registry by partner), so a cached Allow fails the usage plan check;
//     or enables it again when a replacement key is live and no key of the partner was revoked
//     after this revocation: ops' revocation with a replacement disabled it right after its
//     commit, and this flush — the second, after the revoke route's own — leaves no Allow
//     cached for a key revoked before it;
//  4. commits its report with Revocation Enforced (latency: report time − revocation time) in
//     one outbox transaction (shared/features/enforcement, as every enforcer), the report
//     conditioned on its absence: of two deliveries racing, one reports.
//
// Each step reads current state, so deliveries out of order decide the same. A failure fails
// the record alone (a partial batch response): SQS delivers it again, and after the
// consumer's maxReceiveCount it goes to the dead-letter queue.
package gatewayenforcer

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/features/enforcement"
	"github.com/lanyardhq/lanyard/shared/features/usage"
	"github.com/lanyardhq/lanyard/shared/platform/tracing"
	"github.com/lanyardhq/lanyard/shared/platform/wait"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

// DefaultActor is the id of the system actor of the events the enforcer commits.
const DefaultActor = "lanyard-revocation-gateway"

// Report and Reports are the enforcers' report and revocations table (shared/features/enforcement).
type (
	Report  = enforcement.Report
	Reports = enforcement.Reports
)

// Flusher flushes the stage's authorizer cache after a time (flush.Coalescer).
type Flusher interface {
	After(ctx context.Context, after time.Time) (flushed bool, err error)
}

// Keys reads a partner's registry entries (registry.ByPartner).
type Keys interface {
	Keys(ctx context.Context, partnerID string) ([]registry.Entry, error)
}

var _ Keys = (*registry.ByPartner)(nil)

// Enforcer is the gateway enforcer. Build it once per cold start.
type Enforcer struct {
	// Outbox commits the report with Revocation Enforced.
	Outbox  *outbox.Store
	Reports Reports
	Flush   Flusher
	Keys    Keys
	// APIKeys disables the partner's API key (usage.Disable).
	APIKeys usage.KeyUpdateAPI
	// KeyCacheTTL is the authorizer's in-memory key cache TTL (the policy's
	// authorizer.keyCacheTtl) and AuthorizerTimeout the authorizer function's timeout: how
	// long after a revocation an Allow built from a read before it can still reach API
	// Gateway's cache.
	KeyCacheTTL       time.Duration
	AuthorizerTimeout time.Duration
	// Now is the clock and Sleep the pause (nil: time.Now, a timer).
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// Actor is the id of the system actor of the events (empty: DefaultActor).
	Actor string
}

func (e *Enforcer) now() time.Time {
	if e.Now != nil {
		return e.Now().UTC()
	}
	return time.Now().UTC()
}

func (e *Enforcer) sleep(ctx context.Context, d time.Duration) error {
	if e.Sleep != nil {
		return e.Sleep(ctx, d)
	}
	return wait.Sleep(ctx, d, "wait for the authorizer's caches")
}

func (e *Enforcer) actor() events.Actor {
	id := e.Actor
	if id == "" {
		id = DefaultActor
	}
	return events.Actor{Kind: events.ActorSystem, ID: id}
}

// Handle is the Lambda entry point: each record is one Credential Revoked, enforced in turn; a
// record that fails is reported in the partial batch response, the others are done.
func (e *Enforcer) Handle(ctx context.Context, ev lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error) {
	return enforcement.Batch(ctx, ev, func(ctx context.Context, body []byte) error {
		_, err := e.Record(ctx, body)
		return err
	}), nil
}

// Outcome is what one enforcement did.
type Outcome struct {
	// Duplicate: the report was recorded already, by an earlier delivery or a concurrent one;
	// nothing was committed.
	Duplicate bool
	// Flushed: this enforcement made the flush (false: another caller's flush covered it).
	Flushed bool
	// Disabled: this enforcement disabled the partner's API key.
	Disabled bool
	// Enabled: this enforcement enabled the partner's API key again (a replacement is live).
	Enabled bool
	// LatencyMS is the latency reported.
	LatencyMS int64
}

// Record enforces the revocation an SQS record's body (an EventBridge event) carries.
func (e *Enforcer) Record(ctx context.Context, body []byte) (Outcome, error) {
	rev, err := enforcement.Revoked(body)
	if err != nil {
		return Outcome{}, fmt.Errorf("gateway enforcer: %w", err)
	}
	return e.Enforce(ctx, rev)
}

// Enforce enforces one revocation (see the package documentation).
func (e *Enforcer) Enforce(ctx context.Context, rev *events.CredentialRevoked) (out Outcome, err error) {
	ctx, span := tracing.Start(ctx, "enforceRevocation")
	defer func() { span.End(err) }()
	pid, id := rev.PartnerID, rev.RevocationID
	if pid == "" || id == "" || rev.Time.IsZero() {
		return Outcome{}, fmt.Errorf("gateway enforcer: event %s lacks a partner, revocation id or time", rev.EventID)
	}
	span.Annotate("partner", pid)
	reporter := enforcement.Reporter{Outbox: e.Outbox, Reports: e.Reports, Enforcer: events.EnforcerGateway, Actor: e.actor()}
	done, err := reporter.Reported(ctx, rev)
	if err != nil {
		return Outcome{}, fmt.Errorf("gateway enforcer: %w", err)
	}
	if done {
		slog.InfoContext(ctx, "revocation enforced already", "revocationId", id, "partnerId", pid, "eventId", rev.EventID)
		return Outcome{Duplicate: true}, nil
	}

	until := rev.Time.Add(e.KeyCacheTTL + e.AuthorizerTimeout)
	if wait := until.Sub(e.now()); wait > 0 {
		if err := e.sleep(ctx, wait); err != nil {
			return Outcome{}, fmt.Errorf("gateway enforcer, revocation %s: %w", id, err)
		}
	}
	if out.Flushed, err = e.Flush.After(ctx, until); err != nil {
		return Outcome{}, fmt.Errorf("gateway enforcer, revocation %s: %w", id, err)
	}

	keys, err := e.Keys.Keys(ctx, pid)
	if err != nil {
		return Outcome{}, fmt.Errorf("gateway enforcer, revocation %s: %w", id, err)
	}
	live, replaced, later := liveKeys(rev, keys)
	switch {
	case len(live) == 0:
		if out.Disabled, err = usage.Disable(ctx, e.APIKeys, pid); err != nil {
			return Outcome{}, fmt.Errorf("gateway enforcer, revocation %s: %w", id, err)
		}
	case replaced && !later:
		if out.Enabled, err = usage.Enable(ctx, e.APIKeys, pid); err != nil {
			return Outcome{}, fmt.Errorf("gateway enforcer, revocation %s: %w", id, err)
		}
	}

	c, err := reporter.Commit(ctx, rev, e.now())
	if err != nil {
		return Outcome{}, fmt.Errorf("gateway enforcer: %w", err)
	}
	out.LatencyMS = c.LatencyMS
	if c.Duplicate {
		return Outcome{Duplicate: true, Flushed: out.Flushed, Disabled: out.Disabled, Enabled: out.Enabled}, nil
	}
	slog.InfoContext(ctx, "revocation enforced", "revocationId", id, "partnerId", pid, "keyIds", rev.KeyIDs,
		"flushed", out.Flushed, "liveKeyIds", live, "apiKeyDisabled", out.Disabled, "apiKeyEnabled", out.Enabled, "latencyMs", out.LatencyMS, "eventId", c.EventID)
	return out, nil
}

// liveKeys reads the partner's keys as the revocation rev meets them: the ids of the live ones
// (pending, active, previous); whether one of them is a replacement — rev's own (counted live
// when the eventually consistent index does not show it yet: it committed with rev), or a key
// registered at the very time other keys were revoked (a replacement of an earlier
// revocation); and whether a key rev did not revoke was revoked after it (then that later
// revocation's enforcer decides the API key).
func liveKeys(rev *events.CredentialRevoked, keys []registry.Entry) (live []string, replaced, later bool) {
	revokedAt := map[int64]bool{}
	ownReplacementSeen := false
	for _, k := range keys {
		if k.Status == registry.StatusRevoked && !k.RevokedAt.IsZero() {
			revokedAt[k.RevokedAt.UnixNano()] = true
			if k.RevokedAt.After(rev.Time) && !slices.Contains(rev.KeyIDs, string(k.KeyID)) {
				later = true
			}
		}
		if rev.ReplacementKeyID != "" && string(k.KeyID) == rev.ReplacementKeyID {
			ownReplacementSeen = true
		}
	}
	for _, k := range keys {
		if k.Status == registry.StatusPending || k.Status == registry.StatusActive || k.Status == registry.StatusPrevious {
			live = append(live, string(k.KeyID))
			if string(k.KeyID) == rev.ReplacementKeyID || (!k.CreatedAt.IsZero() && revokedAt[k.CreatedAt.UnixNano()]) {
				replaced = true
			}
		}
	}
	if rev.ReplacementKeyID != "" && !ownReplacementSeen {
		live = append(live, rev.ReplacementKeyID)
		replaced = true
	}
	return live, replaced, later
}
