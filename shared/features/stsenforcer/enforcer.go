// Package stsenforcer is the sts revocation enforcer (flow 5 of the design): credentials
// already handed out by POST /v1/token stop working once their partner is revoked, the way
// AWS's own "revoke active sessions" does it, with a Deny on the partner-access role for
// sessions tagged with the partner (aws:PrincipalTag/partner) and issued before the
// revocation (aws:TokenIssueTime).
//
// IAM has no conditional write, so the deny is rendered from a versioned set of revoked
// partners in DynamoDB (shared/stores/stsdenies) by one writer at a time. For each Credential
// Revoked the enforcer:
//
//  1. does nothing when its report of the revocation is recorded already (a duplicate);
//  2. adds the partner to the set with the revocation's time (a later revocation of the
//     partner stays: a set item holds the latest), which bumps the set's version;
//  3. waits until the role's documents hold that version: whoever holds the set's lease
//     renders the whole set (Render) and writes it (Role.Apply), so one render covers every
//     revocation added before it; when nobody holds the lease, it takes it and renders;
//  4. commits its report with Revocation Enforced in one outbox transaction (enforcement).
//
// The lease outlasts the function's timeout, which ends any invocation holding it, plus the
// clocks' skew: two writers never interleave their IAM writes, and the one that took a lease
// left by a crashed writer renders the set anew. This stands in for a FIFO queue with one
// message group: it keeps one writer at a time without a message that keeps failing holding
// up every revocation behind it, and lets one render serve a burst.
//
// Each step reads current state, so duplicate and out-of-order deliveries decide the same. A
// failure fails the record alone (a partial batch response).
package stsenforcer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/features/enforcement"
	"github.com/lanyardhq/lanyard/shared/platform/tracing"
	"github.com/lanyardhq/lanyard/shared/platform/wait"
	"github.com/lanyardhq/lanyard/shared/stores/stsdenies"
)

// DefaultActor is the id of the system actor of the events the enforcer commits.
const DefaultActor = "lanyard-revocation-sts"

// defaultPoll is how often a record waiting for another writer's render looks again.
const defaultPoll = 250 * time.Millisecond

// Denies is the set of revoked partners (stsdenies.Store).
type Denies interface {
	Add(ctx context.Context, e stsdenies.Entry) (int64, error)
	State(ctx context.Context) (stsdenies.Set, error)
	Entries(ctx context.Context) ([]stsdenies.Entry, error)
	Acquire(ctx context.Context, owner string, now, until time.Time) (bool, error)
	Release(ctx context.Context, owner string) error
	MarkRendered(ctx context.Context, owner string, version int64) error
	Remove(ctx context.Context, owner string, pruned []stsdenies.Entry) error
}

var _ Denies = (*stsdenies.Store)(nil)

// Writer writes the deny on the role (Role).
type Writer interface {
	Attached(ctx context.Context) (ours map[string]bool, others int, err error)
	Apply(ctx context.Context, d Documents, attached map[string]bool) error
}

var _ Writer = (*Role)(nil)

// Enforcer is the sts enforcer. Build it once per cold start.
type Enforcer struct {
	Reporter enforcement.Reporter
	Denies   Denies
	Role     Writer
	Rules    Rules
	// Owner names this instance as the lease's holder (unique per cold start); Lease is how
	// long it holds it (topology.STSEnforcerLease).
	Owner string
	Lease time.Duration
	// Now is the clock, Sleep the pause between looks at the set (nil: time.Now, a timer)
	// and Poll their interval (zero: a quarter second).
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	Poll  time.Duration
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
	return wait.Sleep(ctx, d, "wait for the deny's render")
}

// Handle is the Lambda entry point: each record is one Credential Revoked; a record that fails
// is reported in the partial batch response.
func (e *Enforcer) Handle(ctx context.Context, ev lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error) {
	return enforcement.Batch(ctx, ev, func(ctx context.Context, body []byte) error {
		rev, err := enforcement.Revoked(body)
		if err != nil {
			return fmt.Errorf("sts enforcer: %w", err)
		}
		_, err = e.Enforce(ctx, rev)
		return err
	}), nil
}

// Outcome is what one enforcement did.
type Outcome struct {
	// Duplicate: the report was recorded already; nothing was committed.
	Duplicate bool
	// Version is the set's version that holds the revocation; Rendered says this enforcement
	// rendered the documents (false: another writer's render covered it).
	Version  int64
	Rendered bool
	// LatencyMS is the latency reported.
	LatencyMS int64
}

// Enforce enforces one revocation (see the package documentation).
func (e *Enforcer) Enforce(ctx context.Context, rev *events.CredentialRevoked) (out Outcome, err error) {
	ctx, span := tracing.Start(ctx, "enforceRevocation")
	defer func() { span.End(err) }()
	pid, id := rev.PartnerID, rev.RevocationID
	span.Annotate("partner", pid)
	done, err := e.Reporter.Reported(ctx, rev)
	if err != nil {
		return Outcome{}, fmt.Errorf("sts enforcer: %w", err)
	}
	if done {
		slog.InfoContext(ctx, "revocation enforced already", "revocationId", id, "partnerId", pid, "eventId", rev.EventID)
		return Outcome{Duplicate: true}, nil
	}
	if out.Version, err = e.Denies.Add(ctx, stsdenies.Entry{PartnerID: pid, RevokedAt: rev.Time, RevocationID: id}); err != nil {
		return Outcome{}, fmt.Errorf("sts enforcer, revocation %s: %w", id, err)
	}
	if out.Rendered, err = e.waitRendered(ctx, out.Version); err != nil {
		return Outcome{}, fmt.Errorf("sts enforcer, revocation %s: %w", id, err)
	}
	c, err := e.Reporter.Commit(ctx, rev, e.now())
	if err != nil {
		return Outcome{}, fmt.Errorf("sts enforcer: %w", err)
	}
	out.LatencyMS, out.Duplicate = c.LatencyMS, c.Duplicate
	slog.InfoContext(ctx, "revocation enforced", "revocationId", id, "partnerId", pid, "keyIds", rev.KeyIDs, "version", out.Version,
		"rendered", out.Rendered, "latencyMs", out.LatencyMS, "duplicate", out.Duplicate, "eventId", c.EventID)
	return out, nil
}

// waitRendered returns once the role's documents hold version: rendered by this call when it
// could take the lease, by another writer otherwise.
func (e *Enforcer) waitRendered(ctx context.Context, version int64) (bool, error) {
	poll := e.Poll
	if poll <= 0 {
		poll = defaultPoll
	}
	for {
		st, err := e.Denies.State(ctx)
		if err != nil {
			return false, err
		}
		if st.Rendered >= version {
			return false, nil
		}
		now := e.now()
		took, err := e.Denies.Acquire(ctx, e.Owner, now, now.Add(e.Lease))
		if err != nil {
			return false, err
		}
		if took {
			err := e.render(ctx)
			if rerr := e.Denies.Release(context.WithoutCancel(ctx), e.Owner); rerr != nil {
				err = errors.Join(err, rerr)
			}
			if err != nil {
				return false, err
			}
			return true, nil
		}
		if err := e.sleep(ctx, poll); err != nil {
			return false, fmt.Errorf("the set's lease is held by %s until %s: %w", st.LeaseOwner, st.LeaseUntil.Format(time.RFC3339), err)
		}
	}
}

// render writes the whole set into the role's documents, under the lease: the set's version
// read first, then its entries (which hold at least that version), the slots the role's own
// managed policies leave, the documents, the version recorded, the pruned entries removed.
func (e *Enforcer) render(ctx context.Context) error {
	st, err := e.Denies.State(ctx)
	if err != nil {
		return err
	}
	entries, err := e.Denies.Entries(ctx)
	if err != nil {
		return err
	}
	attached, others, err := e.Role.Attached(ctx)
	if err != nil {
		return err
	}
	in := make([]Entry, len(entries))
	for i, en := range entries {
		in[i] = Entry{PartnerID: en.PartnerID, RevokedAt: en.RevokedAt}
	}
	docs, err := e.Rules.Render(in, e.now(), AttachmentQuota-others)
	if err != nil {
		return err
	}
	if err := e.Role.Apply(ctx, docs, attached); err != nil {
		return err
	}
	if err := e.Denies.MarkRendered(ctx, e.Owner, st.Version); err != nil {
		return err
	}
	kept := map[string]bool{}
	for _, k := range docs.Kept {
		kept[k.PartnerID] = true
	}
	var pruned []stsdenies.Entry
	for _, en := range entries {
		if !kept[en.PartnerID] {
			pruned = append(pruned, en)
		}
	}
	slog.InfoContext(ctx, "sts deny rendered", "version", st.Version, "partners", len(docs.Kept), "pruned", len(pruned),
		"inlineChars", len(docs.Inline), "managedPolicies", len(docs.Managed), "roleWideCutoff", docs.Cutoff)
	if len(pruned) > 0 {
		if err := e.Denies.Remove(ctx, e.Owner, pruned); err != nil {
			// The documents are right: the entries are pruned again at the next render.
			slog.WarnContext(ctx, "sts deny: pruned entries not removed", "error", err)
		}
	}
	return nil
}
