// Package tracker is the proof of a revocation: it marks a revocation completed once every
// enforcer the deployment declares has reported Revocation Enforced, and stalled when one has
// not within the policy's budget (revocation.budget).
//
// It runs on two triggers (function revocation-tracker):
//
//   - each Revocation Enforced (consumer revocation-tracker, through its queue): the
//     revocation it names is settled;
//   - the revocation-check schedule, every minute: every open revocation (pending or stalled,
//     from the table's open index) is settled, which completes those whose last report's event
//     was lost, and stalls those past their budget. It then writes the number of stalled
//     revocations as an EMF metric (no partner in it), for an alarm.
//
// Settling reads the revocation and its reports (one consistent Query) and decides:
//
//   - completed already, or unknown to the table: nothing;
//   - every declared enforcer reported: completed (status completed, open removed) with
//     Revocation Completed (each report, revokedAt, timeToEnforceMs = last report − revokedAt),
//     in one outbox transaction conditioned on the status read. With no enforcer declared, a
//     revocation completes on its first check, with timeToEnforceMs 0;
//   - pending and past its budget: stalled (it stays open, so it still completes when the
//     missing reports arrive) with Revocation Stalled, in one outbox transaction conditioned
//     on the status still being pending, so it is raised once;
//   - otherwise nothing.
//
// A duplicate or late delivery reads the same state and finds nothing to do, or loses the
// condition to the delivery that acted first; either way nothing is written twice. A
// transaction whose condition fails because another run changed the status meanwhile is
// settled again from a fresh read.
package tracker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	lanyard "github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/platform/metrics"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/revocations"
)

// DefaultActor is the system actor id of the events the tracker records: its function's name.
const DefaultActor = "revocation-tracker"

// Store is what the tracker reads of the revocations table.
type Store interface {
	Get(ctx context.Context, id string) (revocations.Revocation, []revocations.Report, error)
	OpenRevocations(ctx context.Context) ([]revocations.Revocation, error)
}

var _ Store = (*revocations.Store)(nil)

// Committer records a decision's event with its state changes in one transaction.
type Committer interface {
	Commit(ctx context.Context, partnerID string, d lanyard.Detail, stateChanges []types.TransactWriteItem) (outbox.Record, error)
}

var _ Committer = (*outbox.Store)(nil)

// MetricsWriter writes an EMF document.
type MetricsWriter interface {
	Emit(d metrics.Document) error
}

var _ MetricsWriter = (*metrics.Writer)(nil)

// maxSettleAttempts bounds the re-reads after a transition's condition failed.
const maxSettleAttempts = 3

// Tracker settles revocations.
type Tracker struct {
	Store     Store
	Outbox    Committer
	Table     string // the revocations table, for the transitions
	Enforcers []string
	Budget    time.Duration
	// Metrics receives the scheduled check's metric; nil writes none.
	Metrics MetricsWriter
	// Actor is the id of the system actor of the events recorded (DefaultActor when empty).
	Actor string
	Now   func() time.Time
}

// Outcome is what settling a revocation did.
type Outcome string

// The outcomes.
const (
	OutcomeUnknown   Outcome = "unknown"   // no such revocation in the table
	OutcomeDone      Outcome = "done"      // completed already
	OutcomeCompleted Outcome = "completed" // completed now
	OutcomeStalled   Outcome = "stalled"   // stalled now
	OutcomeWaiting   Outcome = "waiting"   // open, nothing to do yet
)

func (t *Tracker) now() time.Time {
	if t.Now != nil {
		return t.Now().UTC()
	}
	return time.Now().UTC()
}

func (t *Tracker) actor() lanyard.Actor {
	id := t.Actor
	if id == "" {
		id = DefaultActor
	}
	return lanyard.Actor{Kind: lanyard.ActorSystem, ID: id}
}

// Settle decides one revocation from a fresh read (see the package documentation).
func (t *Tracker) Settle(ctx context.Context, id string) (Outcome, error) {
	for attempt := 1; ; attempt++ {
		out, err := t.settle(ctx, id)
		var stateErr *outbox.StateChangeError
		if errors.As(err, &stateErr) && attempt < maxSettleAttempts {
			continue // another run changed the status first: decide again from what it left
		}
		return out, err
	}
}

func (t *Tracker) settle(ctx context.Context, id string) (Outcome, error) {
	rev, reports, err := t.Store.Get(ctx, id)
	switch {
	case errors.Is(err, revocations.ErrNotFound):
		return OutcomeUnknown, nil
	case err != nil:
		return "", err
	case !rev.Open():
		return OutcomeDone, nil
	}
	now := t.now()
	byEnforcer := map[string]revocations.Report{}
	for _, r := range reports {
		byEnforcer[r.Enforcer] = r
	}
	var missing []string
	var got []lanyard.EnforcerReport
	var last time.Time
	for _, e := range t.Enforcers {
		r, ok := byEnforcer[e]
		if !ok {
			missing = append(missing, e)
			continue
		}
		got = append(got, r.EventReport())
		if r.EnforcedAt.After(last) {
			last = r.EnforcedAt
		}
	}
	if got == nil {
		got = []lanyard.EnforcerReport{}
	}
	if len(missing) == 0 {
		var tte int64
		if !last.IsZero() {
			tte = max(last.Sub(rev.RevokedAt).Milliseconds(), 0)
		}
		d := &lanyard.RevocationCompleted{Meta: lanyard.NewMeta(rev.PartnerID, t.actor(), now), RevocationID: rev.ID,
			Enforcers: got, RevokedAt: rev.RevokedAt.UTC(), TimeToEnforceMS: tte}
		if _, err := t.Outbox.Commit(ctx, rev.PartnerID, d, []types.TransactWriteItem{revocations.Complete(t.Table, rev.ID, rev.Status, now, tte)}); err != nil {
			return "", fmt.Errorf("complete revocation %s: %w", rev.ID, err)
		}
		slog.InfoContext(ctx, "revocation completed", "revocationId", rev.ID, "timeToEnforceMs", tte, "enforcers", len(got))
		return OutcomeCompleted, nil
	}
	if rev.Status != revocations.StatusPending || now.Sub(rev.RevokedAt) <= t.Budget {
		return OutcomeWaiting, nil
	}
	d := &lanyard.RevocationStalled{Meta: lanyard.NewMeta(rev.PartnerID, t.actor(), now), RevocationID: rev.ID,
		RevokedAt: rev.RevokedAt.UTC(), BudgetMS: t.Budget.Milliseconds(), Missing: missing, Enforcers: got}
	if _, err := t.Outbox.Commit(ctx, rev.PartnerID, d, []types.TransactWriteItem{revocations.Stall(t.Table, rev.ID, now)}); err != nil {
		return "", fmt.Errorf("stall revocation %s: %w", rev.ID, err)
	}
	slog.WarnContext(ctx, "revocation stalled", "revocationId", rev.ID, "missing", missing, "budget", t.Budget.String())
	return OutcomeStalled, nil
}

// HandleEvents settles the revocation of each Revocation Enforced of the batch. A record that
// cannot be settled (a read or a commit failed) is reported as a batch item failure, so SQS
// delivers it again and, after the queue's receive count, to the DLQ; a record that is not a
// Revocation Enforced is dropped with a warning (no delivery would change it).
func (t *Tracker) HandleEvents(ctx context.Context, batch events.SQSEvent) events.SQSEventResponse {
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for _, rec := range batch.Records {
		_, d, err := lanyard.Decode([]byte(rec.Body))
		if err != nil {
			slog.WarnContext(ctx, "revocation tracker: record dropped", "messageId", rec.MessageId, "error", err)
			continue
		}
		enforced, ok := d.(*lanyard.RevocationEnforced)
		if !ok {
			slog.WarnContext(ctx, "revocation tracker: record dropped", "messageId", rec.MessageId, "detailType", d.DetailType())
			continue
		}
		out, err := t.Settle(ctx, enforced.RevocationID)
		if err != nil {
			slog.ErrorContext(ctx, "revocation tracker: record failed", "messageId", rec.MessageId, "revocationId", enforced.RevocationID, "error", err)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
			continue
		}
		if out == OutcomeUnknown {
			slog.WarnContext(ctx, "revocation tracker: report of a revocation the table does not hold", "revocationId", enforced.RevocationID, "enforcer", enforced.Enforcer)
			continue
		}
		// One line per report taken, duplicates and late ones included (outcome done).
		slog.InfoContext(ctx, "revocation report settled", "revocationId", enforced.RevocationID, "enforcer", enforced.Enforcer,
			"eventId", enforced.EventID, "outcome", string(out))
	}
	return resp
}

// CheckReport is what a scheduled check did.
type CheckReport struct {
	Open      int // open revocations read
	Completed int // completed by this check
	Stalled   int // stalled by this check
	// StillStalled is how many revocations are stalled after the check.
	StillStalled int
	Failed       int
}

// Check settles every open revocation, then writes the metric. One revocation's failure does
// not stop the others; the errors are returned joined, at the end.
func (t *Tracker) Check(ctx context.Context) (CheckReport, error) {
	var rep CheckReport
	open, err := t.Store.OpenRevocations(ctx)
	if err != nil {
		return rep, err
	}
	rep.Open = len(open)
	var errs []error
	for _, r := range open {
		out, err := t.Settle(ctx, r.ID)
		switch {
		case err != nil:
			rep.Failed++
			errs = append(errs, err)
			if r.Status == revocations.StatusStalled {
				rep.StillStalled++
			}
		case out == OutcomeCompleted:
			rep.Completed++
		case out == OutcomeStalled:
			rep.Stalled++
			rep.StillStalled++
		case out == OutcomeWaiting && r.Status == revocations.StatusStalled:
			rep.StillStalled++
		}
	}
	slog.InfoContext(ctx, "revocation check", "open", rep.Open, "completed", rep.Completed, "stalled", rep.Stalled,
		"stillStalled", rep.StillStalled, "failed", rep.Failed)
	if t.Metrics != nil {
		if err := t.Metrics.Emit(metrics.Document{
			Dimensions: []metrics.Dimension{{Name: "Function", Value: "revocation-tracker"}},
			Metrics: []metrics.Metric{
				{Name: "StalledRevocations", Unit: metrics.Count, Values: []float64{float64(rep.StillStalled)}},
				{Name: "RevocationsStalled", Unit: metrics.Count, Values: []float64{float64(rep.Stalled)}},
				{Name: "OpenRevocations", Unit: metrics.Count, Values: []float64{float64(rep.Open - rep.Completed)}},
			},
		}); err != nil {
			slog.WarnContext(ctx, "revocation check: metrics not written", "error", err)
		}
	}
	return rep, errors.Join(errs...)
}

// Handle is the Lambda entry point of both triggers: an SQS batch (it has Records) is the
// consumer's; anything else is the schedule's event, whose content the check does not need.
// The check's error fails the invocation, so it shows; the next check, a minute later,
// converges.
func (t *Tracker) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	var probe struct {
		Records []json.RawMessage `json:"Records"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, fmt.Errorf("revocation tracker: the invocation's event is not JSON: %w", err)
	}
	if probe.Records != nil {
		var batch events.SQSEvent
		if err := json.Unmarshal(raw, &batch); err != nil {
			return nil, fmt.Errorf("revocation tracker: decode the SQS batch: %w", err)
		}
		return t.HandleEvents(ctx, batch), nil
	}
	_, err := t.Check(ctx)
	return nil, err
}

// ParseEnforcers reads REVOCATION_ENFORCERS: the enforcers' names joined by commas, none when
// empty. Names repeat at most once.
func ParseEnforcers(s string) ([]string, error) {
	var out []string
	if s == "" {
		return out, nil
	}
	for _, e := range strings.Split(s, ",") {
		if e == "" || slices.Contains(out, e) {
			return nil, fmt.Errorf("enforcers %q: empty or repeated name", s)
		}
		out = append(out, e)
	}
	return out, nil
}
